"""The one loader of the facts the go / no-go rules need, for many systems at once.

``load_facts(session, ids)`` reads, in a fixed number of queries per call whatever the number
of systems, everything ``registry.decisions.recommendation.recommend`` looks at: effective
tier, whether the accountable owner is active, measured baselines, answer statuses, the
required controls with their status, due date, evidence age and verification (by someone not
named on the system), the current decision and
any re-review reasons.  One system is the same call with a list of one: the system pages,
the decision form, the state cache (and through it the dashboard and the exports) all read
their facts here, so a new rule's facts are gathered once.

The evidence age limit is the session's ``EVIDENCE_MAX_AGE_DAYS`` unless a caller passes one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ARRAY, Integer, any_, bindparam, func, select
from sqlalchemy.orm import Session

from registry.auth.models import User
from registry.controls.applicability import CatalogueControl, active_catalogue, applies
from registry.controls.models import ControlAssessment, Evidence
from registry.controls.staleness import is_stale, waiver_lapsed
from registry.db import evidence_max_age_days, utcnow
from registry.decisions.models import Decision, current_decisions
from registry.decisions.recommendation import (
    AnswerFact,
    ControlFact,
    DriftFact,
    GateFact,
    IncidentFact,
    ReadinessFacts,
)
from registry.enums import AlertStatus, ControlStatus, IncidentStatus, Severity, Tier, Verdict
from registry.incidents.models import Incident
from registry.inventory.models import AISystem, BaselineMetric, SystemDataCategory, SystemPerson
from registry.inventory.tiering import system_flags
from registry.monitoring.models import DriftAlert
from registry.readiness.models import ReadinessAnswer
from registry.reliability.models import ReliabilityGate, trial_tallies
from registry.reliability.passk import curve
from registry.value.models import ValueCase
from registry.value.rules import value_case_gaps


def among(session: Session, column, ids):
    """``column IN ids``; on PostgreSQL ``column = ANY(:ids)`` with the ids as one array parameter: a
    batch of hundreds of ids then makes a short statement that the driver parses once and caches,
    instead of a new long one per batch (a noticeable share of computing 100,000 states)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(ids)


@dataclass(frozen=True)
class CurrentDecision:
    id: int
    verdict: Verdict
    decided_at: datetime
    expires_on: date


@dataclass
class SystemFacts:
    system_id: int
    live: bool  # not deleted
    facts: ReadinessFacts
    decision: CurrentDecision | None
    required_control_ids: list[int]
    evidence_dates: list[date] = field(default_factory=list)  # of required controls' live evidence
    due_dates: list[date] = field(default_factory=list)  # of required controls in progress; waivers' expiry
    # ``facts.controls`` is the profile's untouched list with these (position, fact) entries
    # replaced: a cheap, exact key for computing the rules once per distinct set of facts.
    profile_key: tuple = ()
    own_controls: tuple = ()


@dataclass(frozen=True)
class RequiredControls:
    """The controls one (tier, kind, data) profile requires, in catalogue order, with the fact of
    each while untouched (not started, no evidence) and its position in that list."""

    key: tuple
    required: list[CatalogueControl]
    untouched: tuple[ControlFact, ...]
    position: dict[int, int]


@dataclass
class FactCache:
    """What stays the same across calls of one bulk run: the catalogue and, per (tier, kind,
    data) profile, the required controls (``registry.controls.applicability.applies``)."""

    controls: list[CatalogueControl]
    profiles: dict = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> FactCache:
        return cls(active_catalogue(session))

    def profile(self, tier: Tier, kind, data: list[str], flags: frozenset[str] = frozenset()) -> RequiredControls:
        """The required controls of a (tier, kind, data, flags) profile; profiles that require the
        same controls share one object (its ``key``: the controls' ids)."""
        key = (tier, kind, tuple(sorted(data)), flags)
        found = self.profiles.get(key)
        if found is None:
            required = [c for c in self.controls if applies(c, tier, kind, data, flags)]
            ids = tuple(c.id for c in required)
            found = self.profiles.get(ids)
            if found is None:
                untouched = tuple(ControlFact(c.id, c.ref, c.title, ControlStatus.NOT_STARTED, None, 0, 0)
                                  for c in required)
                found = self.profiles[ids] = RequiredControls(ids, required, untouched,
                                                              {c.id: i for i, c in enumerate(required)})
            self.profiles[key] = found
        return found


def load_facts(session: Session, ids: list[int], *, today: date | None = None, max_age_days: int | None = None,
               cache: FactCache | None = None) -> dict[int, SystemFacts]:
    """The facts of every system in ``ids`` (unknown ids are left out), keyed by system id."""
    if not ids:
        return {}
    today = today or utcnow().date()
    max_age_days = evidence_max_age_days(session) if max_age_days is None else max_age_days
    cache = cache or FactCache.load(session)
    systems = session.execute(
        select(AISystem.id, AISystem.deleted_at, AISystem.tier, AISystem.kind, AISystem.re_review_required_at,
               AISystem.re_review_reasons, AISystem.eu_class, AISystem.omb_high_impact, User.is_active)
        .outerjoin(User, User.id == AISystem.accountable_owner_id)
        .where(among(session, AISystem.id, ids))
    ).all()
    data = defaultdict(list)
    for sid, category in session.execute(select(SystemDataCategory.system_id, SystemDataCategory.category)
                                         .where(among(session, SystemDataCategory.system_id, ids))):
        data[sid].append(category.value)
    baselines = dict(session.execute(
        select(BaselineMetric.system_id, func.count())
        .where(among(session, BaselineMetric.system_id, ids), BaselineMetric.baseline_value.is_not(None))
        .group_by(BaselineMetric.system_id)).all())
    answers = defaultdict(list)
    for sid, question, status, comment in session.execute(
            select(ReadinessAnswer.system_id, ReadinessAnswer.question, ReadinessAnswer.status,
                   ReadinessAnswer.review_comment).where(among(session, ReadinessAnswer.system_id, ids))
            .order_by(ReadinessAnswer.system_id, ReadinessAnswer.question)):
        answers[sid].append(AnswerFact(question, status, comment))
    named: dict[int, set[int]] = defaultdict(set)  # who may not verify (``AISystem.named_user_ids``)
    for sid, uid in session.execute(select(SystemPerson.system_id, SystemPerson.user_id)
                                    .where(among(session, SystemPerson.system_id, ids))):
        named[sid].add(uid)
    assessed: dict[int, dict[int, tuple]] = defaultdict(dict)  # system -> control -> (status, due_on, verified)
    by_assessment: dict[int, tuple[int, int]] = {}
    for aid, sid, cid, status, due_on, verifier, waiver_expires_on in session.execute(
            select(ControlAssessment.id, ControlAssessment.system_id, ControlAssessment.control_id,
                   ControlAssessment.status, ControlAssessment.due_on, ControlAssessment.verified_by_id,
                   ControlAssessment.waiver_expires_on)
            .where(among(session, ControlAssessment.system_id, ids))):
        # Verified counts only by someone not named on the system now (a verifier named later no longer counts).
        assessed[sid][cid] = (status, due_on, verifier is not None and verifier not in named.get(sid, ()),
                              waiver_expires_on)
        by_assessment[aid] = (sid, cid)
    evidence: dict[int, dict[int, list[date]]] = defaultdict(lambda: defaultdict(list))  # system -> control -> dates
    for aid, collected_on in session.execute(
            select(Evidence.assessment_id, Evidence.collected_on)
            .join(ControlAssessment, ControlAssessment.id == Evidence.assessment_id)
            .where(among(session, ControlAssessment.system_id, ids), Evidence.removed_at.is_(None))):
        sid, cid = by_assessment[aid]
        evidence[sid][cid].append(collected_on)
    after = _after_the_baseline(session, ids)
    current = current_decisions(ids)
    decisions = {d.system_id: CurrentDecision(d.id, d.verdict, d.decided_at, d.expires_on) for d in session.execute(
        select(Decision.id, Decision.system_id, Decision.verdict, Decision.decided_at, Decision.expires_on)
        .join(current, current.c.decision_id == Decision.id))}
    out: dict[int, SystemFacts] = {}
    for s in systems:
        tier = Tier(s.tier)
        profile = cache.profile(tier, s.kind, data[s.id], system_flags(s.eu_class, s.omb_high_impact))
        facts_controls = list(profile.untouched)  # then the system's own work replaces its entries
        evidence_dates, due_dates, own = [], [], []
        mine, dated = assessed.get(s.id, {}), evidence.get(s.id, {})
        for control_id in {*mine, *dated}:
            position = profile.position.get(control_id)
            if position is None:  # assessed, but not required of this system
                continue
            control = profile.required[position]
            status, due_on, verified, waiver_expires_on = (mine.get(control_id)
                                                           or (ControlStatus.NOT_STARTED, None, False, None))
            dates = dated.get(control_id, [])
            stale = sum(1 for d in dates if is_stale(d, today, max_age_days))
            lapsed = status is ControlStatus.WAIVED and waiver_lapsed(waiver_expires_on, today)
            facts_controls[position] = fact = ControlFact(control.id, control.ref, control.title, status, due_on,
                                                          stale, len(dates) - stale, verified,
                                                          waiver_expires_on, lapsed)
            own.append((position, fact))
            evidence_dates += dates
            if status is ControlStatus.IN_PROGRESS and due_on is not None:
                due_dates.append(due_on)
            elif status is ControlStatus.WAIVED and waiver_expires_on is not None:
                due_dates.append(waiver_expires_on)  # the day after it, the waiver blocks GO
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
            drift_alerts=after.drift.get(s.id, ()),
            incidents=after.incidents.get(s.id, ()),
            gate=after.gates.get(s.id),
            value_gaps=tuple(value_case_gaps(after.value_cases.get(s.id), tier)),
        )
        out[s.id] = SystemFacts(s.id, s.deleted_at is None, facts, decision, [c.id for c in profile.required],
                                evidence_dates, due_dates, profile.key, tuple(sorted(own, key=lambda o: o[0])))
    return out


@dataclass
class AfterBaseline:
    drift: dict[int, tuple[DriftFact, ...]]
    incidents: dict[int, tuple[IncidentFact, ...]]
    gates: dict[int, GateFact]
    value_cases: dict[int, ValueCase]


def _after_the_baseline(session: Session, ids: list[int]) -> AfterBaseline:
    """Open drift alerts, open critical and major incidents, each gated system's pass^k curve (trials
    tallied per task in SQL) and the value cases, for ``ids`` in five queries."""
    drift: dict[int, list[DriftFact]] = defaultdict(list)
    for sid, metric_id, summary in session.execute(
            select(DriftAlert.system_id, DriftAlert.metric_id, DriftAlert.summary)
            .where(among(session, DriftAlert.system_id, ids), DriftAlert.status == AlertStatus.OPEN)
            .order_by(DriftAlert.system_id, DriftAlert.opened_at, DriftAlert.id)):
        drift[sid].append(DriftFact(metric_id, summary))
    incidents: dict[int, list[IncidentFact]] = defaultdict(list)
    for sid, iid, severity, title, occurred_on in session.execute(
            select(Incident.system_id, Incident.id, Incident.severity, Incident.title, Incident.occurred_on)
            .where(among(session, Incident.system_id, ids), Incident.status == IncidentStatus.OPEN,
                   Incident.severity.in_([Severity.CRITICAL, Severity.MAJOR]))
            .order_by(Incident.system_id, Incident.occurred_on, Incident.id)):
        incidents[sid].append(IncidentFact(iid, Severity(severity), title, occurred_on))
    gated = {sid: (k, threshold) for sid, k, threshold in session.execute(
        select(ReliabilityGate.system_id, ReliabilityGate.k, ReliabilityGate.threshold)
        .where(among(session, ReliabilityGate.system_id, ids), ReliabilityGate.k.is_not(None),
               ReliabilityGate.threshold.is_not(None)))}
    tallies = trial_tallies(session, list(gated)) if gated else {}
    gates = {sid: GateFact(k, threshold, tuple(curve(tallies.get(sid, []))), len(tallies.get(sid, [])))
             for sid, (k, threshold) in gated.items()}
    value_cases = {c.system_id: c for c in session.scalars(select(ValueCase).where(among(session, ValueCase.system_id, ids)))}
    return AfterBaseline({k: tuple(v) for k, v in drift.items()}, {k: tuple(v) for k, v in incidents.items()}, gates,
                         value_cases)
