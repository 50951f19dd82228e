"""Recording a system's value case, stopping a pilot, and the value and stop figures of many systems.

Plain functions (session, actor, …): they check permission, validate, change the rows and write the
audit event in the same transaction; the caller commits.  ``actor`` None is the console or a seeder
(no permission check), as for ``registry.inventory.services.create_system``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.auth.models import User
from registry.auth.permissions import can_edit_system, can_stop_pilot, require
from registry.db import utcnow
from registry.enums import Question, Stage, StopReason
from registry.errors import Conflict, ValidationFailed
from registry.inventory.models import AISystem
from registry.inventory.schemas import load_or_raise
from registry.inventory.services import FIELD_LABELS, system_for_update, system_payload, update_system
from registry.readiness.models import ReadinessAnswer
from registry.records import check_version, flush_or_conflict
from registry.value.models import PilotStop, ValueCase
from registry.value.schemas import MONEY_FIELDS, TEXT_LIMITS, StopSchema, ValueCaseSchema

STALE = ("Someone else saved this value case while you were editing it. Your changes were not saved: "
         "reload the page to see theirs, then apply yours again.")
NOT_RECORDED = "Not recorded"
VALUE_FIELDS = ("currency", *MONEY_FIELDS, *TEXT_LIMITS)
# Labels of the value case's fields (the form, the page, the history).
LABELS = {
    "currency": "Currency",
    "expected_annual_value": "Expected value a year",
    "value_basis": "Basis of the expected value",
    "one_off_cost": "One-off cost",
    "annual_run_cost": "Run cost a year (compute, licences)",
    "annual_maintenance_cost": "Maintenance cost a year (people, retraining, monitoring)",
    "maintenance_team": "Maintenance team",
    "run_funded_by": "Run cost funded by",
    "latency": "Latency needed",
    "volume": "Volume to handle",
    "availability": "Availability needed",
}
TOTAL_STAGES = (Stage.PRODUCTION, Stage.PILOT)


# -- reading ------------------------------------------------------------------------------------

def value_case_for(session: Session, system_id: int) -> ValueCase | None:
    return session.scalar(select(ValueCase).where(ValueCase.system_id == system_id)
                          .execution_options(populate_existing=True))


def business_outcome(session: Session, system_id: int) -> tuple[str, str] | None:
    """The business outcome from the readiness answer "outcome" and that answer's status label;
    None if nobody has written one."""
    answer = session.scalar(select(ReadinessAnswer).where(ReadinessAnswer.system_id == system_id,
                                                          ReadinessAnswer.question == Question.OUTCOME))
    text = ((answer.content or {}).get("business_outcome") or "").strip() if answer is not None else ""
    return (text, answer.status.label) if text else None


def net_annual_value(case: ValueCase | None) -> float | None:
    """Value less run and maintenance cost a year (one currency); None unless all three are recorded."""
    if case is None or None in (case.expected_annual_value, case.annual_run_cost, case.annual_maintenance_cost):
        return None
    return case.expected_annual_value - case.annual_run_cost - case.annual_maintenance_cost


def stops_for(session: Session, system_id: int) -> list[PilotStop]:
    """A system's stops, newest first (a system moved back to pilot by an edit may be stopped again)."""
    return list(session.scalars(select(PilotStop).where(PilotStop.system_id == system_id)
                                .order_by(PilotStop.stopped_at.desc(), PilotStop.id.desc())))


# -- the value case ------------------------------------------------------------------------------

def value_snapshot(case: ValueCase | None) -> dict[str, Any]:
    """The value case as people read it (audit before/after): a figure not recorded says so."""
    if case is None:
        return {}
    out: dict[str, Any] = {}
    for key in VALUE_FIELDS:
        value = getattr(case, key)
        out[key] = NOT_RECORDED if value is None or value == "" else value
    if all(getattr(case, k) is None for k in MONEY_FIELDS):
        out["currency"] = NOT_RECORDED  # no figure: the stored currency is only a default
    return out


def _diff(before: dict, after: dict) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def save_value_case(session: Session, actor: User | None, system_id: int, payload: dict,
                    expected_version: int | None = None, now: datetime | None = None) -> ValueCase:
    """Record (or replace, whole) a system's value case; whoever may edit the system may.
    ``expected_version``: the version the change is based on (0: none recorded yet); None does not check.
    A figure left blank stays "not recorded" (None), never 0."""
    system = system_for_update(session, system_id)
    if actor is not None:
        require(can_edit_system(actor, system), "Only the system's owners (or an admin) can edit its value case.")
    case = value_case_for(session, system_id)
    check_version(case, expected_version, STALE)
    data = load_or_raise(ValueCaseSchema(), payload)
    before = value_snapshot(case)
    created = case is None
    if created:
        case = ValueCase(system_id=system_id)
        session.add(case)
    data["currency"] = data["currency"] or case.currency or "EUR"  # no figure given: the currency is moot
    for key in VALUE_FIELDS:
        setattr(case, key, data[key])
    after = value_snapshot(case)
    old, new = _diff(before, after)
    if not created and not new:
        return case
    case.updated_at = now or utcnow()
    case.updated_by_id = actor.id if actor is not None else None
    case.updated_by = actor
    flush_or_conflict(session, STALE)
    record_event(session, actor, "value_case.create" if created else "value_case.update", "value_case", system_id,
                 system_id=system_id,
                 summary=f"{'Recorded' if created else 'Edited'} the value case of {system.name}",
                 before=None if created else old, after=new, at=now)
    return case


# -- stopping a pilot ----------------------------------------------------------------------------

def check_stoppable(session: Session, system: AISystem) -> None:
    """A stop is for a pilot: say why this one cannot be stopped."""
    if system.stage == Stage.PILOT:
        return
    stops = stops_for(session, system.id)
    if stops and system.stage == Stage.RETIRED:
        last = stops[0]
        who = last.stopped_by.label if last.stopped_by else "the registry"
        raise Conflict(f"This pilot was already stopped on {last.stopped_at:%d %b %Y} by {who} "
                       f"({StopReason(last.reason).label.lower()}); the system is retired and its record kept.")
    where = Stage(system.stage).label.lower()
    raise Conflict(f"Only a pilot can be stopped; this system is at the {where} stage. "
                   "To retire it, change its lifecycle stage on its profile (an audited edit).")


def stop_pilot(session: Session, actor: User | None, system_id: int, reason: StopReason | str, lessons: str,
               note: str = "", now: datetime | None = None) -> PilotStop:
    """Stop a pilot: the system moves to retired through the ordinary profile edit (stage history,
    audit, events as for any edit), and the stop is recorded with its reason and lessons, audited as
    "system.stop", in the same transaction.  Who: a compliance officer or admin, or the accountable
    owner.  Only a system in pilot: an idea has taught nothing about data, cost, adoption or performance
    in use yet (it is dropped by retiring it), and a system in production is retired, not stopped."""
    system = system_for_update(session, system_id)
    if actor is not None:
        require(can_stop_pilot(actor, system),
                "Only a compliance officer, an admin or the system's accountable owner can stop its pilot.")
    check_stoppable(session, system)
    data = load_or_raise(StopSchema(), {"reason": getattr(reason, "value", reason), "lessons": lessons,
                                        "note": note or ""})
    try:
        update_system(session, actor, system.id, {**system_payload(system), "stage": Stage.RETIRED.value},
                      expected_version=system.version, now=now, permitted=True)
    except ValidationFailed as err:  # an imported record's profile may be incomplete: not the stopper's form
        fields_ = ", ".join(FIELD_LABELS.get(k.split(".")[0], k).lower() for k in err.errors) or "some fields"
        raise ValidationFailed(f"The system's profile is incomplete ({fields_}), so it cannot be retired yet: "
                               "complete its profile, then stop the pilot.", errors=err.errors) from err
    stop = PilotStop(system_id=system.id, reason=StopReason(data["reason"]), note=data["note"],
                     lessons=data["lessons"], stage_before=Stage.PILOT, stopped_at=now or utcnow(),
                     stopped_by_id=actor.id if actor is not None else None)
    stop.stopped_by = actor
    session.add(stop)
    session.flush()
    record_event(session, actor, "system.stop", "pilot_stop", stop.id, system_id=system.id,
                 summary=f"Stopped the pilot of {system.name}: {stop.reason.label}",
                 before={"stage": Stage.PILOT.label},
                 after={"stage": Stage.RETIRED.label, "stop_reason": stop.reason.value, "lessons": stop.lessons,
                        "note": stop.note or None},
                 at=now)
    return stop


# -- many systems at once (the portfolio) ------------------------------------------------------------

@dataclass
class CurrencyTotals:
    """One stage's value cases in one currency: the sums of the recorded figures, how many systems,
    and how many recorded each figure (a sum over 3 of 5 systems is not the stage's whole cost)."""

    systems: int = 0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MONEY_FIELDS, 0.0))
    recorded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MONEY_FIELDS, 0))


@dataclass
class StageTotals:
    with_case: int = 0
    without_case: int = 0
    by_currency: dict[str, CurrencyTotals] = field(default_factory=dict)
    no_figures: int = 0  # value cases with text only: their stored currency is a default, not an answer


Scope = Select | list[int] | Callable[[Select], Select] | None  # which systems count: their ids (a SELECT or a list), or a WHERE-adder


def _scoped(query: Select, scope: Scope) -> Select:
    """``query`` (over ai_systems) kept to the live systems in ``scope``: a SELECT of their ids, or a
    function adding the WHERE clause itself (the portfolio's filters, applied to the join directly)."""
    query = query.where(AISystem.deleted_at.is_(None))
    if scope is None:
        return query
    return scope(query) if callable(scope) else query.where(AISystem.id.in_(scope))  # a SELECT or a list of ids


def value_totals(session: Session, scope: Scope = None, *, stage_counts: dict | None = None) -> dict[Stage, StageTotals]:
    """Per stage (production, pilot): the value cases' figures summed by currency (never across
    currencies), how many systems have a value case (and how many of those give no figure at all)
    and how many have none.  ``scope``: the systems to count (None: every one).  ``stage_counts``:
    the number of systems per stage in that scope when the caller has it (the portfolio does), which
    spares the second query."""
    out = {stage: StageTotals() for stage in TOTAL_STAGES}
    columns = [getattr(ValueCase, k) for k in MONEY_FIELDS]
    figured = or_(*(c.is_not(None) for c in columns)).label("figured")
    rows = session.execute(_scoped(
        select(AISystem.stage, ValueCase.currency, figured, func.count(ValueCase.system_id),
               *(func.sum(c) for c in columns), *(func.count(c) for c in columns))
        .join(ValueCase, ValueCase.system_id == AISystem.id).where(AISystem.stage.in_(TOTAL_STAGES)), scope)
        .group_by(AISystem.stage, ValueCase.currency, figured))
    n = len(MONEY_FIELDS)
    for stage, currency, has_figures, systems, *figures in rows:
        totals = out[Stage(stage)]
        totals.with_case += systems
        if not has_figures:  # text only: the stored currency is a default, not an answer
            totals.no_figures += systems
            continue
        row = CurrencyTotals(systems=systems)
        for i, key in enumerate(MONEY_FIELDS):
            row.recorded[key] = figures[n + i]
            row.sums[key] = float(figures[i] or 0.0)
        totals.by_currency[currency] = row
    if stage_counts is None:
        stage_counts = dict(session.execute(_scoped(
            select(AISystem.stage, func.count(AISystem.id)).where(AISystem.stage.in_(TOTAL_STAGES)), scope)
            .group_by(AISystem.stage)).all())
    for stage, totals in out.items():
        totals.without_case = stage_counts.get(stage, 0) - totals.with_case
    return out


@dataclass(frozen=True)
class StopRow:
    id: int
    system_id: int
    system_name: str
    business_unit: str
    reason: StopReason
    note: str
    lessons: str
    stopped_at: datetime
    stopped_by: str | None


@dataclass
class StopSummary:
    """Pilots stopped, by reason (every reason listed, 0 included), and the stops newest first."""

    counts: dict[StopReason, int]
    total: int
    stops: list[StopRow]


def stops_by_reason(session: Session, scope: Scope = None, *, limit: int | None = None) -> StopSummary:
    """Every recorded stop of a system not deleted (a system stopped twice counts twice: two pilots
    ended), counted by reason in SQL, and the stops themselves (``limit``: the newest that many)."""
    counts = dict.fromkeys(StopReason, 0)
    if callable(scope):  # stops are few: find their systems in scope first, by primary key
        scope = list(session.scalars(scope(select(AISystem.id).where(AISystem.id.in_(select(PilotStop.system_id))))))
    for reason, count in session.execute(_scoped(select(PilotStop.reason, func.count(PilotStop.id))
                                                 .join(AISystem, AISystem.id == PilotStop.system_id), scope)
                                         .group_by(PilotStop.reason)):
        counts[StopReason(reason)] = count
    query = _scoped(select(PilotStop.id, PilotStop.system_id, AISystem.name, AISystem.business_unit, PilotStop.reason,
                           PilotStop.note, PilotStop.lessons, PilotStop.stopped_at, User.name)
                    .join(AISystem, AISystem.id == PilotStop.system_id)
                    .outerjoin(User, User.id == PilotStop.stopped_by_id), scope)
    query = query.order_by(PilotStop.stopped_at.desc(), PilotStop.id.desc())
    if limit is not None:
        query = query.limit(limit)
    stops = [StopRow(*row[:4], StopReason(row[4]), *row[5:]) for row in session.execute(query)]
    return StopSummary(counts=counts, total=sum(counts.values()), stops=stops)
