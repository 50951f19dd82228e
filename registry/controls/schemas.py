"""Shapes of a control assessment and of evidence (marshmallow), for forms, API and seeder; a field
the schema does not know is an error.  The ``…RecordSchema`` classes are what the JSON API returns."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from registry.enums import ControlStatus, EvidenceKind


class AssessmentSchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(required=True, validate=validate.OneOf(ControlStatus.values()))
    due_on = fields.Date(load_default=None, allow_none=True)
    na_reason = fields.String(load_default="", validate=validate.Length(max=2000))
    notes = fields.String(load_default="", validate=validate.Length(max=4000))
    waiver_reason = fields.String(load_default="", validate=validate.Length(max=2000))
    waiver_granted_by = fields.String(load_default="", validate=validate.Length(max=200))
    waiver_expires_on = fields.Date(load_default=None, allow_none=True)

    @validates_schema
    def _reason_for_na(self, data, **_):
        if data.get("status") == ControlStatus.NOT_APPLICABLE.value and not (data.get("na_reason") or "").strip():
            raise ValidationError("Say why this control does not apply to the system.", "na_reason")

    @validates_schema
    def _waiver_complete(self, data, **_):
        if data.get("status") != ControlStatus.WAIVED.value:
            return
        errors = {}
        if not (data.get("waiver_reason") or "").strip():
            errors["waiver_reason"] = ["Say why the practice is waived."]
        if not (data.get("waiver_granted_by") or "").strip():
            errors["waiver_granted_by"] = ["Say who granted the waiver: the Chief AI Officer or a named person."]
        if data.get("waiver_expires_on") is None:
            errors["waiver_expires_on"] = ["A waiver needs an expiry date."]
        if errors:
            raise ValidationError(errors)


class EvidenceSchema(Schema):
    class Meta:
        unknown = RAISE

    description = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"}, require_tld=False)
    collected_on = fields.Date(load_default=None, allow_none=True)


class EvidenceRecordSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(EvidenceKind.values()))
    description = fields.String(required=True)
    url = fields.String(allow_none=True, required=True)
    file_name = fields.String(allow_none=True, required=True)
    content_type = fields.String(allow_none=True, required=True)
    size_bytes = fields.Integer(allow_none=True, required=True)
    sha256 = fields.String(allow_none=True, required=True)
    collected_on = fields.Date(required=True)
    stale = fields.Boolean(required=True)
    added_by = fields.String(allow_none=True, required=True)
    added_at = fields.DateTime(required=True)


class ControlRecordSchema(Schema):
    """One control of a system: the catalogue's text, whether it is required, where it stands
    (``AssessmentSchema``'s fields), its verification and its current evidence."""

    control_id = fields.Integer(required=True)
    framework = fields.String(required=True)
    ref = fields.String(required=True)
    function = fields.String(required=True)
    title = fields.String(required=True)
    required = fields.Boolean(required=True)
    waivable = fields.Boolean(required=True)
    version = fields.Integer(required=True, metadata={"description": "0 before the first assessment; send it as If-Match."})
    status = fields.String(required=True, validate=validate.OneOf(ControlStatus.values()))
    due_on = fields.Date(allow_none=True, required=True)
    na_reason = fields.String(allow_none=True, required=True)
    notes = fields.String(required=True)
    waiver_reason = fields.String(allow_none=True, required=True)
    waiver_granted_by = fields.String(allow_none=True, required=True)
    waiver_expires_on = fields.Date(allow_none=True, required=True)
    verified_by = fields.String(allow_none=True, required=True)
    verified_at = fields.DateTime(allow_none=True, required=True)
    evidence = fields.List(fields.Nested(EvidenceRecordSchema), required=True)
