"""Shapes of a control assessment and of evidence (marshmallow), for forms, API and seeder."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from registry.enums import ControlStatus


class AssessmentSchema(Schema):
    class Meta:
        unknown = EXCLUDE

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
        unknown = EXCLUDE

    description = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"}, require_tld=False)
    collected_on = fields.Date(load_default=None, allow_none=True)
