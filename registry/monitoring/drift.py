"""Drift: a metric's band, which observations breach it, and when a run of breaches opens an alert.

The rule, stated once:

* the band is the reference (the metric's baseline or target) minus ``below`` and plus ``above``:
  absolute amounts in the metric's unit, or fractions of ``|reference|`` (relative); a missing
  side has no bound; the edges are in band;
* observations are taken in time order; one is a *breach* when it is outside the band and at
  least ``min_observations`` observations exist up to and including it;
* an alert opens at the first breach of a run of ``consecutive`` breaches in a row (opened_at is
  that breach's moment).  While it is open every later breach updates it (breaches, last value and
  moment); an observation in band ends the run but never resolves the alert: a person does, with a
  note.  After that only observations later than the resolved alert's last breach count, and a new
  run of ``consecutive`` breaches opens a new alert.

``breaches_in`` is the rule in Python (the tests and the chart use it); ``evaluate`` applies the
very same arithmetic in SQL, so a whole portfolio is judged with one query that returns only the
breaching observations (a window function numbers each metric's observations).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.enums import AlertStatus, BandKind, DriftReference
from registry.events import publish
from registry.inventory.models import BaselineMetric
from registry.monitoring.models import DriftAlert, DriftRule, Observation
from registry.templating import format_number

CHUNK = 900  # ids per IN (...): below SQLite's variable limit on every version


@dataclass(frozen=True)
class Band:
    """The in-band interval; None on a side: no bound there.  Edges are in band."""

    low: float | None
    high: float | None

    def contains(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


def band_around(reference: float, kind: BandKind | str, below: float | None, above: float | None) -> Band:
    """Absolute: reference − below … reference + above; relative: the same with ``below`` and
    ``above`` as fractions of |reference| (the SQL in ``_band_sql`` does exactly these operations)."""
    if BandKind(kind) is BandKind.ABSOLUTE:
        low = None if below is None else reference - below
        high = None if above is None else reference + above
    else:
        low = None if below is None else reference - below * abs(reference)
        high = None if above is None else reference + above * abs(reference)
    return Band(low, high)


def reference_of(rule: DriftRule, metric: BaselineMetric) -> float | None:
    return metric.target_value if DriftReference(rule.reference) is DriftReference.TARGET else metric.baseline_value


def band_for(rule: DriftRule, metric: BaselineMetric) -> Band | None:
    """The rule's band around the metric's reference now; None when that reference is not recorded."""
    reference = reference_of(rule, metric)
    if reference is None:
        return None
    return band_around(reference, rule.band_kind, rule.below, rule.above)


@dataclass(frozen=True)
class Breach:
    number: int  # the observation's place in the metric's time order, from 1
    observed_at: datetime
    value: float


def breaches_in(points: Iterable[tuple[datetime, float]], band: Band, min_observations: int,
                earlier: int = 0) -> list[Breach]:
    """The breaching observations of ``points`` (taken in time order); ``earlier``: how many older
    observations precede them (a page shows only the newest, and they still count)."""
    ordered = sorted(points, key=lambda p: p[0])
    return [Breach(n, at, value) for n, (at, value) in enumerate(ordered, start=earlier + 1)
            if n >= min_observations and not band.contains(value)]


@dataclass(frozen=True)
class Verdict:
    """What the open alert of a metric should say (a new one when ``opened_at`` is not an open alert's)."""

    opened_at: datetime
    breaches: int
    last_value: float
    last_observed_at: datetime
    in_a_row: bool  # every breach since opened_at was consecutive (no observation in band between)


def _verdict(run: Sequence[Breach]) -> Verdict:
    in_a_row = all(b.number == a.number + 1 for a, b in zip(run, run[1:], strict=False))
    return Verdict(run[0].observed_at, len(run), run[-1].value, run[-1].observed_at, in_a_row)


def judge(breaches: Sequence[Breach], consecutive: int, *, open_since: datetime | None = None,
          resolved_up_to: datetime | None = None) -> Verdict | None:
    """The open alert after these breaches (in time order), or None when there is none.

    ``open_since``: the metric already has an open alert opened then; every breach from then on is
    its (recounted, so a corrected value or a retried batch leaves it as it should be).
    ``resolved_up_to``: the last breach a resolved alert covered; only later breaches count."""
    if open_since is not None:
        mine = [b for b in breaches if b.observed_at >= open_since]
        return _verdict(mine) if mine else None
    fresh = [b for b in breaches if resolved_up_to is None or b.observed_at > resolved_up_to]
    start = 0
    for i, breach in enumerate(fresh):
        if i and breach.number != fresh[i - 1].number + 1:
            start = i  # an observation in band (or before min_observations) ended the run
        if i - start + 1 >= consecutive:
            return _verdict(fresh[start:])
    return None


def band_words(band: Band, unit: str) -> str:
    """The band as people say it: "88–100 %", "at least 26.35 %", "at most 12.8 %"."""
    unit = f" {unit}" if unit else ""
    if band.low is not None and band.high is not None:
        return f"{format_number(band.low)}–{format_number(band.high)}{unit}"
    if band.low is not None:
        return f"at least {format_number(band.low)}{unit}"
    if band.high is not None:
        return f"at most {format_number(band.high)}{unit}"
    return "any value"


def summary_text(metric: BaselineMetric, band: Band | None, verdict: Verdict) -> str:
    """e.g. "Fraud precision 70 % is below the band 88–100 % (5 breaches in a row since 2026-10-02)"."""
    unit = metric.unit or ""

    def measure(value: float | None) -> str:
        if value is None:
            return "…"
        number = format_number(value)
        return f"{number} {unit}".strip()

    if band is None:
        where = "outside its band (its reference is no longer recorded)"
    else:
        below = band.low is not None and verdict.last_value < band.low
        side = "below" if below else "above"
        bounded = band.low is not None and band.high is not None
        if bounded:
            where = f"{side} the band {band_words(band, unit)}"
        else:  # one-sided: a floor or a ceiling
            limit = band.low if band.low is not None else band.high
            where = f"{side} its {'floor' if band.low is not None else 'ceiling'} of {measure(limit)}"
    count = f"{verdict.breaches} breach{'es' if verdict.breaches != 1 else ''}"
    if verdict.in_a_row and verdict.breaches > 1:
        count += " in a row"
    text = (f"{metric.name} {measure(verdict.last_value)} is {where} "
            f"({count} since {verdict.opened_at.date().isoformat()})")
    return text[:500]


# -- applying it to the database ----------------------------------------------------------------

def _band_sql():
    """(low, high) as SQL over drift_rules and baseline_metrics: ``band_around`` in SQL."""
    reference = case((DriftRule.reference == DriftReference.TARGET, BaselineMetric.target_value),
                     else_=BaselineMetric.baseline_value)
    absolute = DriftRule.band_kind == BandKind.ABSOLUTE
    low = case((absolute, reference - DriftRule.below), else_=reference - DriftRule.below * func.abs(reference))
    high = case((absolute, reference + DriftRule.above), else_=reference + DriftRule.above * func.abs(reference))
    return low, high


def _breach_query(metric_ids: Sequence[int] | None):
    """The breaching observations of the metrics with a rule (all, or ``metric_ids``), numbered."""
    numbered = select(
        Observation.metric_id, Observation.observed_at, Observation.value,
        func.row_number().over(partition_by=Observation.metric_id, order_by=Observation.observed_at).label("n"),
    )
    if metric_ids is not None:
        numbered = numbered.where(Observation.metric_id.in_(metric_ids))
    else:
        numbered = numbered.where(Observation.metric_id.in_(select(DriftRule.metric_id)))
    o = numbered.subquery()
    low, high = _band_sql()
    return (select(o.c.metric_id, o.c.n, o.c.observed_at, o.c.value)
            .join(DriftRule, DriftRule.metric_id == o.c.metric_id)
            .join(BaselineMetric, BaselineMetric.id == o.c.metric_id)
            .where(o.c.n >= DriftRule.min_observations, or_(o.c.value < low, o.c.value > high))
            .order_by(o.c.metric_id, o.c.n))


@dataclass
class Outcome:
    opened: list[DriftAlert]
    updated: list[DriftAlert]

    @property
    def system_ids(self) -> set[int]:
        return {a.system_id for a in [*self.opened, *self.updated]}


def evaluate(session: Session, metric_ids: Iterable[int] | None = None, *, actor=None,
             now: datetime | None = None) -> Outcome:
    """Judge the metrics (all with a rule, when ``metric_ids`` is None) against their rules and
    open or update their alerts through the ORM (so the state hooks see them); announce each
    alert that opens (``monitoring.drift_alert_opened``).  A fixed number of queries per call."""
    if metric_ids is not None:
        ids = sorted(set(metric_ids))
        if not ids:
            return Outcome([], [])
        chunks: list[list[int] | None] = [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]
    else:
        chunks = [None]
    outcome = Outcome([], [])
    for chunk in chunks:
        _evaluate_chunk(session, chunk, outcome, actor, now)
    return outcome


def _evaluate_chunk(session: Session, chunk: list[int] | None, outcome: Outcome, actor, now) -> None:
    by_metric: dict[int, list[Breach]] = defaultdict(list)
    for metric_id, n, observed_at, value in session.execute(_breach_query(chunk)):
        by_metric[metric_id].append(Breach(n, observed_at, value))
    alert_filter = DriftAlert.metric_id.in_(chunk) if chunk is not None else DriftAlert.metric_id.in_(
        select(DriftRule.metric_id))
    open_alerts = {a.metric_id: a for a in session.scalars(
        select(DriftAlert).where(alert_filter, DriftAlert.status == AlertStatus.OPEN))}
    resolved_up_to = dict(session.execute(
        select(DriftAlert.metric_id, func.max(DriftAlert.last_observed_at))
        .where(alert_filter, DriftAlert.status == AlertStatus.RESOLVED).group_by(DriftAlert.metric_id)).all())
    opened: list[DriftAlert] = []
    judged = set(by_metric) | set(open_alerts)
    if not judged:
        return
    rules = {r.metric_id: r for r in session.scalars(select(DriftRule).where(DriftRule.metric_id.in_(judged)))}
    metrics = {m.id: m for m in session.scalars(select(BaselineMetric).where(BaselineMetric.id.in_(judged)))}
    for metric_id in sorted(judged):
        rule, metric, alert = rules.get(metric_id), metrics.get(metric_id), open_alerts.get(metric_id)
        if rule is None or metric is None:
            continue  # no rule any more: an open alert stays as it was until a person resolves it
        verdict = judge(by_metric.get(metric_id, []), rule.consecutive,
                        open_since=alert.opened_at if alert else None, resolved_up_to=resolved_up_to.get(metric_id))
        if verdict is None:
            continue
        summary = summary_text(metric, band_for(rule, metric), verdict)
        if alert is None:
            alert = DriftAlert(metric_id=metric_id, system_id=metric.system_id, status=AlertStatus.OPEN,
                               opened_at=verdict.opened_at, breaches=verdict.breaches, last_value=verdict.last_value,
                               last_observed_at=verdict.last_observed_at, summary=summary, resolution_note="")
            session.add(alert)
            opened.append(alert)
        elif (alert.breaches, alert.last_value, alert.last_observed_at, alert.summary) != (
                verdict.breaches, verdict.last_value, verdict.last_observed_at, summary):
            alert.breaches, alert.last_value = verdict.breaches, verdict.last_value
            alert.last_observed_at, alert.summary = verdict.last_observed_at, summary
            outcome.updated.append(alert)
    if opened:
        session.flush()
        outcome.opened.extend(opened)
        for alert in opened:
            publish(session, "monitoring.drift_alert_opened", actor=actor, system_id=alert.system_id,
                    alert_id=alert.id, summary=alert.summary, at=now or utcnow())


def recompute_all(session: Session, *, now: datetime | None = None) -> Outcome:
    """Judge every metric that has a rule (after a bulk load, or a change of the rules' arithmetic)."""
    return evaluate(session, None, now=now)


def rejudge_metric(session: Session, actor, system, metric_id: int, change: str) -> None:
    """A baseline or target moved, so the band around it moved: judge the metric again now rather
    than at its next observation (the handler of inventory's ``metric.changed`` event)."""
    if change != "deleted":
        evaluate(session, [metric_id], actor=actor)
