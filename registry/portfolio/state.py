"""Keep ``system_states`` (and ``system_blockers``) equal to what ``assess_system`` says now.

Two ways in, proved equal by ``tests/unit/test_portfolio_state.py``:

* ``refresh_state`` runs the authoritative ``assess_system`` for one system.  A session hook
  (``registry.portfolio.hooks``) calls it before every commit for the systems whose facts the
  transaction changed, so every service stays correct without calling it itself.
* ``rebuild_all`` (seeders, ``registry portfolio rebuild``, catalogue changes) gathers the same
  facts for many systems in a few bulk queries and applies the same pure ``recommend``.

Time alone changes a state (evidence turns stale, a due date or re-review date passes):
``valid_until`` is the first such day and ``refresh_due_states`` recomputes rows that reached it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from itertools import chain

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from registry.auth.models import User
from registry.controls.applicability import active_controls, applies
from registry.controls.models import Control, ControlAssessment, Evidence
from registry.db import utcnow
from registry.decisions.models import Decision
from registry.decisions.recommendation import AnswerFact, Blocker, ControlFact, ReadinessFacts, recommend
from registry.decisions.services import DEFAULT_MAX_EVIDENCE_AGE_DAYS, assess_system
from registry.enums import ControlStatus, Question, Stage, Tier
from registry.inventory.models import AISystem, BaselineMetric, SystemDataCategory
from registry.portfolio.models import (
    FUNNEL,
    BlockerCount,
    BlockerDimCount,
    StageChange,
    SystemBlocker,
    SystemState,
)
from registry.readiness.models import ReadinessAnswer

RULE_LABELS = {
    "unacceptable_tier": "Unacceptable risk tier",
    "no_owner": "No active accountable owner",
    "no_baseline": "No measured baseline metric",
    "review_overdue": "Re-review date passed",
    "material_change": "Re-review required after a material change",
}
BATCH = 500


def _control_label(control: Control) -> str:
    title = " ".join(control.title.split())
    return f"{control.ref} — {title if len(title) <= 60 else title[:59].rstrip() + '…'}"


def blocker_group(blocker: Blocker, controls: dict[int, Control]) -> tuple[str, str]:
    """(key, label) of the group a blocker counts under: its question, its control or its rule."""
    kind, _, ref = blocker.target.partition(":")
    if kind == "readiness":
        return f"question:{ref}", f"Readiness: {Question(ref).label}"
    if kind == "control" and ref.isdigit() and int(ref) in controls:
        control = controls[int(ref)]
        return f"control:{control.framework.key}:{control.ref}", f"Control {_control_label(control)}"
    return f"rule:{blocker.rule}", RULE_LABELS.get(blocker.rule, blocker.rule.replace("_", " ").capitalize())


def group_labels(session: Session, keys: Iterable[str]) -> dict[str, str]:
    """Readable labels for blocker group keys (one query for the controls among them)."""
    labels, wanted = {}, {}
    for key in keys:
        kind, _, rest = key.partition(":")
        if kind == "question" and rest in Question.values():
            labels[key] = f"Readiness: {Question(rest).label}"
        elif kind == "rule":
            labels[key] = RULE_LABELS.get(rest, rest.replace("_", " ").capitalize())
        elif kind == "control":
            framework, _, ref = rest.partition(":")
            wanted[(framework, ref)] = key
        else:
            labels[key] = key
    if wanted:
        refs = {ref for _, ref in wanted}
        for control in session.scalars(select(Control).where(Control.ref.in_(refs))):
            key = wanted.get((control.framework.key, control.ref))
            if key:
                labels[key] = f"Control {_control_label(control)}"
    for key in wanted.values():
        labels.setdefault(key, key)
    return labels


def _valid_until(today: date, evidence_dates: Iterable[date], due_dates: Iterable[date],
                 expires_on: date | None, max_age_days: int) -> date | None:
    """The first day after ``today`` on which the same facts give a different recommendation."""
    days = [d + timedelta(days=max_age_days + 1) for d in evidence_dates]
    days += [d + timedelta(days=1) for d in due_dates]
    if expires_on is not None:
        days.append(expires_on + timedelta(days=1))
    future = [d for d in days if d > today]
    return min(future) if future else None


def _state_row(system_id: int, live: bool, facts: ReadinessFacts, decision, controls: dict[int, Control],
               evidence_dates: list[date], due_dates: list[date], max_age_days: int,
               group_cache: dict | None = None, memo_cache: dict | None = None) -> tuple[dict, list[tuple]]:
    group_cache = {} if group_cache is None else group_cache
    memo_cache = {} if memo_cache is None else memo_cache
    # Systems with identical facts get identical results: in bulk, compute each once.
    memo_key = (facts.today, facts.tier, facts.owner_active, facts.measured_baselines > 0, tuple(facts.answers),
                tuple(facts.controls), facts.decision_expires_on, tuple(facts.re_review_reasons))
    memo = memo_cache.get(memo_key)
    if memo is None:
        rec = recommend(facts)
        blockers, groups = [], {}
        for b in rec.blockers:
            cached = group_cache.get((b.target, b.rule))
            if cached is None:
                cached = group_cache[(b.target, b.rule)] = blocker_group(b, controls)
            key, label = cached
            blockers.append({"key": key, "label": label, "rule": b.rule, "severity": b.severity,
                             "message": b.message})
            groups[key] = groups.get(key, False) or b.blocking
        memo = memo_cache[memo_key] = (rec, blockers, groups)
    rec, blockers, groups = memo
    state = {
        "system_id": system_id,
        "recommendation": rec.verdict,
        "decision_id": decision.id if decision else None,
        "decision_verdict": decision.verdict if decision else None,
        "decided_at": decision.decided_at if decision else None,
        "decision_expires_on": decision.expires_on if decision else None,
        "blockers": blockers,
        "stale_evidence": any(b.rule == "stale_evidence" for b in rec.blockers),
        "re_review_required": bool(facts.re_review_reasons),
        "valid_until": _valid_until(facts.today, evidence_dates, due_dates,
                                    decision.expires_on if decision else None, max_age_days),
        "computed_at": utcnow(),
    }
    # (system_id, key, blocking) rows for system_blockers; none for a deleted system
    return state, [(system_id, key, blocking) for key, blocking in groups.items()] if live else []


def compute_state(session: Session, system: AISystem, *, today: date | None = None,
                  max_age_days: int = DEFAULT_MAX_EVIDENCE_AGE_DAYS) -> tuple[dict, list[dict]]:
    """The state row and blocker groups of one system, from the authoritative ``assess_system``."""
    today = today or utcnow().date()
    readiness = assess_system(session, system, today=today, max_age_days=max_age_days)
    controls = {r.control.id: r.control for r in readiness.rows}
    evidence_dates, due_dates = [], []
    for row in readiness.rows:
        if row.required and row.assessment is not None:
            evidence_dates += [e.collected_on for e in row.assessment.evidence]
            if row.status is ControlStatus.IN_PROGRESS and row.assessment.due_on is not None:
                due_dates.append(row.assessment.due_on)
    state, groups = _state_row(system.id, system.deleted_at is None, readiness.facts, readiness.decision, controls,
                               evidence_dates, due_dates, max_age_days)
    history = session.scalars(select(StageChange.stage).where(StageChange.system_id == system.id))
    state["furthest_stage"] = furthest_stage([*history, system.stage])
    return state, groups


def furthest_stage(stages: Iterable) -> Stage | None:
    """The furthest of idea → pilot → production among ``stages`` (None: none of them)."""
    ranks = [FUNNEL.index(Stage(s)) for s in stages if s is not None and Stage(s) in FUNNEL]
    return FUNNEL[max(ranks)] if ranks else None


DIMS = ("business_unit", "tier", "stage", "kind")
DELTA_LIMIT = 200  # above this many systems at once, recount the blocker counts from scratch


def _write(session: Session, ids: list[int], states: list[dict], groups: list[tuple]) -> None:
    """Replace the states and blocker rows of ``ids``; keep the blocker counts (by deltas for a
    few systems; a bulk caller recounts them with ``recount_blockers`` afterwards)."""
    dims = {r[0]: tuple(r[1:]) for r in session.execute(
        select(AISystem.id, *[getattr(AISystem, d) for d in DIMS]).where(AISystem.id.in_(ids)))}
    for state in states:
        state.update(zip(DIMS, dims[state["system_id"]], strict=True))
    if len(ids) <= DELTA_LIMIT:
        delta: dict[tuple, int] = defaultdict(int)
        for row in session.execute(
                select(SystemBlocker.key, *[getattr(SystemState, d) for d in DIMS])
                .join(SystemState, SystemState.system_id == SystemBlocker.system_id)
                .where(SystemBlocker.system_id.in_(ids), SystemBlocker.blocking.is_(True))):
            delta[tuple(row)] -= 1
        for system_id, key, blocking in groups:
            if blocking:
                delta[(key, *dims[system_id])] += 1
        _apply_counts(session, {k: d for k, d in delta.items() if d})
    session.execute(delete(SystemBlocker).where(SystemBlocker.system_id.in_(ids)))
    session.execute(delete(SystemState).where(SystemState.system_id.in_(ids)))
    if states:
        session.execute(SystemState.__table__.insert(), states)
    if groups:
        # Plain DB-API executemany: hundreds of thousands of small rows at 10,000 systems.
        conn = session.connection()
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(
            f"INSERT INTO system_blockers (system_id, key, blocking) VALUES ({mark}, {mark}, {mark})", groups)


def _apply_counts(session: Session, delta: dict[tuple, int]) -> None:
    """Add ``delta`` ((key, unit, tier, stage, kind) → change) to both count tables."""
    by_key: dict[str, int] = defaultdict(int)
    for (key, *_dims), d in delta.items():
        by_key[key] += d
    _upsert(session, BlockerCount, ("key",), {(k,): d for k, d in by_key.items() if d})
    _upsert(session, BlockerDimCount, ("key", *DIMS), delta)


def _upsert(session: Session, model, columns: tuple[str, ...], delta: dict[tuple, int]) -> None:
    if not delta:
        return
    table = model.__table__
    keys = list(delta)
    existing = set()
    for start in range(0, len(keys), 200):
        chunk = keys[start:start + 200]
        # narrowed on every column, so a key's rows for other units, tiers… are not read
        where = [table.c[c].in_({k[i] for k in chunk}) for i, c in enumerate(columns)]
        existing |= {tuple(r) for r in session.execute(select(*[table.c[c] for c in columns]).where(*where))}
    for k, d in delta.items():
        where = [table.c[c] == v for c, v in zip(columns, k, strict=True)]
        if k in existing:
            session.execute(table.update().where(*where).values(systems=table.c.systems + d))
        else:
            session.execute(table.insert().values(**dict(zip(columns, k, strict=True)), systems=d))


def recount_blockers(session: Session) -> None:
    """Both blocker count tables from scratch, from ``system_blockers`` (deleted systems have none)."""
    session.execute(delete(BlockerCount))
    session.execute(delete(BlockerDimCount))
    blocking = SystemBlocker.blocking.is_(True)
    session.execute(BlockerCount.__table__.insert().from_select(
        ["key", "systems"], select(SystemBlocker.key, func.count()).where(blocking).group_by(SystemBlocker.key)))
    dims = [getattr(SystemState, d) for d in DIMS]
    session.execute(BlockerDimCount.__table__.insert().from_select(
        ["key", *DIMS, "systems"],
        select(SystemBlocker.key, *dims, func.count())
        .join(SystemState, SystemState.system_id == SystemBlocker.system_id).where(blocking)
        .group_by(SystemBlocker.key, *dims)))


def refresh_state(session: Session, system_id: int, today: date | None = None) -> None:
    """Recompute one system's state in the caller's transaction (no-op for an unknown id)."""
    system = session.get(AISystem, system_id)
    if system is None:
        return
    state, groups = compute_state(session, system, today=today)
    session.flush()
    _write(session, [system_id], [state], groups)


def _due_ids(today: date):
    """Systems whose state time has changed by ``today``, or that have none yet (rows added
    before migration 0006 or by bulk inserts)."""
    missing = select(AISystem.id).where(~select(SystemState.system_id)
                                        .where(SystemState.system_id == AISystem.id).exists())
    return select(SystemState.system_id).where(SystemState.valid_until <= today).union(missing)


def refresh_due_states(session: Session, today: date) -> int:
    """Recompute the states that the passing of time has changed by ``today``; return how many.
    Called before the dashboard aggregates; usually touches no rows."""
    ids = sorted(session.scalars(_due_ids(today)))
    if ids:
        refresh_many(session, ids, today=today)
    return len(ids)


def due_count(session: Session, today: date) -> int:
    """Whether ``refresh_due_states`` has anything to do (a cheap read: an index probe and two
    counts; a state row cannot outlive its system, so equal counts mean none is missing)."""
    if session.scalar(select(SystemState.system_id).where(SystemState.valid_until <= today).limit(1)) is not None:
        return 1
    systems = session.scalar(select(func.count()).select_from(AISystem)) or 0
    states = session.scalar(select(func.count()).select_from(SystemState)) or 0
    return systems - states


def rebuild_all(session: Session, today: date | None = None) -> int:
    """Recompute every system's state in batches (bulk queries, no per-system query); return the count."""
    ids = list(session.scalars(select(AISystem.id).order_by(AISystem.id)))
    refresh_many(session, ids, today=today)
    recount_blockers(session)  # whatever the counts held before
    return len(ids)


def refresh_many(session: Session, ids: list[int], *, today: date | None = None,
                 max_age_days: int = DEFAULT_MAX_EVIDENCE_AGE_DAYS) -> None:
    """Bulk equivalent of ``refresh_state`` for many systems: a fixed number of queries per batch."""
    today = today or utcnow().date()
    session.flush()
    controls = active_controls(session)
    by_id = {c.id: c for c in controls}
    group_cache: dict = {}
    required_cache: dict = {}
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        states, groups = [], []
        memo: dict = {}  # per batch, to bound memory
        stages = defaultdict(list)
        for sid, stage in chain(
                session.execute(select(StageChange.system_id, StageChange.stage).where(StageChange.system_id.in_(batch))),
                session.execute(select(AISystem.id, AISystem.stage).where(AISystem.id.in_(batch)))):
            stages[sid].append(stage)
        for system_id, live, facts, decision, evidence_dates, due_dates in _bulk_facts(
                session, batch, controls, today, max_age_days, required_cache):
            state, g = _state_row(system_id, live, facts, decision, by_id, evidence_dates, due_dates, max_age_days,
                                  group_cache, memo)
            state["furthest_stage"] = furthest_stage(stages[system_id])
            states.append(state)
            groups += g
        _write(session, batch, states, groups)
    if len(ids) > DELTA_LIMIT:  # _write skipped the deltas
        recount_blockers(session)


def _bulk_facts(session: Session, ids: list[int], controls: list[Control], today: date, max_age_days: int,
                required_cache: dict):
    """The facts ``assess_system`` gathers, for a batch of systems, in seven queries.
    ``required_cache`` remembers the required controls per (tier, kind, data) profile."""
    systems = session.execute(
        select(AISystem.id, AISystem.deleted_at, AISystem.tier, AISystem.kind, AISystem.re_review_required_at,
               AISystem.re_review_reasons, User.is_active)
        .outerjoin(User, User.id == AISystem.accountable_owner_id)
        .where(AISystem.id.in_(ids))
    ).all()
    data = defaultdict(list)
    for sid, cat in session.execute(select(SystemDataCategory.system_id, SystemDataCategory.category)
                                    .where(SystemDataCategory.system_id.in_(ids))):
        data[sid].append(cat.value)
    baselines = dict(session.execute(
        select(BaselineMetric.system_id, func.count())
        .where(BaselineMetric.system_id.in_(ids), BaselineMetric.baseline_value.is_not(None))
        .group_by(BaselineMetric.system_id)).all())
    answers = defaultdict(list)
    for sid, question, status, comment in session.execute(
            select(ReadinessAnswer.system_id, ReadinessAnswer.question, ReadinessAnswer.status,
                   ReadinessAnswer.review_comment).where(ReadinessAnswer.system_id.in_(ids))):
        answers[sid].append(AnswerFact(question, status, comment))
    assessments: dict[tuple[int, int], tuple] = {}
    by_assessment: dict[int, tuple[int, int]] = {}
    for aid, sid, cid, status, due_on in session.execute(
            select(ControlAssessment.id, ControlAssessment.system_id, ControlAssessment.control_id,
                   ControlAssessment.status, ControlAssessment.due_on).where(ControlAssessment.system_id.in_(ids))):
        assessments[(sid, cid)] = (status, due_on)
        by_assessment[aid] = (sid, cid)
    evidence = defaultdict(list)
    for aid, collected_on in session.execute(
            select(Evidence.assessment_id, Evidence.collected_on)
            .join(ControlAssessment, ControlAssessment.id == Evidence.assessment_id)
            .where(ControlAssessment.system_id.in_(ids), Evidence.removed_at.is_(None))):
        evidence[by_assessment[aid]].append(collected_on)
    decisions = {}
    for d in session.execute(
            select(Decision.id, Decision.system_id, Decision.verdict, Decision.decided_at, Decision.expires_on)
            .where(Decision.system_id.in_(ids)).order_by(Decision.decided_at, Decision.id)):
        decisions[d.system_id] = d  # the last one wins: the latest decision, as latest_decision orders
    untouched: dict[int, ControlFact] = required_cache.setdefault("untouched", {})
    for s in systems:
        tier = Tier(s.tier)
        facts_controls, evidence_dates, due_dates = [], [], []
        profile = (tier, s.kind, tuple(sorted(data[s.id])))
        required = required_cache.get(profile)
        if required is None:
            required = required_cache[profile] = [c for c in controls if applies(c, tier, s.kind, data[s.id])]
        for control in required:
            assessed = assessments.get((s.id, control.id))
            dates = evidence.get((s.id, control.id), [])
            if assessed is None and not dates:  # untouched: one shared fact per control
                fact = untouched.get(control.id)
                if fact is None:
                    fact = untouched[control.id] = ControlFact(control.id, control.ref, control.title,
                                                               ControlStatus.NOT_STARTED, None, 0, 0)
                facts_controls.append(fact)
                continue
            status, due_on = assessed or (ControlStatus.NOT_STARTED, None)
            stale = sum(1 for d in dates if (today - d).days > max_age_days)
            facts_controls.append(ControlFact(control.id, control.ref, control.title, status, due_on, stale,
                                              len(dates) - stale))
            evidence_dates += dates
            if status is ControlStatus.IN_PROGRESS and due_on is not None:
                due_dates.append(due_on)
        decision = decisions.get(s.id)
        facts = ReadinessFacts(
            tier=tier,
            owner_active=bool(s.is_active),
            measured_baselines=baselines.get(s.id, 0),
            answers=answers[s.id],
            controls=facts_controls,
            today=today,
            decision_expires_on=decision.expires_on if decision else None,
            re_review_reasons=list(s.re_review_reasons or []) if s.re_review_required_at else [],
        )
        yield s.id, s.deleted_at is None, facts, decision, evidence_dates, due_dates
