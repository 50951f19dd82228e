"""Audited writers in parallel: the chain takes each event exactly once, in one strict order, and a
transaction holds the chain lock only for its append and commit (``registry.audit.chain``)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

from registry.audit.checkpoints import verify_signatures
from registry.audit.models import AuditEvent
from registry.audit.services import record_event, verify_chain
from registry.auth.models import User
from registry.inventory.models import AISystem
from registry.inventory.services import system_payload, update_system
from tests.conftest import make_system

WRITERS = 8
WRITES_EACH = 6


def _events(session) -> int:
    return session.scalar(select(func.count(AuditEvent.id)))


def test_eight_writers_each_event_once_and_the_chain_verifies(app, session, people):
    factory = app.extensions["registry.sessions"][0]
    systems = [make_system(session, people["owner"], name=f"Writer system {n}").id for n in range(WRITERS)]
    before = _events(session)
    session.commit()  # SQLite: the writers need the write lock this session's transaction holds
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(WRITES_EACH):
                with factory() as s:
                    admin = s.get(User, people["admin"].id)
                    system = s.get(AISystem, systems[n])
                    update_system(s, admin, system.id, system_payload(system) | {"decisions_influenced": f"w{n} e{i}"},
                                  expected_version=system.version)
                    record_event(s, admin, "test.marker", "system", system.id, system_id=system.id,
                                 summary=f"writer {n} write {i}")
                    s.commit()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    session.expire_all()
    # two events per write (the edit and the marker), each appended once, seqs 1..n with no gap
    assert _events(session) - before == WRITERS * WRITES_EACH * 2
    seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, len(seqs) + 1))
    report = verify_chain(session)
    assert report.ok and report.checked == len(seqs), report
    assert verify_signatures(session).ok
    # a transaction's events are consecutive: the marker follows its own edit
    rows = session.execute(select(AuditEvent.seq, AuditEvent.action, AuditEvent.system_id)
                           .where(AuditEvent.action.in_(("system.update", "test.marker"))).order_by(AuditEvent.seq)).all()
    for edit, marker in zip(rows[::2], rows[1::2], strict=True):
        assert (edit.action, marker.action) == ("system.update", "test.marker")
        assert marker.seq == edit.seq + 1 and marker.system_id == edit.system_id
    for n, system_id in enumerate(systems):
        assert session.get(AISystem, system_id).decisions_influenced == f"w{n} e{WRITES_EACH - 1}"


def test_an_event_waits_for_the_commit_and_goes_with_a_rollback(session, people):
    before = _events(session)
    event = record_event(session, people["admin"], "test.rolled_back", "thing", 1)
    assert event.seq is None  # queued, not yet in the chain
    session.rollback()
    assert _events(session) == before
    kept = record_event(session, people["admin"], "test.kept", "thing", 2)
    session.commit()
    assert kept.seq == before + 1 and verify_chain(session).ok


def test_a_query_of_the_audit_trail_sees_the_transactions_own_events(session, people):
    record_event(session, people["admin"], "test.seen", "thing", 1)
    assert session.scalar(select(AuditEvent.action).order_by(AuditEvent.seq.desc()).limit(1)) == "test.seen"
    assert session.execute(text("SELECT count(*) FROM audit_events WHERE action = 'test.seen'")).scalar() == 1
    session.commit()
    assert session.scalar(select(func.count()).where(AuditEvent.action == "test.seen")) == 1  # appended once


def test_a_rolled_back_savepoint_drops_its_events_and_keeps_the_earlier_ones(session, people):
    before = _events(session)
    record_event(session, people["admin"], "test.outer", "thing", 1)
    try:
        with session.begin_nested():
            record_event(session, people["admin"], "test.inner", "thing", 2)
            # a query inside the savepoint does not append (the outer event would go with a rollback)
            session.scalar(select(func.count(AuditEvent.id)))
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    with session.begin_nested():
        record_event(session, people["admin"], "test.inner_kept", "thing", 3)
    session.commit()
    actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.seq > before).order_by(AuditEvent.seq)))
    assert actions == ["test.outer", "test.inner_kept"]
    assert verify_chain(session).ok


def test_an_earlier_event_appended_inside_a_rolled_back_savepoint_is_kept(session, people):
    from registry.audit.services import record_events_bulk

    before = _events(session)
    record_event(session, people["admin"], "test.outer", "thing", 1)
    try:
        with session.begin_nested():
            # a bulk append inside the savepoint appends the outer event first, inside it
            record_events_bulk(session, people["admin"], [{"action": "test.bulk", "entity_type": "thing"}])
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    session.commit()
    actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.seq > before).order_by(AuditEvent.seq)))
    assert actions == ["test.outer"]
    assert verify_chain(session).ok


def test_recording_an_event_does_not_hold_the_chain_lock_until_the_commit(app, session, people):
    """PostgreSQL: while one transaction has recorded an event and goes on working, another appends
    and commits (before, the first held the chain lock from its record_event to its commit).
    SQLite's writers are serial anyway (BEGIN IMMEDIATE)."""
    if app.extensions["registry.engine"].dialect.name != "postgresql":
        pytest.skip("SQLite serialises whole write transactions")
    factory = app.extensions["registry.sessions"][0]
    session.commit()
    first = factory()
    record_event(first, first.get(User, people["admin"].id), "test.slow", "thing", 1)
    first.flush()
    done = threading.Event()

    def other() -> None:
        with factory() as s:
            record_event(s, s.get(User, people["admin"].id), "test.quick", "thing", 2)
            s.commit()
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    finished = done.wait(timeout=20)
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert finished, "the second writer waited for the first one's commit"
    session.expire_all()
    actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("test.%"))
                                   .order_by(AuditEvent.seq)))
    assert actions == ["test.quick", "test.slow"]  # the chain's order is the commits' order
    assert verify_chain(session).ok


def test_the_chain_lock_is_held_from_the_append_to_the_commit(app, session, people):
    """PostgreSQL: a transaction that has appended (here, by reading the trail) holds the lock until
    it commits, so a second writer's commit waits: no two transactions link to the same head."""
    if app.extensions["registry.engine"].dialect.name != "postgresql":
        pytest.skip("SQLite serialises whole write transactions")
    factory = app.extensions["registry.sessions"][0]
    session.commit()
    first = factory()
    record_event(first, first.get(User, people["admin"].id), "test.first", "thing", 1)
    first.scalar(select(func.max(AuditEvent.seq)))  # appends: the lock is now held
    done = threading.Event()

    def other() -> None:
        with factory() as s:
            record_event(s, s.get(User, people["admin"].id), "test.second", "thing", 2)
            s.commit()
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    time.sleep(1.0)
    waited = not done.is_set()
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert waited and done.is_set()
    session.expire_all()
    actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("test.%"))
                                   .order_by(AuditEvent.seq)))
    assert actions == ["test.first", "test.second"]
    assert verify_chain(session).ok
