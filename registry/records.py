"""Optimistic locking shared by every service that changes a versioned row."""

from __future__ import annotations

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from registry.errors import Conflict

STALE_MESSAGE = (
    "Someone else saved this system while you were editing it. "
    "Your changes were not saved: reload the page to see theirs, then apply yours again."
)


def flush_or_conflict(session: Session, message: str = STALE_MESSAGE) -> None:
    """Flush; a concurrent save of the same row (version mismatch in the UPDATE) is a Conflict."""
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(message) from exc


def check_version(row, expected_version: int | None, message: str = STALE_MESSAGE) -> None:
    """Refuse a save based on an outdated copy: ``row`` None counts as version 0 (not yet created);
    ``expected_version`` None means the caller (console, seeder) does not check."""
    if expected_version is not None and (row.version if row is not None else 0) != expected_version:
        raise Conflict(message)
