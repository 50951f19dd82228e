"""What the JSON API returns for a system's decisions: the recommendation now with its blockers,
each recorded decision, and a decision's frozen snapshot (decisions are recorded on the page)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.enums import Verdict

VERDICTS = validate.OneOf(Verdict.values())


class BlockerSchema(Schema):
    rule = fields.String(required=True)
    severity = fields.String(required=True, validate=validate.OneOf(["blocking", "condition"]))
    message = fields.String(required=True)
    target = fields.String(required=True)


class RecommendationSchema(Schema):
    verdict = fields.String(required=True, validate=VERDICTS)
    blockers = fields.List(fields.Nested(BlockerSchema), required=True)
    verified_controls = fields.Integer(required=True)
    required_controls = fields.Integer(required=True)


class DecisionRecordSchema(Schema):
    id = fields.Integer(required=True)
    system_id = fields.Integer(required=True)
    verdict = fields.String(required=True, validate=VERDICTS)
    recommended = fields.String(required=True, validate=VERDICTS)
    rationale = fields.String(required=True)
    conditions = fields.List(fields.String(), required=True)
    expires_on = fields.Date(required=True)
    decided_at = fields.DateTime(required=True)
    decided_by = fields.String(required=True)
    supersedes_id = fields.Integer(allow_none=True, required=True)
    current = fields.Boolean(required=True)
    snapshot_sha256 = fields.String(required=True)
    acknowledged_at = fields.DateTime(allow_none=True, required=True)
    acknowledged_by = fields.String(allow_none=True, required=True)


class DecisionListSchema(Schema):
    recommendation = fields.Nested(RecommendationSchema, required=True)
    items = fields.List(fields.Nested(DecisionRecordSchema), required=True)


class SnapshotRecordSchema(Schema):
    decision_id = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    snapshot = fields.Dict(required=True)
