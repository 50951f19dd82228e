"""Importing an inventory in a real Chromium: a compliance officer uploads a register the registry
does not know, fixes the mapping (a column and two values), previews, commits, and opens an
imported system.  Plus axe on the upload, mapping and preview pages."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.test_journeys import BLOCKING_IMPACTS

REGISTER = (
    "Ref,System,What it does,Team,Owner email,Lifecycle,Type\r\n"
    "R1,Claims triage,Ranks incoming claims,Claims,owner@example.test,Live,Predictive model\r\n"
    "R2,Letter drafter,Drafts customer letters,Service,team@agency.example,Trial,Generative assistant\r\n"
)


def _axe_clean(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_load_state()
    results = Axe().run(page)
    assert not [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS], results.generate_report()


def test_compliance_imports_a_register_fixing_its_mapping(page, live_server, people, tmp_path: Path):
    register = tmp_path / "risk-register.csv"
    register.write_text(REGISTER, encoding="utf-8")
    login(page, live_server, "compliance@example.test")
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="Import an inventory")).to_be_visible()
    _axe_clean(page)
    page.get_by_label("Inventory file").set_input_files(str(register))
    page.get_by_role("button", name="Upload and preview").click()

    # an unknown layout: the editor, with a suggestion to correct
    expect(page.get_by_role("heading", name="Map the columns of risk-register.csv")).to_be_visible()
    expect(page.locator(".flashes")).to_contain_text("a layout the registry does not know yet")
    _axe_clean(page)
    expect(page.get_by_label("Name", exact=True)).to_have_value("System")
    page.get_by_label("Mapping name").fill("risk-register")
    page.get_by_label("Save this mapping under its name").check()
    page.get_by_label("Lifecycle stage").select_option("Lifecycle")
    page.get_by_label("Contact (accountable owner's email)").select_option("Owner email")
    page.get_by_role("button", name="Use this mapping and preview").click()

    # the stage values are not the registry's own: errors in the preview, fixed in the editor
    expect(page.get_by_role("heading", name="Preview: risk-register.csv")).to_be_visible()
    expect(page.locator("table.data").first).to_contain_text("“Live” is not a lifecycle stage the mapping knows")
    page.get_by_role("link", name="Check or edit the mapping").click()
    expect(page.get_by_label("Save this mapping under its name")).to_be_checked()  # as chosen before
    page.get_by_label("Live", exact=True).select_option("production")
    page.get_by_label("Trial", exact=True).select_option("pilot")
    page.get_by_role("button", name="Use this mapping and preview").click()
    expect(page.get_by_text("Mapping updated: here is what it would import.")).to_be_visible()
    expect(page.locator(".cards")).to_contain_text("2 to create")
    expect(page.locator(".cards")).to_contain_text("0 with errors")
    _axe_clean(page)

    expect(page.locator("main")).to_contain_text("saved under this name when you import")
    page.get_by_role("button", name="Import 2 records").click()
    expect(page.get_by_role("status").filter(has_text="Imported with the mapping")).to_contain_text("2 created, 0 updated")
    page.get_by_role("link", name="See the systems whose tier is not assessed yet").click()
    page.get_by_role("link", name="Letter drafter").click()
    expect(page.get_by_role("heading", name="Letter drafter")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Imported")
    expect(page.locator("main")).to_contain_text("from risk-register.csv row 3")
    expect(page.locator("main")).to_contain_text("team@agency.example (not a registry user)")
    expect(page.locator("main")).to_contain_text("Tier not assessed")
