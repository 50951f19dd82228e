"""The chain's head and its lock, shared by appending events and writing checkpoints; and the
queue that lets a transaction hold the lock only for the append itself.

Appends are serialised (an advisory lock on PostgreSQL; SQLite's write transactions are
already serial because they BEGIN IMMEDIATE), so the chain has one order on both.

**Why events wait for the commit.**  The lock must be held from reading the head until the
commit: released earlier, another transaction could read the same head and append a second
event with the same predecessor (a fork; the unique ``seq`` would then fail one of them).  If
an event took its place when the service called ``record_event``, everything the transaction
did afterwards (the rest of the service, the state cache recomputed in ``before_commit``) would
happen under the lock, and concurrent writers would queue behind work that has nothing to do
with the chain.  So ``record_event`` only *queues* the event (its payload built at once, with
its time); the queue is appended in one go (lock, read the head, hash and sign, INSERT) as the
last step before COMMIT, by a ``before_commit`` listener on the session itself, which runs after
the app's own (``registry.state.hooks``).  The lock is then held for the append and the commit
only, and the chain stays strict: each transaction reads the head under the lock and commits
before releasing it.

The queue is appended earlier when the transaction needs the events in the database: a query
that reads ``audit_events`` or ``audit_checkpoints`` through the session (so a service or test
sees its own events, as before; raw SQL text that names them), a checkpoint (``write_checkpoint``)
or a bulk append.  SQL run on the session's connection directly is not seen.  Savepoints: an event queued inside one that is rolled back is dropped
with it; one queued before a savepoint but appended inside it (by such a query) is queued again
if the savepoint is rolled back, so no event is lost and none outlives its change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.util import find_tables

from registry.audit.keys import audit_key
from registry.audit.models import AuditCheckpoint, AuditEvent

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x5245_4749  # "REGI"
QUEUE = "registry.audit.queue"
_LISTENING = "registry.audit.listening"
_CHAIN_TABLES = frozenset((AuditEvent.__table__, AuditCheckpoint.__table__))


def lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def chain_head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the newest event; (0, GENESIS) for an empty chain."""
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS)


def index_line(seq: int, actor_id: int | None, action: str, entity_type: str, entity_id: str | None,
               system_id: int | None) -> str:
    return "|".join("" if p is None else str(p) for p in (seq, actor_id, action, entity_type, entity_id, system_id))


def build_record(prev_hash: str, seq: int, actor_id: int | None, action: str, entity_type: str,
                 entity_id: str | None, system_id: int | None, payload: str) -> str:
    """The exact text an event's hash covers (see ``AuditEvent``)."""
    return f"{prev_hash}\n{index_line(seq, actor_id, action, entity_type, entity_id, system_id)}\n{payload}"


def digest(text_: str) -> str:
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()


@dataclass(eq=False)
class _Queued:
    event: AuditEvent  # its indexed columns set; seq, record, hash and mac are set when appended
    payload: str  # the canonical JSON the record ends with
    queued_in: tuple[SessionTransaction, ...]  # the savepoints open when it was queued, innermost first
    appended_in: tuple[SessionTransaction, ...] | None = None  # the same, when it was appended


@dataclass
class _Queue:
    waiting: list[_Queued] = field(default_factory=list)
    appended: list[_Queued] = field(default_factory=list)  # this transaction's, while savepoints may undo them


def _savepoints(session: Session) -> tuple[SessionTransaction, ...]:
    out, transaction = [], session.get_nested_transaction()
    while transaction is not None and transaction.nested:
        out.append(transaction)
        transaction = transaction.parent
    return tuple(out)


def queue_event(session: Session, event_: AuditEvent, payload: str, before_commit: Callable[[Session], None]) -> None:
    """Queue ``event_`` for the chain: appended before this transaction commits (see the module), by
    ``before_commit`` (which calls ``append_queued``)."""
    _listen(session, before_commit)
    session.info.setdefault(QUEUE, _Queue()).waiting.append(_Queued(event_, payload, _savepoints(session)))


def append_queued(session: Session) -> int:
    """Append the events queued in this transaction, in order; returns how many.  From here until
    the commit the chain lock is held."""
    queue: _Queue | None = session.info.get(QUEUE)
    if queue is None or not queue.waiting:
        return 0
    waiting, queue.waiting = queue.waiting, []
    lock_chain(session)
    seq, prev_hash = chain_head(session)
    key = audit_key(session)
    inside = _savepoints(session)
    for item in waiting:
        ev = item.event
        seq += 1
        record = build_record(prev_hash, seq, ev.actor_id, ev.action, ev.entity_type, ev.entity_id, ev.system_id,
                              item.payload)
        ev.seq, ev.record, ev.hash = seq, record, digest(record)
        ev.mac = key.event_mac(ev.hash)
        prev_hash = ev.hash
        item.appended_in = inside
        session.add(ev)
    if inside:
        queue.appended.extend(waiting)
    session.flush()
    return len(waiting)


def _listen(session: Session, before_commit: Callable[[Session], None]) -> None:
    """Listen on this session (once): its own listeners run after its factory's, so the append
    comes after the state cache's ``before_commit`` work."""
    if session.info.get(_LISTENING):
        return
    session.info[_LISTENING] = True
    event.listen(session, "before_commit", before_commit)
    event.listen(session, "do_orm_execute", _before_query)
    event.listen(session, "after_soft_rollback", _after_rollback)
    event.listen(session, "after_transaction_end", _after_transaction_end)


def _before_query(state) -> None:
    queue: _Queue | None = state.session.info.get(QUEUE)
    if queue is None or not queue.waiting or state.session.in_nested_transaction():
        return
    if _reads_chain(state.statement):
        append_queued(state.session)


def _reads_chain(statement) -> bool:
    if isinstance(statement, TextClause):  # raw SQL: by the tables' names
        return any(table.name in statement.text for table in _CHAIN_TABLES)
    return not _CHAIN_TABLES.isdisjoint(find_tables(statement, check_columns=True, include_aliases=True,
                                                    include_joins=True, include_crud=True))


def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    queue: _Queue | None = session.info.get(QUEUE)
    if queue is None:
        return
    if not previous.nested:
        session.info.pop(QUEUE, None)
        return
    # A savepoint rolled back: its own events go with it; earlier ones it had appended wait again.
    undone = [i for i in queue.appended if previous in (i.appended_in or ())]
    again = [i for i in undone if previous not in i.queued_in]
    for item in again:
        item.event.id, item.appended_in = None, None
    queue.appended = [i for i in queue.appended if previous not in (i.appended_in or ()) and i not in undone]
    queue.waiting = again + [i for i in queue.waiting if previous not in i.queued_in]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if not transaction.nested and transaction.parent is None:
        session.info.pop(QUEUE, None)  # committed (appended) or rolled back: nothing carries over
