"""When evidence is too old to rely on: collected more than EVIDENCE_MAX_AGE_DAYS days before today.

The one rule, used by the fact loader, the controls pages, verification, the decision
snapshot and the exports (the setting itself comes from ``registry.db.evidence_max_age_days``).
"""

from __future__ import annotations

from datetime import date, timedelta


def is_stale(collected_on: date, today: date, max_age_days: int) -> bool:
    return (today - collected_on).days > max_age_days


def stale_before(today: date, max_age_days: int) -> date:
    """Evidence collected before this day is stale (for SQL comparisons)."""
    return today - timedelta(days=max_age_days)


def turns_stale_on(collected_on: date, max_age_days: int) -> date:
    """The first day on which evidence collected on ``collected_on`` is stale."""
    return collected_on + timedelta(days=max_age_days + 1)


def waiver_lapsed(expires_on: date | None, today: date) -> bool:
    """A waiver holds through its expiry day; after it (or without one) it blocks GO like a
    missing practice."""
    return expires_on is None or expires_on < today
