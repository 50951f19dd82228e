"""Which controls a system must implement: a pure function of the catalogue's data and the
system's effective tier, kind, data touched and flags.  Unacceptable systems get none: they never go.

Flags are what the tier rules derive beside the tier (``system_flags``): a control that lists
flags applies when the system carries one of them, whatever its tier (the OMB M-25-21 minimum
practices when the system is high-impact, the EU AI Act obligations when it is high-risk)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.controls.models import Control, Framework
from registry.enums import Tier
from registry.inventory.tiering import system_flags


def applies(control: Control, tier: Tier | str, kind: str, data_categories: Iterable[str],
            flags: Iterable[str] = ()) -> bool:
    tier = Tier(tier)
    if tier in (Tier.UNACCEPTABLE, Tier.NOT_ASSESSED) or control.retired:
        return False
    if control.flags:
        if not set(control.flags) & set(flags):
            return False
    elif tier.value not in control.tiers:
        return False
    if control.kinds and str(kind) not in control.kinds:
        return False
    return not control.data or bool(set(control.data) & {str(c) for c in data_categories})


def _active(stmt):
    """Live controls of active frameworks, in catalogue order."""
    return (stmt.join(Framework, Framework.id == Control.framework_id)
            .where(Framework.active.is_(True), Control.retired.is_(False))
            .order_by(Framework.position, Framework.id, Control.position))


def active_controls(session: Session) -> list[Control]:
    """Every live control of every active framework, in catalogue order (≈ 170 rows, one query)."""
    return list(session.scalars(_active(select(Control))))


@dataclass(frozen=True)
class CatalogueControl:
    """What the rules need of a control, as a plain value (``applies`` takes either)."""

    id: int
    framework_key: str
    ref: str
    title: str
    tiers: tuple[str, ...]
    kinds: tuple[str, ...]
    data: tuple[str, ...]
    retired: bool
    flags: tuple[str, ...] = ()


def active_catalogue(session: Session) -> list[CatalogueControl]:
    """``active_controls`` as plain values: a fraction of the cost of loading ORM objects, for
    the fact loader, which runs on every system page and for every system in bulk."""
    rows = session.execute(_active(select(Control.id, Framework.key, Control.ref, Control.title, Control.tiers,
                                          Control.kinds, Control.data, Control.retired, Control.flags)))
    return [CatalogueControl(i, key, ref, title, tuple(tiers or ()), tuple(kinds or ()), tuple(data or ()), retired,
                             tuple(flags or ()))
            for i, key, ref, title, tiers, kinds, data, retired, flags in rows]


def required_controls(session: Session, system, controls: list[Control] | None = None) -> list[Control]:
    controls = active_controls(session) if controls is None else controls
    data = [c.value for c in system.data_categories]
    flags = system_flags(system.eu_class, system.omb_high_impact)
    return [c for c in controls if applies(c, system.tier, system.kind, data, flags)]
