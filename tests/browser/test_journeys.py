"""Journeys through a real Chromium: what each role sees and does, and axe on the main pages.

The form is filled the way a person fills it (click, type, Tab, tick), and every control is
found by its role and accessible name (label, legend), as a screen reader finds it: a label
that stops naming its input breaks these tests too.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from registry.inventory.units import ensure_units
from tests.browser.conftest import login
from tests.conftest import make_system, make_user

SYSTEM_URL = re.compile(r"/systems/(\d+)(#\w*)?$")  # a redirect keeps the form page's #fragment


def group(page: Page, legend: str | re.Pattern):
    """A fieldset, found by its legend, as assistive technology finds it."""
    return page.get_by_role("group", name=legend)


def override_panel(page: Page):
    """The "Override the tier" disclosure on a system page.

    Its Tier select is found by role, not by its label: the label's for="tier" points at
    <section id="tier"> (the id comes first in the page), so the select has no accessible
    name (see the system-compliance accessibility case).
    """
    return page.locator("details").filter(has=page.get_by_text("Override the tier"))


def fill_system_form(page: Page, *, name: str | None) -> None:
    """Type the "What it is" fields with the keyboard (checking the Tab order), tick the rest with the mouse."""
    if name is not None:
        page.get_by_role("textbox", name="Name", exact=True).click()
        page.keyboard.type(name)
        page.keyboard.press("Tab")
    else:
        page.get_by_role("textbox", name="Purpose", exact=True).click()
    expect(page.get_by_role("textbox", name="Purpose", exact=True)).to_be_focused()
    page.keyboard.type("Scores loan applications so underwriters review the riskiest first.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("textbox", name="Business process it supports", exact=True)).to_be_focused()
    page.keyboard.type("Loan underwriting")
    page.keyboard.press("Tab")
    unit = page.get_by_role("combobox", name="Business unit", exact=True)  # from the list an admin keeps
    expect(unit).to_be_focused()
    unit.select_option("Retail Lending")
    page.get_by_role("combobox", name="Kind of system", exact=True).select_option(label="Predictive model")
    page.get_by_role("combobox", name="Lifecycle stage", exact=True).select_option(label="Pilot")
    group(page, "Built or bought").get_by_role("radio", name="Built in-house").check()
    group(page, "Who it affects").get_by_role("checkbox", name="Customers").check()
    group(page, "Autonomy").get_by_role("radio", name=re.compile(r"^Human-in-the-loop")).check()
    group(page, "Data touched").get_by_role("checkbox", name="Personal data").check()
    group(page, re.compile(r"^Does its output influence decisions about people")).get_by_role(
        "checkbox", name="Creditworthiness and lending to people").check()
    group(page, re.compile(r"^How much does its output weigh")).get_by_role(
        "radio", name=re.compile(r"^One input among others")).check()


def test_owner_registers_a_system_and_adds_a_baseline_metric(page, live_server, people, session):
    ensure_units(session, ["Retail Lending"])
    session.commit()
    login(page, live_server, "owner@example.test")
    expect(page.get_by_text("Olu Owner")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Register a system").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Register an AI system")
    # An owner is the accountable owner of what they register unless they choose someone else.
    expect(page.get_by_role("combobox", name="Accountable owner", exact=True)).to_have_value("owner@example.test")

    fill_system_form(page, name="Loan default scorer")
    page.get_by_role("button", name="Register system").click()

    expect(page).to_have_url(SYSTEM_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text("Loan default scorer")
    expect(page.get_by_role("status")).to_contain_text("Registered Loan default scorer. Its risk tier is High.")
    expect(page.get_by_role("heading", name="Risk tier: High")).to_be_visible()
    expect(page.locator("section#risk-tier .reasons")).to_contain_text(
        "Influences decisions about people in an Annex III area: creditworthiness and lending to people.")
    expect(page.locator("section#risk-tier .reasons")).to_contain_text("Touches sensitive data: personal data.")  # kept too
    expect(page.get_by_text("Built in-house")).to_be_visible()

    page.get_by_role("link", name="Add a metric").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a baseline metric")
    page.get_by_role("textbox", name="Metric", exact=True).fill("Default rate at 12 months")
    page.get_by_role("textbox", name="Unit", exact=True).fill("%")
    page.get_by_role("spinbutton", name="Baseline value", exact=True).fill("4.25")
    page.get_by_role("textbox", name="Measured on", exact=True).fill("2026-01-31")
    page.get_by_role("textbox", name="Source", exact=True).fill("Loan book extract")
    page.get_by_role("spinbutton", name="Target", exact=True).fill("3.5")
    group(page, "Direction").get_by_role("radio", name="Lower is better").check()
    page.get_by_role("button", name="Save metric").click()

    expect(page).to_have_url(re.compile(r"/systems/\d+#metrics$"))
    expect(page.get_by_role("status")).to_contain_text("Baseline metric added.")
    row = page.locator("#metrics table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td")).to_have_text(
        [re.compile(r"^Default rate at 12 months\s*Monitoring: 0 observations, no drift rule$"), "4.25%", "2026-01-31",
         "3.5%", "Lower is better", "Loan book extract", re.compile(r"Edit.*Remove", re.S)]
    )


def test_owner_who_leaves_the_name_empty_sees_the_problem_and_keeps_their_input(page, live_server, people, session):
    ensure_units(session, ["Retail Lending"])
    session.commit()
    login(page, live_server, "owner@example.test")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Register a system").click()
    fill_system_form(page, name=None)
    page.get_by_role("button", name="Register system").click()

    summary = page.get_by_role("alert")
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(summary.get_by_role("link", name="Name: This field is required.")).to_have_attribute("href", "#name")
    expect(page.locator("#name-error")).to_have_text("This field is required.")
    name = page.get_by_role("textbox", name="Name", exact=True)
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_attribute("aria-describedby", "name-hint name-error")  # the limit, then the error
    expect(name).to_have_value("")

    # Everything else they typed or ticked is still there.
    expect(page.get_by_role("textbox", name="Purpose", exact=True)).to_have_value("Scores loan applications so underwriters review the riskiest first.")
    expect(page.get_by_role("textbox", name="Business process it supports", exact=True)).to_have_value("Loan underwriting")
    expect(page.get_by_role("combobox", name="Business unit", exact=True)).to_have_value("Retail Lending")
    expect(page.get_by_role("combobox", name="Kind of system", exact=True)).to_have_value("predictive_model")
    expect(page.get_by_role("combobox", name="Lifecycle stage", exact=True)).to_have_value("pilot")
    expect(page.get_by_role("combobox", name="Accountable owner", exact=True)).to_have_value("owner@example.test")
    expect(group(page, "Built or bought").get_by_role("radio", name="Built in-house")).to_be_checked()
    expect(group(page, "Who it affects").get_by_role("checkbox", name="Customers")).to_be_checked()
    expect(group(page, "Who it affects").get_by_role("checkbox", name="Internal staff")).not_to_be_checked()
    expect(group(page, "Autonomy").get_by_role("radio", name=re.compile(r"^Human-in-the-loop"))).to_be_checked()
    expect(group(page, "Data touched").get_by_role("checkbox", name="Personal data")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Creditworthiness and lending to people")).to_be_checked()

    # The summary's link takes them to the field; then they can fix it and register.
    summary.get_by_role("link", name=re.compile(r"^Name:")).click()
    expect(page).to_have_url(re.compile(r"#name$"))
    name.click()
    page.keyboard.type("Loan default scorer")
    page.get_by_role("button", name="Register system").click()
    expect(page).to_have_url(SYSTEM_URL)
    expect(page.get_by_role("heading", name="Risk tier: High")).to_be_visible()


def test_executive_finds_a_system_but_cannot_change_anything(page, live_server, session, people):
    fraud = make_system(session, people["owner"], name="Fraud detection", business_unit="Payments")
    make_system(session, people["other_owner"], name="Warehouse staffing planner", business_unit="Operations")
    make_system(session, people["owner"], name="Support reply drafter", business_unit="Customer Service")

    login(page, live_server, "exec@example.test")
    expect(page.get_by_role("link", name=re.compile("Register"))).to_have_count(0)  # not on the home page either
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Home", "Inventory", "Portfolio"])  # no Register, no Users
    nav.get_by_role("link", name="Inventory").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Inventory")
    table = page.get_by_role("table")
    expect(table.get_by_role("link", name="Fraud detection")).to_be_visible()
    expect(page.get_by_text("3 AI systems")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Register"))).to_have_count(0)

    search = page.get_by_role("search").get_by_role("searchbox", name="Search")
    search.click()
    page.keyboard.type("fraud")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=fraud"))
    expect(page.locator("main p.lead")).to_have_text(re.compile(r"^1 AI system\b"))
    expect(page.get_by_role("search").get_by_role("searchbox", name="Search")).to_have_value("fraud")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.get_by_role("link", name="Warehouse staffing planner")).to_have_count(0)

    table.get_by_role("link", name="Fraud detection").click()
    expect(page).to_have_url(re.compile(rf"/systems/{fraud.id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Fraud detection")
    expect(page.get_by_role("heading", name="Risk tier: High")).to_be_visible()
    expect(page.get_by_role("link", name="History")).to_be_visible()
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Add a metric")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Register"))).to_have_count(0)
    expect(page.get_by_text("Override the tier")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Delete"))).to_have_count(0)
    expect(page.get_by_text("The owner has not recorded one.")).to_be_visible()

    response = page.goto(f"{live_server}/systems/{fraud.id}/edit")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_text("Only the system's owners (or an admin) can edit it.")).to_be_visible()
    expect(page.get_by_role("textbox")).to_have_count(0)

    response = page.goto(f"{live_server}/systems/new")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")


def test_compliance_officer_overrides_the_tier_with_a_reason(page, live_server, session, people):
    system = make_system(session, people["owner"], name="Claims triage model")  # insurance claims: High
    login(page, live_server, "compliance@example.test")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    page.get_by_role("table").get_by_role("link", name="Claims triage model").click()
    expect(page).to_have_url(re.compile(rf"/systems/{system.id}$"))
    expect(page.get_by_role("heading", name="Risk tier: High")).to_be_visible()
    expect(page.get_by_text("Overridden by compliance")).to_have_count(0)

    reason = page.get_by_role("textbox", name="Reason", exact=True)
    expect(reason).to_be_hidden()  # the panel starts closed
    page.get_by_text("Override the tier").click()
    expect(reason).to_be_visible()
    override_panel(page).get_by_role("combobox").select_option(label="Medium")
    reason.click()
    page.keyboard.type("Adjusters review every ranking before a claim is decided.")
    page.get_by_role("button", name="Record override").click()

    expect(page).to_have_url(re.compile(rf"/systems/{system.id}#risk-tier$"))
    expect(page.get_by_role("status")).to_contain_text("applies once a second compliance officer confirms it")
    # A downward override waits for a second officer: the computed tier still applies.
    expect(page.get_by_role("heading", name="Risk tier: High")).to_be_visible()
    callout = page.locator("section#risk-tier .callout")
    expect(callout).to_contain_text("Override waiting for confirmation")
    expect(callout).to_contain_text("Reason: Adjusters review every ranking before a claim is decided.")
    expect(page.get_by_role("button", name=re.compile("Confirm the override"))).to_have_count(0)

    make_user(session, "compliance", email="second@example.test", name="Sam Second")
    session.commit()
    second = page.context.browser.new_context(base_url=live_server).new_page()
    try:
        login(second, live_server, "second@example.test")
        second.goto(f"{live_server}/systems/{system.id}")
        second.get_by_role("button", name="Confirm the override to Medium").click()
        expect(second.get_by_role("status")).to_contain_text("Tier override confirmed: the tier is now Medium.")
        expect(second.get_by_role("heading", name="Risk tier: Medium")).to_be_visible()
        callout = second.locator("section#risk-tier .callout")
        expect(callout).to_contain_text("Overridden by compliance from High to Medium by Cora Compliance")
        expect(callout).to_contain_text("confirmed by Sam Second")
        # The computed tier and its reasons stay visible next to the override.
        expect(second.get_by_role("region", name="Risk tier: Medium")).to_contain_text("The rules give High because:")
    finally:
        second.context.close()


def test_compliance_override_without_a_reason_is_refused(page, live_server, session, people):
    """The reason is required: the server refuses the override and says why, nothing changes."""
    system = make_system(session, people["owner"], name="Claims triage model")
    login(page, live_server, "compliance@example.test")
    page.goto(f"{live_server}/systems/{system.id}")
    page.get_by_text("Override the tier").click()
    panel = override_panel(page)
    panel.get_by_role("combobox").select_option(label="Low")
    panel.get_by_role("button", name="Record override").click()
    expect(page.get_by_role("alert")).to_contain_text("Write the reason for the override.")
    expect(page.get_by_role("heading", name="Risk tier: High")).to_be_visible()
    expect(page.get_by_text("Overridden by compliance")).to_have_count(0)


# -- accessibility ----------------------------------------------------------------------------

BLOCKING_IMPACTS = {"critical", "serious"}


def _open_login(page, live_server, session, people):
    page.goto(f"{live_server}/login")


def _open_login_with_error(page, live_server, session, people):
    page.goto(f"{live_server}/login")
    page.locator("#email").fill("owner@example.test")
    page.locator("#password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()


def _seed_systems(session, people):
    make_system(session, people["owner"], name="Fraud detection", data_categories=["financial"])
    make_system(session, people["owner"], name="Support reply drafter", kind="generative_assistant",
                affects=["customers"], data_categories=[], risk={"prohibited_practice": "none",
                                                                 "decision_domains": [], "legal_effect": False})
    make_system(session, people["other_owner"], name="Shift planner", kind="optimiser", affects=["internal_staff"],
                data_categories=[], stage="production",
                risk={"prohibited_practice": "none", "decision_domains": [], "legal_effect": False})
    return make_system(session, people["owner"], name="Emotion monitor", kind="perception",
                       risk={"prohibited_practice": "emotion_at_work", "decision_domains": [], "legal_effect": False},
                       metrics=[{"name": "Time to decision", "unit": "hours", "baseline": 36.5, "target": 24,
                                 "direction": "lower", "measured_on": "2026-02-01", "source": "Case system"}])


def _open_inventory(page, live_server, session, people):
    _seed_systems(session, people)
    login(page, live_server, "owner@example.test")
    page.goto(f"{live_server}/systems")
    expect(page.get_by_role("table").locator("tbody tr")).to_have_count(4)


def _open_system(page, live_server, session, people):
    system = _seed_systems(session, people)
    login(page, live_server, "owner@example.test")
    page.goto(f"{live_server}/systems/{system.id}")
    expect(page.locator("#metrics table tbody tr")).to_have_count(1)


def _open_system_as_compliance(page, live_server, session, people):
    system = make_system(session, people["owner"], name="Claims triage model")
    login(page, live_server, "compliance@example.test")
    page.goto(f"{live_server}/systems/{system.id}")
    page.get_by_text("Override the tier").click()
    override_panel(page).get_by_role("combobox").select_option(label="Medium")
    page.get_by_role("textbox", name="Reason", exact=True).fill("Adjusters review every ranking.")
    page.get_by_role("button", name="Record override").click()
    expect(page.locator("section#risk-tier .callout")).to_be_visible()
    page.get_by_text("Override the tier").click()  # open the panel again so its form is checked too
    expect(page.get_by_role("textbox", name="Reason", exact=True)).to_be_visible()


def _open_new_system(page, live_server, session, people):
    login(page, live_server, "owner@example.test")
    page.goto(f"{live_server}/systems/new")


def _open_new_system_with_errors(page, live_server, session, people):
    login(page, live_server, "owner@example.test")
    page.goto(f"{live_server}/systems/new")
    page.get_by_role("button", name="Register system").click()
    expect(page.get_by_role("alert")).to_be_visible()


PAGES = {
    "login": _open_login,
    "login-error": _open_login_with_error,
    "inventory": _open_inventory,
    "system": _open_system,
    "system-compliance": _open_system_as_compliance,
    "new-system": _open_new_system,
    "new-system-errors": _open_new_system_with_errors,
}


DUPLICATE_IDS_JS = """() => {
    const seen = {};
    for (const e of document.querySelectorAll('[id]')) (seen[e.id] ||= []).push(e.tagName.toLowerCase() + '#' + e.id);
    return Object.values(seen).filter(v => v.length > 1);
}"""


@pytest.mark.parametrize("which", list(PAGES))
def test_page_has_no_serious_accessibility_problems(page, live_server, session, people, which):
    """axe finds no critical or serious violation, and no id is used twice.

    axe's duplicate-id rules are deprecated (off by default, "minor" at most), yet a label whose for=
    names an id used twice labels whichever element comes first, and its own input goes unnamed.
    """
    from axe_playwright_python.sync_playwright import Axe

    PAGES[which](page, live_server, session, people)
    page.wait_for_load_state()
    results = Axe().run(page)
    problems = []
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    if blocking:
        summary = ", ".join(f"{v['id']} ({v['impact']}, {len(v['nodes'])} node(s))" for v in blocking)
        problems.append(f"axe: {summary}\n\n{results.generate_report()}")
    duplicates = page.evaluate(DUPLICATE_IDS_JS)
    if duplicates:
        problems.append(f"duplicate ids: {duplicates}")
    assert not problems, f"on {page.url}:\n" + "\n\n".join(problems)
