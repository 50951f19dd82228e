"""Recording observations of baseline metrics, setting drift rules, resolving drift alerts.

Plain functions of (session, actor, …); the caller commits.  ``actor`` None is the system itself
(the demo loader, a script): no permission check, audited without a person.  Observations are
written in bulk with Core (thousands per call, one audit event per system and call); the drift
alerts they open go through the ORM, so the state hooks refresh the systems' cached state.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, selectinload

from registry.audit.services import record_event, record_events_bulk
from registry.auth.models import User
from registry.auth.permissions import can_edit_system, has_role, require
from registry.db import utcnow
from registry.enums import AlertStatus, BandKind, DriftReference, ObservationSource, Role
from registry.errors import NotFound, ValidationFailed
from registry.inventory.models import AISystem, BaselineMetric
from registry.inventory.schemas import flatten_errors
from registry.monitoring import drift
from registry.monitoring.models import DriftAlert, DriftRule, Observation
from registry.monitoring.schemas import MAX_BATCH, DriftRuleSchema, ObservationSchema, ResolveSchema
from registry.templating import format_number

CHUNK = 900
EDIT_MESSAGE = "Only the system's owners (or an admin) can record its observations and drift rules."


def can_resolve_alert(user, system: AISystem) -> bool:
    """Resolve a drift alert: the system's owners, compliance officers and admins."""
    return has_role(user, {Role.ADMIN, Role.COMPLIANCE}) or can_edit_system(user, system)


def _systems(session: Session, ids) -> dict[int, AISystem]:
    found = session.scalars(select(AISystem).where(AISystem.id.in_(list(ids)), AISystem.deleted_at.is_(None))
                            .options(selectinload(AISystem.metrics)))
    return {s.id: s for s in found}


def _system(session: Session, system_id: int) -> AISystem:
    system = _systems(session, [system_id]).get(system_id)
    if system is None:
        raise NotFound(f"There is no AI system #{system_id}.")
    return system


def _metric(system: AISystem, metric_id: int) -> BaselineMetric:
    metric = next((m for m in system.metrics if m.id == metric_id), None)
    if metric is None:
        raise NotFound("There is no such metric on this system.")
    return metric


# -- observations --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    metric: BaselineMetric
    observed_at: datetime
    value: float
    note: str


def _resolve_metric(data: dict, systems: dict[int, AISystem], system_id: int | None,
                    by_id: dict[int, BaselineMetric]) -> tuple[BaselineMetric | None, str | None]:
    metric_id, name = data.get("metric_id"), (data.get("metric") or "").strip()
    if metric_id is None and name.isdigit():
        metric_id, name = int(name), ""
    if metric_id is not None:
        metric = by_id.get(metric_id)
        if metric is None:
            where = "on this system" if system_id is not None else "that you may record"
            return None, f"There is no metric #{metric_id} {where}."
        if name and name.casefold() != metric.name.strip().casefold():
            return None, f"Metric #{metric_id} is called “{metric.name}”, not “{name}”."
        return metric, None
    if system_id is None:
        return None, "Name the metric by its id (metric_id): names are only unique within a system."
    matches = [m for m in systems[system_id].metrics if m.name.strip().casefold() == name.casefold()]
    if not matches:
        known = ", ".join(f"“{m.name}”" for m in systems[system_id].metrics) or "none yet"
        return None, f"This system has no metric called “{name}” (its metrics: {known})."
    if len(matches) > 1:
        return None, f"Several metrics are called “{name}”: name it by its id ({', '.join(str(m.id) for m in matches)})."
    return matches[0], None


def validate_rows(session: Session, actor, system_id: int | None, rows: list, *, now: datetime | None = None,
                  prefix: str = "observations", first: int = 0) -> list[Row]:
    """Every row checked before anything is written; ``ValidationFailed`` (422) names each bad row
    as ``{prefix}.{index + first}.{field}``.  ``system_id`` None: rows name metrics by id, of any
    systems the actor may edit."""
    if not isinstance(rows, list) or not rows:
        raise ValidationFailed("Send at least one observation.", errors={prefix: ["Send at least one observation."]})
    if len(rows) > MAX_BATCH:
        message = f"At most {MAX_BATCH:,} observations at once: split the batch."
        raise ValidationFailed(message, errors={prefix: [message]})
    schema = ObservationSchema(now=now)
    loaded, errors = [], {}
    for index, raw in enumerate(rows):
        try:
            loaded.append(schema.load_row(raw if isinstance(raw, dict) else {"": raw}))
        except ValidationError as err:
            loaded.append(None)
            messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
            errors.update(flatten_errors(messages, f"{prefix}.{index + first}."))
    if system_id is not None:
        systems = {system_id: _system(session, system_id)}
    else:
        ids = {d["metric_id"] for d in loaded if d and d.get("metric_id") is not None}
        owners = dict(session.execute(select(BaselineMetric.id, BaselineMetric.system_id)
                                      .where(BaselineMetric.id.in_(ids))).all()) if ids else {}
        systems = _systems(session, set(owners.values())) if owners else {}
    if actor is not None:
        refused = [s for s in systems.values() if not can_edit_system(actor, s)]
        if system_id is not None and refused:
            require(False, EDIT_MESSAGE)
        for s in refused:
            systems.pop(s.id)
    by_id = {m.id: m for s in systems.values() for m in s.metrics}
    out: list[Row] = []
    seen: dict[tuple[int, datetime], tuple[float, int]] = {}
    for index, data in enumerate(loaded):
        if data is None:
            continue
        where = f"{prefix}.{index + first}"
        metric, problem = _resolve_metric(data, systems, system_id, by_id)
        if problem:
            errors.setdefault(f"{where}.metric", []).append(problem)
            continue
        key = (metric.id, data["observed_at"])
        if key in seen:
            value, at = seen[key]
            if value != data["value"]:
                errors.setdefault(f"{where}.observed_at", []).append(
                    f"Also sent as {prefix} {at} with another value ({format_number(value)}): send one value per "
                    "metric and moment.")
            continue
        seen[key] = (data["value"], index + first)
        out.append(Row(metric, data["observed_at"], data["value"], (data.get("note") or "").strip()))
    if errors:
        bad = len({k.rsplit(".", 1)[0] for k in errors if k.count(".") >= 2})
        raise ValidationFailed(f"{bad or 'Some'} of the {len(rows):,} observations need attention; nothing was recorded.",
                               errors=errors)
    return out


def record_observations(session: Session, actor: User | None, system_id: int | None, rows: list,
                        source: ObservationSource | str, *, now: datetime | None = None,
                        prefix: str = "observations", first: int = 0) -> dict:
    """Record ``rows`` ({metric_id or metric, value, observed_at, note}) all or nothing, then judge
    drift for the metrics touched.  A (metric, moment) already recorded with the same value is
    unchanged; with another value it is corrected.  Returns {created, unchanged, corrected,
    alerts_opened}.  ``system_id`` None: rows of several systems, each metric by id."""
    source = ObservationSource(source)
    checked = validate_rows(session, actor, system_id, rows, now=now, prefix=prefix, first=first)
    at = now or utcnow()
    actor_id = actor.id if actor is not None else None
    # Writers to the same systems take turns (PostgreSQL row locks, in id order; SQLite's writer holds
    # the database): a retried batch arriving while the first still runs finds its rows, not a
    # unique-key error, and two batches never open two alerts on one metric.
    locked = sorted({r.metric.system_id for r in checked})
    for start in range(0, len(locked), CHUNK):
        session.execute(select(AISystem.id).where(AISystem.id.in_(locked[start:start + CHUNK]))
                        .order_by(AISystem.id).with_for_update())
    existing: dict[tuple[int, datetime], tuple[int, float]] = {}
    metric_ids = sorted({r.metric.id for r in checked})
    low, high = min(r.observed_at for r in checked), max(r.observed_at for r in checked)
    for start in range(0, len(metric_ids), CHUNK):
        for obs_id, metric_id, observed_at, value in session.execute(
                select(Observation.id, Observation.metric_id, Observation.observed_at, Observation.value)
                .where(Observation.metric_id.in_(metric_ids[start:start + CHUNK]),
                       Observation.observed_at.between(low, high))):
            existing[(metric_id, observed_at)] = (obs_id, value)
    row_metric = {obs_id: metric_id for (metric_id, _at), (obs_id, _v) in existing.items()}
    inserts, corrections = [], []
    counts: dict[int, dict] = defaultdict(lambda: {"created": 0, "unchanged": 0, "corrected": 0, "metrics": set()})
    for row in checked:
        tally = counts[row.metric.system_id]
        tally["metrics"].add(row.metric.name)
        found = existing.get((row.metric.id, row.observed_at))
        if found is None:
            inserts.append({"metric_id": row.metric.id, "system_id": row.metric.system_id, "observed_at": row.observed_at,
                            "value": row.value, "note": row.note, "source": source, "recorded_at": at,
                            "recorded_by_id": actor_id})
            tally["created"] += 1
        elif found[1] == row.value:
            tally["unchanged"] += 1
        else:
            corrections.append({"_id": found[0], "value": row.value, "note": row.note, "source": source,
                                "recorded_at": at, "recorded_by_id": actor_id})
            tally["corrected"] += 1
    if inserts:
        session.execute(Observation.__table__.insert(), inserts)
    if corrections:
        table = Observation.__table__
        session.execute(update(table).where(table.c.id == bindparam("_id")).values(
            value=bindparam("value"), note=bindparam("note"), source=bindparam("source"),
            recorded_at=bindparam("recorded_at"), recorded_by_id=bindparam("recorded_by_id"))
            .execution_options(synchronize_session=False), corrections)
    events = []
    for sid, tally in sorted(counts.items()):
        metrics = sorted(tally.pop("metrics"))
        summary = (f"Recorded observations of {', '.join(metrics)} ({source.label}): {tally['created']} new, "
                   f"{tally['corrected']} corrected, {tally['unchanged']} unchanged")
        events.append({"action": "observations.record", "entity_type": "system", "entity_id": sid, "system_id": sid,
                       "summary": summary[:1000], "at": now, "after": {**tally, "metrics": metrics,
                                                                       "source": source.value}})
    if len(events) == 1:
        e = events[0]
        record_event(session, actor, e["action"], e["entity_type"], e["entity_id"], system_id=e["system_id"],
                     summary=e["summary"], after=e["after"], at=now)
    else:
        record_events_bulk(session, actor, events, checkpoint="bulk")
    changed = {r["metric_id"] for r in inserts} | {row_metric[c["_id"]] for c in corrections}
    outcome = drift.evaluate(session, changed, actor=actor, now=now)
    totals = {k: sum(t[k] for t in counts.values()) for k in ("created", "unchanged", "corrected")}
    return {**totals, "alerts_opened": len(outcome.opened)}


def observations_page(session: Session, system_id: int, *, metric_id: int | None = None,
                      since: datetime | None = None, after_id: int | None = None, limit: int = 1000):
    """A page of a system's observations in id order (stable while new ones arrive) and the next cursor."""
    query = select(Observation).where(Observation.system_id == system_id)
    if metric_id is not None:
        query = query.where(Observation.metric_id == metric_id)
    if since is not None:
        query = query.where(Observation.observed_at >= since)
    if after_id is not None:
        query = query.where(Observation.id > after_id)
    items = list(session.scalars(query.order_by(Observation.id).limit(limit + 1)))
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].id if more else None)


def recent_series(session: Session, system_id: int, latest: int) -> dict[int, tuple[list[tuple[datetime, float]], int]]:
    """Each metric's newest ``latest`` observations in time order, and how many older ones there
    are: {metric_id: (points, earlier)}.  The window is cut in SQL, so a metric observed every minute
    for years costs the page what ``latest`` points cost."""
    ranked = (select(Observation.metric_id, Observation.observed_at, Observation.value,
                     func.row_number().over(partition_by=Observation.metric_id,
                                            order_by=Observation.observed_at.desc()).label("newest"),
                     func.count().over(partition_by=Observation.metric_id).label("total"))
              .where(Observation.system_id == system_id).subquery())
    out: dict[int, tuple[list, int]] = {}
    for metric_id, observed_at, value, total in session.execute(
            select(ranked.c.metric_id, ranked.c.observed_at, ranked.c.value, ranked.c.total)
            .where(ranked.c.newest <= latest).order_by(ranked.c.metric_id, ranked.c.observed_at)):
        points, _earlier = out.setdefault(metric_id, ([], max(0, total - latest)))
        points.append((observed_at, value))
    return out


def metric_counts(session: Session, system_id: int) -> dict[int, tuple[int, int, bool]]:
    """{metric_id: (observations, open alerts, has a drift rule)} of a system: three aggregate queries."""
    observed = dict(session.execute(select(Observation.metric_id, func.count(Observation.id))
                                    .where(Observation.system_id == system_id).group_by(Observation.metric_id)).all())
    alerts = dict(session.execute(select(DriftAlert.metric_id, func.count(DriftAlert.id))
                                  .where(DriftAlert.system_id == system_id, DriftAlert.status == AlertStatus.OPEN)
                                  .group_by(DriftAlert.metric_id)).all())
    ruled = set(session.scalars(select(DriftRule.metric_id).where(DriftRule.system_id == system_id)))
    return {m: (observed.get(m, 0), alerts.get(m, 0), m in ruled) for m in set(observed) | set(alerts) | ruled}


# -- drift rules ---------------------------------------------------------------------------------

def rules_for(session: Session, system_id: int) -> dict[int, DriftRule]:
    return {r.metric_id: r for r in session.scalars(select(DriftRule).where(DriftRule.system_id == system_id))}


def rule_text(rule: DriftRule, metric: BaselineMetric) -> str:
    """The rule in words, e.g. "Within 88–100 % (baseline 92 % −5 %, +10 %); an alert after 3 breaches in a row,
    once 5 observations exist"."""
    reference = drift.reference_of(rule, metric)
    ref_label = DriftReference(rule.reference).value

    def amount(value: float | None, sign: str) -> str | None:
        if value is None:
            return None
        if BandKind(rule.band_kind) is BandKind.RELATIVE:
            return f"{sign}{format_number(value * 100)} %"
        return f"{sign}{format_number(value)} {metric.unit}".rstrip()

    sides = ", ".join(a for a in (amount(rule.below, "−"), amount(rule.above, "+")) if a)
    if reference is None:
        band_text = f"{ref_label} {sides} (the {ref_label} is not recorded, so the rule cannot be applied yet)"
    else:
        band = drift.band_for(rule, metric)
        band_text = f"band: {drift.band_words(band, metric.unit)} ({ref_label} {format_number(reference)} {sides})"
    run = ("every breach opens an alert" if rule.consecutive == 1
           else f"an alert after {rule.consecutive} breaches in a row")
    counted = "" if rule.min_observations <= 1 else f", once {rule.min_observations} observations exist"
    return f"{band_text[0].upper()}{band_text[1:]}; {run}{counted}."


def set_drift_rule(session: Session, actor: User | None, system_id: int, metric_id: int, payload: dict,
                   *, now: datetime | None = None) -> DriftRule:
    """Create or replace a metric's drift rule (audited), then judge the metric against it."""
    system = _system(session, system_id)
    if actor is not None:
        require(can_edit_system(actor, system), EDIT_MESSAGE)
    metric = _metric(system, metric_id)
    try:
        data = DriftRuleSchema(metric=metric).load(payload)
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
        raise ValidationFailed("Some fields need attention.", errors=flatten_errors(messages)) from err
    rule = session.get(DriftRule, metric_id)
    before = rule_text(rule, metric) if rule else None
    if rule is None:
        rule = DriftRule(metric_id=metric_id, system_id=system.id)
        session.add(rule)
    rule.reference, rule.band_kind = DriftReference(data["reference"]), BandKind(data["band_kind"])
    rule.below, rule.above = data["below"], data["above"]
    rule.min_observations, rule.consecutive = data["min_observations"], data["consecutive"]
    rule.updated_at, rule.updated_by_id = now or utcnow(), actor.id if actor else None
    session.flush()
    after = rule_text(rule, metric)
    if after != before:
        record_event(session, actor, "drift_rule.set", "metric", metric.id, system_id=system.id,
                     summary=f"Drift rule of {metric.name}: {after}",
                     before={"drift_rule": before} if before else None, after={"drift_rule": after}, at=now)
        drift.evaluate(session, [metric.id], actor=actor, now=now)
    return rule


def delete_drift_rule(session: Session, actor: User | None, system_id: int, metric_id: int,
                      *, now: datetime | None = None) -> bool:
    """Remove a metric's rule (audited); its open alerts stay until resolved.  False: there was none."""
    system = _system(session, system_id)
    if actor is not None:
        require(can_edit_system(actor, system), EDIT_MESSAGE)
    metric = _metric(system, metric_id)
    rule = session.get(DriftRule, metric_id)
    if rule is None:
        return False
    before = rule_text(rule, metric)
    session.delete(rule)
    session.flush()
    record_event(session, actor, "drift_rule.delete", "metric", metric.id, system_id=system.id,
                 summary=f"Removed the drift rule of {metric.name}", before={"drift_rule": before},
                 after={"drift_rule": None}, at=now)
    return True


# -- alerts --------------------------------------------------------------------------------------

def alerts_for(session: Session, system_id: int) -> list[DriftAlert]:
    """Open alerts first (newest first), then resolved ones (most recently resolved first)."""
    return list(session.scalars(select(DriftAlert).where(DriftAlert.system_id == system_id).order_by(
        (DriftAlert.status == AlertStatus.OPEN).desc(), DriftAlert.opened_at.desc(), DriftAlert.id.desc())))


def resolve_alert(session: Session, actor: User | None, system_id: int, alert_id: int, note: str,
                  *, now: datetime | None = None) -> DriftAlert:
    """Close an open alert with a note saying what was found and done (audited)."""
    system = _system(session, system_id)
    if actor is not None:
        require(can_resolve_alert(actor, system),
                "Only the system's owners, compliance officers and admins can resolve its drift alerts.")
    try:
        data = ResolveSchema().load({"note": (note or "").strip()})
    except ValidationError as err:
        raise ValidationFailed("Say what was found and done: the note is required.",
                               errors={"note": ["Write what was found and done (required)."]}) from err
    alert = session.scalars(select(DriftAlert).where(DriftAlert.id == alert_id, DriftAlert.system_id == system_id)
                            .with_for_update()).one_or_none()
    if alert is None:
        raise NotFound("There is no such drift alert on this system.")
    if AlertStatus(alert.status) is AlertStatus.RESOLVED:
        raise ValidationFailed("This alert is already resolved.", errors={"note": ["This alert is already resolved."]})
    alert.status, alert.resolved_at = AlertStatus.RESOLVED, now or utcnow()
    alert.resolved_by_id, alert.resolution_note = actor.id if actor else None, data["note"]
    session.flush()
    record_event(session, actor, "drift_alert.resolve", "drift_alert", alert.id, system_id=system_id,
                 summary=f"Resolved drift alert #{alert.id}: {data['note']}"[:1000],
                 before={"status": "Open", "alert": alert.summary}, after={"status": "Resolved", "note": data["note"]},
                 at=now)
    return alert


# -- CSV upload ----------------------------------------------------------------------------------

CSV_COLUMNS = ("metric", "value", "observed_at", "note")
MAX_CSV_BYTES = 5 * 1024 * 1024


def read_observations_csv(data: bytes) -> list[dict]:
    """The rows of an uploaded CSV (columns metric, value, observed_at, note; headers in any case and
    order) as observation payloads; a file that is not such a CSV is a ValidationFailed."""
    def refuse(message: str):
        raise ValidationFailed(message, errors={"file": [message]})

    if not data:
        refuse("The file is empty.")
    if len(data) > MAX_CSV_BYTES:
        refuse("The file is larger than 5 MB: split it.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        refuse("The file is not UTF-8 text: save it as CSV (UTF-8).")
    if "\x00" in text:
        refuse("The file is not a CSV (it holds binary data).")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        table = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as err:  # e.g. a field larger than the csv module allows
        refuse(f"The file cannot be read as CSV: {err}.")
    reader = iter(table)
    header = [h.strip().casefold().replace(" ", "_") for h in next(reader, [])]
    missing = [c for c in CSV_COLUMNS[:3] if c not in header]
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        refuse("The first line must name the columns metric, value, observed_at and (optionally) note"
               + (f"; missing: {', '.join(missing)}" if missing else "")
               + (f"; not known: {', '.join(unknown)}" if unknown else "") + ".")
    lines = list(reader)
    while lines and not any(c.strip() for c in lines[-1]):
        lines.pop()  # trailing empty lines; one in the middle is a row to fix (its line number stays true)
    rows = []
    for cells in lines:
        record = dict(zip(header, (c.strip() for c in cells), strict=False))
        rows.append({"metric": record.get("metric", ""), "value": record.get("value") or None,
                     "observed_at": record.get("observed_at", ""), "note": record.get("note", "")})
    if not rows:
        refuse("The file has a header but no rows.")
    return rows


# -- for the decision snapshot and the audit PDF -------------------------------------------------

SNAPSHOT_POINTS = 200  # the latest observations of each metric a snapshot keeps


def monitoring_snapshot(session: Session, system: AISystem) -> list[dict]:
    """Each metric's monitoring as plain data (JSON-safe) for a decision's frozen snapshot: its rule in
    words and its band, its latest observations with the breaches marked, its alerts (open and
    resolved, with the resolution note).  The audit
    PDF draws the chart from this (``registry.monitoring.chart.chart_from_snapshot``), never from
    the live tables."""
    rules = rules_for(session, system.id)
    data = recent_series(session, system.id, SNAPSHOT_POINTS)
    alerts = alerts_for(session, system.id)  # open and resolved: what was found and done is on the record
    out = []
    for metric in system.metrics:
        rule = rules.get(metric.id)
        kept, earlier = data.get(metric.id, ([], 0))
        band = drift.band_for(rule, metric) if rule else None
        breaches = ({b.observed_at for b in drift.breaches_in(kept, band, rule.min_observations, earlier)}
                    if band else set())
        out.append({
            "metric_id": metric.id, "name": metric.name, "unit": metric.unit, "baseline": metric.baseline_value,
            "target": metric.target_value, "rule": rule_text(rule, metric) if rule else None,
            "band": [band.low, band.high] if band else None, "observations_total": earlier + len(kept),
            "observations": [[at.isoformat(), value, at in breaches] for at, value in kept],
            "alerts": [{"status": AlertStatus(a.status).label, "opened_at": a.opened_at.isoformat(timespec="seconds"),
                        "summary": a.summary, "breaches": a.breaches,
                        "resolved_at": a.resolved_at.isoformat(timespec="seconds") if a.resolved_at else None,
                        "resolution_note": a.resolution_note or None}
                       for a in alerts if a.metric_id == metric.id],
        })
    return out
