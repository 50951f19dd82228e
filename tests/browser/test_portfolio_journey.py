"""An executive's journey through the portfolio in a real Chromium: open the dashboard, filter by
business unit, follow a blocker to the systems it blocks, export the filtered systems to Excel.
Plus axe on the dashboard, and screenshots at a laptop and a phone width."""

from __future__ import annotations

import io
import re
from pathlib import Path

from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import select

from registry.inventory.models import AISystem
from tests.browser.conftest import ARTIFACTS, login

EXECUTIVE = "henrik.lindqvist@northwind.example"
DEMO_PASSWORD = "readiness-demo-2026"
UNIT = "Customer Service"


def test_executive_filters_follows_a_blocker_and_exports_excel(page, live_server, session, demo_portfolio):
    unit_names = set(session.scalars(select(AISystem.name).where(AISystem.business_unit == UNIT,
                                                                  AISystem.deleted_at.is_(None))))
    assert unit_names
    session.commit()  # release SQLite's lock before the browser signs in (a write)
    login(page, live_server, EXECUTIVE, DEMO_PASSWORD)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Portfolio").click()
    expect(page.get_by_role("heading", name="Portfolio", level=1)).to_be_visible()
    expect(page.locator("#portfolio-lead")).to_contain_text("30 AI systems")

    page.get_by_label("Business unit", exact=True).select_option(UNIT)
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"business_unit=Customer\+Service"))
    expect(page.locator("#portfolio-lead")).to_contain_text(f"{len(unit_names)} AI systems match the filters")
    # the heat map is an image with a name and a description, not colour alone
    heat = page.get_by_role("img", name="Systems by risk tier and lifecycle stage")
    expect(heat).to_be_visible()

    blocker = page.locator("#blockers-question li a").first
    label = blocker.locator(".pf-bar-label").inner_text()
    count = int(blocker.locator(".pf-bar-count").inner_text())
    blocker.click()
    expect(page).to_have_url(re.compile(r"/systems\?.*blocker=question"))
    expect(page.locator("p.lead")).to_contain_text(f"{count} AI system")
    expect(page.locator("#portfolio-filter")).to_contain_text(label)
    listed = page.locator("table.data tbody tr td:first-child a").all_inner_texts()
    assert len(listed) == count and set(listed) <= unit_names

    page.go_back()
    with page.expect_download(timeout=45_000) as info:  # a PDF render: seconds, more on a busy machine
        page.get_by_role("link", name="Export Excel").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    workbook = load_workbook(io.BytesIO(Path(download.path()).read_bytes()), read_only=True)
    rows = list(workbook["Systems"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    names = {row[header.index("Name")] for row in body}
    assert names == unit_names


def test_the_dashboard_has_no_serious_accessibility_problems_and_reads_at_both_widths(page, live_server,
                                                                                        demo_portfolio):
    from axe_playwright_python.sync_playwright import Axe

    login(page, live_server, EXECUTIVE, DEMO_PASSWORD)
    page.goto(f"{live_server}/portfolio")
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("critical", "serious")]
    assert not serious, results.generate_report()
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server}/portfolio")
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        page.screenshot(path=str(ARTIFACTS / f"portfolio-{width}.png"), full_page=True)
