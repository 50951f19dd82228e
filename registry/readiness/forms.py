"""HTML forms for the five readiness questions, their submission and their review.

Each question form turns its fields into the payload of the question's schema
(``registry.readiness.schemas``) and back; the services hold the rules.
"""

from __future__ import annotations

from datetime import date

from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, NumberRange, Optional

from registry.enums import CheckFrequency, Question
from registry.inventory.forms import CheckboxesField, VersionedForm, options
from registry.readiness.questions import OWNER_ROLES

SIGNAL_ROWS = 4
MAX_SIGNALS = 20  # the schema's limit too


class OutcomeForm(VersionedForm):
    business_outcome = TextAreaField("Business outcome", validators=[Length(max=2000)],
                                     description="The business result the system should improve, in one or two sentences.")
    metric_ids = CheckboxesField("Baseline metrics that measure it", coerce=int,
                                 description="Each needs its measured baseline value, date, source and target.")

    def payload(self) -> dict:
        return {"business_outcome": self.business_outcome.data or "", "metric_ids": list(self.metric_ids.data or [])}

    def fill(self, content: dict, people=None) -> None:
        self.business_outcome.data = content.get("business_outcome", "")
        self.metric_ids.data = list(content.get("metric_ids", []))


class OwnershipForm(VersionedForm):
    performance_owner = SelectField(OWNER_ROLES["performance_owner"],
                                    description="Watches the system's metrics and answers for its performance.")
    review_queue_owner = SelectField(OWNER_ROLES["review_queue_owner"],
                                     description="Runs the queue where people check uncertain outputs.")
    escalation_owner = SelectField(OWNER_ROLES["escalation_owner"],
                                   description="Takes escalations and decides when to pause the system.")
    business_impact_owner = SelectField(OWNER_ROLES["business_impact_owner"],
                                        description="Answers for the business outcome and its costs.")

    def set_people(self, people: list[tuple[str, str]]) -> None:
        for key in OWNER_ROLES:
            self[key].choices = options([("", "Choose a person…")] + people)

    def payload(self) -> dict:
        return {key: self[key].data or None for key in OWNER_ROLES}

    def fill(self, content: dict, people=None) -> None:
        for key in OWNER_ROLES:
            person = (people or {}).get(content.get(key))
            self[key].data = person.email if person else ""


class SignalForm(Form):
    signal = StringField("What is watched", validators=[Length(max=300)])
    threshold = StringField("Threshold", validators=[Length(max=300)])
    frequency = SelectField("Checked", choices=options([("", "—")] + CheckFrequency.choices()))
    alerted = StringField("Who is alerted", validators=[Length(max=300)])


class DriftForm(VersionedForm):
    signals = FieldList(FormField(SignalForm), min_entries=SIGNAL_ROWS, max_entries=MAX_SIGNALS)
    notes = TextAreaField("How drift is detected and handled (optional)", validators=[Length(max=2000)])

    def payload(self) -> dict:
        return {"signals": [dict(s) for s in self.signals.data], "notes": self.notes.data or ""}

    def fill(self, content: dict, people=None) -> None:
        rows = list(content.get("signals") or [])
        while len(rows) < SIGNAL_ROWS:
            rows.append({})
        while len(self.signals.entries):
            self.signals.pop_entry()
        for row in (rows + [{}])[:MAX_SIGNALS]:
            self.signals.append_entry({k: row.get(k, "") for k in ("signal", "threshold", "frequency", "alerted")})
        self.notes.data = content.get("notes", "")


class HumanWorkflowForm(VersionedForm):
    automate_at = IntegerField("Automate when confidence is at least (%)", validators=[Optional(), NumberRange(0, 100)],
                               description="Outputs at or above this confidence are used without a person confirming them.")
    never_automate = BooleanField("Never automate: a person confirms every output")
    suggest_at = IntegerField("Suggest for confirmation when confidence is at least (%)",
                              validators=[Optional(), NumberRange(0, 100)],
                              description="Below this, the item is escalated to a person.")
    escalation_triggers = TextAreaField("Escalation triggers (one per line)", validators=[Length(max=6000)],
                                        description="E.g. the customer asks for a person; a refund above €500; legal threats.")
    reviewer_role = StringField("Reviewer role", validators=[Length(max=300)])
    reviewer_capacity_per_day = IntegerField("Reviewer capacity (items per day)", validators=[Optional(), NumberRange(0)])
    feedback_loop = TextAreaField("How corrections feed back", validators=[Length(max=2000)])

    def payload(self) -> dict:
        return {
            "automate_at": self.automate_at.data, "never_automate": bool(self.never_automate.data),
            "suggest_at": self.suggest_at.data,
            "escalation_triggers": (self.escalation_triggers.data or "").splitlines(),
            "reviewer_role": self.reviewer_role.data or "", "reviewer_capacity_per_day": self.reviewer_capacity_per_day.data,
            "feedback_loop": self.feedback_loop.data or "",
        }

    def fill(self, content: dict, people=None) -> None:
        for key in ("automate_at", "suggest_at"):
            value = content.get(key)
            self[key].data = int(value) if value is not None else None
        self.never_automate.data = bool(content.get("never_automate"))
        self.escalation_triggers.data = "\n".join(content.get("escalation_triggers") or [])
        self.reviewer_role.data = content.get("reviewer_role", "")
        self.reviewer_capacity_per_day.data = content.get("reviewer_capacity_per_day")
        self.feedback_loop.data = content.get("feedback_loop", "")


class RollbackForm(VersionedForm):
    kill_switch = TextAreaField("Kill switch", validators=[Length(max=2000)],
                                description="Who can pause the system, and how (a flag, a config switch, a runbook step).")
    mode_full = TextAreaField("Full mode", validators=[Length(max=1000)], description="Everything on.")
    mode_degraded = TextAreaField("Degraded mode", validators=[Length(max=1000)],
                                  description="E.g. single-turn answers, no personalisation, smaller model.")
    mode_minimal = TextAreaField("Minimal mode", validators=[Length(max=1000)],
                                 description="E.g. predefined answers and keyword routing only.")
    mode_offline = TextAreaField("Offline mode", validators=[Length(max=1000)],
                                 description="How users are told the service is unavailable, and where to go instead.")
    fallback_process = TextAreaField("Fallback process", validators=[Length(max=2000)],
                                     description="How the business keeps running while the system is paused.")
    time_to_pause_minutes = IntegerField("Time to pause (minutes)", validators=[Optional(), NumberRange(0, 100000)])
    last_rehearsal = DateField("Date of the last rollback rehearsal", validators=[Optional()])

    def payload(self) -> dict:
        return {
            "kill_switch": self.kill_switch.data or "",
            "degraded_modes": {k: self[f"mode_{k}"].data or "" for k in ("full", "degraded", "minimal", "offline")},
            "fallback_process": self.fallback_process.data or "",
            "time_to_pause_minutes": self.time_to_pause_minutes.data,
            "last_rehearsal": self.last_rehearsal.data.isoformat() if self.last_rehearsal.data else None,
        }

    def fill(self, content: dict, people=None) -> None:
        self.kill_switch.data = content.get("kill_switch", "")
        for key in ("full", "degraded", "minimal", "offline"):
            self[f"mode_{key}"].data = (content.get("degraded_modes") or {}).get(key, "")
        self.fallback_process.data = content.get("fallback_process", "")
        self.time_to_pause_minutes.data = content.get("time_to_pause_minutes")
        rehearsal = content.get("last_rehearsal")
        self.last_rehearsal.data = date.fromisoformat(rehearsal) if rehearsal else None


FORMS = {
    Question.OUTCOME: OutcomeForm,
    Question.OWNERSHIP: OwnershipForm,
    Question.DRIFT: DriftForm,
    Question.HUMAN_WORKFLOW: HumanWorkflowForm,
    Question.ROLLBACK: RollbackForm,
}

# Schema error keys that belong to a differently named form field.
ERROR_FIELDS = {"degraded_modes.full": "mode_full", "degraded_modes.degraded": "mode_degraded",
                "degraded_modes.minimal": "mode_minimal", "degraded_modes.offline": "mode_offline"}


class SubmitForm(VersionedForm):
    attest = BooleanField("I attest personally that this answer is accurate and complete.")


class ReviewForm(VersionedForm):
    outcome = RadioField("Review", choices=options([("accept", "Accept"), ("return", "Return to the owner")]))
    comment = TextAreaField("Comment", validators=[Length(max=4000)],
                            description="Required when you return the answer: say what must change.")
