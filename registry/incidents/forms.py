"""The HTML form of an incident (``IncidentSchema`` and the services hold the rules)."""

from __future__ import annotations

from wtforms import DateField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from registry.enums import FailureMode, IncidentStatus, Severity
from registry.incidents.schemas import TEXT_MAX, TITLE_MAX
from registry.inventory.forms import VersionedForm, options


class IncidentForm(VersionedForm):
    """Reporting (version 0) and changing an incident (the version it was read at)."""

    title = StringField("Title", validators=[DataRequired(message="Give the incident a short title."),
                                             Length(max=TITLE_MAX)],
                        description="A few words, e.g. “Refund agent issued duplicate refunds”.")
    occurred_on = DateField("Occurred on", validators=[InputRequired(message="Say when it happened.")],
                            description="The day it happened (not in the future).")
    severity = RadioField("Severity", choices=options(Severity.choices()), validators=[InputRequired()],
                          description="An open critical incident blocks GO; an open major one allows at best a "
                                      "CONDITIONAL GO.")
    description = TextAreaField("What happened", validators=[DataRequired(message="Describe what happened."),
                                                             Length(max=TEXT_MAX)])
    affected = TextAreaField("People or organisations affected", validators=[Length(max=4000)],
                             description="Who was affected and how many, e.g. “212 customers refunded twice”.")
    status = RadioField("Status", choices=options(IncidentStatus.choices()), default=IncidentStatus.OPEN.value,
                        validators=[InputRequired()],
                        description="Open, then mitigated, then closed; a mitigated or closed incident may be reopened.")
    failure_mode = SelectField("Failure mode", choices=options([("", "Not classified yet")] + FailureMode.choices()),
                               description="Which of the eight production failure modes it was, if known.")
    root_cause = TextAreaField("Root cause", validators=[Length(max=TEXT_MAX)], description="Required to close it.")
    lessons = TextAreaField("Lessons", validators=[Length(max=TEXT_MAX)],
                            description="What changes because of it. Required to close it.")

    def payload(self) -> dict:
        return {"title": self.title.data or "",
                "occurred_on": self.occurred_on.data.isoformat() if self.occurred_on.data else None,
                "severity": self.severity.data, "description": self.description.data or "",
                "affected": self.affected.data or "", "status": self.status.data,
                "failure_mode": self.failure_mode.data or None, "root_cause": self.root_cause.data or "",
                "lessons": self.lessons.data or ""}
