"""The demo portfolio loads through the services and shows every tier and stage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select

from registry.audit.services import verify_chain
from registry.auth.models import User
from registry.auth.passwords import verify_password
from registry.enums import Role, Stage, Tier
from registry.inventory.models import AISystem
from registry.seed.demo import load_demo, read_demo


def test_demo_portfolio_reads_like_a_company(session):
    counts = load_demo(session)
    session.commit()
    assert 25 <= counts["systems"] <= 40
    systems = list(session.scalars(select(AISystem)))
    assert Counter(s.tier for s in systems).keys() == set(Tier)
    assert Counter(s.stage for s in systems).keys() == set(Stage)
    assert len({s.business_unit for s in systems}) >= 6
    assert sum(1 for s in systems if s.tier_override) >= 1
    assert all(s.tier_override_reason for s in systems if s.tier_override)
    names = " ".join(s.name.lower() for s in systems)
    for expected in ("chatbot", "resume", "fraud", "claims", "contract", "coding", "refund"):
        assert expected in names or any(expected in s.purpose.lower() for s in systems), expected
    assert verify_chain(session).ok


def test_demo_accounts_cover_every_role_and_share_the_documented_password(session):
    load_demo(session)
    session.commit()
    users = list(session.scalars(select(User)))
    assert {u.role for u in users} == set(Role)
    password = read_demo()["demo_password"]
    assert all(verify_password(u.password_hash, password) for u in users)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert password in readme
    for role in Role:
        assert any(u.email in readme for u in users if u.role is role), f"README should list a demo {role.label} account"
