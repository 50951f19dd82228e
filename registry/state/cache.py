"""The state cache: every system's recommendation, current decision and open items, kept current.

One way in: ``refresh_states(session, ids)`` gathers the facts of ``ids`` with the one loader
(``registry.state.facts.load_facts``), applies the go / no-go rules and replaces their rows
in ``system_states`` and ``system_blockers``, keeping the blocker counts by deltas (or, for
many systems at once, recounting them).  ``registry.state.hooks`` calls it before every commit
for the systems the transaction touched; ``rebuild_all`` recomputes everything (seeders,
``registry portfolio rebuild``, catalogue changes).

Time alone changes a state (evidence turns stale, a due date or re-review date passes):
``valid_until`` is the first such day and ``refresh_due_states`` recomputes rows that reached it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from itertools import chain

from sqlalchemy import Text, bindparam, delete, exists, func, insert, or_, select
from sqlalchemy.orm import Session

from registry.controls.applicability import CatalogueControl
from registry.controls.models import Control
from registry.controls.staleness import turns_stale_on
from registry.db import evidence_max_age_days, utcnow
from registry.decisions.recommendation import Blocker, recommend
from registry.enums import FUNNEL, Question, Stage
from registry.inventory.models import AISystem, StageChange
from registry.state.facts import FactCache, SystemFacts, among, load_facts
from registry.state.models import BlockerCount, BlockerDimCount, SystemBlocker, SystemState

RULE_LABELS = {
    "unacceptable_tier": "Unacceptable risk tier",
    "no_owner": "No active accountable owner",
    "no_baseline": "No measured baseline metric",
    "review_overdue": "Re-review date passed",
    "material_change": "Re-review required after a material change",
    "controls_unverified": "Required controls not yet verified",
    "drift_alert": "Open drift alert",
    "incident_critical": "Open critical incident",
    "incident_major": "Open major incident",
    "reliability_gate": "Release gate (pass^k) not met",
    "value_case": "Value case lacks run budget or maintenance team",
}
BATCH = 500


def _control_label(control: Control) -> str:
    title = " ".join(control.title.split())
    return f"{control.ref} — {title if len(title) <= 60 else title[:59].rstrip() + '…'}"


def blocker_group(blocker: Blocker, controls: dict[int, CatalogueControl]) -> tuple[str, str]:
    """(key, label) of the group a blocker counts under: its question, its control or its rule."""
    kind, _, ref = blocker.target.partition(":")
    if kind == "readiness":
        return f"question:{ref}", f"Readiness: {Question(ref).label}"
    if kind == "control" and ref.isdigit() and int(ref) in controls:
        control = controls[int(ref)]
        return f"control:{control.framework_key}:{control.ref}", f"Control {_control_label(control)}"
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
    days = [turns_stale_on(d, max_age_days) for d in evidence_dates]
    days += [d + timedelta(days=1) for d in due_dates if d < date.max]
    if expires_on is not None and expires_on < date.max:
        days.append(expires_on + timedelta(days=1))
    future = [d for d in days if d > today]
    return min(future) if future else None


def state_row(loaded: SystemFacts, controls: dict[int, CatalogueControl], max_age_days: int,
              group_cache: dict | None = None, memo_cache: dict | None = None) -> tuple[dict, list[tuple]]:
    """The ``system_states`` row (without the dimensions and funnel stage) and the
    ``system_blockers`` rows of one system, from its loaded facts."""
    group_cache = {} if group_cache is None else group_cache
    memo_cache = {} if memo_cache is None else memo_cache
    facts, decision, system_id = loaded.facts, loaded.decision, loaded.system_id
    # Systems with identical facts get identical results: in bulk, compute each once.
    memo_key = (facts.today, facts.tier, facts.owner_active, facts.measured_baselines > 0, tuple(facts.answers),
                loaded.profile_key, loaded.own_controls, facts.decision_expires_on, tuple(facts.re_review_reasons),
                facts.drift_alerts, facts.incidents, facts.gate, facts.value_gaps)
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
                             "message": b.message, "target": b.target})
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
        "required_controls": rec.required_controls,
        "verified_controls": rec.verified_controls,
        "re_review_required": bool(facts.re_review_reasons),
        "valid_until": _valid_until(facts.today, loaded.evidence_dates, loaded.due_dates,
                                    decision.expires_on if decision else None, max_age_days),
        "evidence_max_age_days": max_age_days,
        "computed_at": utcnow(),
    }
    # (system_id, key, blocking) rows for system_blockers; none for a deleted system
    return state, [(system_id, key, blocking) for key, blocking in groups.items()] if loaded.live else []


def compute_state(session: Session, system_id: int, *, today: date | None = None) -> tuple[dict, list[tuple]]:
    """One system's state row and blocker rows, computed afresh (what ``refresh_states`` writes)."""
    today = today or utcnow().date()
    cache = FactCache.load(session)
    states, groups = _compute(session, [system_id], today, evidence_max_age_days(session), cache, {})
    return states[0], groups


def _compute(session: Session, ids: list[int], today: date, max_age_days: int, cache: FactCache,
             group_cache: dict) -> tuple[list[dict], list[tuple]]:
    """The state rows (without the dimensions) and blocker rows of ``ids``, in a fixed number of queries."""
    by_id = {c.id: c for c in cache.controls}
    stages = defaultdict(list)
    for sid, stage in chain(
            session.execute(select(StageChange.system_id, StageChange.stage).where(among(session, StageChange.system_id, ids))),
            session.execute(select(AISystem.id, AISystem.stage).where(among(session, AISystem.id, ids)))):
        stages[sid].append(stage)
    states, groups, memo = [], [], {}  # memo per call, to bound memory
    for system_id, facts in load_facts(session, ids, today=today, max_age_days=max_age_days, cache=cache).items():
        state, g = state_row(facts, by_id, max_age_days, group_cache, memo)
        state["furthest_stage"] = furthest_stage(stages[system_id])
        states.append(state)
        groups += g
    return states, groups


def furthest_stage(stages: Iterable) -> Stage | None:
    """The furthest of idea → pilot → production among ``stages`` (None: none of them)."""
    ranks = [FUNNEL.index(Stage(s)) for s in stages if s is not None and Stage(s) in FUNNEL]
    return FUNNEL[max(ranks)] if ranks else None


DIMS = ("business_unit", "tier", "stage", "kind")
DELTA_LIMIT = 200  # above this many changed counts (or systems), work in bulk rather than row by row


def _write(session: Session, ids: list[int], states: list[dict], groups: list[tuple], delta: dict | None) -> None:
    """Replace the states and blocker rows of ``ids``; add the change in blocking rows, by
    (key, unit, tier, stage, kind), to ``delta`` (None: the caller recounts from scratch)."""
    dims = {r[0]: tuple(r[1:]) for r in session.execute(
        select(AISystem.id, *[getattr(AISystem, d) for d in DIMS]).where(among(session, AISystem.id, ids)))}
    for state in states:
        state.update(zip(DIMS, dims[state["system_id"]], strict=True))
    if delta is not None:
        for row in session.execute(
                select(SystemBlocker.key, *[getattr(SystemState, d) for d in DIMS])
                .join(SystemState, SystemState.system_id == SystemBlocker.system_id)
                .where(among(session, SystemBlocker.system_id, ids), SystemBlocker.blocking.is_(True))):
            delta[tuple(row)] -= 1
        for system_id, key, blocking in groups:
            if blocking:
                delta[(key, *dims[system_id])] += 1
    session.execute(delete(SystemBlocker).where(among(session, SystemBlocker.system_id, ids)))
    session.execute(delete(SystemState).where(among(session, SystemState.system_id, ids)))
    if len(states) > DELTA_LIMIT:
        _insert_states_in_bulk(session, states)
    elif states:
        session.execute(SystemState.__table__.insert(), states)
    if groups:
        _insert_blockers(session, groups)


def _insert_blockers(session: Session, groups: list[tuple]) -> None:
    """Hundreds of thousands of small rows at 10,000 systems (millions at 100,000): PostgreSQL's
    COPY in text format, written in large chunks, else a plain DB-API executemany (no ORM, no
    per-row type processing)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql" and len(groups) > DELTA_LIMIT:
        keys: dict[str, str] = {}
        with conn.connection.driver_connection.cursor() as cursor, \
                cursor.copy("COPY system_blockers (system_id, key, blocking) FROM STDIN") as copy:
            for start in range(0, len(groups), 50_000):
                lines = []
                for system_id, key, blocking in groups[start:start + 50_000]:
                    encoded = keys.get(key)
                    if encoded is None:
                        encoded = keys[key] = _copy_text(key)
                    lines.append(f"{system_id}\t{encoded}\t{'t' if blocking else 'f'}\n")
                copy.write("".join(lines))
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(f"INSERT INTO system_blockers (system_id, key, blocking) VALUES ({mark}, {mark}, {mark})",
                         groups)


def _copy_text(value) -> str:
    """A value in PostgreSQL's COPY text format (None, bools, numbers, dates, enums and strings)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, date):  # and datetimes
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    return str(getattr(value, "value", value)).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _insert_states_in_bulk(session: Session, states: list[dict]) -> None:
    """Insert many state rows with each distinct blocker list serialised to JSON once: systems
    with the same facts share one list object (``state_row``'s memo), and serialising half a
    million blocker dicts one row at a time was a tenth of seeding 10,000 systems.  PostgreSQL:
    COPY in text format."""
    encoded: dict[int, str] = {}
    rows = []
    for state in states:
        blockers = state["blockers"]
        text = encoded.get(id(blockers))
        if text is None:
            text = encoded[id(blockers)] = json.dumps(blockers)
        rows.append({**state, "blockers": text})
    columns = [c for c in SystemState.__table__.columns if c.name != "blockers"]
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        names = [c.name for c in columns]
        with conn.connection.driver_connection.cursor() as cursor, \
                cursor.copy(f"COPY system_states ({', '.join(names)}, blockers) FROM STDIN") as copy:
            copy.write("".join("\t".join([*(_copy_text(row[n]) for n in names), _copy_text(row["blockers"])]) + "\n"
                               for row in rows))
        return
    value = bindparam("blockers", type_=Text)
    stmt = insert(SystemState.__table__).values({**{c.name: bindparam(c.name, type_=c.type) for c in columns},
                                                 "blockers": value})
    session.execute(stmt, rows)


def _apply_counts(session: Session, delta: dict[tuple, int]) -> None:
    """Add ``delta`` ((key, unit, tier, stage, kind) → change) to both count tables: row by row
    for a few changes, else by merging in memory and rewriting the tables (seeding, imports)."""
    delta = {k: d for k, d in delta.items() if d}
    by_key: dict[tuple, int] = defaultdict(int)
    for (key, *_dims), d in delta.items():
        by_key[(key,)] += d
    by_key = {k: d for k, d in by_key.items() if d}
    if len(delta) > DELTA_LIMIT:
        _merge_counts(session, BlockerCount, ("key",), by_key)
        _merge_counts(session, BlockerDimCount, ("key", *DIMS), delta)
    else:
        _upsert(session, BlockerCount, ("key",), by_key)
        _upsert(session, BlockerDimCount, ("key", *DIMS), delta)


def _merge_counts(session: Session, model, columns: tuple[str, ...], delta: dict[tuple, int]) -> None:
    table = model.__table__
    counts = {tuple(r[:-1]): r[-1] for r in session.execute(select(*[table.c[c] for c in columns], table.c.systems))}
    for k, d in delta.items():
        counts[k] = counts.get(k, 0) + d
    session.execute(delete(model))
    rows = [{**dict(zip(columns, k, strict=True)), "systems": n} for k, n in counts.items() if n]
    if rows:
        session.execute(insert(table), rows)


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


def out_of_date(today: date, max_age_days: int):
    """SQL: a state row that time has changed by ``today``, or computed under another evidence age."""
    return or_(SystemState.valid_until <= today, SystemState.evidence_max_age_days < max_age_days,
               SystemState.evidence_max_age_days > max_age_days, SystemState.evidence_max_age_days.is_(None))


def _due_ids(today: date, max_age_days: int):
    """Systems whose state is out of date, or that have none yet (rows added before migration
    0006 or by bulk inserts)."""
    missing = select(AISystem.id).where(~select(SystemState.system_id)
                                        .where(SystemState.system_id == AISystem.id).exists())
    return select(SystemState.system_id).where(out_of_date(today, max_age_days)).union(missing)


def refresh_due_states(session: Session, today: date) -> int:
    """Recompute the states that the passing of time has changed by ``today``; return how many.
    Called before the dashboard aggregates; usually touches no rows."""
    ids = sorted(session.scalars(_due_ids(today, evidence_max_age_days(session))))
    if ids:
        refresh_states(session, ids, today=today)
    return len(ids)


def due_count(session: Session, today: date) -> int:
    """Whether ``refresh_due_states`` has anything to do: one cheap read (index probes for rows
    out of date, and two counts; a state row cannot outlive its system, so equal counts mean
    none is missing)."""
    max_age = evidence_max_age_days(session)
    age = SystemState.evidence_max_age_days
    probes = [exists().where(condition) for condition in
              (SystemState.valid_until <= today, age < max_age, age > max_age, age.is_(None))]
    row = session.execute(select(
        or_(*probes), select(func.count()).select_from(AISystem).scalar_subquery(),
        select(func.count()).select_from(SystemState).scalar_subquery())).one()
    return 1 if row[0] else (row[1] or 0) - (row[2] or 0)


def rebuild_all(session: Session, today: date | None = None) -> int:
    """Recompute every system's state in batches (bulk queries, no per-system query); return the count."""
    ids = list(session.scalars(select(AISystem.id).order_by(AISystem.id)))
    refresh_states(session, ids, today=today, recount=True)  # whatever the counts held before
    return len(ids)


def refresh_states(session: Session, ids: list[int], *, today: date | None = None, recount: bool = False) -> None:
    """Recompute the states of ``ids`` in the caller's transaction: a fixed number of queries per
    batch of BATCH systems (unknown ids are skipped).  The blocker counts follow by deltas, or
    with ``recount`` are counted afresh from every system's rows."""
    today = today or utcnow().date()
    max_age_days = evidence_max_age_days(session)
    session.flush()
    cache = FactCache.load(session)
    group_cache: dict = {}
    delta: dict | None = None if recount else defaultdict(int)
    for start in range(0, len(ids), BATCH):
        states, groups = _compute(session, ids[start:start + BATCH], today, max_age_days, cache, group_cache)
        _write(session, [state["system_id"] for state in states], states, groups, delta)
    if recount:
        recount_blockers(session)
    else:
        _apply_counts(session, delta)
