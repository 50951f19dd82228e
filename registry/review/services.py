"""Queries behind the review queue.  Each is one SQL statement, whatever the portfolio's size."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from registry.controls.models import Control, ControlAssessment
from registry.controls.services import VERIFIABLE
from registry.decisions.models import Decision, current_decisions
from registry.enums import AlertStatus, AnswerStatus, IncidentStatus, Question, Severity, Tier, Verdict
from registry.incidents.models import Incident
from registry.inventory.determination import determination, disagreement_clause
from registry.inventory.models import AISystem, SystemPerson, overrides_pending, systems_naming
from registry.inventory.queries import live_business_units, without_jit
from registry.monitoring.models import DriftAlert
from registry.readiness.models import ReadinessAnswer
from registry.state.models import SystemState

LIMIT = 100


def _live():
    return AISystem.deleted_at.is_(None)


def _not_named(actor_id: int):
    """Separation of duties: the actor is not named on the system (``SystemPerson``, the one definition)."""
    return ~systems_naming(actor_id).where(SystemPerson.system_id == AISystem.id).exists()


@dataclass
class Queue:
    answers: list
    answers_total: int
    to_verify: list
    to_verify_total: int
    decisions_due: list
    overdue: list
    due_soon: list
    changed: list
    overrides: list  # downward tier overrides another officer proposed, waiting for a second one
    disagreements: list  # (row, message): a declared determination the rules disagree with


def _with_total(session: Session, stmt, count_stmt) -> tuple[list, int]:
    """The first LIMIT rows (an index gives them in order, so the scan stops early) and the total."""
    rows = session.execute(stmt.limit(LIMIT)).all()
    if len(rows) < LIMIT:
        return rows, len(rows)
    return rows, session.scalar(count_stmt)


def _decided(session: Session, actor, today: date, *scope) -> list:
    """Decided systems whose decision expires within 30 days (or has expired) or that changed materially."""
    latest = current_decisions()
    soon = today + timedelta(days=30)
    return session.execute(
        select(AISystem.id, AISystem.name, AISystem.tier, Decision.verdict, Decision.expires_on,
               AISystem.re_review_required_at, AISystem.re_review_reasons)
        .join(latest, latest.c.system_id == AISystem.id)
        .join(Decision, Decision.id == latest.c.decision_id)
        .where(_live(), _not_named(actor.id), *scope,
               or_(Decision.expires_on <= soon, AISystem.re_review_required_at.is_not(None)))
        .order_by(Decision.expires_on)
    ).all()


def _decided_by_state(session: Session, actor, today: date, *scope) -> list:
    """``_decided`` read from the state cache's current decision (the page's version: the same rows)."""
    soon = today + timedelta(days=30)
    return session.execute(
        select(AISystem.id, AISystem.name, AISystem.tier, SystemState.decision_verdict.label("verdict"),
               SystemState.decision_expires_on.label("expires_on"), AISystem.re_review_required_at,
               AISystem.re_review_reasons)
        .join(SystemState, SystemState.system_id == AISystem.id)
        .where(SystemState.decision_id.is_not(None), _live(), _not_named(actor.id), *scope,
               or_(SystemState.decision_expires_on <= soon, AISystem.re_review_required_at.is_not(None)))
        .order_by(SystemState.decision_expires_on)
    ).all()


def _overrides(session: Session, actor, *scope) -> list:
    return session.execute(
        select(AISystem.id, AISystem.name, AISystem.computed_tier, AISystem.tier_override, AISystem.tier_override_at,
               AISystem.tier_override_reason)
        .where(_live(), _not_named(actor.id), *scope, overrides_pending(), AISystem.tier_override_by_id != actor.id)
        .order_by(AISystem.tier_override_at).limit(LIMIT)
    ).all()


def _disagreements(session: Session, actor, *scope) -> list:
    rows = session.execute(
        select(AISystem.id, AISystem.name, AISystem.tier, AISystem.declared_high_impact, AISystem.declared_source,
               AISystem.declared_regime,
               AISystem.eu_class, AISystem.eu_basis, AISystem.omb_high_impact, AISystem.omb_basis)
        # (a declaration is implied by the clause; spelled out, it lets PostgreSQL read a partial index)
        .where(_live(), _not_named(actor.id), *scope, AISystem.declared_high_impact.is_not(None),
               disagreement_clause())
        .order_by(AISystem.name).limit(LIMIT)
    ).all()
    return [(r, determination(r).message) for r in rows]


def review_queue(session: Session, actor, today: date) -> Queue:
    submitted = (ReadinessAnswer.status == AnswerStatus.SUBMITTED, _live(), _not_named(actor.id))
    answers, answers_total = _with_total(
        session,
        select(ReadinessAnswer.system_id, ReadinessAnswer.question, ReadinessAnswer.submitted_at, AISystem.name)
        .join(AISystem, AISystem.id == ReadinessAnswer.system_id).where(*submitted)
        .order_by(ReadinessAnswer.submitted_at),
        select(func.count()).select_from(ReadinessAnswer).join(AISystem, AISystem.id == ReadinessAnswer.system_id)
        .where(*submitted),
    )
    unverified = (ControlAssessment.verified_at.is_(None), _live(), _not_named(actor.id),
                  ControlAssessment.status.in_(VERIFIABLE))
    to_verify, to_verify_total = _with_total(
        session,
        select(ControlAssessment.system_id, ControlAssessment.control_id, Control.ref, Control.title,
               ControlAssessment.status, ControlAssessment.updated_at, AISystem.name)
        .join(AISystem, AISystem.id == ControlAssessment.system_id)
        .join(Control, Control.id == ControlAssessment.control_id)
        .where(*unverified).order_by(ControlAssessment.updated_at),
        select(func.count()).select_from(ControlAssessment).join(AISystem, AISystem.id == ControlAssessment.system_id)
        .where(*unverified),
    )
    undecided = ~select(Decision.id).where(Decision.system_id == AISystem.id).exists()
    due = session.execute(
        select(AISystem.id, AISystem.name, AISystem.tier)
        .where(_live(), _not_named(actor.id), AISystem.id.in_(_all_accepted()), undecided)
        .order_by(AISystem.name).limit(LIMIT)
    ).all()
    decided = _decided(session, actor, today)
    soon = today + timedelta(days=30)
    return Queue(
        disagreements=_disagreements(session, actor),
        overrides=_overrides(session, actor),
        answers=answers, answers_total=answers_total, to_verify=to_verify, to_verify_total=to_verify_total,
        decisions_due=due,
        overdue=[r for r in decided if r.expires_on < today][:LIMIT],
        due_soon=[r for r in decided if today <= r.expires_on <= soon][:LIMIT],
        changed=sorted((r for r in decided if r.re_review_required_at is not None),
                       key=lambda r: r.re_review_required_at)[:LIMIT],
    )


def _all_accepted():
    """SQL: the ids of systems whose five readiness answers are all accepted."""
    return (select(ReadinessAnswer.system_id)
            .where(ReadinessAnswer.status == AnswerStatus.ACCEPTED)
            .group_by(ReadinessAnswer.system_id)
            .having(func.count() == len(Question)))  # count(*): read from the (status, system_id) index alone


# -- the queue by system (the page) ----------------------------------------------------------------

WAITING = {"overdue": "Re-review overdue", "due": "Decision due", "answers": "Answers to review",
           "verify": "Controls to verify"}
PER_PAGE = 50


@dataclass(frozen=True)
class QueueFilters:
    """The page's filters; values it does not know are dropped, not refused (they come from a URL)."""

    business_unit: str = ""
    tier: str = ""
    waiting: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args) -> QueueFilters:
        tier = args.get("tier", "")
        waiting = args.get("waiting", "")
        try:
            page = max(1, int(args.get("page", 1)))
        except ValueError:
            page = 1
        return cls(business_unit=args.get("business_unit", "").strip(),
                   tier=tier if tier in Tier.values() else "",
                   waiting=waiting if waiting in WAITING else "", page=page)

    def scope(self) -> list:
        """SQL clauses for the business unit and the tier (every section of the page honours them)."""
        clauses = []
        if self.business_unit:
            clauses.append(AISystem.business_unit == self.business_unit)
        if self.tier:
            clauses.append(AISystem.tier == Tier(self.tier))
        return clauses

    def active(self) -> bool:
        return bool(self.business_unit or self.tier or self.waiting)


@dataclass(frozen=True)
class SystemWaiting:
    """One system and everything that waits for the officer on it."""

    id: int
    name: str
    business_unit: str
    tier: Tier
    answers: int
    oldest_answer: datetime | None
    to_verify: int
    oldest_change: datetime | None
    decision_due: bool
    overdue: bool
    verdict: Verdict | None
    expires_on: date | None

    @property
    def first(self) -> str:
        """The most urgent thing waiting (a key of ``WAITING``): where the system's name links to."""
        return next(k for k, on in (("overdue", self.overdue), ("due", self.decision_due),
                                    ("answers", self.answers), ("verify", self.to_verify)) if on)


@dataclass(frozen=True)
class QueueTotals:
    systems: int = 0  # systems with anything waiting, in the business unit and tier chosen
    answers: int = 0
    answer_systems: int = 0
    to_verify: int = 0
    verify_systems: int = 0
    due: int = 0
    overdue: int = 0
    matching: int = 0  # of those, the systems the "what is waiting" filter keeps

    def count(self, key: str) -> int:
        return {"answers": self.answers, "verify": self.to_verify, "due": self.due, "overdue": self.overdue}[key]


def after_the_baseline(session: Session, actor, *scope) -> list:
    """Systems with an open drift alert or an open critical or major incident (each blocks GO or
    limits it), the most alerts and critical incidents first: one grouped statement each."""
    alerts = (select(DriftAlert.system_id, func.count().label("n"), func.min(DriftAlert.opened_at).label("since"))
              .where(DriftAlert.status == AlertStatus.OPEN).group_by(DriftAlert.system_id).subquery("alerts"))
    open_incidents = (select(Incident.system_id,
                             func.count(case((Incident.severity == Severity.CRITICAL, 1))).label("critical"),
                             func.count(case((Incident.severity == Severity.MAJOR, 1))).label("major"))
                      .where(Incident.status == IncidentStatus.OPEN,
                             Incident.severity.in_([Severity.CRITICAL, Severity.MAJOR]))
                      .group_by(Incident.system_id).subquery("incidents"))
    n_alerts = func.coalesce(alerts.c.n, 0)
    critical, major = func.coalesce(open_incidents.c.critical, 0), func.coalesce(open_incidents.c.major, 0)
    return session.execute(
        select(AISystem.id, AISystem.name, AISystem.tier, AISystem.stage, n_alerts.label("alerts"),
               alerts.c.since, critical.label("critical"), major.label("major"))
        .outerjoin(alerts, alerts.c.system_id == AISystem.id)
        .outerjoin(open_incidents, open_incidents.c.system_id == AISystem.id)
        .where(_live(), _not_named(actor.id), *scope, or_(n_alerts > 0, critical > 0, major > 0),
               # implied by the line above; spelled out, the few systems concerned are looked up by key
               AISystem.id.in_(select(alerts.c.system_id).union(select(open_incidents.c.system_id))))
        .order_by(critical.desc(), n_alerts.desc(), alerts.c.since, AISystem.name).limit(LIMIT)
    ).all()


@dataclass
class SystemQueue:
    filters: QueueFilters
    rows: list[SystemWaiting]
    totals: QueueTotals
    pages: int
    business_units: list[str]
    due_soon: list  # decided systems whose decision expires within 30 days
    changed: list  # decided systems that changed materially since
    overrides: list
    disagreements: list
    monitoring: list = field(default_factory=list)  # open drift alerts and critical/major incidents


def queue_by_system(session: Session, actor, today: date, filters: QueueFilters = QueueFilters()) -> SystemQueue:
    """The review queue, one row per system: how many answers and controls wait, and whether a first
    decision is due or the re-review is overdue; overdue re-reviews first, then decisions due, then
    the oldest work.  Set-based: the same few statements whatever the portfolio's size."""
    without_jit(session)
    answers = (select(ReadinessAnswer.system_id, func.count().label("n"),
                      func.min(ReadinessAnswer.submitted_at).label("oldest"))
               .where(ReadinessAnswer.status == AnswerStatus.SUBMITTED)
               .group_by(ReadinessAnswer.system_id).subquery("answers"))
    verify = (select(ControlAssessment.system_id, func.count().label("n"),
                     func.min(ControlAssessment.updated_at).label("oldest"))
              .where(ControlAssessment.verified_at.is_(None), ControlAssessment.status.in_(VERIFIABLE))
              .group_by(ControlAssessment.system_id).subquery("verify"))
    accepted = _all_accepted().subquery("accepted")
    # the current decision as the state cache holds it (kept with every decision, same definition
    # as ``current_decisions``): one join by key instead of ranking every decision ever recorded
    decided = SystemState
    n_answers, n_verify = func.coalesce(answers.c.n, 0), func.coalesce(verify.c.n, 0)
    due = and_(accepted.c.system_id.is_not(None), decided.decision_id.is_(None))
    overdue = and_(decided.decision_id.is_not(None), decided.decision_expires_on < today)
    waiting = {"overdue": overdue, "due": due, "answers": n_answers > 0, "verify": n_verify > 0}
    scope = filters.scope()

    def base(*columns):
        return (select(*columns).select_from(AISystem)
                .outerjoin(answers, answers.c.system_id == AISystem.id)
                .outerjoin(verify, verify.c.system_id == AISystem.id)
                .outerjoin(accepted, accepted.c.system_id == AISystem.id)
                .outerjoin(decided, decided.system_id == AISystem.id)
                .where(_live(), _not_named(actor.id), *scope, or_(*waiting.values())))

    keep = waiting.get(filters.waiting, true())
    # One pass: every waiting system once, the totals as window aggregates over all of them, then the
    # page of those the "what is waiting" filter keeps (the totals and the page used to be two passes).
    n = func.count().over()
    everyone = base(
        AISystem.id, AISystem.name, AISystem.business_unit, AISystem.tier, n_answers.label("n_answers"),
        answers.c.oldest.label("answers_oldest"), n_verify.label("n_verify"), verify.c.oldest.label("verify_oldest"),
        case((due, True), else_=False).label("due"), case((overdue, True), else_=False).label("overdue"),
        decided.decision_verdict.label("verdict"), decided.decision_expires_on.label("expires_on"),
        case((keep, 1), else_=0).label("keep"),
        n.label("t_systems"), func.sum(n_answers).over().label("t_answers"),
        func.count(answers.c.system_id).over().label("t_answer_systems"), func.sum(n_verify).over().label("t_verify"),
        func.count(verify.c.system_id).over().label("t_verify_systems"),
        func.count(case((due, 1))).over().label("t_due"), func.count(case((overdue, 1))).over().label("t_overdue"),
        func.count(case((keep, 1))).over().label("t_matching"),
    ).subquery("waiting")
    w = everyone.c
    ordered = (select(everyone).where(w.keep == 1)
               .order_by(case((w.overdue.is_(True), 0), (w.due.is_(True), 1), else_=2), w.expires_on,
                         w.answers_oldest.nulls_last(), w.verify_oldest.nulls_last(), w.name, w.id))

    def page_of(number: int) -> list:
        return session.execute(ordered.limit(PER_PAGE).offset((number - 1) * PER_PAGE)).all()

    rows = page_of(filters.page)
    if rows:
        t = rows[0]
        totals = QueueTotals(t.t_systems, int(t.t_answers or 0), t.t_answer_systems, int(t.t_verify or 0),
                             t.t_verify_systems, t.t_due, t.t_overdue, t.t_matching)
    elif filters.page == 1 and not filters.waiting:  # everything waiting is kept: nothing waits at all
        totals = QueueTotals()
    else:  # nothing on this page (none kept, or a page past the end): the totals alone, then the last page
        totals = QueueTotals(*session.execute(base(
            func.count(), func.coalesce(func.sum(n_answers), 0), func.count(answers.c.system_id),
            func.coalesce(func.sum(n_verify), 0), func.count(verify.c.system_id),
            func.count(case((due, 1))), func.count(case((overdue, 1))), func.count(case((keep, 1))),
        )).one())
    pages = max(1, -(-totals.matching // PER_PAGE))
    page = min(filters.page, pages)
    if not rows and page != filters.page and totals.matching:
        rows = page_of(page)
    units = live_business_units(session)
    decided = _decided_by_state(session, actor, today, *scope)
    soon = today + timedelta(days=30)
    return SystemQueue(
        filters=filters if page == filters.page else replace(filters, page=page),
        rows=[SystemWaiting(*r[:8], bool(r[8]), bool(r[9]), *r[10:12]) for r in rows], totals=totals, pages=pages,
        business_units=units,
        due_soon=[r for r in decided if today <= r.expires_on <= soon][:LIMIT],
        changed=sorted((r for r in decided if r.re_review_required_at is not None),
                       key=lambda r: r.re_review_required_at)[:LIMIT],
        overrides=_overrides(session, actor, *scope), disagreements=_disagreements(session, actor, *scope),
        monitoring=after_the_baseline(session, actor, *scope),
    )


@dataclass
class ReadinessSummary:
    accepted: int = 0
    returned: int = 0
    submitted: int = 0
    verdict: object = None
    expires_on: date | None = None


def readiness_summaries(session: Session, system_ids: list[int]) -> dict[int, ReadinessSummary]:
    """Per system: answers by status and the latest decision, in two grouped queries (home pages)."""
    out = {i: ReadinessSummary() for i in system_ids}
    if not system_ids:
        return out
    rows = session.execute(
        select(ReadinessAnswer.system_id, ReadinessAnswer.status, func.count())
        .where(ReadinessAnswer.system_id.in_(system_ids))
        .group_by(ReadinessAnswer.system_id, ReadinessAnswer.status)
    )
    for system_id, status, n in rows:
        if status in (AnswerStatus.ACCEPTED, AnswerStatus.RETURNED, AnswerStatus.SUBMITTED):
            setattr(out[system_id], status.value, n)
    latest = current_decisions(system_ids)
    for system_id, verdict, expires_on in session.execute(
        select(Decision.system_id, Decision.verdict, Decision.expires_on)
        .join(latest, latest.c.decision_id == Decision.id)
        .where(Decision.system_id.in_(system_ids))
    ):
        out[system_id].verdict, out[system_id].expires_on = verdict, expires_on
    return out


def queue_counts(session: Session, actor, today: date) -> dict[str, int]:
    queue = review_queue(session, actor, today)
    return {"answers": queue.answers_total, "verify": queue.to_verify_total, "due": len(queue.decisions_due),
            "overdue": len(queue.overdue), "changed": len(queue.changed), "overrides": len(queue.overrides),
            "disagreements": len(queue.disagreements)}
