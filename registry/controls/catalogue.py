"""Load control catalogues from YAML (seed_data/catalogues/*.yaml): a framework is data, not code.

Loading is an upsert by framework key and control ref: texts and applicability are
updated, new controls added, and controls no longer in the file marked retired (never
deleted: assessments and recorded decisions refer to them).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.config import ROOT
from registry.controls.models import Control, Framework
from registry.enums import DataCategory, Kind
from registry.errors import ValidationFailed
from registry.inventory.tiering import FLAGS

CATALOGUE_DIR = ROOT / "seed_data" / "catalogues"
TIERS = ["low", "medium", "high"]


class FrameworkSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    key = fields.String(required=True, validate=[validate.Length(min=1, max=80),
                                                 validate.Regexp(r"^[a-z0-9][a-z0-9.-]*$")])
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    version = fields.String(load_default="", validate=validate.Length(max=40))
    source = fields.String(load_default="")


class ControlSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    ref = fields.String(required=True, validate=validate.Length(min=1, max=60))
    function = fields.String(required=True, validate=validate.Length(min=1, max=120))
    category = fields.String(load_default="", validate=validate.Length(max=60))
    category_title = fields.String(load_default="")
    title = fields.String(required=True, validate=validate.Length(min=1))
    text = fields.String(load_default=None)
    guidance = fields.String(load_default="")
    tiers = fields.List(fields.String(validate=validate.OneOf(TIERS)), load_default=list)
    kinds = fields.List(fields.String(validate=validate.OneOf(Kind.values())), load_default=list)
    data = fields.List(fields.String(validate=validate.OneOf(DataCategory.values())), load_default=list)
    # Applies by flag, whatever the tier (``registry.controls.applicability.FLAGS``); then ``tiers`` is empty.
    flags = fields.List(fields.String(validate=validate.OneOf(list(FLAGS))), load_default=list)
    waivable = fields.Boolean(load_default=False)
    related = fields.List(fields.String(validate=validate.Length(min=1, max=60)), load_default=list)

    @validates_schema
    def _tiers_or_flags(self, data, **_):
        if bool(data.get("tiers")) == bool(data.get("flags")):
            raise ValidationError("Give either the tiers it applies at or the flags it applies by (not both).",
                                  "tiers")


class CatalogueSchema(Schema):
    framework = fields.Nested(FrameworkSchema, required=True)
    controls = fields.List(fields.Nested(ControlSchema), required=True, validate=validate.Length(min=1))

    @validates_schema
    def _unique_refs(self, data, **_):
        refs = [c["ref"] for c in data.get("controls", [])]
        dupes = sorted({r for r in refs if refs.count(r) > 1})
        if dupes:
            raise ValidationError(f"Duplicate control refs: {', '.join(dupes)}.", "controls")


def read_catalogue(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationFailed(f"{path.name}: cannot read the catalogue ({exc}).") from exc
    try:
        return CatalogueSchema().load(raw if isinstance(raw, dict) else {})
    except ValidationError as exc:
        raise ValidationFailed(f"{path.name}: the catalogue does not have the expected shape.",
                               errors={k: [str(v)] for k, v in exc.messages.items()}) from exc


def load_catalogue(session: Session, actor, path: Path, *, position: int | None = None,
                   now: datetime | None = None) -> tuple[Framework, dict]:
    """Upsert one catalogue file; return the framework and counts (added, updated, retired).

    Idempotent: loading a file the database already matches changes nothing and records no audit
    event (every node may run `registry catalogue load` at start-up).  ``now`` dates the audit event
    (the demo, which opens its registry in the past); default: the clock."""
    data = read_catalogue(path)
    spec = data["framework"]
    framework = session.scalar(select(Framework).where(Framework.key == spec["key"]))
    created = framework is None
    if created:
        framework = Framework(key=spec["key"])
        session.add(framework)
    wanted = {"name": spec["name"], "version": spec["version"], "source": spec["source"], "active": True}
    if position is not None:
        wanted["position"] = position
    framework_changed = _assign(framework, wanted)
    session.flush()
    existing = {c.ref: c for c in session.scalars(select(Control).where(Control.framework_id == framework.id))}
    counts = {"added": 0, "updated": 0, "retired": 0}
    for index, item in enumerate(data["controls"]):
        control = existing.pop(item["ref"], None)
        if control is None:
            control = Control(framework_id=framework.id, ref=item["ref"])
            session.add(control)
            counts["added"] += 1
        changed = _assign(control, {
            "function": item["function"], "category": item["category"], "category_title": item["category_title"],
            "title": item["title"], "text": item["text"] or item["title"], "guidance": item["guidance"],
            "tiers": item["tiers"], "kinds": item["kinds"], "data": item["data"], "flags": item["flags"],
            "waivable": item["waivable"], "related": item["related"], "position": index, "retired": False})
        if changed and control.id is not None:
            counts["updated"] += 1
    for control in existing.values():
        if not control.retired:
            control.retired = True
            counts["retired"] += 1
    session.flush()
    if created or framework_changed or any(counts.values()):
        record_event(session, actor, "catalogue.load", "framework", framework.id,
                     summary=f"Loaded catalogue {framework.name}: {counts['added']} added, {counts['updated']} "
                             f"updated, {counts['retired']} retired", after={"framework": framework.key, **counts},
                     at=now)
    return framework, counts


def _assign(row, values: dict) -> bool:
    """Set the attributes of ``row`` that differ from ``values``; True if any did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def default_catalogue_files() -> list[Path]:
    return sorted(CATALOGUE_DIR.glob("*.yaml"))


def load_default_catalogues(session: Session, actor=None, *, now: datetime | None = None) -> list[tuple[Framework, dict]]:
    order = ["nist-ai-rmf-1.0.yaml", "production-failure-modes.yaml", "nist-ai-600-1-genai.yaml",
             "omb-m-25-21-minimum-practices.yaml", "eu-ai-act-high-risk.yaml"]
    files = sorted(default_catalogue_files(), key=lambda p: (order.index(p.name) if p.name in order else 99, p.name))
    return [load_catalogue(session, actor, path, position=i, now=now) for i, path in enumerate(files)]
