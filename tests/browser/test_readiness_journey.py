"""The readiness journey in a real Chromium: an owner answers and submits the five questions and
attaches evidence; a compliance officer returns one answer, accepts them all, verifies a control
and records the decision; the owner sees the decision and every remaining condition.
Plus axe on the new pages."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from registry.controls.services import control_rows
from tests.browser.conftest import login
from tests.browser.test_journeys import BLOCKING_IMPACTS, DUPLICATE_IDS_JS
from tests.builders import implement_all_controls, measured_metric
from tests.conftest import make_system

LOW = {"name": "Contract clause finder", "kind": "predictive_model", "affects": ["internal_staff"],
       "data_categories": [], "autonomy": "human_in_the_loop",
       "risk": {"prohibited_practice": "none", "decision_domains": [], "legal_effect": False}}


@pytest.fixture
def system(session, people):
    """A low-tier system with a measured baseline; every required control implemented but one."""
    system = make_system(session, people["owner"], **LOW)
    measured_metric(session, people["owner"], system)
    first = next(r.control for r in control_rows(session, system) if r.required)
    implement_all_controls(session, people["owner"], system, except_refs=(first.ref,))
    session.commit()
    return system, first


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login|/logout"))


def save_and_submit(page: Page, label: str) -> None:
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text(f"Saved your answer to “{label}” as a draft.")
    page.get_by_role("checkbox", name=re.compile("attest personally")).check()
    page.get_by_role("button", name=f"Submit “{label}”").click()
    expect(page.get_by_role("status")).to_contain_text(f"Submitted “{label}” for review.")


def answer_all_five(page: Page, base: str, system_id: int) -> None:
    q = f"{base}/systems/{system_id}/readiness"
    page.goto(f"{q}/outcome")
    page.get_by_role("textbox", name="Business outcome").fill("Lawyers find risky clauses in supplier contracts in minutes.")
    page.get_by_role("checkbox", name=re.compile("Claims triaged within 24 hours")).check()
    save_and_submit(page, "Outcome and baseline")

    page.goto(f"{q}/ownership")
    for role in ("Owner of performance", "Owner of the human review queue", "Owner of escalation",
                 "Owner of business impact"):
        page.get_by_role("combobox", name=role).select_option(value="owner@example.test")
    save_and_submit(page, "Ownership in production")

    page.goto(f"{q}/drift")
    page.get_by_role("textbox", name="Signal 1: what is watched").fill("Clauses flagged per contract")
    page.get_by_role("textbox", name="Signal 1: threshold").fill("Outside 4–9 for a week")
    page.get_by_role("combobox", name="Signal 1: how often checked").select_option(label="Weekly")
    page.get_by_role("textbox", name="Signal 1: who is alerted").fill("Olu Owner")
    save_and_submit(page, "Drift")

    page.goto(f"{q}/human_workflow")
    page.get_by_role("checkbox", name=re.compile("Never automate")).check()
    page.get_by_role("spinbutton", name=re.compile("Suggest for confirmation")).fill("40")
    page.get_by_role("textbox", name=re.compile("Escalation triggers")).fill("Indemnity above €1m\nGoverning law not EU")
    page.get_by_role("textbox", name="Reviewer role").fill("Contract lawyer")
    page.get_by_role("spinbutton", name=re.compile("Reviewer capacity")).fill("60")
    page.get_by_role("textbox", name="How corrections feed back").fill("Lawyers' corrections are labelled monthly.")
    save_and_submit(page, "Human workflow")

    page.goto(f"{q}/rollback")
    page.get_by_role("textbox", name="Kill switch").fill("Legal ops lead turns off the plug-in in the admin console.")
    for mode, text in (("Full", "Flags and explanations"), ("Degraded", "Flags only"),
                       ("Minimal", "Keyword search"), ("Offline", "Banner: review manually")):
        page.get_by_role("textbox", name=f"{mode} mode").fill(text)
    page.get_by_role("textbox", name="Fallback process").fill("Lawyers read contracts in full, as before.")
    page.get_by_role("spinbutton", name=re.compile("Time to pause")).fill("10")
    page.get_by_label("Date of the last rollback rehearsal").fill((date.today() - timedelta(days=20)).isoformat())
    save_and_submit(page, "Rollback")


def test_owner_and_compliance_take_a_system_to_a_decision(page, live_server, session, people, system, tmp_path):
    system, open_control = system
    base = live_server

    # -- the owner answers and submits all five, and works on the one open control --------------
    login(page, base, "owner@example.test")
    page.goto(f"{base}/systems/{system.id}/readiness")
    expect(page.get_by_text("0 of 5 accepted.")).to_be_visible()
    answer_all_five(page, base, system.id)
    page.goto(f"{base}/systems/{system.id}/readiness")
    expect(page.locator(".question-card .badge", has_text="Submitted for review")).to_have_count(5)

    page.goto(f"{base}/systems/{system.id}/controls/{open_control.id}")
    # a control with no status and no evidence yet: both forms are open, nothing to unfold
    expect(page.locator("details.panel", has_text="Set the status")).to_have_attribute("open", "")
    page.get_by_role("radio", name="In progress").check()
    due = (date.today() + timedelta(days=45)).isoformat()
    page.get_by_label(re.compile("^Due date")).fill(due)
    page.get_by_role("button", name="Save status").click()
    expect(page.get_by_role("status")).to_contain_text("Control status saved.")
    expect(page.locator("details.panel", has_text="Change the status")).not_to_have_attribute("open", "")
    expect(page.locator("details.panel", has_text="Attach evidence")).to_have_attribute("open", "")
    page.get_by_role("textbox", name="Description").fill("Draft legal-requirements register")
    evidence = tmp_path / "register.csv"
    evidence.write_text("requirement,owner\nGDPR Art. 22,Legal\n", encoding="utf-8")
    page.get_by_label("File", exact=True).set_input_files(str(evidence))
    page.get_by_role("button", name="Attach").click()
    expect(page.get_by_role("status")).to_contain_text("Evidence attached.")
    expect(page.locator("#evidence")).to_contain_text("register.csv")
    sign_out(page)

    # -- compliance returns one answer with a comment ------------------------------------------
    login(page, base, "compliance@example.test")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").click()
    row = page.locator("#systems tbody tr", has_text=LOW["name"])
    expect(page.locator("#systems tbody tr")).to_have_count(1)  # one row per system
    row.get_by_role("link", name=re.compile("^5 answers")).click()
    expect(page).to_have_url(re.compile(rf"/systems/{system.id}/readiness$"))
    page.get_by_role("link", name="3. Drift").click()
    page.get_by_role("radio", name="Return to the owner").check()
    page.get_by_role("textbox", name="Comment").fill("Who is alerted out of hours? Name an on-call person.")
    page.get_by_role("button", name="Record review").click()
    expect(page.get_by_role("status")).to_contain_text("Returned “Drift”.")
    sign_out(page)

    # -- the owner sees the comment, fixes the answer and submits it again ----------------------
    login(page, base, "owner@example.test")
    page.goto(f"{base}/systems/{system.id}/readiness")
    expect(page.locator(".question-card.status-returned")).to_contain_text("Who is alerted out of hours?")
    page.locator(".question-card.status-returned").get_by_role("link").click()
    page.get_by_role("textbox", name="Signal 1: who is alerted").fill("Olu Owner; out of hours: legal on-call rota")
    save_and_submit(page, "Drift")
    sign_out(page)

    # -- compliance accepts all five, verifies a control and records the decision --------------
    login(page, base, "compliance@example.test")
    for key in ("outcome", "ownership", "drift", "human_workflow", "rollback"):
        page.goto(f"{base}/systems/{system.id}/readiness/{key}")
        page.get_by_role("radio", name="Accept").check()
        page.get_by_role("button", name="Record review").click()
        expect(page.get_by_role("status")).to_contain_text("Accepted")
    page.goto(f"{base}/review")
    row = page.locator("#systems tbody tr", has_text=LOW["name"])
    expect(row).to_contain_text("Decision due")
    # two controls verified at once, with one note, from the system's controls page
    row.get_by_role("link", name=re.compile(r"^\d+ controls")).click()
    expect(page).to_have_url(re.compile(rf"/systems/{system.id}/controls\?status=to_verify$"))
    boxes = page.locator("input[type=checkbox][form=bulk-verify]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("textbox", name="Note for these verifications").fill("Checked against the legal-ops evidence pack.")
    page.get_by_role("button", name="Verify the ticked controls").first.click()
    expect(page.get_by_role("status")).to_contain_text("Verified 2 controls")
    # ... and one more on its own page, then on to the next one waiting
    page.locator("table.controls a").first.click()
    page.get_by_role("button", name=re.compile("^Verify ")).click()
    expect(page.get_by_role("status")).to_contain_text("Control verified.")
    expect(page.get_by_role("link", name=re.compile("^Next: "))).to_be_visible()

    page.goto(f"{base}/review")
    page.locator("#systems tbody tr", has_text=LOW["name"]).get_by_role("link", name=LOW["name"], exact=True).click()
    expect(page).to_have_url(re.compile(rf"/systems/{system.id}/decisions$"))
    expect(page.get_by_role("heading", name=re.compile("^Recommendation for this review:"))).to_contain_text("CONDITIONAL GO")
    expect(page.locator("ul.blockers")).to_contain_text(f"Implement {open_control.ref}")
    expect(page.get_by_role("radio", name="CONDITIONAL GO")).to_be_checked()
    expect(page.get_by_role("textbox", name=re.compile("^Conditions"))).to_have_value(re.compile(open_control.ref))
    page.get_by_role("textbox", name="Rationale").fill("Answers accepted; one control finishing within 45 days.")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("status")).to_contain_text("Recorded CONDITIONAL GO.")
    sign_out(page)

    # -- the owner sees the decision and every remaining condition -------------------------------
    login(page, base, "owner@example.test")
    page.goto(f"{base}/systems/{system.id}")
    expect(page.locator(".verdict-box")).to_contain_text("Decision: CONDITIONAL GO")
    page.get_by_role("navigation", name=LOW["name"]).get_by_role("link", name="Decision").click()
    expect(page.get_by_role("heading", name=re.compile("^Current decision"))).to_contain_text("CONDITIONAL GO")
    expect(page.locator("ul.conditions")).to_contain_text(f"Implement {open_control.ref}")
    expect(page.locator("ul.conditions")).to_contain_text(due)
    expect(page.locator("ul.conditions")).to_contain_text(re.compile(r"Verify \d+ required controls by \d{4}-\d{2}-\d{2}"))
    expect(page.get_by_role("button", name="Record the decision")).to_have_count(0)
    # ... and acknowledges it with its conditions: dated, in the record, not in the frozen PDF
    page.get_by_role("link", name="acknowledgement pending").click()
    page.get_by_role("button", name=re.compile(r"^Acknowledge decision #\d+ and its conditions$")).click()
    expect(page.locator("#ack-status")).to_contain_text("Acknowledged by Olu Owner")


# -- accessibility of the new pages ----------------------------------------------------------------

def _owner_readiness(page, base, system):
    login(page, base, "owner@example.test")
    page.goto(f"{base}/systems/{system.id}/readiness")


def _owner_question(page, base, system):
    login(page, base, "owner@example.test")
    page.goto(f"{base}/systems/{system.id}/readiness/drift")


def _owner_control(page, base, system):
    login(page, base, "owner@example.test")
    page.goto(f"{base}/systems/{system.id}/controls")
    page.locator("table.controls a").first.click()
    expect(page.locator("details.panel", has_text="Attach evidence")).to_have_attribute("open", "")


def _compliance_decision(page, base, system):
    login(page, base, "compliance@example.test")
    page.goto(f"{base}/systems/{system.id}/decisions")


def _compliance_queue(page, base, system):
    login(page, base, "compliance@example.test")
    page.goto(f"{base}/review")


def _compliance_controls_to_verify(page, base, system):
    login(page, base, "compliance@example.test")
    page.goto(f"{base}/systems/{system.id}/controls?status=to_verify&select=all")


NEW_PAGES = {"readiness": _owner_readiness, "question-form": _owner_question, "control": _owner_control,
             "decision": _compliance_decision, "review-queue": _compliance_queue,
             "controls-to-verify": _compliance_controls_to_verify}


@pytest.mark.parametrize("which", list(NEW_PAGES))
def test_new_pages_have_no_serious_accessibility_problems(page, live_server, system, which):
    from axe_playwright_python.sync_playwright import Axe

    NEW_PAGES[which](page, live_server, system[0])
    page.wait_for_load_state()
    results = Axe().run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, results.generate_report()
    assert page.evaluate(DUPLICATE_IDS_JS) == []
