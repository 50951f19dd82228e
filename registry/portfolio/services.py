"""The figures behind the portfolio dashboard and its PDF, each aggregated in SQL.

``portfolio_figures`` costs a fixed number of queries whatever the number of systems (one per
figure group, never one per system); per-system facts that need the full recommendation come
from the ``system_states`` cache (see ``registry.state``).  Every figure is computed
over the live systems matching the same ``InventoryFilters`` the inventory list uses, so each
number links to exactly the systems behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from registry.auth.models import User
from registry.auth.permissions import can_see_portfolio, require
from registry.db import utcnow
from registry.enums import FUNNEL, FailureMode, IncidentStatus, Kind, Severity, Stage, Tier, Verdict
from registry.incidents.models import Incident
from registry.inventory.models import AISystem, StageChange
from registry.inventory.queries import (
    ATTENTION,
    REVIEW_WINDOW_DAYS,
    InventoryFilters,
    attention_condition,
    filtered_ids_query,
    live_business_units,
    owner_names,
    with_filters,
    without_jit,
)
from registry.reports.services import pdf_environment
from registry.state.cache import group_labels
from registry.state.models import BlockerCount, BlockerDimCount, SystemBlocker, SystemState
from registry.value.services import StopSummary, stops_by_reason, value_totals

TOP_BLOCKERS = 10
PDF_MAX_SYSTEMS = 300  # the portfolio PDF lists at most this many systems (~3 s to render); beyond, Excel


def portfolio_filters(args) -> InventoryFilters:
    """The dashboard's filters (business unit, tier, stage, owner by id or by name, kind) from query arguments."""
    full = InventoryFilters.from_args(args)
    return InventoryFilters(stage=full.stage, tier=full.tier, kind=full.kind, business_unit=full.business_unit,
                            owner=full.owner, owner_name=full.owner_name)


@dataclass
class Portfolio:
    filters: InventoryFilters
    today: date
    total: int = 0
    by_stage: dict = field(default_factory=dict)  # Stage -> n
    by_tier: dict = field(default_factory=dict)  # Tier -> n
    heat: dict = field(default_factory=dict)  # (Tier, Stage) -> n
    decisions: dict = field(default_factory=dict)  # Verdict | "undecided" -> n
    recommendations: dict = field(default_factory=dict)  # Verdict -> n
    overdue: int = 0
    due_soon: int = 0
    stale_evidence: int = 0
    re_review: int = 0
    funnel: list = field(default_factory=list)  # [{stage, reached, current, median_days, completed}]
    pilot_to_production: float | None = None
    pilots_reached: int = 0
    pilots_to_production: int = 0
    blockers: list = field(default_factory=list)  # [{key, label, kind, count}] most systems first
    units: list = field(default_factory=list)  # [{unit, total, production, go, no_go_rec, overdue}]
    attention: dict = field(default_factory=dict)  # ATTENTION key -> n: the executive's headline figures
    outside_funnel: dict = field(default_factory=dict)  # Stage -> n whose history never reached idea/pilot/production
    options_units: list = field(default_factory=list)
    options_owners: list = field(default_factory=list)  # the owners the filter names: never every owner
    # after the baseline: which failure modes actually happen ([{mode, total, open, critical}], most first)
    incidents_by_mode: list = field(default_factory=list)
    value: dict = field(default_factory=dict)  # Stage -> value.services.StageTotals (production, pilot)
    stops: StopSummary | None = None  # pilots stopped, by reason

    @property
    def undecided(self) -> int:
        return self.decisions.get("undecided", 0)

    def blockers_of(self, kind: str) -> list:
        return [b for b in self.blockers if b["kind"] == kind]


def _count(condition) -> object:
    """How many rows meet ``condition`` (``count(*) FILTER (WHERE …)``: PostgreSQL and SQLite 3.30+)."""
    return func.count().filter(condition)


def portfolio_figures(session: Session, actor: User, f: InventoryFilters, *, today: date | None = None,
                      top_blockers: int = TOP_BLOCKERS) -> Portfolio:
    require(can_see_portfolio(actor), "The portfolio is for executives, compliance officers and admins.")
    today = today or utcnow().date()
    p = Portfolio(filters=f, today=today)
    without_jit(session)

    # 1. one pass over the systems and their cached state, grouped by unit × tier × stage: the heat
    #    map, totals by stage and tier, verdicts, reviews due, stale evidence, re-review, by unit
    soon = today + timedelta(days=REVIEW_WINDOW_DAYS)
    verdicts = list(Verdict)
    columns = [_count(SystemState.decision_verdict == v) for v in verdicts]
    columns += [_count(SystemState.decision_verdict.is_(None))]
    columns += [_count(SystemState.recommendation == v) for v in verdicts]
    columns += [_count(SystemState.decision_expires_on < today),
                _count(and_(SystemState.decision_expires_on >= today, SystemState.decision_expires_on <= soon)),
                _count(SystemState.stale_evidence.is_(True)), _count(SystemState.re_review_required.is_(True))]
    columns += [_count(SystemState.furthest_stage.in_(FUNNEL[i:])) for i in range(len(FUNNEL))]
    columns += [_count(attention_condition(key, today, SystemState)) for key in ATTENTION]
    columns += [_count(or_(SystemState.system_id.is_(None), SystemState.furthest_stage.is_(None)))]
    rows = session.execute(
        with_filters(select(AISystem.business_unit, AISystem.tier, AISystem.stage, func.count(), *columns)
                     .select_from(AISystem).outerjoin(SystemState, SystemState.system_id == AISystem.id), f)
        .group_by(AISystem.business_unit, AISystem.tier, AISystem.stage)).all()
    p.decisions = {v: 0 for v in verdicts} | {"undecided": 0}
    p.recommendations = {v: 0 for v in verdicts}
    units: dict[str, dict] = {}
    reached = [0] * len(FUNNEL)
    for unit, tier, stage, n, *values in rows:
        tier, stage, values = Tier(tier), Stage(stage), [int(v or 0) for v in values]
        p.heat[(tier, stage)] = p.heat.get((tier, stage), 0) + n
        p.by_tier[tier] = p.by_tier.get(tier, 0) + n
        p.by_stage[stage] = p.by_stage.get(stage, 0) + n
        p.total += n
        for i, v in enumerate(verdicts):
            p.decisions[v] += values[i]
            p.recommendations[v] += values[4 + i]
        p.decisions["undecided"] += values[3]
        p.overdue += values[7]
        p.due_soon += values[8]
        p.stale_evidence += values[9]
        p.re_review += values[10]
        for i in range(len(FUNNEL)):
            reached[i] += values[11 + i]
        for i, key in enumerate(ATTENTION):
            p.attention[key] = p.attention.get(key, 0) + values[11 + len(FUNNEL) + i]
        outside = values[11 + len(FUNNEL) + len(ATTENTION)]
        if outside:
            p.outside_funnel[stage] = p.outside_funnel.get(stage, 0) + outside
        u = units.setdefault(unit, {"unit": unit, "total": 0, "production": 0, "go": 0, "no_go_rec": 0, "overdue": 0})
        u["total"] += n
        u["production"] += n if stage is Stage.PRODUCTION else 0
        u["go"] += values[0]
        u["no_go_rec"] += values[6]
        u["overdue"] += values[7]
    p.units = sorted(units.values(), key=lambda u: (-u["total"], u["unit"]))
    p.attention = {key: p.attention.get(key, 0) for key in ATTENTION}

    # 3. blockers: how many systems each question / control / rule holds back
    # (deleted systems keep no blocker rows, so without filters no join is needed)
    if f.owner or f.owner_name or f.q or f.data or f.portfolio_active():
        # Look the filtered systems' rows up by primary key rather than scanning every row.
        n = _count(SystemBlocker.blocking.is_(True))
        counted = (select(SystemBlocker.key, n).where(SystemBlocker.system_id.in_(filtered_ids_query(f)))
                   .group_by(SystemBlocker.key).having(n > 0))
        counts = session.execute(counted.order_by(n.desc(), SystemBlocker.key)).all()
    elif f.active():  # unit, tier, stage, kind: the per-dimension counts kept on write
        d = BlockerDimCount
        n = func.sum(d.systems)
        counted = select(d.key, n)
        for column, values in ((d.business_unit, f.business_unit), (d.tier, [Tier(t) for t in f.tier]),
                               (d.stage, [Stage(s) for s in f.stage]), (d.kind, [Kind(k) for k in f.kind])):
            if values:
                counted = counted.where(column.in_(values))
        counts = session.execute(counted.group_by(d.key).having(n > 0).order_by(n.desc(), d.key)).all()
    else:  # kept current on write (registry.portfolio.state), so no count over every blocker row
        counts = session.execute(select(BlockerCount.key, BlockerCount.systems).where(BlockerCount.systems > 0)
                                 .order_by(BlockerCount.systems.desc(), BlockerCount.key)).all()
    labels = group_labels(session, [key for key, _ in counts])
    p.blockers = [{"key": key, "label": labels[key], "kind": key.partition(":")[0], "count": n} for key, n in counts]

    # 5. the funnel (from the state cache's furthest stage, counted above) and median stays
    medians = _median_days(session, f)
    for stage, n in zip(FUNNEL, reached, strict=True):
        median, completed = medians.get(stage, (None, 0))
        p.funnel.append({"stage": stage, "reached": n, "current": p.by_stage.get(stage, 0),
                         "median_days": median, "completed": completed})
    p.pilots_reached, p.pilots_to_production = reached[1], reached[2]
    p.pilot_to_production = (p.pilots_to_production / p.pilots_reached) if p.pilots_reached else None

    # 5b. incidents by failure mode (the eight production failure modes; None: not classified yet)
    p.incidents_by_mode = incidents_by_mode(session, f)
    # 5c. what AI is worth and costs (value cases by stage and currency) and the pilots stopped
    scope = (lambda query: with_filters(query, f)) if f.active() else None  # the filters on the join itself
    p.value = value_totals(session, scope, stage_counts=p.by_stage)
    p.stops = stops_by_reason(session, scope, limit=STOPS_SHOWN)

    # 6. filter menus
    p.options_units = live_business_units(session)
    p.options_owners = owner_names(session, f.owner)
    return p


def incidents_by_mode(session: Session, f: InventoryFilters) -> list[dict]:
    """Incidents of the filtered systems by failure mode: how many, how many open, how many critical."""
    rows = session.execute(with_filters(
        select(Incident.failure_mode, func.count(), _count(Incident.status == IncidentStatus.OPEN),
               _count(Incident.severity == Severity.CRITICAL))
        .select_from(Incident).join(AISystem, AISystem.id == Incident.system_id), f)
        .group_by(Incident.failure_mode)).all()
    out = [{"mode": FailureMode(mode) if mode else None, "total": n, "open": int(o), "critical": int(c)}
           for mode, n, o, c in rows]
    return sorted(out, key=lambda r: (-r["total"], r["mode"] is None, r["mode"].label if r["mode"] else ""))


def after_baseline_counts(p: Portfolio) -> dict[str, int]:
    """Systems held back by what followed the baseline (from the blocker counts already read)."""
    counts = {b["key"]: b["count"] for b in p.blockers}
    return {rule: counts.get(f"rule:{rule}", 0) for rule in AFTER_BASELINE_RULES}


STOPS_SHOWN = 5  # the newest stopped pilots listed with their lessons
AFTER_BASELINE_RULES = ("drift_alert", "incident_critical", "reliability_gate", "value_case")


def _median_days(session: Session, f: InventoryFilters) -> dict:
    """Median days a system stayed in each stage before moving on (completed stays only), per
    stage: PostgreSQL's ``percentile_cont(0.5)`` in one grouped pass; elsewhere a count, then the
    middle row(s) read along the (stage, days_in_stage) index."""
    def stays(*columns):
        return with_filters(select(*columns).join(AISystem, AISystem.id == StageChange.system_id)
                            .where(StageChange.days_in_stage.is_not(None)), f)

    if session.get_bind().dialect.name == "postgresql":  # one pass: the same middle value(s), averaged
        median = func.percentile_cont(0.5).within_group(StageChange.days_in_stage)
        return {stage: (round(float(m), 1), n) for stage, m, n in session.execute(
            stays(StageChange.stage, median, func.count()).where(StageChange.stage.in_(FUNNEL))
            .group_by(StageChange.stage)).all()}
    counts = dict(session.execute(stays(StageChange.stage, func.count()).group_by(StageChange.stage)).all())
    out = {}
    for stage in FUNNEL:
        n = counts.get(stage, 0)
        if not n:
            continue
        middle = list(session.scalars(stays(StageChange.days_in_stage).where(StageChange.stage == stage)
                                      .order_by(StageChange.days_in_stage).offset((n - 1) // 2).limit(2 - n % 2)))
        out[stage] = (round(sum(middle) / len(middle), 1), n)
    return out


def pdf_systems(session: Session, actor: User, f: InventoryFilters, limit: int = PDF_MAX_SYSTEMS) -> tuple[list, int]:
    """The systems the portfolio PDF lists (name, unit, tier, stage, decision, recommendation, N of M
    required controls verified, top blocker),
    at most ``limit``, and how many match in total."""
    require(can_see_portfolio(actor), "The portfolio is for executives, compliance officers and admins.")
    total = session.scalar(with_filters(select(func.count(AISystem.id)), f)) or 0
    rows = session.execute(
        with_filters(select(AISystem.id, AISystem.name, AISystem.business_unit, AISystem.tier, AISystem.stage,
                            SystemState.decision_verdict, SystemState.decision_expires_on, SystemState.recommendation,
                            SystemState.blockers, SystemState.verified_controls, SystemState.required_controls)
                     .outerjoin(SystemState, SystemState.system_id == AISystem.id), f)
        .order_by(func.lower(AISystem.name), AISystem.id).limit(limit)).all()
    systems = []
    for r in rows:
        blocking = [b for b in (r.blockers or []) if b.get("severity") == "blocking"]
        systems.append({"id": r.id, "name": r.name, "unit": r.business_unit, "tier": Tier(r.tier),
                        "stage": Stage(r.stage), "decision": r.decision_verdict,
                        "expires_on": r.decision_expires_on, "recommendation": r.recommendation,
                        "blocking": len(blocking), "first_blocker": blocking[0]["label"] if blocking else None,
                        "verified": r.verified_controls, "required": r.required_controls})
    return systems, total


def describe_filters(f: InventoryFilters, owners: dict[int, str] | None = None) -> str:
    parts = []
    if f.business_unit:
        parts.append("business unit " + ", ".join(f.business_unit))
    if f.tier:
        parts.append("tier " + ", ".join(Tier(t).label for t in f.tier))
    if f.stage:
        parts.append("stage " + ", ".join(Stage(s).label for s in f.stage))
    if f.kind:
        parts.append("kind " + ", ".join(Kind(k).label for k in f.kind))
    if f.owner:
        parts.append("owner " + ", ".join((owners or {}).get(o, f"#{o}") for o in f.owner))
    if f.owner_name:
        parts.append(f"owner name or email containing “{f.owner_name}”")
    return "; ".join(parts) if parts else "all systems"


def generated_at() -> datetime:
    return utcnow()


def portfolio_pdf_html(p: Portfolio, systems: list, total: int, *, author: str, filters_text: str,
                       created: datetime, organisation_name: str = "") -> str:
    """The portfolio PDF as HTML (the PDF templates' own Jinja environment: no links, no Flask);
    ``organisation_name`` (ORGANISATION_NAME) heads it and its footer when set."""
    return pdf_environment().get_template("portfolio/pdf.html").render(
        p=p, systems=systems, total=total, cap=PDF_MAX_SYSTEMS, filters_text=filters_text, author=author,
        organisation=organisation_name, attention_labels=ATTENTION, after_counts=after_baseline_counts(p),
        created=created.isoformat(timespec="seconds"), generated=created, lang="en",
        Stage=Stage, Tier=Tier, Verdict=Verdict)
