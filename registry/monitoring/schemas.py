"""The marshmallow schemas of an observation, a drift rule and a drift alert.

One schema per resource, shared by the JSON API, the CSV upload and the forms: they check shape
and types (a finite value, a sensible moment, a band that says something); which metric a name
means, permissions and the metric's target live in the services.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from registry.enums import AlertStatus, BandKind, DriftReference, ObservationSource
from registry.errors import ValidationFailed
from registry.inventory.schemas import MAX_ID, VALUE_LIMIT

EARLIEST_OBSERVATION = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(minutes=1)  # clocks of monitoring jobs drift a little
MAX_BATCH = 10_000
MAX_RELATIVE = 10.0
ROW_KEYS = frozenset({"metric_id", "metric", "value", "observed_at", "note"})  # a relative band is a fraction of the reference: 0.05 is 5 %


def _one_of(enum_cls):
    values = enum_cls.values()
    return validate.OneOf(values, error=f"Must be one of: {', '.join(values)}.")


def parse_moment(value) -> datetime | None:
    """An ISO 8601 date-time or date as an aware UTC datetime; None when it is neither."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(), UTC)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = (datetime.combine(date.fromisoformat(text), time(), UTC) if len(text) == 10
                      else datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")))
        except ValueError:
            return None
    else:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before the first representable instant
        return None


class Moment(fields.Field):
    """An ISO 8601 date-time (offset-aware, or UTC if none) or a date (midnight UTC)."""

    default_error_messages = {"invalid": "An ISO 8601 date or date-time, e.g. 2026-10-02 or 2026-10-02T08:30:00Z."}

    def _deserialize(self, value, attr, data, **kwargs):
        moment = parse_moment(value)
        if moment is None:
            raise self.make_error("invalid")
        return moment

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat()


class ObservationSchema(Schema):
    """One observation of a baseline metric: by id (``metric_id``) or by name (``metric``)."""

    class Meta:
        unknown = RAISE

    metric_id = fields.Integer(strict=False, validate=validate.Range(1, MAX_ID),
                               metadata={"description": "The metric's id; or name it with `metric`."})
    metric = fields.String(validate=validate.Length(min=1, max=200),
                           metadata={"description": "The metric's name (case-insensitive), or its id."})
    value = fields.Float(required=True, allow_nan=False, validate=validate.Range(-VALUE_LIMIT, VALUE_LIMIT))
    observed_at = Moment(required=True, metadata={"description": "ISO 8601 date-time (UTC if no offset) or date."})
    note = fields.String(load_default="", validate=validate.Length(max=500))

    def __init__(self, *, now: datetime | None = None, **kw):
        super().__init__(**kw)
        self.now = now  # "in the future" is judged against this (the services' ``now``)

    def load_row(self, raw) -> dict:
        """``load`` for a batch's row: the common well-formed row is checked here in plain Python
        (a batch holds thousands); anything else goes through ``load``, which accepts a superset
        of what this accepts and says what is wrong."""
        if type(raw) is dict and raw.keys() <= ROW_KEYS:
            metric_id, metric, value = raw.get("metric_id"), raw.get("metric"), raw.get("value")
            note = raw.get("note", "")
            moment = parse_moment(raw.get("observed_at")) if type(raw.get("observed_at")) is str else None
            now = self.now or datetime.now(UTC)
            if (moment is not None and EARLIEST_OBSERVATION <= moment <= now + FUTURE_SLACK
                    and type(value) in (int, float) and math.isfinite(value) and -VALUE_LIMIT <= value <= VALUE_LIMIT
                    and (metric_id is None or (type(metric_id) is int and 1 <= metric_id <= MAX_ID))
                    and (metric is None or (type(metric) is str and 1 <= len(metric) <= 200))
                    and (metric_id is not None or (metric or "").strip())
                    and type(note) is str and len(note) <= 500):
                out = {"value": float(value), "observed_at": moment, "note": note}
                if metric_id is not None:
                    out["metric_id"] = metric_id
                if metric is not None:
                    out["metric"] = metric
                return out
        return self.load(raw)

    @validates_schema(skip_on_field_errors=False)
    def _metric_named(self, data, **_):
        if data.get("metric_id") is None and not (data.get("metric") or "").strip():
            raise ValidationError("Name the metric (its name or id).", "metric")

    @validates_schema(skip_on_field_errors=True)
    def _when(self, data, **_):
        moment = data["observed_at"]
        if moment < EARLIEST_OBSERVATION:
            raise ValidationError("An observation from 2000 on.", "observed_at")
        now = self.now or datetime.now(UTC)
        if moment > now + FUTURE_SLACK:
            raise ValidationError("This moment is in the future: send observations once they are made.",
                                  "observed_at")


class ObservationBatchSchema(Schema):
    """The body of ``POST …/observations``: up to 10,000 observations, written all or nothing."""

    class Meta:
        unknown = RAISE

    observations = fields.List(fields.Nested(ObservationSchema), required=True,
                               validate=validate.Length(min=1, max=MAX_BATCH,
                                                        error="Send between 1 and 10,000 observations."))

    @staticmethod
    def rows_of(body: dict) -> list:
        """The body's rows, its envelope checked (the rows themselves: ``ObservationSchema.load_row``,
        all at once in the service; loading them through this schema would check each twice)."""
        errors = {key: ["Unknown field."] for key in body if key != "observations"}
        rows = body.get("observations")
        if not isinstance(rows, list):
            errors["observations"] = ["Send a list of observations."]
        elif not 1 <= len(rows) <= MAX_BATCH:
            errors["observations"] = ["Send between 1 and 10,000 observations."]
        if errors:
            raise ValidationFailed("Some fields need attention.", errors=errors)
        return rows


class DriftRuleSchema(Schema):
    """A metric's drift band: around its baseline or target, absolute (in the metric's unit) or
    relative (a fraction of the reference: 0.05 is 5 %), below and/or above."""

    class Meta:
        unknown = RAISE

    reference = fields.String(required=True, validate=_one_of(DriftReference))
    band_kind = fields.String(required=True, validate=_one_of(BandKind))
    below = fields.Float(allow_none=True, load_default=None, allow_nan=False,
                         validate=validate.Range(0, VALUE_LIMIT),
                         metadata={"description": "How far under the reference is still in band; null: no lower bound."})
    above = fields.Float(allow_none=True, load_default=None, allow_nan=False,
                         validate=validate.Range(0, VALUE_LIMIT),
                         metadata={"description": "How far over the reference is still in band; null: no upper bound."})
    min_observations = fields.Integer(load_default=1, strict=False, validate=validate.Range(1, 1000),
                                      metadata={"description": "Breaches count once this many observations exist."})
    consecutive = fields.Integer(load_default=1, strict=False, validate=validate.Range(1, 100),
                                 metadata={"description": "Breaches in a row that open an alert (1: every breach)."})

    def __init__(self, *, metric=None, **kw):
        super().__init__(**kw)
        self.metric = metric  # the BaselineMetric the rule is for: its target and baseline are checked

    @validates_schema(skip_on_field_errors=True)
    def _band(self, data, **_):
        if data.get("below") is None and data.get("above") is None:
            raise ValidationError("Give a bound below the reference, above it, or both.", "below")
        if data["band_kind"] == BandKind.RELATIVE.value:
            errors = {key: [f"A fraction between 0 and {MAX_RELATIVE:g} (0.05 is 5 %)."]
                      for key in ("below", "above")
                      if data.get(key) is not None and not 0 <= data[key] <= MAX_RELATIVE}
            if errors:
                raise ValidationError(errors)
        metric = self.metric
        if metric is not None and data["reference"] == DriftReference.TARGET.value and metric.target_value is None:
            raise ValidationError("This metric has no target: set one, or put the band around the baseline.",
                                  "reference")
        if metric is not None and data["reference"] == DriftReference.BASELINE.value and metric.baseline_value is None:
            raise ValidationError("This metric has no measured baseline yet: measure it, or put the band around "
                                  "the target.", "reference")


class ResolveSchema(Schema):
    class Meta:
        unknown = RAISE

    note = fields.String(required=True, validate=validate.Length(min=1, max=4000),
                         error_messages={"required": "Write what was found and done (required)."},
                         metadata={"description": "What was found and done (required; audited)."})


class ObservationQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    metric_id = fields.Integer(strict=False, validate=validate.Range(1, MAX_ID))
    since = Moment()
    limit = fields.Integer(strict=False, load_default=1000, validate=validate.Range(1, MAX_BATCH))
    after_id = fields.Integer(strict=False, validate=validate.Range(0, 2**63 - 1),
                              metadata={"description": "Paging: the `next_after_id` of the previous page."})


# -- what the API returns ------------------------------------------------------------------------

class ObservationRecordSchema(Schema):
    id = fields.Integer(required=True)
    metric_id = fields.Integer(required=True)
    value = fields.Float(required=True)
    observed_at = fields.DateTime(required=True)
    note = fields.String(required=True)
    source = fields.String(required=True, validate=_one_of(ObservationSource))
    recorded_at = fields.DateTime(required=True)


class ObservationPageSchema(Schema):
    items = fields.List(fields.Nested(ObservationRecordSchema), required=True)
    next_after_id = fields.Integer(allow_none=True, required=True,
                                   metadata={"description": "Send as after_id for the next page; null: last page."})


class RecordCountsSchema(Schema):
    created = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    corrected = fields.Integer(required=True)
    alerts_opened = fields.Integer(required=True)


class DriftRuleRecordSchema(Schema):
    metric_id = fields.Integer(required=True)
    reference = fields.String(required=True, validate=_one_of(DriftReference))
    band_kind = fields.String(required=True, validate=_one_of(BandKind))
    below = fields.Float(allow_none=True, required=True)
    above = fields.Float(allow_none=True, required=True)
    min_observations = fields.Integer(required=True)
    consecutive = fields.Integer(required=True)
    low = fields.Float(allow_none=True, required=True, metadata={"description": "The band's lower edge now."})
    high = fields.Float(allow_none=True, required=True, metadata={"description": "The band's upper edge now."})
    summary = fields.String(required=True)
    updated_at = fields.DateTime(required=True)


class DriftAlertRecordSchema(Schema):
    id = fields.Integer(required=True)
    metric_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=_one_of(AlertStatus))
    opened_at = fields.DateTime(required=True)
    breaches = fields.Integer(required=True)
    last_value = fields.Float(required=True)
    last_observed_at = fields.DateTime(required=True)
    summary = fields.String(required=True)
    resolved_at = fields.DateTime(allow_none=True, required=True)
    resolved_by = fields.String(allow_none=True, required=True, metadata={"description": "Email."})
    resolution_note = fields.String(required=True)


class DriftAlertListSchema(Schema):
    items = fields.List(fields.Nested(DriftAlertRecordSchema), required=True)


def finite(value: float) -> bool:
    return value is not None and math.isfinite(value)
