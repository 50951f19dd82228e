"""Load the demo (seed_data/demo_portfolio.yaml and demo_readiness.yaml) through the ordinary services.

Demo accounts exist only because this loader creates them; production never runs it
(`scripts/run` loads demo data only when REGISTRY_ENV is not production and the database
is empty).

The demo is a story in the past, told relative to the day it is loaded (``demo_dates``): the
accounts are opened first; each system is registered the morning after its latest baseline
was measured (or on its ``registered_on`` day), a tier override follows a day later (or on
its ``on`` day) and its confirmation, if any, the day after; then comes its readiness work
(``demo_readiness``).  Every step goes through the services dated when it happened, in date
order across systems (``replay``), so each audit event carries the date of the record it
describes and the chain's order is its time order.
"""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit.checkpoints import try_checkpoint
from registry.auth.models import User
from registry.auth.passwords import hash_password
from registry.auth.services import create_user
from registry.config import ROOT
from registry.controls.catalogue import load_default_catalogues
from registry.controls.evidence_store import evidence_store
from registry.controls.models import Framework
from registry.db import utcnow
from registry.enums import Role, Stage
from registry.errors import ValidationFailed
from registry.inventory.models import AISystem
from registry.inventory.services import confirm_tier_override, create_system, override_tier, update_system
from registry.inventory.units import ensure_units
from registry.seed import demo_after
from registry.seed.demo_after import AFTER_KEYS
from registry.seed.demo_dates import as_of_load_day, day_of
from registry.seed.demo_readiness import READINESS_FILE, DemoReadiness, read_readiness
from registry.seed.replay import WORK_STARTS, Replay, Strand, moment

DEMO_FILE = ROOT / "seed_data" / "demo_portfolio.yaml"
DEMO_KEYS = {"tier_override", "registered_on", "stage_history"} | AFTER_KEYS  # keys of a system entry that only the demo loader reads
OVERRIDE_HOUR = time(11, 0, tzinfo=UTC)  # a tier override given as a bare date was made at 11:00 UTC
MOVE_HOUR = time(10, 0, tzinfo=UTC)  # a stage move given as a bare date was made at 10:00 UTC


def read_demo(path: Path = DEMO_FILE) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def database_is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count(User.id))) and not session.scalar(select(func.count(AISystem.id)))


def registered_at(entry: dict) -> datetime:
    """When the demo system was registered: on its ``registered_on`` day, else the day after its
    latest baseline was measured (a baseline is recorded once it is measured); in the morning."""
    what = f"Demo system {entry.get('name')!r}"
    measured = [day_of(m["measured_on"], f"{what}: measured_on")
                for m in entry.get("metrics") or [] if m.get("measured_on")]
    if entry.get("registered_on"):
        day = day_of(entry["registered_on"], f"{what}: registered_on")
        if measured and day < max(measured):
            raise ValidationFailed(f"{what}: registered on {day}, before its baseline measured on {max(measured)}.")
    elif measured:
        day = max(measured) + timedelta(days=1)
    else:
        raise ValidationFailed(f"{what}: give 'registered_on', the day it was registered (no baseline is measured).")
    return moment(day, WORK_STARTS) + timedelta(minutes=zlib.crc32(entry["name"].encode("utf-8")) % 120)


def load_demo(session: Session, path: Path = DEMO_FILE, *, readiness_path: Path = READINESS_FILE,
              today: date | None = None) -> dict[str, int]:
    """Create the demo users and systems, then their readiness state (answers, controls,
    evidence, decisions), in the caller's transaction; return counts.

    ``today`` is the day the demo is loaded on (default: the clock's): both files' dates move
    from their ``as_of`` day to it, so the story is the same whenever it is loaded.  The
    control catalogues are loaded first when there are none (a fresh database), since the
    readiness state assesses controls.  The demo's few evidence files go to the configured file
    store in the same transaction (a failed load rolls them back with everything else).
    """
    today = today or utcnow().date()
    data = as_of_load_day(read_demo(path), today, path.name)
    readiness = as_of_load_day(read_readiness(readiness_path), today, readiness_path.name)["systems"]
    names = {entry["name"] for entry in data["systems"]}
    stray = [name for name in readiness if name not in names]
    if stray:
        raise ValidationFailed(f"Demo readiness for “{stray[0]}”: there is no demo system of that name in {path.name}.")
    registrations = [registered_at(entry) for entry in data["systems"]]
    start = moment(min(registrations).date() - timedelta(days=1), WORK_STARTS)  # the registry opens
    if not session.scalar(select(func.count(Framework.id))):
        load_default_catalogues(session, now=start)
    shared_hash = hash_password(data["demo_password"])  # one hash: demo accounts share a password
    users: dict[str, User] = {}
    for n, entry in enumerate(data["users"], start=1):
        users[entry["email"]] = create_user(
            session, None, email=entry["email"], name=entry["name"], role=entry["role"],
            password="", password_hash=shared_hash, now=start + timedelta(minutes=n),
        )
    # The units its systems belong to are on the list before anyone registers a system.
    ensure_units(session, sorted({entry["business_unit"] for entry in data["systems"]}),
                 now=start + timedelta(minutes=len(users)))
    work = DemoReadiness(session, evidence_store(session), today)
    replay = Replay(start + timedelta(minutes=len(users)))
    for index, (entry, when) in enumerate(zip(data["systems"], registrations, strict=True), start=1):
        work_entry = (readiness[entry["name"]] or {}) if entry["name"] in readiness else None
        replay.schedule(_register(session, replay, work, users, entry, when, work_entry, today),
                        f"Demo system #{index} ({entry['name']})")
    replay.run()
    try_checkpoint(session, "seed")
    return {"users": len(users), "systems": len(registrations),
            **{f"readiness_{key}": value for key, value in work.counts.items()}}


def _register(session: Session, replay: Replay, work: DemoReadiness, users: dict[str, User], entry: dict,
              when: datetime, readiness: dict | None, today: date) -> Strand:
    """One system's strand: registered, its tier overridden if the entry says so, then its readiness
    work, and its later stage moves (``stage_history``)."""
    yield (registered := when)
    profile = {k: v for k, v in entry.items() if k not in DEMO_KEYS}
    moves = stage_moves(entry, when, today)
    system = create_system(session, None, {**profile, "stage": moves[0][0] if moves else entry["stage"]}, now=when)
    override = entry.get("tier_override")
    if override:
        on = override.get("on")
        yield (when := moment(day_of(on, "tier_override: on"), OVERRIDE_HOUR) if on
               else moment(when.date() + timedelta(days=1), OVERRIDE_HOUR))
        override_tier(session, users[override["by"]], system.id, override["tier"], override["reason"], now=when)
        if override.get("confirmed_by"):  # a lowered tier applies once a second officer confirms it
            yield (when := moment(when.date() + timedelta(days=1), OVERRIDE_HOUR))
            confirm_tier_override(session, users[override["confirmed_by"]], system.id, now=when)
    if readiness is not None:
        replay.schedule(_plan(replay, work, system, readiness), f"Demo readiness for “{system.name}”")
    compliance = next(u for u in users.values() if u.role is Role.COMPLIANCE)
    for strand in demo_after.strands(session, users, compliance, entry, system, registered):
        replay.schedule(strand, f"Demo system {entry['name']!r} after its baseline")
    for _left, stage, on in moves:  # by its accountable owner, through the ordinary edit
        yield (when := moment(on, MOVE_HOUR))
        update_system(session, users[entry["accountable_owner"]], system.id, {**profile, "stage": stage},
                      expected_version=system.version, now=when)


def stage_moves(entry: dict, registered: datetime, today: date) -> list[tuple[str, str, date]]:
    """The entry's ``stage_history`` (the stages it went through before ``stage``, each with the
    day it left it) as moves (stage left, stage entered, day); the first listed stage is the one
    it was registered in."""
    history = entry.get("stage_history") or []
    what = f"Demo system {entry.get('name')!r}: stage_history"
    stages = [step.get("stage") for step in history] + [entry["stage"]]
    unknown = [s for s in stages if s not in Stage.values()]
    if unknown:
        raise ValidationFailed(f"{what}: {unknown[0]!r} is not a stage ({', '.join(Stage.values())}).")
    days = [day_of(step.get("left_on"), f"{what}: left_on") for step in history]
    after = registered.date()
    for stage, following, day in zip(stages[:-1], stages[1:], days, strict=True):
        if stage == following:
            raise ValidationFailed(f"{what}: it cannot move from {stage!r} to {following!r}, the same stage.")
        if day <= after:
            raise ValidationFailed(f"{what}: it left {stage!r} on {day}, not after {after} (its registration or "
                                   "the move before).")
        after = day
    if days and days[-1] >= today:
        raise ValidationFailed(f"{what}: it left {stages[-2]!r} on {days[-1]}, not before {today}, the day the demo "
                               "is loaded.")
    return list(zip(stages[:-1], stages[1:], days, strict=True))


def _plan(replay: Replay, work: DemoReadiness, system: AISystem, entry: dict) -> Strand:
    """Schedules the system's readiness strands (its errors then name the readiness entry); no step of its own."""
    for strand in work.strands(system, entry):
        replay.schedule(strand, f"Demo readiness for “{system.name}”")
    yield from ()
