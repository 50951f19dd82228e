"""The Value tab: the business outcome, the value case (never a default shown as recorded), its form,
and the "Stop this pilot" form for those who may, with the stop's record afterwards (CSRF on)."""

from __future__ import annotations

import re

from sqlalchemy import select

from registry.enums import Stage, StopReason
from registry.inventory.models import AISystem
from registry.readiness.services import save_answer
from registry.value import services
from registry.value.models import PilotStop
from tests.conftest import Browser, make_system, make_user

LESSONS = "Adjusters kept their spreadsheets: involve them before the next pilot starts."
FORM = {"currency": "EUR", "expected_annual_value": "500000", "value_basis": "12 FTE of triage",
        "one_off_cost": "", "annual_run_cost": "0", "annual_maintenance_cost": "80000",
        "maintenance_team": "Claims ML team", "run_funded_by": "", "latency": "< 2 s", "volume": "",
        "availability": ""}


def _stage(session, system_id: int) -> Stage:
    """The stored stage, read fresh; the test's transaction ends so the client may write next."""
    stage = session.scalar(select(AISystem.stage).where(AISystem.id == system_id))
    session.commit()
    return stage


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_an_empty_value_case_says_not_recorded_and_not_answered(session, people, as_role):
    system = make_system(session, people["owner"])
    page = _text(as_role("executive").get(f"/systems/{system.id}/value"))
    assert "No value case recorded yet" in page
    assert 'id="business-outcome">Not answered yet.' in page
    assert page.count("Not recorded") >= 8
    assert "EUR" not in page.split('id="value-case"')[1].split("</dl>")[0]  # no currency shown as if recorded
    assert "Record the value case" not in page and "Stop this pilot" not in page  # the executive reads only


def test_the_owner_records_the_case_blank_stays_not_recorded_and_zero_is_zero(session, people, as_role):
    system = make_system(session, people["owner"])
    save_answer(session, people["owner"], system.id, "outcome", {"business_outcome": "Halve the claims backlog"},
                expected_version=0)
    session.commit()
    owner = as_role("owner")
    url = f"/systems/{system.id}/value"
    response = owner.post(url, {**FORM, "version": "0"})
    assert response.status_code == 302, _text(response)[:2000]
    case = services.value_case_for(session, system.id)
    assert case.one_off_cost is None and case.annual_run_cost == 0 and case.expected_annual_value == 500000
    page = _text(owner.get(url))
    assert "Halve the claims backlog" in page
    assert "EUR 500,000" in page and "EUR 0" in page
    assert "EUR 420,000" in page  # net: 500,000 − 0 − 80,000
    facts = page.split('id="value-case"')[1].split("</dl>")[0]
    assert "One-off cost</dt><dd><span class=\"muted\">Not recorded" in facts


def test_a_bad_figure_is_a_field_error_and_nothing_is_saved(session, people, as_role):
    system = make_system(session, people["owner"])
    response = as_role("owner").post(f"/systems/{system.id}/value",
                                     {**FORM, "annual_run_cost": "-5", "version": "0"})
    assert response.status_code == 422
    assert "Give an amount from 0 to 1,000,000,000,000" in _text(response)
    response = as_role("owner").post(f"/systems/{system.id}/value",
                                     {**FORM, "currency": "", "version": "0"})
    assert response.status_code == 422 and "Say which currency the figures are in." in _text(response)
    assert services.value_case_for(session, system.id) is None


def test_a_stale_form_is_refused_with_a_clear_message(session, people, as_role):
    system = make_system(session, people["owner"])
    services.save_value_case(session, people["owner"], system.id, {"maintenance_team": "A"}, expected_version=0)
    session.commit()
    response = as_role("owner").post(f"/systems/{system.id}/value", {**FORM, "version": "0"})
    assert response.status_code == 409 and "Someone else saved this value case" in _text(response)


def test_a_post_without_csrf_is_refused(session, people, as_role):
    system = make_system(session, people["owner"])
    owner = as_role("owner")
    response = owner.client.post(f"/systems/{system.id}/value", data={**FORM, "version": "0"})
    assert response.status_code == 400
    response = owner.client.post(f"/systems/{system.id}/value/stop",
                                 data={"reason": "adoption", "lessons": LESSONS, "confirm": "y"})
    assert response.status_code == 400
    assert _stage(session, system.id) == Stage.PILOT


LOW = {"kind": "generative_assistant", "autonomy": "human_in_the_loop", "affects": ["internal_staff"],
       "data_categories": ["confidential_business"], "risk": {"prohibited_practice": "none"}}
MEDIUM = {"kind": "generative_assistant", "autonomy": "human_on_the_loop", "affects": ["customers"],
          "data_categories": ["personal"], "risk": {"prohibited_practice": "none"}}


def test_the_production_gaps_are_shown_at_medium_tier_not_at_low(session, people, as_role):
    medium = make_system(session, people["owner"], **MEDIUM)
    low = make_system(session, people["owner"], **LOW)
    assert (medium.tier, low.tier) == ("medium", "low")
    owner = as_role("owner")
    page = _text(owner.get(f"/systems/{medium.id}/value"))
    assert "Blocks production at medium tier" in page and "No team named for maintenance" in page
    assert "No annual run cost" in page
    assert "Blocks production" not in _text(owner.get(f"/systems/{low.id}/value"))
    owner.post(f"/systems/{medium.id}/value", {**FORM, "version": "0"})  # run cost 0 and a team: nothing missing
    assert "Blocks production" not in _text(owner.get(f"/systems/{medium.id}/value"))


def test_the_stop_form_is_offered_to_compliance_and_the_accountable_owner_only(session, people, as_role):
    system = make_system(session, people["owner"])
    url = f"/systems/{system.id}/value"
    for role in ("compliance", "owner", "admin"):
        page = _text(as_role(role).get(url))
        assert "Stop this pilot" in page and "will be retired" in page
    for role in ("other_owner", "executive"):
        assert "Stop this pilot" not in _text(as_role(role).get(url))


def test_a_compliance_officer_stops_the_pilot_and_the_record_is_shown(session, people, as_role):
    system = make_system(session, people["owner"])
    officer = as_role("compliance")
    url = f"/systems/{system.id}/value"
    response = officer.post(f"{url}/stop", {"reason": "adoption", "lessons": LESSONS, "note": "", "confirm": "y"},
                            token_from=url)
    assert response.status_code == 302
    assert session.scalar(select(PilotStop.reason).where(PilotStop.system_id == system.id)) is StopReason.ADOPTION
    assert _stage(session, system.id) == Stage.RETIRED
    page = _text(as_role("executive").get(url))
    assert "Pilot stopped" in page and "Stakeholders resist adoption" in page and LESSONS in page
    assert "Cora Compliance" in page
    assert "Stop this pilot" not in _text(officer.get(url))  # nothing left to stop
    again = officer.post(f"{url}/stop", {"reason": "adoption", "lessons": LESSONS, "confirm": "y"},
                         token_from="/systems")
    assert again.status_code == 409 and "already stopped" in _text(again)


def test_the_stop_needs_confirmation_reason_and_lessons(session, people, as_role):
    system = make_system(session, people["owner"])
    owner = as_role("owner")
    url = f"/systems/{system.id}/value"
    response = owner.post(f"{url}/stop", {"reason": "other", "lessons": "meh", "note": ""}, token_from=url)
    page = _text(response)
    assert response.status_code == 422
    assert "Confirm that the system will be retired." in page
    response = owner.post(f"{url}/stop", {"reason": "other", "lessons": "meh", "note": "", "confirm": "y"},
                          token_from=url)
    page = _text(response)
    assert response.status_code == 422
    assert "at least 20 letters or digits" in page and "Say what the other reason is." in page
    assert _stage(session, system.id) == Stage.PILOT


def test_the_technical_owner_cannot_stop_it(session, people, as_role, app):
    tech = make_user(session, "owner")
    system = make_system(session, people["owner"], technical_owner=tech.email)
    browser = Browser(app.test_client())
    browser.login(tech.email)
    url = f"/systems/{system.id}/value"
    assert "Stop this pilot" not in _text(browser.get(url))
    assert "Record the value case" in _text(browser.get(url))  # but edits the value case
    response = browser.post(f"{url}/stop", {"reason": "adoption", "lessons": LESSONS, "confirm": "y"},
                            token_from=url)
    assert response.status_code == 403
