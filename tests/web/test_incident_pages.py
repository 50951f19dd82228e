"""Incident pages through the test client (CSRF on): report, list with filters, update, refusals."""

from __future__ import annotations

from datetime import timedelta

from registry.db import utcnow
from registry.incidents.services import list_incidents, report_incident
from tests.conftest import make_system

FORM = {"title": "Chatbot quoted a withdrawn price", "occurred_on": "2026-11-10", "severity": "critical",
        "description": "The assistant quoted last year's tariff to 40 customers.", "affected": "40 customers",
        "status": "open", "failure_mode": "hallucination", "root_cause": "", "lessons": "", "version": "0"}


def test_owner_reports_an_incident_and_sees_it_first_in_the_list(session, people, as_role):
    system = make_system(session, people["owner"])
    report_incident(session, None, system.id, {"title": "Slow answers on Monday", "occurred_on": "2026-11-20",
                                               "severity": "minor", "description": "Latency doubled."})
    session.commit()
    owner = as_role("owner")
    page = owner.get(f"/systems/{system.id}/incidents/new")
    assert page.status_code == 200 and "Report an incident" in page.get_data(as_text=True)
    response = owner.post(f"/systems/{system.id}/incidents/new", FORM)
    assert response.status_code == 302
    shown = owner.get(response.headers["Location"]).get_data(as_text=True)
    assert "Chatbot quoted a withdrawn price" in shown and "Hallucination" in shown and "40 customers" in shown
    listing = owner.get(f"/systems/{system.id}/incidents").get_data(as_text=True)
    assert listing.index("Chatbot quoted a withdrawn price") < listing.index("Slow answers on Monday")
    assert "2 open" in listing and "1 critical, 1 minor" in listing
    filtered = owner.get(f"/systems/{system.id}/incidents?severity=minor").get_data(as_text=True)
    assert "Slow answers on Monday" in filtered and "Chatbot quoted" not in filtered
    history = owner.get(f"/systems/{system.id}/history").get_data(as_text=True)
    assert "Reported a critical incident: Chatbot quoted a withdrawn price" in history


def test_a_future_date_is_refused_with_its_message_and_nothing_written(session, people, as_role):
    system = make_system(session, people["owner"])
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    response = as_role("owner").post(f"/systems/{system.id}/incidents/new", {**FORM, "occurred_on": tomorrow})
    assert response.status_code == 422
    assert "This date is in the future." in response.get_data(as_text=True)
    assert list_incidents(session, system.id) == []


def test_closing_without_root_cause_is_refused_then_mitigate_and_close(session, people, as_role):
    system = make_system(session, people["owner"])
    incident = report_incident(session, None, system.id, {k: v for k, v in FORM.items() if k != "version"})
    session.commit()
    officer = as_role("compliance")
    url = f"/systems/{system.id}/incidents/{incident.id}"
    refused = officer.post(url, {**FORM, "status": "closed", "version": "1"})
    assert refused.status_code == 422
    assert "An open incident can become mitigated, not closed." in refused.get_data(as_text=True)
    assert officer.post(url, {**FORM, "status": "mitigated", "version": "1"}).status_code == 302
    no_cause = officer.post(url, {**FORM, "status": "closed", "version": "2"})
    assert no_cause.status_code == 422 and "Say what caused the incident before closing it." in no_cause.get_data(as_text=True)
    closed = officer.post(url, {**FORM, "status": "closed", "version": "2", "root_cause": "Stale price table.",
                                "lessons": "Prices come from the live catalogue."})
    assert closed.status_code == 302
    page = officer.get(url).get_data(as_text=True)
    assert "Stale price table." in page and "Closed" in page


def test_a_stale_form_is_a_conflict_with_the_reason(session, people, as_role):
    system = make_system(session, people["owner"])
    incident = report_incident(session, None, system.id, {k: v for k, v in FORM.items() if k != "version"})
    session.commit()
    url = f"/systems/{system.id}/incidents/{incident.id}"
    owner = as_role("owner")
    assert owner.post(url, {**FORM, "status": "mitigated", "version": "1"}).status_code == 302
    stale = owner.post(url, {**FORM, "title": "Another title", "version": "1"})
    assert stale.status_code == 409 and "Someone else changed this incident" in stale.get_data(as_text=True)


def test_executive_reads_but_sees_no_forms(session, people, as_role):
    system = make_system(session, people["owner"])
    incident = report_incident(session, None, system.id, {k: v for k, v in FORM.items() if k != "version"})
    session.commit()
    executive = as_role("executive")
    listing = executive.get(f"/systems/{system.id}/incidents").get_data(as_text=True)
    assert "Chatbot quoted a withdrawn price" in listing and "Report an incident" not in listing
    page = executive.get(f"/systems/{system.id}/incidents/{incident.id}").get_data(as_text=True)
    assert "Update the incident" not in page and "Hallucination" in page


def test_an_unknown_filter_is_a_400_with_the_choices_and_unclassified_is_said(session, people, as_role):
    system = make_system(session, people["owner"])
    report_incident(session, None, system.id, {**{k: v for k, v in FORM.items() if k != "version"},
                                               "failure_mode": None})
    session.commit()
    browser = as_role("owner")
    bad = browser.get(f"/systems/{system.id}/incidents?severity=apocalyptic")
    assert bad.status_code == 400 and "critical, major, minor" in bad.get_data(as_text=True)
    assert "Not classified" in browser.get(f"/systems/{system.id}/incidents").get_data(as_text=True)


def test_without_the_csrf_token_nothing_is_written(session, people, as_role):
    system = make_system(session, people["owner"])
    response = as_role("owner").client.post(f"/systems/{system.id}/incidents/new", data=FORM)
    assert response.status_code == 400
    assert list_incidents(session, system.id) == []
