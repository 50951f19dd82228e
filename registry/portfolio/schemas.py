"""The portfolio figures as the JSON API returns them (``registry.portfolio.services.Portfolio``):
counts by stage, tier, decision and recommendation, reviews due, the funnel, blockers, units."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.enums import Stage


class FunnelStageSchema(Schema):
    stage = fields.String(required=True, validate=validate.OneOf(Stage.values()))
    reached = fields.Integer(required=True)
    current = fields.Integer(required=True)
    median_days = fields.Float(allow_none=True, required=True)
    completed = fields.Integer(required=True)


class BlockerCountSchema(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    kind = fields.String(required=True)
    count = fields.Integer(required=True)


class UnitFiguresSchema(Schema):
    unit = fields.String(required=True)
    total = fields.Integer(required=True)
    production = fields.Integer(required=True)
    go = fields.Integer(required=True)
    no_go_rec = fields.Integer(required=True, metadata={"description": "Recommended NO-GO today."})
    overdue = fields.Integer(required=True)


def _counts(description: str):
    return fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                       metadata={"description": description})


class PortfolioSchema(Schema):
    total = fields.Integer(required=True)
    by_stage = _counts("Systems per stage.")
    by_tier = _counts("Systems per effective tier.")
    decisions = _counts("Current decisions per verdict, and 'undecided'.")
    recommendations = _counts("Today's recommendation per verdict.")
    overdue = fields.Integer(required=True)
    due_soon = fields.Integer(required=True)
    stale_evidence = fields.Integer(required=True)
    re_review = fields.Integer(required=True)
    pilots_reached = fields.Integer(required=True)
    pilots_to_production = fields.Integer(required=True)
    pilot_to_production = fields.Float(allow_none=True, required=True)
    funnel = fields.List(fields.Nested(FunnelStageSchema), required=True)
    blockers = fields.List(fields.Nested(BlockerCountSchema), required=True)
    units = fields.List(fields.Nested(UnitFiguresSchema), required=True)
