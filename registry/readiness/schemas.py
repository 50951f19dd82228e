"""The shape of each readiness answer (marshmallow): types and bounds, not completeness.

A draft may be partial; what a complete answer needs is in ``registry.readiness.questions``
(``missing_parts``), checked when the owner submits.  People are registered accounts,
given by email and stored by id.  A field the schema does not know is an error, never dropped.
``AnswerRecordSchema`` is what the JSON API returns for an answer.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from registry.enums import AnswerStatus, CheckFrequency, Question


def _text(max_len: int = 2000):
    return fields.String(load_default="", validate=validate.Length(max=max_len))


class _Base(Schema):
    class Meta:
        unknown = RAISE


class OutcomeSchema(_Base):
    business_outcome = _text()
    metric_ids = fields.List(fields.Integer(strict=False), load_default=list)


class OwnershipSchema(_Base):
    performance_owner = fields.Email(load_default=None, allow_none=True)
    review_queue_owner = fields.Email(load_default=None, allow_none=True)
    escalation_owner = fields.Email(load_default=None, allow_none=True)
    business_impact_owner = fields.Email(load_default=None, allow_none=True)


class DriftSignalSchema(_Base):
    signal = _text(300)
    threshold = _text(300)
    frequency = fields.String(load_default="", validate=validate.OneOf(["", *CheckFrequency.values()]))
    alerted = _text(300)


class DriftSchema(_Base):
    signals = fields.List(fields.Nested(DriftSignalSchema), load_default=list, validate=validate.Length(max=20))
    notes = _text()


class HumanWorkflowSchema(_Base):
    automate_at = fields.Float(load_default=None, allow_none=True, allow_nan=False, validate=validate.Range(0, 100))
    # The explicit answer "no output is ever used without a person confirming it"; an empty
    # automate_at alone is "not answered".
    never_automate = fields.Boolean(load_default=False)
    suggest_at = fields.Float(load_default=None, allow_none=True, allow_nan=False, validate=validate.Range(0, 100))
    escalation_triggers = fields.List(fields.String(validate=validate.Length(min=1, max=300)), load_default=list,
                                      validate=validate.Length(max=30))
    reviewer_role = _text(300)
    reviewer_capacity_per_day = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0))
    feedback_loop = _text()

    @validates_schema
    def _bands_in_order(self, data, **_):
        automate, suggest = data.get("automate_at"), data.get("suggest_at")
        if automate is not None and suggest is not None and suggest > automate:
            raise ValidationError("The suggestion band must start below the automation band.", "suggest_at")
        if automate is not None and data.get("never_automate"):
            raise ValidationError("Give an automation threshold or choose “never automate”, not both.", "automate_at")


class DegradedModesSchema(_Base):
    full = _text(1000)
    degraded = _text(1000)
    minimal = _text(1000)
    offline = _text(1000)


class RollbackSchema(_Base):
    kill_switch = _text()
    degraded_modes = fields.Nested(DegradedModesSchema, load_default=dict)
    fallback_process = _text()
    time_to_pause_minutes = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=100_000))
    last_rehearsal = fields.Date(load_default=None, allow_none=True)


SCHEMAS: dict[Question, type[Schema]] = {
    Question.OUTCOME: OutcomeSchema,
    Question.OWNERSHIP: OwnershipSchema,
    Question.DRIFT: DriftSchema,
    Question.HUMAN_WORKFLOW: HumanWorkflowSchema,
    Question.ROLLBACK: RollbackSchema,
}


class ReviewSchema(_Base):
    outcome = fields.String(required=True, validate=validate.OneOf(["accept", "return"]))
    comment = _text(4000)


class SubmitSchema(_Base):
    """The accountable owner submits an answer for review, attesting it personally."""

    attest = fields.Boolean(required=True, metadata={"description": "I attest this answer personally."})


class AnswerRecordSchema(Schema):
    """An answer as the API returns it: ``content`` in the question's schema (people by email),
    what a complete answer still lacks, and where it stands in review."""

    question = fields.String(required=True, validate=validate.OneOf(Question.values()))
    prompt = fields.String(required=True)
    status = fields.String(allow_none=True, required=True, validate=validate.OneOf(AnswerStatus.values()),
                           metadata={"description": "None: not answered yet."})
    version = fields.Integer(required=True, metadata={"description": "0 before the first save; send it as If-Match."})
    content = fields.Dict(required=True)
    missing = fields.List(fields.String(), required=True)
    attestation = fields.String(allow_none=True, required=True)
    submitted_by = fields.String(allow_none=True, required=True)
    submitted_at = fields.DateTime(allow_none=True, required=True)
    reviewed_by = fields.String(allow_none=True, required=True)
    reviewed_at = fields.DateTime(allow_none=True, required=True)
    review_comment = fields.String(allow_none=True, required=True)
    updated_at = fields.DateTime(allow_none=True, required=True)
