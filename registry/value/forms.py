"""HTML forms for a system's value case and for stopping its pilot (the schemas hold the rules)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, FloatField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from registry.enums import StopReason
from registry.inventory.forms import VersionedForm, options
from registry.value.schemas import CURRENCIES, LESSONS_MAX, LESSONS_MIN, NOTE_MAX, TEXT_LIMITS
from registry.value.services import LABELS

BLANK_IS_NOT_ZERO = "Leave it blank if not known: blank is “not recorded”, 0 means it costs nothing."


class ValueCaseForm(VersionedForm):
    currency = SelectField(LABELS["currency"], choices=options([("", "Choose…"), *((c, c) for c in CURRENCIES)]),
                           validators=[Optional()], description="Every figure below is in this currency.")
    expected_annual_value = FloatField(LABELS["expected_annual_value"], validators=[Optional()],
                                       description="Revenue, savings or losses avoided in a year. Leave it blank if not known.")
    value_basis = TextAreaField(LABELS["value_basis"], validators=[Length(max=TEXT_LIMITS["value_basis"])],
                                description="How the figure was estimated: the baseline, the volume, the assumption.")
    one_off_cost = FloatField(LABELS["one_off_cost"], validators=[Optional()],
                              description="To build, integrate and deploy. " + BLANK_IS_NOT_ZERO)
    annual_run_cost = FloatField(LABELS["annual_run_cost"], validators=[Optional()],
                                 description="Compute and licences a year. " + BLANK_IS_NOT_ZERO)
    annual_maintenance_cost = FloatField(LABELS["annual_maintenance_cost"], validators=[Optional()],
                                         description="People, retraining and monitoring a year. " + BLANK_IS_NOT_ZERO)
    maintenance_team = StringField(LABELS["maintenance_team"], validators=[Length(max=TEXT_LIMITS["maintenance_team"])],
                                   description="The team that keeps it working in production.")
    run_funded_by = StringField(LABELS["run_funded_by"], validators=[Length(max=TEXT_LIMITS["run_funded_by"])],
                                description="Whose budget pays the run cost, e.g. “Claims operations”.")
    latency = StringField(LABELS["latency"], validators=[Length(max=TEXT_LIMITS["latency"])],
                          description="e.g. “under 2 s per claim”.")
    volume = StringField(LABELS["volume"], validators=[Length(max=TEXT_LIMITS["volume"])],
                         description="e.g. “40,000 claims a month”.")
    availability = StringField(LABELS["availability"], validators=[Length(max=TEXT_LIMITS["availability"])],
                               description="e.g. “99.5 % in office hours”.")

    def payload(self) -> dict:
        return {
            "currency": self.currency.data or None,
            **{k: getattr(self, k).data for k in ("expected_annual_value", "one_off_cost", "annual_run_cost",
                                                  "annual_maintenance_cost")},
            **{k: getattr(self, k).data or "" for k in TEXT_LIMITS},
        }


class StopForm(FlaskForm):
    reason = RadioField("Why the pilot stops", choices=options(StopReason.choices()),
                        validators=[InputRequired(message="Choose the reason.")])
    lessons = TextAreaField("Lessons learnt", validators=[DataRequired(message="Write what was learnt."),
                                                         Length(max=LESSONS_MAX)],
                            description=f"What the next pilot should know; at least {LESSONS_MIN} letters or digits.")
    note = TextAreaField("Note", validators=[Length(max=NOTE_MAX)],
                         description="Required when the reason is another one: say what it is.")
    confirm = BooleanField("I understand: the system will be retired; its record, answers and history are kept.",
                           validators=[DataRequired(message="Confirm that the system will be retired.")])

    def payload(self) -> dict:
        return {"reason": self.reason.data, "lessons": self.lessons.data or "", "note": self.note.data or ""}
