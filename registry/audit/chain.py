"""The chain's head and its lock, shared by appending events and writing checkpoints.

Appends are serialised (an advisory lock on PostgreSQL; SQLite's write transactions are
already serial because they BEGIN IMMEDIATE), so the chain has one order on both.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registry.audit.models import AuditEvent

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x5245_4749  # "REGI"


def lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def chain_head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the newest event; (0, GENESIS) for an empty chain."""
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS)
