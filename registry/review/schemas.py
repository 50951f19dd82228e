"""The review queue as the JSON API returns it (``registry.review.services.Queue``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.enums import ControlStatus, Question, Tier, Verdict


class _Row(Schema):
    system_id = fields.Integer(required=True)
    system_name = fields.String(required=True)

class AnswerToReviewSchema(_Row):
    question = fields.String(required=True, validate=validate.OneOf(Question.values()))
    submitted_at = fields.DateTime(allow_none=True, required=True)

class ControlToVerifySchema(_Row):
    control_id = fields.Integer(required=True)
    ref = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ControlStatus.values()))
    updated_at = fields.DateTime(required=True)

class DecisionDueSchema(_Row):
    tier = fields.String(required=True, validate=validate.OneOf(Tier.values()))

class DecidedSchema(_Row):
    tier = fields.String(required=True, validate=validate.OneOf(Tier.values()))
    verdict = fields.String(required=True, validate=validate.OneOf(Verdict.values()))
    expires_on = fields.Date(required=True)
    re_review_reasons = fields.List(fields.String(), required=True)

class OverrideToConfirmSchema(_Row):
    computed_tier = fields.String(required=True, validate=validate.OneOf(Tier.values()))
    tier_override = fields.String(required=True, validate=validate.OneOf(Tier.values()))
    proposed_at = fields.DateTime(allow_none=True, required=True)
    reason = fields.String(allow_none=True, required=True)

class DisagreementSchema(_Row):
    message = fields.String(required=True)

class QueueSchema(Schema):
    """Each list holds at most ``registry.review.services.LIMIT`` rows; systems the reader is named on are left out."""

    answers = fields.List(fields.Nested(AnswerToReviewSchema), required=True)
    answers_total = fields.Integer(required=True)
    to_verify = fields.List(fields.Nested(ControlToVerifySchema), required=True)
    to_verify_total = fields.Integer(required=True)
    decisions_due = fields.List(fields.Nested(DecisionDueSchema), required=True)
    overdue = fields.List(fields.Nested(DecidedSchema), required=True)
    due_soon = fields.List(fields.Nested(DecidedSchema), required=True)
    changed = fields.List(fields.Nested(DecidedSchema), required=True)
    overrides = fields.List(fields.Nested(OverrideToConfirmSchema), required=True)
    disagreements = fields.List(fields.Nested(DisagreementSchema), required=True)
