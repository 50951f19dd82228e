"""HTML forms of the monitoring tab: one observation, a CSV of them, a metric's drift rule, resolving an
alert.  They collect input; ``registry.monitoring.schemas`` and the services hold the rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import FloatField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from registry.enums import BandKind, DriftReference
from registry.inventory.forms import options


class ObservationForm(FlaskForm):
    metric_id = SelectField("Metric", validators=[InputRequired(message="Choose the metric.")], validate_choice=False)
    value = FloatField("Value", validators=[InputRequired(message="Give the measured value.")],
                       description="In the metric's unit.")
    observed_at = StringField("Observed at", validators=[InputRequired(message="Say when it was measured.")],
                              description="A date (2026-10-02) or a date and time in UTC (2026-10-02 08:30).")
    note = StringField("Note", validators=[Length(max=500)], description="Optional: the sample, the run, a caveat.")

    def payload(self) -> dict:
        return {"metric_id": self.metric_id.data, "value": self.value.data,
                "observed_at": (self.observed_at.data or "").strip(), "note": self.note.data or ""}


class UploadForm(FlaskForm):
    file = FileField("CSV file", description="Columns metric, value, observed_at and note (optional); the metric by "
                                             "name or id. Every row is checked first: one bad row and nothing is "
                                             "recorded.")


class RuleForm(FlaskForm):
    """A metric's band; the relative amounts are typed in per cent and stored as fractions."""

    reference = RadioField("Band around", choices=options(DriftReference.choices()),
                           validators=[InputRequired(message="Choose the baseline or the target.")])
    band_kind = RadioField("Band measured", choices=options(BandKind.choices()),
                           validators=[InputRequired(message="Choose absolute or relative.")])
    below = FloatField("Allowed below", validators=[Optional()],
                       description="How far under the reference is still fine: in the metric's unit, or in % of the "
                                   "reference for a relative band. Empty: no lower bound.")
    above = FloatField("Allowed above", validators=[Optional()],
                       description="How far over the reference is still fine. Empty: no upper bound.")
    min_observations = IntegerField("Minimum observations", default=1, validators=[InputRequired(),
                                                                                  NumberRange(1, 1000)],
                                    description="Breaches count once this many observations exist (1–1,000).")
    consecutive = IntegerField("Breaches in a row before an alert", default=1,
                               validators=[InputRequired(), NumberRange(1, 100)],
                               description="2 or more ignores a one-off outlier (1–100).")

    def fill(self, rule) -> None:
        relative = rule.band_kind is BandKind.RELATIVE
        self.reference.data, self.band_kind.data = rule.reference.value, rule.band_kind.value
        self.below.data = None if rule.below is None else (rule.below * 100 if relative else rule.below)
        self.above.data = None if rule.above is None else (rule.above * 100 if relative else rule.above)
        self.min_observations.data, self.consecutive.data = rule.min_observations, rule.consecutive

    def payload(self) -> dict:
        scale = 100 if self.band_kind.data == BandKind.RELATIVE.value else 1
        return {"reference": self.reference.data, "band_kind": self.band_kind.data,
                "below": None if self.below.data is None else self.below.data / scale,
                "above": None if self.above.data is None else self.above.data / scale,
                "min_observations": self.min_observations.data, "consecutive": self.consecutive.data}


class ResolveForm(FlaskForm):
    note = TextAreaField("What was found and done", validators=[InputRequired(message="Write what was found and done."),
                                                                Length(max=4000)],
                         description="Required: it stays in the system's history.")
