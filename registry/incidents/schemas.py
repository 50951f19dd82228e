"""Shapes of an incident (marshmallow), for the form, the API and the demo; a field the schema does
not know is an error.  ``IncidentRecordSchema`` is what the JSON API returns."""

from __future__ import annotations

from datetime import date

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from registry.db import utcnow
from registry.enums import FailureMode, IncidentStatus, Severity

EARLIEST = date(2000, 1, 1)
TITLE_MAX = 200
TEXT_MAX = 10_000


def needs_for_closing(data: dict) -> dict[str, list[str]]:
    """What a closed incident must say: the root cause and the lessons (field -> message)."""
    errors = {}
    if not (data.get("root_cause") or "").strip():
        errors["root_cause"] = ["Say what caused the incident before closing it."]
    if not (data.get("lessons") or "").strip():
        errors["lessons"] = ["Say what was learnt before closing the incident."]
    return errors


class IncidentSchema(Schema):
    class Meta:
        unknown = RAISE

    occurred_on = fields.Date(required=True, metadata={"description": "Not in the future, not before 2000."})
    severity = fields.String(required=True, validate=validate.OneOf(Severity.values()))
    title = fields.String(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    description = fields.String(required=True, validate=validate.Length(min=1, max=TEXT_MAX),
                                metadata={"description": "What happened."})
    affected = fields.String(load_default="", validate=validate.Length(max=4000),
                             metadata={"description": "The people or organisations affected."})
    status = fields.String(load_default=IncidentStatus.OPEN.value, validate=validate.OneOf(IncidentStatus.values()),
                           metadata={"description": "Open, then mitigated, then closed (root cause and lessons "
                                                    "required); a mitigated or closed incident may be reopened."})
    failure_mode = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(FailureMode.values()),
                                 metadata={"description": "One of the eight production failure modes, or other; "
                                                          "null: not classified yet."})
    root_cause = fields.String(load_default="", validate=validate.Length(max=TEXT_MAX))
    lessons = fields.String(load_default="", validate=validate.Length(max=TEXT_MAX))

    def __init__(self, *, now=None, **kw):
        super().__init__(**kw)
        self.now = now  # "in the future" is judged against this (the services' ``now``: the demo's past)

    @validates("occurred_on")
    def _when(self, value: date, **_):
        if value < EARLIEST:
            raise ValidationError("An incident date is in 2000 or later.")
        if value > (self.now or utcnow()).date():
            raise ValidationError("This date is in the future.")

    @validates("title")
    def _title(self, value: str, **_):
        if not value.strip():
            raise ValidationError("Give the incident a short title.")

    @validates("description")
    def _description(self, value: str, **_):
        if not value.strip():
            raise ValidationError("Describe what happened.")

    @validates_schema
    def _closing(self, data, **_):
        if data.get("status") == IncidentStatus.CLOSED.value and (errors := needs_for_closing(data)):
            raise ValidationError(errors)


class IncidentQuerySchema(Schema):
    """The incident list's filters."""

    class Meta:
        unknown = RAISE

    status = fields.String(validate=validate.OneOf(IncidentStatus.values()))
    severity = fields.String(validate=validate.OneOf(Severity.values()))


class IncidentRecordSchema(Schema):
    id = fields.Integer(required=True)
    system_id = fields.Integer(required=True)
    occurred_on = fields.Date(required=True)
    severity = fields.String(required=True, validate=validate.OneOf(Severity.values()))
    title = fields.String(required=True)
    description = fields.String(required=True)
    affected = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(IncidentStatus.values()))
    failure_mode = fields.String(allow_none=True, required=True, validate=validate.OneOf(FailureMode.values()),
                                 metadata={"description": "null: not classified."})
    root_cause = fields.String(required=True)
    lessons = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    created_by = fields.String(allow_none=True, required=True)
    updated_at = fields.DateTime(required=True)
    version = fields.Integer(required=True, metadata={"description": "Send it back as If-Match to change the incident."})


class IncidentListSchema(Schema):
    items = fields.List(fields.Nested(IncidentRecordSchema), required=True,
                        metadata={"description": "Open critical and major incidents first, then by date, newest first."})
