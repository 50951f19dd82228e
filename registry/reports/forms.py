"""Forms of the reports pages: upload a PDF to verify, choose systems for a bulk export."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectMultipleField, StringField
from wtforms.validators import Length, Optional

from registry.enums import Kind, Stage, Tier
from registry.inventory.forms import CheckboxesField, options
from registry.inventory.queries import InventoryFilters

MAX_PDF_BYTES = 20 * 1024 * 1024


class VerifyUploadForm(FlaskForm):
    file = FileField("Audit PDF", description="The PDF to check: as downloaded from the registry, or as you received it.")


class BulkExportForm(FlaskForm):
    q = StringField("Name contains", validators=[Optional(), Length(max=200)])
    business_unit = SelectMultipleField("Business unit", validate_choice=True)
    tier = CheckboxesField("Tier", choices=options(Tier.choices()))
    stage = CheckboxesField("Stage", choices=options(Stage.choices()))
    kind = CheckboxesField("Kind", choices=options(Kind.choices()))

    def filters(self) -> InventoryFilters:
        return InventoryFilters(q=(self.q.data or "").strip(), tier=self.tier.data or [], stage=self.stage.data or [],
                                kind=self.kind.data or [], business_unit=self.business_unit.data or [])
