"""HTML forms of the reliability page: the trials upload, the release gate and the step rates (the
services hold the rules)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DecimalField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, StopValidation

from registry.inventory.forms import options
from registry.reliability.passk import MAX_K


class TrialsForm(FlaskForm):
    file = FileField("Trials (CSV)", description="Columns task_id, trial, passed (header names in any case; other "
                                                 "columns are ignored). passed is true/false, 1/0, yes/no or pass/fail. "
                                                 "At most 10,000 trials per file.")


def finite(_form, field) -> None:
    """Decimal accepts NaN and infinities (and "sNaN", which no comparison survives): refuse them first."""
    if field.data is not None and not field.data.is_finite():
        raise StopValidation("A number, e.g. 80.")


class GateForm(FlaskForm):
    k = SelectField("k: tries that must all succeed", choices=options([(str(k), f"pass^{k}") for k in
                                                                       range(1, MAX_K + 1)]),
                    validators=[InputRequired()])
    threshold = DecimalField("Threshold (%)", places=None,
                             validators=[InputRequired(message="Give the threshold, e.g. 80."),
                                         finite, NumberRange(0, 100, message="Between 0 and 100.")],
                             description="GO is blocked while pass^k is below it, or while some task has fewer "
                                         "than k trials.")


class StepsForm(FlaskForm):
    steps = StringField("Per-step success rates", validators=[Optional(), Length(max=2000)],
                        description="“0.95 × 20” for 20 steps at 95 %, or a list in order: “0.99, 0.95, 90%”. "
                                    "Empty removes them.")
