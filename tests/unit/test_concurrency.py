"""Concurrent writers: no "database is locked", and the audit chain keeps one order."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.audit.services import verify_chain
from registry.errors import Conflict
from registry.inventory.models import AISystem
from registry.inventory.services import create_system, system_payload, update_system
from tests.conftest import make_system
from tests.conftest import system_payload as new_payload

WRITERS = 6
WRITES_EACH = 8


def test_concurrent_writers_all_succeed_and_chain_stays_linear(app, session, people):
    factory = app.extensions["registry.sessions"][0]
    shared = make_system(session, people["owner"])
    errors: list[BaseException] = []
    conflicts: list[Conflict] = []
    saved: list[int] = []
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(WRITES_EACH):
                with factory() as s:
                    create_system(s, people["owner"], new_payload(people["owner"], name=f"Writer {n} system {i}"))
                    s.commit()
                with factory() as s:  # read-modify-write of one shared row
                    system = s.get(AISystem, shared.id)
                    try:
                        update_system(s, people["admin"], shared.id,
                                      system_payload(system) | {"decisions_influenced": f"writer {n} pass {i}"},
                                      expected_version=system.version)
                        s.commit()
                        saved.append(n)
                    except Conflict as exc:  # PostgreSQL: a concurrent save won; refused, not lost
                        s.rollback()
                        conflicts.append(exc)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    session.expire_all()
    assert session.scalar(select(func.count(AISystem.id))) == 1 + WRITERS * WRITES_EACH
    seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, len(seqs) + 1))
    report = verify_chain(session)
    assert report.ok, report
    # every update either landed (bumping the version once) or was refused as a conflict
    assert len(saved) + len(conflicts) == WRITERS * WRITES_EACH
    assert session.get(AISystem, shared.id).version == 1 + len(saved)
    if app.extensions["registry.engine"].dialect.name == "sqlite":
        assert conflicts == []  # BEGIN IMMEDIATE serialises read-modify-write
