"""HTML forms for a control's status, its evidence and its verification."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from registry.enums import ControlStatus
from registry.inventory.forms import VersionedForm, options


class AssessmentForm(VersionedForm):
    status = RadioField("Status", choices=options(ControlStatus.choices()), validators=[DataRequired()])
    due_on = DateField("Due date (when in progress)", validators=[Optional()],
                       description="For low and medium tier, an in-progress control with a due date allows a CONDITIONAL GO.")
    na_reason = TextAreaField("Why it does not apply (when not applicable)", validators=[Length(max=2000)])
    notes = TextAreaField("Notes", validators=[Length(max=4000)])
    waiver_reason = TextAreaField("Why it is waived (when waived)", validators=[Length(max=2000)])
    waiver_granted_by = StringField("Waiver granted by", validators=[Length(max=200)],
                                    description="The Chief AI Officer, or the named person who granted it.")
    waiver_expires_on = DateField("Waiver expires on", validators=[Optional()],
                                  description="After this day the waiver blocks GO like a missing practice.")

    def set_waivable(self, waivable: bool) -> None:
        """Only practices whose framework allows waivers offer the choice."""
        if not waivable:
            self.status.choices = [c for c in self.status.choices if c.value != ControlStatus.WAIVED.value]

    def payload(self) -> dict:
        return {"status": self.status.data, "due_on": self.due_on.data.isoformat() if self.due_on.data else None,
                "na_reason": self.na_reason.data or "", "notes": self.notes.data or "",
                "waiver_reason": self.waiver_reason.data or "", "waiver_granted_by": self.waiver_granted_by.data or "",
                "waiver_expires_on": self.waiver_expires_on.data.isoformat() if self.waiver_expires_on.data else None}


class EvidenceForm(FlaskForm):
    description = StringField("Description", validators=[DataRequired(message="Describe the evidence."), Length(max=2000)],
                              description="What it shows, e.g. “Red-team report, March 2026, 212 prompts”.")
    file = FileField("File", description="PDF, image, text, CSV, JSON, Word, Excel or PowerPoint; at most 10 MB.")
    url = StringField("…or a link", validators=[Optional(), Length(max=2000)],
                      description="An https:// link to where the evidence lives (wiki page, ticket, dashboard).")
    collected_on = DateField("Collected on", validators=[Optional()],
                             description="When the evidence was produced; defaults to today. Old evidence goes stale.")

    def payload(self) -> dict:
        return {"description": self.description.data or "", "url": (self.url.data or "").strip() or None,
                "collected_on": self.collected_on.data.isoformat() if self.collected_on.data else None}


class VerifyForm(VersionedForm):
    pass


class BulkVerifyForm(FlaskForm):
    """Verify the controls ticked on a system's controls page with one note (each audited on its own)."""

    note = TextAreaField("Note for these verifications", validators=[Length(max=2000)],
                         description="Optional; recorded with each verification in the system's history.")

    @staticmethod
    def picks(formdata) -> dict[int, int | None]:
        """The ticked controls (``control``), each with the version shown (``version-<id>``)."""
        picks: dict[int, int | None] = {}
        for raw in formdata.getlist("control"):
            if raw.isdigit() and len(raw) <= 9:
                version = formdata.get(f"version-{raw}", "")
                picks[int(raw)] = int(version) if version.isdigit() and len(version) <= 9 else None
        return picks
