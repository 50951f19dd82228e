"""Shapes of a value case and of a pilot stop (marshmallow), for the form, the API and the seeder; a
field the schema does not know is an error.  A figure left out or null is "not recorded", never 0:
a recorded 0 is an answer (the system costs nothing to run), a blank one is not.  The
``…RecordSchema`` classes are what the JSON API returns."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from registry.enums import Stage, StopReason

# The currencies a value case may be stated in (ISO 4217): the one list, for the schema and the form.
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "INR", "CNY", "BRL")
MONEY_LIMIT = 10 ** 12
MONEY_FIELDS = ("expected_annual_value", "one_off_cost", "annual_run_cost", "annual_maintenance_cost")
TEXT_LIMITS = {"value_basis": 4000, "maintenance_team": 300, "run_funded_by": 300, "latency": 300, "volume": 300,
               "availability": 300}
LESSONS_MIN = 20  # characters of real text (spaces and punctuation do not count)
LESSONS_MAX = 8000
NOTE_MAX = 2000


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("Text may not contain NUL characters.")


def _money(description: str):
    return fields.Float(
        allow_none=True, load_default=None, allow_nan=False,
        validate=validate.Range(min=0, max=MONEY_LIMIT,
                                error=f"Give an amount from 0 to {MONEY_LIMIT:,} (leave it blank if not known)."),
        metadata={"description": description + " Null: not recorded (0 is an answer)."})


def _text(max_len: int, description: str = ""):
    return fields.String(load_default="", validate=[validate.Length(max=max_len), _no_nul],
                         metadata={"description": description} if description else {})


class ValueCaseSchema(Schema):
    """A system's value case, sent whole (PUT): what it is worth and costs a year, and how it must run."""

    class Meta:
        unknown = RAISE

    currency = fields.String(load_default=None, allow_none=True,
                             validate=validate.OneOf(CURRENCIES, error=f"Must be one of: {', '.join(CURRENCIES)}."),
                             metadata={"description": "ISO 4217 code of every figure; required once a figure is given."})
    expected_annual_value = _money("Expected value a year (revenue, savings, avoided losses).")
    value_basis = _text(TEXT_LIMITS["value_basis"], "How the expected value was estimated.")
    one_off_cost = _money("One-off cost to build and deploy.")
    annual_run_cost = _money("Run cost a year: compute, licences.")
    annual_maintenance_cost = _money("Maintenance cost a year: people, retraining, monitoring.")
    maintenance_team = _text(TEXT_LIMITS["maintenance_team"], "The team that maintains it in production.")
    run_funded_by = _text(TEXT_LIMITS["run_funded_by"], "Whose budget pays the run cost.")
    latency = _text(TEXT_LIMITS["latency"], "Production constraint: response time needed.")
    volume = _text(TEXT_LIMITS["volume"], "Production constraint: volume to handle.")
    availability = _text(TEXT_LIMITS["availability"], "Production constraint: availability needed.")

    @validates_schema(skip_on_field_errors=True)
    def _currency_with_figures(self, data, **_):
        if data.get("currency") is None and any(data.get(k) is not None for k in MONEY_FIELDS):
            raise ValidationError("Say which currency the figures are in.", "currency")

    @post_load
    def _strip(self, data, **_):
        for key in TEXT_LIMITS:
            data[key] = (data.get(key) or "").strip()
        return data


def real_length(text: str) -> int:
    """Letters and digits: what counts towards the lessons' minimum ("....." is not a lesson)."""
    return sum(ch.isalnum() for ch in text)


class StopSchema(Schema):
    """Stopping a pilot: why (shared/seeds/002's reasons, or another given in the note) and what was learnt."""

    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.OneOf(StopReason.values(),
                                                                  error=f"Must be one of: {', '.join(StopReason.values())}."))
    lessons = fields.String(required=True, validate=[validate.Length(max=LESSONS_MAX), _no_nul],
                            metadata={"description": f"What was learnt; at least {LESSONS_MIN} letters or digits."})
    note = _text(NOTE_MAX, "Required when the reason is 'other'.")

    @validates_schema(skip_on_field_errors=True)
    def _complete(self, data, **_):
        errors = {}
        if real_length(data.get("lessons") or "") < LESSONS_MIN:
            errors["lessons"] = [f"Write what was learnt: at least {LESSONS_MIN} letters or digits, so the next "
                                 "pilot can use it."]
        if data.get("reason") == StopReason.OTHER.value and not (data.get("note") or "").strip():
            errors["note"] = ["Say what the other reason is."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _strip(self, data, **_):
        data["lessons"], data["note"] = data["lessons"].strip(), (data.get("note") or "").strip()
        return data


class ValueCaseRecordSchema(Schema):
    """A system's value case as the API returns it; ``version`` 0 before anything is recorded."""

    system_id = fields.Integer(required=True)
    version = fields.Integer(required=True, metadata={"description": "0 before the first save; send it as If-Match."})
    recorded = fields.Boolean(required=True, metadata={"description": "Whether a value case was saved at all."})
    currency = fields.String(allow_none=True, required=True)
    expected_annual_value = fields.Float(allow_none=True, required=True)
    value_basis = fields.String(required=True)
    one_off_cost = fields.Float(allow_none=True, required=True)
    annual_run_cost = fields.Float(allow_none=True, required=True)
    annual_maintenance_cost = fields.Float(allow_none=True, required=True)
    net_annual_value = fields.Float(allow_none=True, required=True, metadata={
        "description": "Value less run and maintenance cost a year; null unless all three are recorded."})
    maintenance_team = fields.String(required=True)
    run_funded_by = fields.String(required=True)
    latency = fields.String(required=True)
    volume = fields.String(required=True)
    availability = fields.String(required=True)
    business_outcome = fields.String(allow_none=True, required=True, metadata={
        "description": "From the readiness answer 'outcome'; null if not answered."})
    gaps = fields.List(fields.String(), required=True, metadata={
        "description": "What blocks production at the system's tier (budgeted run cost, named maintenance team)."})
    updated_by = fields.String(allow_none=True, required=True)
    updated_at = fields.DateTime(allow_none=True, required=True)


class StopRecordSchema(Schema):
    """A pilot stopped: the system was retired then; the record is kept."""

    id = fields.Integer(required=True)
    system_id = fields.Integer(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(StopReason.values()))
    reason_label = fields.String(required=True)
    note = fields.String(required=True)
    lessons = fields.String(required=True)
    stage_before = fields.String(required=True, validate=validate.OneOf(Stage.values()))
    stopped_by = fields.String(allow_none=True, required=True)
    stopped_at = fields.DateTime(required=True)
