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
from registry.errors import ValidationFailed
from registry.inventory.models import AISystem
from registry.inventory.services import create_system, override_tier

DEMO_FILE = ROOT / "seed_data" / "demo_portfolio.yaml"


def read_demo(path: Path = DEMO_FILE) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def database_is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count(User.id))) and not session.scalar(select(func.count(AISystem.id)))


def load_demo(session: Session, path: Path = DEMO_FILE) -> dict[str, int]:
    """Create the demo users and systems in the caller's transaction; return counts."""
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
    return {"users": len(users), "systems": systems}
