"""The marshmallow schemas of an AI system and a baseline metric.

One schema per resource, shared by the seeder, the importer and the API: they check
shape and types; uniqueness, people lookup and permissions live in the services.
People are referred to by email.  A field the schema does not know is an error, never
dropped (a misspelt ``data_categories`` would otherwise quietly lower the tier).

The ``…RecordSchema`` classes are what the JSON API returns (dumped, and described in its
OpenAPI document); ``InventoryQuerySchema`` checks the inventory list's query parameters.
"""

from __future__ import annotations

from datetime import date

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from registry.enums import (
    Affected,
    Autonomy,
    BiometricUse,
    DataCategory,
    DecisionDomain,
    DecisionRole,
    DeclaredRegime,
    EUClass,
    Kind,
    MetricDirection,
    ProhibitedPractice,
    SafetyHarm,
    Sourcing,
    Stage,
    Tier,
    Verdict,
)
from registry.errors import ValidationFailed
from registry.inventory.queries import MAX_PAGE_SIZE, SORTS
from registry.state.filters import REVIEW_DUE, UNDECIDED


def _one_of(enum_cls, *, answers_only: bool = False):
    """One of the enum's values; ``answers_only``: not "not recorded" (a person gives an answer;
    only an import may say the source did not)."""
    values = [v for v, _ in enum_cls.answers()] if answers_only else enum_cls.values()
    return validate.OneOf(values, error=f"Must be one of: {', '.join(values)}.")


def _text(max_len: int, required: bool = True, **kw):
    return fields.String(
        required=required,
        validate=validate.Length(min=1 if required else 0, max=max_len),
        **kw,
    )


class RiskAnswersSchema(Schema):
    class Meta:
        unknown = RAISE

    prohibited_practice = fields.String(load_default="none", validate=_one_of(ProhibitedPractice))
    decision_domains = fields.List(fields.String(validate=_one_of(DecisionDomain)), load_default=list)
    # None: not answered (the tier takes the output as a principal basis until it is; the OMB flag
    # is "not determined").
    decision_role = fields.String(allow_none=True, load_default=None, validate=_one_of(DecisionRole))
    legal_effect = fields.Boolean(load_default=False)
    safety_harms = fields.List(fields.String(validate=_one_of(SafetyHarm)), load_default=list)
    biometric_uses = fields.List(fields.String(validate=_one_of(BiometricUse)), load_default=list)
    profiling = fields.Boolean(load_default=False)
    acts_on_people = fields.Boolean(load_default=False)
    interacts_directly = fields.Boolean(allow_none=True, load_default=None)  # None: not answered

    @post_load
    def _dedupe(self, data, **_):
        for key, enum_cls in (("decision_domains", DecisionDomain), ("safety_harms", SafetyHarm),
                              ("biometric_uses", BiometricUse)):
            data[key] = sorted(set(data[key]), key=enum_cls.values().index)
        if not data.get("decision_role"):
            data["decision_role"] = None
        return data


PERCENT_UNITS = {"%", "‰", "percent", "per cent", "pct", "percentage"}
PERCENT_LIMIT = 1000  # a change of −100 % to +1,000 % and any share fit; −99,999,999,999 % does not
VALUE_LIMIT = 10 ** 12
EARLIEST_MEASUREMENT = date(2000, 1, 1)


class MetricSchema(Schema):
    class Meta:
        unknown = RAISE

    name = _text(200)
    unit = _text(40)
    baseline_value = fields.Float(allow_none=True, load_default=None, data_key="baseline", allow_nan=False)
    measured_on = fields.Date(allow_none=True, load_default=None)
    source = fields.String(load_default="", validate=validate.Length(max=300))
    target_value = fields.Float(allow_none=True, load_default=None, data_key="target", allow_nan=False)
    direction = fields.String(required=True, validate=_one_of(MetricDirection))

    @validates_schema(skip_on_field_errors=False)
    def _measured_needs_date(self, data, **_):
        if data.get("baseline_value") is not None and data.get("measured_on") is None:
            raise ValidationError("Say when the baseline was measured.", "measured_on")

    @validates_schema(skip_on_field_errors=True)
    def _sensible(self, data, **_):
        """Values a measurement can have: finite (the field refuses NaN and infinity), within a
        percentage's range for % and ‰, and within ±10^12 otherwise; measured since 2000."""
        errors = {}
        unit = (data.get("unit") or "").strip().lower()
        for key, label in (("baseline_value", "baseline"), ("target_value", "target")):
            value = data.get(key)
            if value is None:
                continue
            if unit in PERCENT_UNITS and not -PERCENT_LIMIT <= value <= PERCENT_LIMIT:
                errors[label] = [f"A percentage between −{PERCENT_LIMIT:,} and {PERCENT_LIMIT:,}: check the value."]
            elif abs(value) > VALUE_LIMIT:
                errors[label] = ["At most a trillion (10^12) either way: check the value, or measure in a larger unit."]
        measured = data.get("measured_on")
        if measured is not None and measured < EARLIEST_MEASUREMENT:
            errors["measured_on"] = [f"A date from {EARLIEST_MEASUREMENT.isoformat()} on."]
        if errors:
            raise ValidationError(errors)


class TierOverrideSchema(Schema):
    tier = fields.String(required=True, validate=_one_of(Tier, answers_only=True))
    reason = _text(2000)
    by = fields.Email(required=True)


class DeclaredSchema(Schema):
    """A high-impact / high-risk determination made outside the registry, and on what basis."""

    class Meta:
        unknown = RAISE

    high_impact = fields.Boolean(required=True)
    regime = fields.String(load_default=DeclaredRegime.OTHER.value, validate=_one_of(DeclaredRegime))
    justification = fields.String(load_default="", validate=validate.Length(max=4000))
    source = fields.String(load_default="", validate=validate.Length(max=300))

    @post_load
    def _strip(self, data, **_):
        return {**data, "justification": data["justification"].strip(), "source": data["source"].strip()}


class SystemSchema(Schema):
    """An AI system as data: what a form, an import row, a seed entry or an API call carries."""

    class Meta:
        unknown = RAISE

    name = _text(300)
    purpose = _text(4000)
    business_process = _text(300)
    business_unit = _text(300)
    accountable_owner = fields.Email(required=True)
    technical_owner = fields.Email(allow_none=True, load_default=None)
    sourcing = fields.String(required=True, validate=_one_of(Sourcing, answers_only=True))
    vendor_name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=200))
    kind = fields.String(required=True, validate=_one_of(Kind, answers_only=True))
    stage = fields.String(required=True, validate=_one_of(Stage, answers_only=True))
    affects = fields.List(
        fields.String(validate=_one_of(Affected)),
        required=True,
        validate=validate.Length(min=1, error="Say who the system affects."),
    )
    decisions_influenced = fields.String(load_default="", validate=validate.Length(max=2000))
    autonomy = fields.String(required=True, validate=_one_of(Autonomy, answers_only=True))
    data_categories = fields.List(fields.String(validate=_one_of(DataCategory)), load_default=list)
    risk = fields.Nested(RiskAnswersSchema, load_default=lambda: RiskAnswersSchema().load({}))
    metrics = fields.List(fields.Nested(MetricSchema), load_default=list)
    tier_override = fields.Nested(TierOverrideSchema, allow_none=True, load_default=None)
    declared = fields.Nested(DeclaredSchema, allow_none=True, load_default=None)

    @validates_schema(skip_on_field_errors=False)
    def _vendor(self, data, **_):
        if data.get("sourcing") == Sourcing.VENDOR.value and not (data.get("vendor_name") or "").strip():
            raise ValidationError("Name the vendor of a bought system.", "vendor_name")

    @post_load
    def _normalise(self, data, **_):
        for key in ("name", "purpose", "business_process", "business_unit", "decisions_influenced"):
            data[key] = (data.get(key) or "").strip()
        if data["sourcing"] != Sourcing.VENDOR.value:
            data["vendor_name"] = None
        data["affects"] = sorted(set(data["affects"]), key=Affected.values().index)
        data["data_categories"] = sorted(set(data["data_categories"]), key=DataCategory.values().index)
        return data


MAX_ID = 2**31 - 1  # the largest id either database stores


class InventoryQuerySchema(Schema):
    """The inventory list's query parameters (``registry.inventory.queries.InventoryFilters``), checked:
    the page drops a value it does not know, the API says which one is wrong."""

    class Meta:
        unknown = RAISE

    q = fields.String(validate=validate.Length(max=200))
    stage = fields.List(fields.String(validate=_one_of(Stage)))
    tier = fields.List(fields.String(validate=_one_of(Tier)))
    kind = fields.List(fields.String(validate=_one_of(Kind)))
    business_unit = fields.List(fields.String(validate=validate.Length(min=1, max=300)))
    owner = fields.List(fields.Integer(strict=False, validate=validate.Range(1, MAX_ID)))
    data = fields.List(fields.String(validate=_one_of(DataCategory)))
    verdict = fields.List(fields.String(validate=validate.OneOf([*Verdict.values(), UNDECIDED])))
    recommendation = fields.List(fields.String(validate=_one_of(Verdict)))
    blocker = fields.String(validate=validate.Length(max=200))
    stale_evidence = fields.String(validate=validate.OneOf(["0", "1"]))
    re_review = fields.String(validate=validate.OneOf(["0", "1"]))
    review_due = fields.String(validate=validate.OneOf(list(REVIEW_DUE)))
    sort = fields.String(validate=validate.OneOf([*SORTS, *(f"-{s}" for s in SORTS)]))
    page = fields.Integer(strict=False, validate=validate.Range(1, 1_000_000))
    per_page = fields.Integer(strict=False, validate=validate.Range(1, MAX_PAGE_SIZE))


class MetricRecordSchema(Schema):
    """A baseline metric as the API returns it (``MetricSchema`` plus its id)."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    unit = fields.String(required=True)
    baseline = fields.Float(allow_none=True, required=True)
    measured_on = fields.Date(allow_none=True, required=True)
    source = fields.String(required=True)
    target = fields.Float(allow_none=True, required=True)
    direction = fields.String(required=True, validate=_one_of(MetricDirection))


class RiskRecordSchema(Schema):
    """The risk answers, the tier the rules computed from them and why, and what else they derive."""

    version = fields.Integer(required=True, metadata={"description": "The system's version (its ETag)."})
    answers = fields.Nested(RiskAnswersSchema, required=True)
    computed_tier = fields.String(required=True, validate=_one_of(Tier))
    tier = fields.String(required=True, validate=_one_of(Tier), metadata={"description": "Effective tier."})
    reasons = fields.List(fields.String(), required=True)
    tier_override = fields.String(allow_none=True, required=True, validate=_one_of(Tier))
    tier_override_reason = fields.String(allow_none=True, required=True)
    override_status = fields.String(allow_none=True, required=True)
    eu_class = fields.String(allow_none=True, required=True, validate=_one_of(EUClass))
    eu_basis = fields.String(required=True)
    omb_high_impact = fields.Boolean(allow_none=True, required=True)
    omb_basis = fields.String(required=True)
    rules_version = fields.Integer(required=True)
    declared = fields.Nested(DeclaredSchema, allow_none=True, required=True)


class SystemRecordSchema(Schema):
    """An AI system as the API returns it: what ``SystemSchema`` takes, plus what the registry
    derives and keeps (id, version, tier, import source…)."""

    id = fields.Integer(required=True)
    version = fields.Integer(required=True, metadata={"description": "Send it back as If-Match to update."})
    name = fields.String(required=True)
    purpose = fields.String(required=True)
    business_process = fields.String(required=True)
    business_unit = fields.String(required=True)
    accountable_owner = fields.String(allow_none=True, required=True, metadata={"description": "Email."})
    technical_owner = fields.String(allow_none=True, required=True, metadata={"description": "Email."})
    sourcing = fields.String(required=True, validate=_one_of(Sourcing))
    vendor_name = fields.String(allow_none=True, required=True)
    kind = fields.String(required=True, validate=_one_of(Kind))
    stage = fields.String(required=True, validate=_one_of(Stage))
    affects = fields.List(fields.String(validate=_one_of(Affected)), required=True)
    decisions_influenced = fields.String(required=True)
    autonomy = fields.String(required=True, validate=_one_of(Autonomy))
    data_categories = fields.List(fields.String(validate=_one_of(DataCategory)), required=True)
    risk = fields.Nested(RiskAnswersSchema, required=True)
    declared = fields.Nested(DeclaredSchema, allow_none=True, required=True)
    tier = fields.String(required=True, validate=_one_of(Tier))
    computed_tier = fields.String(required=True, validate=_one_of(Tier))
    tier_reasons = fields.List(fields.String(), required=True)
    tier_override = fields.String(allow_none=True, required=True, validate=_one_of(Tier))
    eu_class = fields.String(allow_none=True, required=True, validate=_one_of(EUClass))
    omb_high_impact = fields.Boolean(allow_none=True, required=True)
    re_review_required = fields.Boolean(required=True)
    re_review_reasons = fields.List(fields.String(), required=True)
    external_id = fields.String(required=True)
    import_source = fields.String(required=True)
    organisation = fields.String(required=True)
    topic_area = fields.String(required=True)
    outputs = fields.String(required=True)
    operational_date = fields.Date(allow_none=True, required=True)
    contact = fields.String(required=True)
    missing_fields = fields.List(fields.String(), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class SystemSummarySchema(Schema):
    """One row of the inventory list."""

    id = fields.Integer(required=True)
    version = fields.Integer(required=True)
    name = fields.String(required=True)
    business_unit = fields.String(required=True)
    accountable_owner = fields.String(allow_none=True, required=True)
    stage = fields.String(required=True, validate=_one_of(Stage))
    kind = fields.String(required=True, validate=_one_of(Kind))
    tier = fields.String(required=True, validate=_one_of(Tier))
    data_categories = fields.List(fields.String(validate=_one_of(DataCategory)), required=True)
    updated_at = fields.DateTime(required=True)


class SystemPageSchema(Schema):
    items = fields.List(fields.Nested(SystemSummarySchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)


def load_or_raise(schema: Schema, payload: dict) -> dict:
    """Load through ``schema``; turn marshmallow's errors into our ValidationFailed."""
    try:
        return schema.load(payload)
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
        raise ValidationFailed("Some fields need attention.", errors=flatten_errors(messages)) from err


def flatten_errors(messages: dict, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_errors(value, f"{name}."))
        else:
            out[name] = [str(v) for v in (value if isinstance(value, list) else [value])]
    return out
