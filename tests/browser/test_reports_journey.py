"""Audit PDFs in a real Chromium: a compliance officer downloads a decision's PDF, checks it on the
verify page (and again once a later decision supersedes it), then exports the PDFs of a business
unit as a ZIP and watches the progress page.  The accountable owner acknowledges a decision.
Plus axe on the verify, export and decision pages."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from registry.decisions.services import record_decision
from registry.reports import bulk
from tests.browser.conftest import login
from tests.browser.test_journeys import BLOCKING_IMPACTS, DUPLICATE_IDS_JS
from tests.conftest import make_system

# The first audit PDF renders with every fallback font loaded (CJK, emoji): seconds, more on a busy CI machine.
PDF_TIMEOUT_MS = 45_000
NO_GO = {"verdict": "no_go", "rationale": "Not ready: the five answers are still missing."}


@pytest.fixture
def decided(session, people):
    decisions = []
    for unit in ("Claims & Insurance", "Claims & Insurance", "Marketing"):
        system = make_system(session, people["owner"], business_unit=unit)
        decisions.append(record_decision(session, people["compliance"], system.id, NO_GO))
    session.commit()
    return decisions


def test_compliance_downloads_verifies_and_exports_audit_pdfs(page, live_server, decided, tmp_path, session,
                                                              people):
    first = decided[0]
    login(page, live_server, "compliance@example.test")
    page.goto(f"{live_server}/systems/{first.system_id}/decisions/{first.id}")
    with page.expect_download(timeout=PDF_TIMEOUT_MS) as info:
        page.get_by_role("link", name="Download the audit PDF").click()
    pdf_path = tmp_path / "audit.pdf"
    info.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")

    page.get_by_role("link", name="Audit PDFs").click()
    page.get_by_role("link", name="Verify an audit PDF someone sent you").click()
    page.get_by_label("Audit PDF").set_input_files(str(pdf_path))
    page.get_by_role("button", name="Check the PDF").click()
    expect(page.get_by_role("heading", name="Authentic and unaltered")).to_be_visible()
    expect(page.locator("ol.checks li.pass")).to_have_count(4)
    expect(page.locator("#record-status")).to_contain_text("Record status: Current.")
    expect(page.locator("#ack-status")).to_contain_text("not acknowledged by the accountable owner")

    # a later decision supersedes it: the same file is still authentic, and says it is superseded
    later = record_decision(session, people["compliance"], first.system_id, {
        "verdict": "no_go", "rationale": "Re-reviewed: still not ready; this replaces the earlier decision."})
    session.commit()
    page.get_by_label("Audit PDF").set_input_files(str(pdf_path))
    page.get_by_role("button", name="Check the PDF").click()
    expect(page.get_by_role("heading", name="Authentic and unaltered")).to_be_visible()
    expect(page.locator("#record-status")).to_contain_text("Record status: Superseded.")
    expect(page.locator("#record-status")).to_contain_text(f"superseded by decision #{later.id}")

    damaged = bytearray(pdf_path.read_bytes())
    damaged[len(damaged) // 3] ^= 0x01
    (tmp_path / "damaged.pdf").write_bytes(bytes(damaged))
    page.get_by_label("Audit PDF").set_input_files(str(tmp_path / "damaged.pdf"))
    page.get_by_role("button", name="Check the PDF").click()
    expect(page.get_by_role("heading", name="Not verified")).to_be_visible()

    page.goto(f"{live_server}/reports/exports")
    page.get_by_label("Business unit").select_option("Claims & Insurance")
    page.get_by_role("button", name="Export the PDFs as a ZIP").click()
    expect(page).to_have_url(re.compile(r"/reports/exports/\d+$"))
    expect(page.locator("progress")).to_have_attribute("max", "2")
    bulk.join_threads()
    # the page refreshes itself every 2 s (a reload of our own could race that navigation)
    expect(page.get_by_text("Ready: 2 of 2 PDFs")).to_be_visible(timeout=PDF_TIMEOUT_MS)  # two renders on a background thread
    with page.expect_download(timeout=PDF_TIMEOUT_MS) as info:
        page.get_by_role("link", name="Download the ZIP").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert sorted(n for n in archive.namelist() if n.endswith(".pdf")) == sorted(
        f"RR-{d.id:06d}-{d.snapshot_sha256[:8].upper()}.pdf" for d in (later, decided[1]))  # current decisions


def test_the_owner_acknowledges_a_decision_and_its_conditions(page, live_server, session, people):
    system = make_system(session, people["owner"])
    decision = record_decision(session, people["compliance"], system.id, {
        "verdict": "conditional_go", "conditions": "Rehearse the rollback before the next release",
        "rationale": "Board accepts the pilot with one condition; the recommendation was NO-GO because nothing is "
                     "answered yet, which the pilot plan covers."})
    session.commit()
    login(page, live_server, "owner@example.test")
    page.goto(f"{live_server}/systems/{system.id}/decisions")
    expect(page.locator("#current-ack")).to_contain_text("Not yet acknowledged by the accountable owner")
    page.get_by_role("link", name="acknowledgement pending").click()
    expect(page.locator("#ack-status")).to_contain_text("Pending")
    page.get_by_role("button", name=f"Acknowledge decision #{decision.id} and its conditions").click()
    expect(page.locator(".flash")).to_contain_text("You acknowledged")
    expect(page.locator("#ack-status")).to_contain_text("Acknowledged by Olu Owner")
    expect(page.get_by_role("button", name=re.compile("Acknowledge decision"))).to_have_count(0)
    results = _axe(page)
    assert not [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS], results.generate_report()


def _axe(page):
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_load_state()
    return Axe().run(page)


@pytest.mark.parametrize("path", ["/reports/verify", "/reports/exports"])
def test_report_pages_have_no_serious_accessibility_problems(page, live_server, decided, path):
    from axe_playwright_python.sync_playwright import Axe

    login(page, live_server, "compliance@example.test")
    page.goto(f"{live_server}{path}")
    page.wait_for_load_state()
    results = Axe().run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, results.generate_report()
    assert page.evaluate(DUPLICATE_IDS_JS) == []
