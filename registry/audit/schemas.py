"""Audit events as the JSON API returns them, and the query that pages through them."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

MAX_ID = 2**31 - 1


class AuditQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    system_id = fields.Integer(strict=False, validate=validate.Range(1, MAX_ID),
                               metadata={"description": "Only this system's history."})
    page = fields.Integer(strict=False, load_default=1, validate=validate.Range(1, 1_000_000))
    per_page = fields.Integer(strict=False, load_default=50, validate=validate.Range(1, 200))


class AuditEventRecordSchema(Schema):
    """One event as recorded (its hashed record): who, what, when, the fields before and after."""

    seq = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    action = fields.String(required=True)
    entity_type = fields.String(required=True)
    entity_id = fields.String(allow_none=True, required=True)
    system_id = fields.Integer(allow_none=True, required=True)
    actor_id = fields.Integer(allow_none=True, required=True)
    actor = fields.String(required=True)
    summary = fields.String(required=True)
    before = fields.Dict(allow_none=True, required=True)
    after = fields.Dict(allow_none=True, required=True)


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEventRecordSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)
