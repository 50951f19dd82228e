"""Load the demo portfolio (seed_data/demo_portfolio.yaml) through the ordinary services.

Demo accounts exist only because this loader creates them; production never runs it
(`scripts/run` loads demo data only when REGISTRY_ENV is not production and the database
is empty).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.auth.models import User
from registry.auth.passwords import hash_password
from registry.auth.services import create_user
from registry.config import ROOT
from registry.controls.catalogue import load_default_catalogues
from registry.controls.models import Framework
from registry.errors import ValidationFailed
from registry.inventory.models import AISystem
from registry.inventory.services import create_system, override_tier
from registry.seed.demo_readiness import READINESS_FILE, load_readiness

DEMO_FILE = ROOT / "seed_data" / "demo_portfolio.yaml"


def read_demo(path: Path = DEMO_FILE) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def database_is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count(User.id))) and not session.scalar(select(func.count(AISystem.id)))


def load_demo(session: Session, path: Path = DEMO_FILE, *, readiness_path: Path = READINESS_FILE,
              evidence_dir: str | Path | None = None) -> dict[str, int]:
    """Create the demo users and systems, then their readiness state (answers, controls,
    evidence, decisions), in the caller's transaction; return counts.

    The control catalogues are loaded first when there are none (a fresh database), since the
    readiness state assesses controls.  ``evidence_dir`` receives the demo's few evidence
    files (default: the configured EVIDENCE_DIR).
    """
    if not session.scalar(select(func.count(Framework.id))):
        load_default_catalogues(session)
    data = read_demo(path)
    shared_hash = hash_password(data["demo_password"])  # one hash: demo accounts share a password
    users: dict[str, User] = {}
    for entry in data["users"]:
        users[entry["email"]] = create_user(
            session, None, email=entry["email"], name=entry["name"], role=entry["role"],
            password="", password_hash=shared_hash,
        )
    systems = 0
    for index, entry in enumerate(data["systems"], start=1):
        try:
            system = create_system(session, None, entry)
        except ValidationFailed as err:
            raise ValidationFailed(f"Demo system #{index} ({entry.get('name')}): {err.message}", errors=err.errors) from err
        override = entry.get("tier_override")
        if override:
            override_tier(session, users[override["by"]], system.id, override["tier"], override["reason"])
        systems += 1
    readiness = load_readiness(session, path=readiness_path, evidence_dir=evidence_dir)
    return {"users": len(users), "systems": systems,
            **{f"readiness_{key}": value for key, value in readiness.items()}}
