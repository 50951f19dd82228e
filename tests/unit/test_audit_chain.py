"""The audit chain detects any edit, deletion or reordering of events."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from registry.audit.models import AuditEvent
from registry.audit.services import record_event, record_events_bulk, verify_chain


@pytest.fixture
def chain(session, people):
    for i in range(6):
        record_event(session, people["admin"], "test.event", "thing", i, summary=f"event {i}", after={"i": i})
    record_events_bulk(session, None, [{"action": "bulk", "entity_type": "thing", "entity_id": 9}] * 3)
    session.commit()
    report = verify_chain(session)
    assert report.ok and report.checked == 6 + 3 + len(people)  # people fixture wrote user.create events
    return report.checked


def test_editing_content_is_detected(session, chain):
    session.execute(update(AuditEvent).where(AuditEvent.seq == 4).values(summary="nothing to see"))
    session.commit()
    report = verify_chain(session)
    assert not report.ok and report.broken_seq == 4 and "hash" in report.problem


def test_editing_content_and_rehashing_one_event_breaks_the_next_link(session, chain):
    from registry.audit.services import event_digest

    row = session.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
    row.after = {"i": 999}
    fields = {c: getattr(row, c) for c in ("seq", "occurred_at", "actor_id", "actor_label", "action", "entity_type",
                                           "entity_id", "system_id", "summary", "before", "after", "address", "prev_hash")}
    row.hash = event_digest(**fields)
    session.commit()
    report = verify_chain(session)
    assert not report.ok and report.broken_seq == 4 and "previous" in report.problem


def test_deleting_an_event_is_detected(session, chain):
    session.execute(delete(AuditEvent).where(AuditEvent.seq == 5))
    session.commit()
    report = verify_chain(session)
    assert not report.ok and report.broken_seq == 6


def test_reordering_events_is_detected(session, chain):
    a = session.scalar(select(AuditEvent).where(AuditEvent.seq == 2))
    b = session.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
    a.seq, b.seq = -1, -2
    session.flush()
    a.seq, b.seq = 3, 2
    session.commit()
    report = verify_chain(session)
    assert not report.ok and report.broken_seq == 2


def test_deleting_the_newest_event_is_detected_by_count_only_elsewhere(session, chain):
    """Truncating the tail leaves a valid shorter chain: the count shrinks (checked by callers
    that know the expected head, e.g. a decision's snapshot in later work)."""
    session.execute(delete(AuditEvent).where(AuditEvent.seq == chain))
    session.commit()
    assert verify_chain(session).checked == chain - 1
