"""The list of organisation units a system's business unit is chosen from, and its upkeep.

An admin adds, renames and merges units; the system services refuse a unit that is not on the
list (``check_unit``), except the unchanged value of an existing record.  Only an import keeps
free text: a file's unit is matched to a listed one ignoring case and spacing (``unit_matcher``),
else kept as written and the record flagged (``UNLISTED_FLAG`` in ``missing_fields``); the units
systems use that the list lacks are listed for an admin (``unlisted_units``), to add or merge.

``ai_systems.business_unit`` keeps the unit's name: renaming or merging rewrites it on every
system of the unit (with its search text and version), refreshes their portfolio states and
writes one audit event on the unit and one on each system moved, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from registry.audit.services import record_event, record_events_bulk
from registry.auth.models import User
from registry.auth.permissions import can_manage_users, require
from registry.db import utcnow
from registry.errors import Conflict, NotFound, ValidationFailed
from registry.inventory.models import AISystem, OrgUnit, search_text_for
from registry.state.cache import refresh_states

NOT_LISTED = "Choose a unit from the list (an administrator adds units)"
# In an imported record's ``missing_fields``: the file's business unit is not on the list.
UNLISTED_FLAG = "business_unit_unlisted"
UNLISTED_LABEL = "Business unit from the list (the source's is not listed)"
MAX_LENGTH = 300


def can_manage_units(user) -> bool:
    """Admins keep the list (the same role that manages accounts)."""
    return can_manage_users(user)


def tidy(name: str | None) -> str:
    """A unit name as stored: spacing collapsed, trimmed."""
    return " ".join((name or "").split())


def normalised(name: str | None) -> str:
    """The key two spellings of the same unit share: case and spacing ignored."""
    return tidy(name).casefold()


def unit_names(session: Session) -> list[str]:
    """The listed units, by name."""
    return list(session.scalars(select(OrgUnit.name).order_by(func.lower(OrgUnit.name), OrgUnit.name)))


def is_listed(session: Session, name: str) -> bool:
    return session.scalar(select(OrgUnit.id).where(OrgUnit.name == name)) is not None


def check_unit(session: Session, name: str, *, current: str | None = None) -> None:
    """Refuse a business unit that is not on the list (a 422 on the field), unless it is
    ``current``: the record's own value, kept unchanged (a unit an import brought in).

    A registry whose list is still empty (a new installation: the migration lists the units its
    systems already had) refuses none, so that the API and the console work before an admin has
    set the list up; the form offers no unit until then, and the units used appear on the admin
    page as "not on the list", to add or merge."""
    if name and name == current:
        return
    if name and is_listed(session, name):
        return
    if not name or session.scalar(select(OrgUnit.id).limit(1)) is not None:
        raise ValidationFailed("Some fields need attention.", errors={"business_unit": [NOT_LISTED]})


def unit_matcher(session: Session) -> Callable[[str], str | None] | None:
    """For an import (one query): a file's unit -> the listed spelling, ignoring case and spacing;
    None when no listed unit matches.  None instead of a matcher while the list is empty (not
    set up yet: nothing is matched or flagged, as nothing is refused)."""
    by_key: dict[str, str] = {}
    for name in unit_names(session):
        by_key.setdefault(normalised(name), name)
    if not by_key:
        return None
    return lambda value: by_key.get(normalised(value))


def unit_usage(session: Session) -> dict[str, int]:
    """Live systems per business unit (listed or not), in one query."""
    rows = session.execute(select(AISystem.business_unit, func.count(AISystem.id))
                           .where(AISystem.deleted_at.is_(None)).group_by(AISystem.business_unit))
    return {unit: count for unit, count in rows if unit}


def unlisted_units(session: Session, usage: dict[str, int] | None = None) -> list[tuple[str, int]]:
    """(unit, live systems) for the units systems use that the list lacks (imported records)."""
    usage = unit_usage(session) if usage is None else usage
    listed = set(unit_names(session))
    return sorted(((u, n) for u, n in usage.items() if u not in listed), key=lambda un: (un[0].casefold(), un[0]))


def _valid_name(session: Session, name: str, *, field: str = "name", except_id: int | None = None) -> str:
    name = tidy(name)
    if not name:
        raise ValidationFailed("Some fields need attention.", errors={field: ["Name the unit."]})
    if len(name) > MAX_LENGTH:
        raise ValidationFailed("Some fields need attention.",
                               errors={field: [f"Keep the name to {MAX_LENGTH} characters (it has {len(name):,})."]})
    for unit in session.scalars(select(OrgUnit).where(func.lower(OrgUnit.name) == name.lower())):
        if unit.id != except_id and normalised(unit.name) == normalised(name):
            raise Conflict(f"“{unit.name}” is already on the list; merge into it instead.",
                           errors={field: [f"“{unit.name}” is already on the list; merge into it instead."]})
    return name


def _unit(session: Session, unit_id: int) -> OrgUnit:
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound(f"There is no unit #{unit_id}.")
    return unit


def add_unit(session: Session, actor: User | None, name: str, *, now: datetime | None = None) -> OrgUnit:
    """Put a unit on the list.  Records already using that name (imported ones) lose their
    "unit not listed" flag."""
    if actor is not None:
        require(can_manage_units(actor), "Only admins manage the list of units.")
    unit = OrgUnit(name=_valid_name(session, name), created_at=now or utcnow())
    session.add(unit)
    session.flush()
    in_use = _move_systems(session, actor, unit.name, unit.name, now=now, why=None)
    record_event(session, actor, "org_unit.create", "org_unit", unit.id,
                 summary=f"Added the business unit {unit.name} to the list",
                 after={"unit": unit.name, "systems": in_use}, at=now)
    return unit


def ensure_units(session: Session, names: Iterable[str], *, now: datetime | None = None) -> list[str]:
    """The seeders' step: put each of ``names`` on the list unless it is there (console actor,
    audited); returns the names added."""
    listed = set(unit_names(session))
    added = []
    for name in dict.fromkeys(tidy(n) for n in names):
        if name and name not in listed:
            add_unit(session, None, name, now=now)
            listed.add(name)
            added.append(name)
    return added


def rename_unit(session: Session, actor: User, unit_id: int, name: str, *, now: datetime | None = None) -> OrgUnit:
    """Correct a unit's name; its systems follow."""
    require(can_manage_units(actor), "Only admins manage the list of units.")
    unit = _unit(session, unit_id)
    old = unit.name
    new = _valid_name(session, name, except_id=unit.id)
    if new == old:
        return unit
    unit.name = new
    session.flush()
    moved = _move_systems(session, actor, old, new, now=now, why=f"unit renamed from {old} to {new}")
    record_event(session, actor, "org_unit.rename", "org_unit", unit.id,
                 summary=f"Renamed the business unit {old} to {new}" + (f" ({moved} systems follow)" if moved else ""),
                 before={"unit": old}, after={"unit": new, "systems": moved}, at=now)
    return unit


def merge_units(session: Session, actor: User, source: str, target_id: int, *, now: datetime | None = None) -> int:
    """Merge ``source`` (a listed unit's name, or a name systems use that the list lacks) into the
    unit ``target_id``: every system of ``source`` moves to the target, and ``source`` leaves the
    list.  Returns the number of systems moved."""
    require(can_manage_units(actor), "Only admins manage the list of units.")
    target = _unit(session, target_id)
    source_unit = session.scalar(select(OrgUnit).where(OrgUnit.name == source))
    if source_unit is None and not session.scalar(select(AISystem.id).where(AISystem.business_unit == source).limit(1)):
        raise NotFound(f"There is no business unit “{source}” on the list or on any system.")
    if source == target.name:
        raise ValidationFailed("A unit cannot be merged into itself.", errors={"target": ["Choose another unit."]})
    moved = _move_systems(session, actor, source, target.name, now=now, why=f"unit {source} merged into {target.name}")
    if source_unit is not None:
        session.delete(source_unit)
        session.flush()
    record_event(session, actor, "org_unit.merge", "org_unit", target.id,
                 summary=f"Merged the business unit {source} into {target.name} ({moved} systems moved)",
                 before={"unit": source, "listed": "Yes" if source_unit is not None else "No"},
                 after={"unit": target.name, "systems": moved}, at=now)
    return moved


def _move_systems(session: Session, actor: User | None, old: str, new: str, *, now: datetime | None,
                  why: str | None) -> int:
    """Give every system of unit ``old`` the unit ``new`` (its search text, its version) and drop
    the "unit not listed" flag, in a few statements; refresh the live ones' portfolio states and,
    when the name changes (``why``), write each one's history.  Returns the live systems concerned."""
    session.flush()
    rows = session.execute(select(AISystem.id, AISystem.name, AISystem.purpose, AISystem.vendor_name,
                                  AISystem.missing_fields, AISystem.deleted_at)
                           .where(AISystem.business_unit == old)).all()
    if not rows:
        return 0
    changes = [r for r in rows if old != new or UNLISTED_FLAG in (r.missing_fields or [])]
    if changes:
        table = AISystem.__table__
        stmt = (table.update().where(table.c.id == bindparam("system_id"))
                .values(business_unit=bindparam("unit"), search_text=bindparam("text"),
                        missing_fields=bindparam("missing"), version=table.c.version + 1,
                        updated_at=bindparam("at")))
        at = now or utcnow()
        session.execute(stmt, [{"system_id": r.id, "unit": new, "at": at,
                                "text": search_text_for(r.name, r.purpose, new, r.vendor_name),
                                "missing": [m for m in (r.missing_fields or []) if m != UNLISTED_FLAG]}
                               for r in changes])
        ids = {r.id for r in changes}
        for obj in list(session.identity_map.values()):  # what this session holds of them is stale now
            if isinstance(obj, AISystem) and obj.id in ids:
                session.expire(obj)
    live = [r.id for r in rows if r.deleted_at is None]
    if why and live:
        record_events_bulk(session, actor, [
            {"action": "system.update", "entity_type": "system", "entity_id": str(r.id), "system_id": r.id, "at": now,
             "summary": f"Business unit changed: {why}", "before": {"business_unit": old},
             "after": {"business_unit": new}} for r in rows if r.deleted_at is None], checkpoint="bulk")
    if old != new and live:
        refresh_states(session, live)
    return len(live)
