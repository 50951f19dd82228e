"""The audit chain detects any edit, deletion or reordering of events."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from registry.audit.models import AuditEvent
from registry.audit.services import record_event, record_events_bulk, verify_chain
from registry.db import utcnow
from tests.databases import tampering


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
    with tampering(session):
        session.execute(update(AuditEvent).where(AuditEvent.seq == 4).values(record=AuditEvent.record + " "))
    session.commit()
    report = verify_chain(session)
    assert not report.ok and report.broken_seq == 4 and "hash" in report.problem


def test_editing_content_and_rehashing_one_event_breaks_the_next_link(session, chain):
    from registry.audit.services import digest

    row = session.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
    with tampering(session):
        row.record = row.record.replace('"summary":"', '"summary":"Tampered ')
        row.hash = digest(row.record)
        session.flush()
    session.commit()
    report = verify_chain(session)
    assert not report.ok and report.broken_seq == 4 and "previous" in report.problem


def test_deleting_an_event_is_detected(session, chain):
    with tampering(session):
        session.execute(delete(AuditEvent).where(AuditEvent.seq == 5))
    session.commit()
    report = verify_chain(session)
    assert not report.ok and report.broken_seq == 5 and "missing" in report.problem


def test_reordering_events_is_detected(session, chain):
    a = session.scalar(select(AuditEvent).where(AuditEvent.seq == 2))
    b = session.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
    with tampering(session):
        a.seq, b.seq = -1, -2
        session.flush()
        a.seq, b.seq = 3, 2
        session.flush()
    session.commit()
    report = verify_chain(session)
    assert not report.ok and report.broken_seq == 2


def test_deleting_the_newest_event_is_detected_by_count_only_elsewhere(session, chain):
    """Truncating the tail leaves a valid shorter chain: the count shrinks (checked by callers
    that know the expected head, e.g. a decision's snapshot in later work)."""
    with tampering(session):
        session.execute(delete(AuditEvent).where(AuditEvent.seq == chain))
    session.commit()
    assert verify_chain(session).checked == chain - 1


def test_editing_an_indexed_column_is_detected(session, chain):
    """Moving an event to another system (to hide it from a history page) breaks its hash."""
    with tampering(session):
        session.execute(update(AuditEvent).where(AuditEvent.seq == 7).values(system_id=12345))
    session.commit()
    report = verify_chain(session)
    assert not report.ok and report.broken_seq == 7


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_verification_finds_breaks_in_every_range_and_at_the_seams(session, chain, workers):
    if session.get_bind().url.database in (None, "", ":memory:"):
        pytest.skip("parallel verification needs a database file or server")
    assert verify_chain(session, workers=workers).ok
    for seq in (1, chain // 2, chain // 2 + 1, chain):
        session.rollback()
        original = session.scalar(select(AuditEvent.record).where(AuditEvent.seq == seq))
        with tampering(session):
            session.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(record=original + " "))
        session.commit()
        report = verify_chain(session, workers=workers)
        assert not report.ok and report.broken_seq == seq, (seq, report)
        with tampering(session):
            session.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(record=original))
        session.commit()
    with tampering(session):
        session.execute(delete(AuditEvent).where(AuditEvent.seq == chain // 2))
    session.commit()
    report = verify_chain(session, workers=workers)
    assert not report.ok and report.broken_seq in (chain // 2, chain // 2 + 1)


def test_history_shows_what_the_payload_holds(session, chain):
    event = session.scalar(select(AuditEvent).where(AuditEvent.seq == 7))
    assert event.summary == "event 1" and event.after == {"i": 1} and event.actor_label.startswith("Ada Admin")
    assert abs((event.when - utcnow()).total_seconds()) < 60  # the hashed time: there is no other


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET record = record || ' ' WHERE seq = 2",
                                       "DELETE FROM audit_events WHERE seq = 2"])
def test_the_database_refuses_to_change_the_audit_trail(session, chain, statement):
    """Append-only in the database itself (migration 0009), whatever code runs the statement."""
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(statement))
    session.rollback()
    assert verify_chain(session).ok


def test_postgresql_refuses_to_truncate_the_audit_trail(session, chain):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("TRUNCATE audit_events"))
    session.rollback()
