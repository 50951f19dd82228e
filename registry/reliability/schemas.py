"""Shapes of agent reliability (marshmallow): a batch of evaluation trials, the release gate, the step
rates, and the summary the API returns.  A trial row's values are checked by
``registry.reliability.services.check_trials`` (one place for the CSV, the API and the demo), so the
row schema here only fixes its keys."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from registry.reliability.passk import MAX_K

MAX_TRIALS = 10_000  # per upload
MAX_STEPS = 200


class TrialRowSchema(Schema):
    class Meta:
        unknown = RAISE

    task_id = fields.Raw(required=True, metadata={"type": "string", "description": "The evaluation task (at most "
                                                                                    "200 characters)."})
    trial = fields.Raw(required=True, metadata={"type": "integer", "description": "The trial's number, 1 or more."})
    passed = fields.Raw(required=True, metadata={"description": "true or false (also 1/0, yes/no, pass/fail)."})


class TrialBatchSchema(Schema):
    class Meta:
        unknown = RAISE

    trials = fields.List(fields.Nested(TrialRowSchema), required=True,
                         validate=validate.Length(min=1, max=MAX_TRIALS, error="Send between {min} and {max} trials."))


class TrialUploadSchema(Schema):
    """What an upload changed: a trial sent again with the same outcome is unchanged; with another, corrected."""

    received = fields.Integer(required=True)
    added = fields.Integer(required=True)
    corrected = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)


class GateSchema(Schema):
    """The release gate: pass^k must reach ``threshold`` (0–1); both null: no gate."""

    class Meta:
        unknown = RAISE

    k = fields.Integer(required=True, allow_none=True, strict=True, validate=validate.Range(1, MAX_K))
    threshold = fields.Float(required=True, allow_none=True, allow_nan=False, validate=validate.Range(0, 1),
                             metadata={"description": "A share between 0 and 1, e.g. 0.8 for 80 %."})

    @validates_schema
    def _both_or_neither(self, data, **_):
        if (data.get("k") is None) != (data.get("threshold") is None):
            raise ValidationError("Give both k and the threshold, or neither to remove the gate.", "_schema")


class StepRatesSchema(Schema):
    class Meta:
        unknown = RAISE

    step_rates = fields.List(fields.Float(allow_nan=False, validate=validate.Range(0, 1)), required=True,
                             validate=validate.Length(max=MAX_STEPS),
                             metadata={"description": "Each step's success rate (0–1), in order; [] to remove them."})


class CurvePointSchema(Schema):
    k = fields.Integer(required=True)
    value = fields.Float(required=True, allow_none=True, metadata={"description": "null: not enough trials."})


class TaskRowSchema(Schema):
    task_id = fields.String(required=True)
    trials = fields.Integer(required=True)
    passed = fields.Integer(required=True)
    pass_at_1 = fields.Float(required=True)
    curve = fields.List(fields.Nested(CurvePointSchema), required=True)


class GateStatusSchema(Schema):
    k = fields.Integer(required=True, allow_none=True)
    threshold = fields.Float(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(["no_gate", "met", "not_met", "not_enough_trials"]))
    measured = fields.Float(required=True, allow_none=True, metadata={"description": "pass^k now; null: not enough "
                                                                                      "trials or no gate."})
    text = fields.String(required=True)


class ReliabilitySummarySchema(Schema):
    tasks = fields.Integer(required=True)
    trials = fields.Integer(required=True)
    pass_at_1 = fields.Float(required=True, allow_none=True, metadata={"description": "null: no trials."})
    curve = fields.List(fields.Nested(CurvePointSchema), required=True,
                        metadata={"description": "pass^k for k = 1..8 over the tasks (unbiased: C(c, k) / C(n, k) per "
                                                 "task, averaged); null where a task has fewer than k trials."})
    per_task = fields.List(fields.Nested(TaskRowSchema), required=True)
    gate = fields.Nested(GateStatusSchema, required=True)
    step_rates = fields.List(fields.Float(), required=True)
    compounded = fields.Float(required=True, allow_none=True,
                              metadata={"description": "The chance the whole workflow succeeds: the product of the "
                                                       "step rates; null: none recorded."})
