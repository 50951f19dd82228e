"""Shapes that belong to the JSON API itself: its one error body, list envelopes, and the import
upload (the import's own rules live in ``registry.imports``).  Every resource's schema lives with
its domain (``registry/<domain>/schemas.py``)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from registry.controls.schemas import ControlRecordSchema
from registry.inventory.schemas import MetricRecordSchema
from registry.readiness.schemas import AnswerRecordSchema


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "e.g. validation_failed, not_found, rate_limited."})
    message = fields.String(required=True)
    fields_ = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True,
                          data_key="fields", attribute="fields",
                          metadata={"description": "Field (dotted for nested ones) -> messages."})


class ErrorSchema(Schema):
    """Every error: ``{"error": {"code", "message", "fields"}}``."""

    error = fields.Nested(ErrorBodySchema, required=True)


class MetricListSchema(Schema):
    items = fields.List(fields.Nested(MetricRecordSchema), required=True)


class AnswerListSchema(Schema):
    items = fields.List(fields.Nested(AnswerRecordSchema), required=True)


class ControlListSchema(Schema):
    items = fields.List(fields.Nested(ControlRecordSchema), required=True)


class ImportFormSchema(Schema):
    """The form fields sent with an import's file (multipart/form-data)."""

    class Meta:
        unknown = RAISE

    mapping = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120),
                            metadata={"description": "A shipped layout's key or a saved mapping's name; default: "
                                                     "recognised from the file's headers."})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "Plan only; write nothing."})
    only_valid = fields.Boolean(load_default=False,
                                metadata={"description": "Import the valid rows and skip the rows with errors."})


class ImportProblemSchema(Schema):
    row = fields.Integer(required=True)
    column = fields.String(required=True)
    severity = fields.String(required=True, validate=validate.OneOf(["error", "warning", "flagged"]))
    message = fields.String(required=True)


class ImportResultSchema(Schema):
    file = fields.String(required=True)
    layout = fields.String(required=True, metadata={"description": "The layout or saved mapping used."})
    dry_run = fields.Boolean(required=True)
    committed = fields.Boolean(required=True)
    message = fields.String(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "The plan: rows, create, update, unchanged, errors, warnings, flagged."})
    result = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True, required=True,
                         metadata={"description": "What was written: created, updated, unchanged, skipped, flagged."})
    notes = fields.List(fields.String(), required=True)
    problems = fields.List(fields.Nested(ImportProblemSchema), required=True,
                           metadata={"description": "The first 1,000 problems (row, column, severity, message)."})
    problems_total = fields.Integer(required=True)
