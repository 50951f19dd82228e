"""Incidents: reporting, the status transitions, closing rules, conflicts, permissions, the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.audit.views import field_changes
from registry.db import utcnow
from registry.enums import IncidentStatus, Severity
from registry.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from registry.incidents.services import (
    list_incidents,
    open_counts,
    payload_of,
    report_incident,
    update_incident,
)
from registry.state.cache import refresh_states
from tests.conftest import make_system


def _payload(**overrides) -> dict:
    payload = {"title": "Refund agent issued duplicate refunds", "occurred_on": "2026-11-02", "severity": "major",
               "description": "A retry after a timeout refunded 212 orders twice.",
               "affected": "212 customers", "failure_mode": "multi_step_reasoning"}
    payload.update(overrides)
    return payload


def _events(session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_report_records_the_incident_open_and_audits_it_in_words(session, people):
    system = make_system(session, people["owner"])
    incident = report_incident(session, people["owner"], system.id, _payload())
    session.commit()
    assert incident.status is IncidentStatus.OPEN and incident.severity is Severity.MAJOR and incident.version == 1
    assert incident.created_by_id == people["owner"].id
    [event] = _events(session, "incident.report")
    assert event.system_id == system.id and event.actor_id == people["owner"].id
    assert event.after["severity"] == "Major" and event.after["status"] == "Open"
    assert event.after["failure_mode"] == "Multi-step reasoning failures"
    assert event.summary == "Reported a major incident: Refund agent issued duplicate refunds"
    labels = {label: after for label, _, after in field_changes(event)}
    assert labels["People affected"] == "212 customers" and "Root cause" not in labels  # nothing recorded yet


def test_unclassified_is_said_as_such_never_as_a_mode(session, people):
    system = make_system(session, people["owner"])
    incident = report_incident(session, people["owner"], system.id, _payload(failure_mode=None))
    session.commit()
    assert incident.failure_mode is None
    assert _events(session, "incident.report")[0].after["failure_mode"] == "Not classified"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("occurred_on", (utcnow().date() + timedelta(days=1)).isoformat(), "future"),
    ("occurred_on", "1999-12-31", "2000"),
    ("title", "x" * 201, "200"),
    ("title", "   ", "title"),
    ("description", "", "Shorter"),
    ("severity", "catastrophic", "Must be one of"),
    ("failure_mode", "gremlins", "Must be one of"),
])
def test_bad_fields_are_refused_with_their_message_and_nothing_written(session, people, field, value, message):
    system = make_system(session, people["owner"])
    with pytest.raises(ValidationFailed) as err:
        report_incident(session, people["owner"], system.id, _payload(**{field: value}))
    session.rollback()
    assert field in err.value.errors
    if message != "Shorter":
        assert message.lower() in " ".join(err.value.errors[field]).lower()
    assert list_incidents(session, system.id) == []


def test_unknown_fields_and_missing_description_are_refused(session, people):
    system = make_system(session, people["owner"])
    with pytest.raises(ValidationFailed) as err:
        report_incident(session, people["owner"], system.id, {**_payload(), "colour": "red"})
    assert "colour" in err.value.errors
    payload = _payload()
    del payload["description"]
    with pytest.raises(ValidationFailed) as err:
        report_incident(session, people["owner"], system.id, payload)
    assert "description" in err.value.errors


def test_transitions_open_mitigated_closed_and_reopen(session, people):
    system = make_system(session, people["owner"])
    incident = report_incident(session, people["owner"], system.id, _payload())
    session.commit()
    with pytest.raises(ValidationFailed) as err:  # open → closed skips mitigation
        update_incident(session, people["owner"], system.id, incident.id,
                        {**payload_of(incident), "status": "closed", "root_cause": "Retry", "lessons": "Idempotency"},
                        expected_version=1)
    session.rollback()
    assert "mitigated first" in err.value.errors["status"][0]
    incident = update_incident(session, people["owner"], system.id, incident.id,
                               {**payload_of(incident), "status": "mitigated"}, expected_version=1)
    session.commit()
    assert incident.status is IncidentStatus.MITIGATED and incident.version == 2
    with pytest.raises(ValidationFailed) as err:  # closing needs the root cause and the lessons
        update_incident(session, people["owner"], system.id, incident.id,
                        {**payload_of(incident), "status": "closed"}, expected_version=2)
    session.rollback()
    assert set(err.value.errors) == {"root_cause", "lessons"}
    incident = update_incident(session, people["compliance"], system.id, incident.id,
                               {**payload_of(incident), "status": "closed", "root_cause": "Retries were not idempotent.",
                                "lessons": "Refund calls carry an idempotency key."}, expected_version=2)
    session.commit()
    assert incident.status is IncidentStatus.CLOSED and incident.version == 3
    incident = update_incident(session, people["owner"], system.id, incident.id,
                               {**payload_of(incident), "status": "open"}, expected_version=3)
    session.commit()
    assert incident.status is IncidentStatus.OPEN
    summaries = [e.summary for e in _events(session, "incident.update")]
    assert summaries == ["Mitigated incident: Refund agent issued duplicate refunds",
                         "Closed incident: Refund agent issued duplicate refunds",
                         "Reopened incident: Refund agent issued duplicate refunds"]
    closing = _events(session, "incident.update")[1]
    assert closing.before == {"status": "Mitigated", "root_cause": None, "lessons": None}
    assert closing.after["status"] == "Closed" and closing.after["lessons"] == "Refund calls carry an idempotency key."


def test_a_past_incident_may_be_reported_closed_with_cause_and_lessons(session, people):
    system = make_system(session, people["owner"])
    with pytest.raises(ValidationFailed) as err:
        report_incident(session, None, system.id, _payload(status="closed"))
    assert set(err.value.errors) == {"root_cause", "lessons"}
    when = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    incident = report_incident(session, None, system.id, _payload(status="closed", occurred_on="2026-05-30",
                                                                  root_cause="A", lessons="B"), now=when)
    session.commit()
    assert incident.created_at == when and incident.created_by_id is None
    with pytest.raises(ValidationFailed):  # after the day it was reported (the demo's past)
        report_incident(session, None, system.id, _payload(occurred_on="2026-06-02"), now=when)


def test_a_stale_version_is_a_conflict_and_an_unchanged_save_is_not_an_event(session, people):
    system = make_system(session, people["owner"])
    incident = report_incident(session, people["owner"], system.id, _payload())
    session.commit()
    update_incident(session, people["owner"], system.id, incident.id, {**payload_of(incident), "severity": "critical"},
                    expected_version=1)
    session.commit()
    with pytest.raises(Conflict):
        update_incident(session, people["admin"], system.id, incident.id, {**payload_of(incident), "title": "Mine"},
                        expected_version=1)
    session.rollback()
    update_incident(session, people["owner"], system.id, incident.id, payload_of(incident), expected_version=2)
    session.commit()
    assert incident.version == 2 and len(_events(session, "incident.update")) == 1


@pytest.mark.parametrize(("role", "allowed"), [("owner", True), ("compliance", True), ("admin", True),
                                               ("other_owner", False), ("executive", False)])
def test_who_may_report_and_update(session, people, role, allowed):
    system = make_system(session, people["owner"])
    existing = report_incident(session, people["owner"], system.id, _payload())
    session.commit()
    if allowed:
        report_incident(session, people[role], system.id, _payload())
        update_incident(session, people[role], system.id, existing.id, {**payload_of(existing), "status": "mitigated"},
                        expected_version=1)
        session.commit()
    else:
        with pytest.raises(PermissionDenied):
            report_incident(session, people[role], system.id, _payload())
        with pytest.raises(PermissionDenied):
            update_incident(session, people[role], system.id, existing.id, payload_of(existing), expected_version=1)
        session.rollback()


def test_an_incident_of_another_system_is_not_found(session, people):
    mine, other = make_system(session, people["owner"]), make_system(session, people["owner"])
    incident = report_incident(session, people["owner"], mine.id, _payload())
    session.commit()
    with pytest.raises(NotFound):
        update_incident(session, people["owner"], other.id, incident.id, payload_of(incident), expected_version=1)


def test_list_puts_open_critical_and_major_first_and_counts_open_by_severity(session, people):
    system = make_system(session, people["owner"])
    minor = report_incident(session, None, system.id, _payload(title="Minor open", severity="minor",
                                                               occurred_on="2026-11-20"))
    closed = report_incident(session, None, system.id, _payload(title="Critical closed", severity="critical",
                                                                status="closed", root_cause="A", lessons="B",
                                                                occurred_on="2026-11-25"))
    major = report_incident(session, None, system.id, _payload(title="Major open", occurred_on="2026-10-01"))
    mitigated = report_incident(session, None, system.id, _payload(title="Critical mitigated", severity="critical",
                                                                   status="mitigated"))
    critical = report_incident(session, None, system.id, _payload(title="Critical open", severity="critical",
                                                                  occurred_on=date(2026, 9, 1).isoformat()))
    session.commit()
    assert [i.title for i in list_incidents(session, system.id)] == [
        critical.title, major.title, minor.title, mitigated.title, closed.title]
    assert [i.title for i in list_incidents(session, system.id, severity="critical")] == [
        critical.title, mitigated.title, closed.title]
    assert [i.title for i in list_incidents(session, system.id, status="open", severity="minor")] == [minor.title]
    assert open_counts(session, [system.id]) == {system.id: {Severity.CRITICAL: 1, Severity.MAJOR: 1,
                                                             Severity.MINOR: 1}}
    refresh_states(session, [system.id])  # the state cache takes incidents without complaint
