"""Daily use in a real Chromium: the owner follows the next step from home, the admin merges a
duplicate unit, an unknown address gets the registry's own page; axe on each of those pages and
on a system's history, and screenshots at a laptop and a phone width (test-artifacts/)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from registry.auth.models import User
from registry.inventory.models import AISystem
from registry.inventory.units import ensure_units
from tests.browser.conftest import ARTIFACTS, login
from tests.conftest import make_system

OWNER = "sofia.marchetti@northwind.example"
DEMO_PASSWORD = "readiness-demo-2026"
BLOCKING = ("critical", "serious")


def _axe_clean(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in BLOCKING]
    assert not serious, results.generate_report()


def _both_widths(page, url: str, name: str) -> None:
    """The page reads at 1366 and 390 px without the page itself scrolling sideways (a wide table
    scrolls in its own box, with a cue); a screenshot of each is kept to be looked at."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)


def test_the_owner_follows_the_next_step_from_home(page, live_server, session, demo_portfolio):
    owner = session.scalar(select(User).where(User.email == OWNER))
    owned = {s.name for s in session.scalars(select(AISystem).where(AISystem.accountable_owner_id == owner.id))}
    session.commit()
    login(page, live_server, OWNER, DEMO_PASSWORD)
    rows = page.locator("table tbody tr", has=page.get_by_role("link", name=re.compile("|".join(map(re.escape, owned)))))
    expect(rows.first).to_be_visible()
    assert "Baselines recorded." not in page.locator("main").inner_text()
    # a system with work left: its next step is a link in the rules' own words, with the count
    row = rows.filter(has_text="open in all").first
    system_name = row.get_by_role("rowheader").inner_text()
    step = row.locator("td").last.get_by_role("link").first
    words = step.inner_text()
    target = step.get_attribute("href")
    step.click()
    expect(page).to_have_url(re.compile(re.escape(target.split("#")[0])))
    expect(page.locator("main")).to_contain_text(system_name)
    _axe_clean(page)
    assert words  # the first open item is named, not a generic "continue"
    page.goto(f"{live_server}/")
    _axe_clean(page)
    _both_widths(page, f"{live_server}/", "owner-home")


def test_the_admin_merges_a_duplicate_unit_and_its_systems_follow(page, live_server, session, people):
    ensure_units(session, ["Claims & Insurance", "Claims & Insurence"])
    session.commit()
    system = make_system(session, people["owner"], name="Typo-unit triage", business_unit="Claims & Insurence")
    session.commit()
    login(page, live_server, "admin@example.test")
    page.goto(f"{live_server}/admin/units")
    _axe_clean(page)
    row = page.get_by_role("row", name=re.compile(r"^Claims & Insurence \d"))
    row.get_by_label("Merge into").select_option(label="Claims & Insurance")
    row.get_by_role("button", name=re.compile("^Merge")).click()
    expect(page.get_by_role("status")).to_contain_text("Claims & Insurence")
    expect(page.locator("table.data").first).not_to_contain_text("Claims & Insurence")
    session.expire_all()
    assert session.get(AISystem, system.id).business_unit == "Claims & Insurance"
    page.goto(f"{live_server}/systems/{system.id}/history")
    expect(page.locator("main")).to_contain_text("Claims & Insurance")
    _axe_clean(page)
    _both_widths(page, f"{live_server}/admin/units", "admin-units")
    _both_widths(page, f"{live_server}/systems/{system.id}/history", "system-history")


@pytest.mark.parametrize("path", ["/no/such/page", "/systems/999999"])
def test_an_unknown_address_gets_the_registry_page_with_a_way_back(page, live_server, people, path):
    login(page, live_server, "owner@example.test")
    response = page.goto(f"{live_server}{path}")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert "Not Found" not in page.title() or "Readiness Registry" in page.title()
    expect(page.get_by_role("link", name=re.compile("home|inventory|back", re.I)).first).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    _axe_clean(page)
