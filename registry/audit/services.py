"""Append and verify the audit chain.

Each event's hash is SHA-256 over a canonical JSON of its content and the previous
event's hash, so editing, deleting or reordering any event breaks every hash after it.
Appends are serialised (an advisory lock on PostgreSQL; SQLite's write transactions are
already serial because they BEGIN IMMEDIATE), so the chain has one order on both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registry.audit.models import AuditEvent
from registry.db import utcnow

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x5245_4749  # "REGI"


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def event_digest(
    *,
    seq: int,
    occurred_at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    entity_type: str,
    entity_id: str | None,
    system_id: int | None,
    summary: str,
    before: dict | None,
    after: dict | None,
    address: str | None,
    prev_hash: str,
) -> str:
    payload = {
        "seq": seq,
        "occurred_at": occurred_at.isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_label": actor_label,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "system_id": system_id,
        "summary": summary,
        "before": before,
        "after": after,
        "address": address,
        "prev_hash": prev_hash,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_canonical)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def record_event(
    session: Session,
    actor,
    action: str,
    entity_type: str,
    entity_id: Any = None,
    *,
    system_id: int | None = None,
    summary: str = "",
    before: dict | None = None,
    after: dict | None = None,
    address: str | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction; the caller commits it with the change."""
    _lock_chain(session)
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
    label = actor_label or (actor.label if actor is not None else "system")
    fields = dict(
        seq=seq,
        occurred_at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_label=label,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        system_id=system_id,
        summary=summary[:500],
        before=_jsonable(before),
        after=_jsonable(after),
        address=address,
        prev_hash=prev_hash,
    )
    event = AuditEvent(**fields, hash=event_digest(**fields))
    session.add(event)
    session.flush()
    return event


def _jsonable(value: dict | None) -> dict | None:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_canonical))


@dataclass
class ChainReport:
    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str = ""


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the chain in order; name the first event whose hash or link does not hold."""
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    cols = (
        AuditEvent.seq, AuditEvent.occurred_at, AuditEvent.actor_id, AuditEvent.actor_label,
        AuditEvent.action, AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.system_id,
        AuditEvent.summary, AuditEvent.before, AuditEvent.after, AuditEvent.address,
        AuditEvent.prev_hash, AuditEvent.hash,
    )  # fmt: skip
    last_seq = 0
    while True:
        rows = session.execute(
            select(*cols).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return ChainReport(True, checked)
        for row in rows:
            data = row._asdict()
            stored = data.pop("hash")
            if data["seq"] != expected_seq:
                return ChainReport(False, checked, data["seq"], f"expected event #{expected_seq}, found #{data['seq']}")
            if data["prev_hash"] != prev_hash:
                return ChainReport(False, checked, data["seq"], "link to the previous event does not match")
            if event_digest(**data) != stored:
                return ChainReport(False, checked, data["seq"], "content does not match its hash")
            prev_hash, expected_seq, checked, last_seq = stored, expected_seq + 1, checked + 1, data["seq"]


def record_events_bulk(session: Session, actor, events: list[dict], *, actor_label: str | None = None) -> int:
    """Append many events at once (seeders, imports): one lock, one INSERT, same chain."""
    if not events:
        return 0
    _lock_chain(session)
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS)
    label = actor_label or (actor.label if actor is not None else "system")
    rows = []
    for item in events:
        seq += 1
        fields = dict(
            seq=seq, occurred_at=utcnow(), actor_id=actor.id if actor is not None else None, actor_label=label,
            action=item["action"], entity_type=item["entity_type"],
            entity_id=None if item.get("entity_id") is None else str(item["entity_id"]),
            system_id=item.get("system_id"), summary=item.get("summary", "")[:500],
            before=_jsonable(item.get("before")), after=_jsonable(item.get("after")),
            address=item.get("address"), prev_hash=prev_hash,
        )
        prev_hash = event_digest(**fields)
        rows.append(fields | {"hash": prev_hash})
    session.execute(AuditEvent.__table__.insert(), rows)
    return len(rows)
