"""Shapes of a control assessment and of evidence (marshmallow), for forms, API and seeder."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from registry.enums import ControlStatus


class AssessmentSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(required=True, validate=validate.OneOf(ControlStatus.values()))
    due_on = fields.Date(load_default=None, allow_none=True)
    na_reason = fields.String(load_default="", validate=validate.Length(max=2000))
    notes = fields.String(load_default="", validate=validate.Length(max=4000))

    @validates_schema
    def _reason_for_na(self, data, **_):
        if data.get("status") == ControlStatus.NOT_APPLICABLE.value and not (data.get("na_reason") or "").strip():
            raise ValidationError("Say why this control does not apply to the system.", "na_reason")


class EvidenceSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    description = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"}, require_tld=False)
    collected_on = fields.Date(load_default=None, allow_none=True)
