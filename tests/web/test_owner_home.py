"""The owner's home: per system, the next concrete action (the first open item in the rules' own
words, linked to the page that fixes it) and how much remains, checked on the demo portfolio
against the recommendation computed afresh for each system."""

from __future__ import annotations

import html
import re

from sqlalchemy import or_, select

from registry.auth.models import User
from registry.auth.passwords import hash_password
from registry.decisions.services import assess_system
from registry.inventory.models import AISystem
from tests.conftest import PASSWORD, Browser


def test_each_system_shows_its_first_open_item_and_the_count(app, session, demo_portfolio):
    owner = session.scalar(select(User).where(User.email == "sofia.marchetti@northwind.example"))
    systems = list(session.scalars(select(AISystem).where(
        AISystem.deleted_at.is_(None),
        or_(AISystem.accountable_owner_id == owner.id, AISystem.technical_owner_id == owner.id))))
    expected = {}
    for system in systems:
        blockers = assess_system(session, system).recommendation.blockers
        blocking = [b for b in blockers if b.blocking]
        expected[system.name] = ((blocking or blockers or [None])[0], len(blocking), len(blockers) - len(blocking))
    owner.password_hash = hash_password(PASSWORD)  # the demo's accounts have passwords of their own
    session.commit()
    browser = Browser(app.test_client())
    browser.login(owner.email)
    page = browser.get("/").get_data(as_text=True)
    rows = {html.unescape(re.search(r'">([^<]+)</a></th>', r).group(1)): r
            for r in re.findall(r"<tr>\s*<th scope=\"row\"><a href=\"/systems/\d+\">.*?</tr>", page, re.S)}
    assert set(rows) == set(expected) and len(expected) >= 2
    assert "Baselines recorded." not in page
    for name, (first, blocking, conditions) in expected.items():
        cell = html.unescape(re.sub(r"\s+", " ", rows[name]))
        if first is None:
            assert "Nothing open: the recommendation is GO." in cell
            continue
        assert first.message in cell, (name, first.message)
        if blocking + conditions > 1:
            assert f"{blocking + conditions} open in all: {blocking} blocking GO" in cell


def test_the_compliance_home_cards_open_the_queue_filtered_to_their_kind(as_role):
    officer = as_role("compliance")
    page = officer.get("/").get_data(as_text=True)
    for waiting in ("answers", "verify", "due", "overdue"):
        assert f'href="/review?waiting={waiting}#systems"' in page
    queue = officer.get("/review?waiting=verify").get_data(as_text=True)
    assert re.search(r'<option value="verify"\s+selected', queue)
