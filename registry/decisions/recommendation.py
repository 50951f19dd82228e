"""The go / no-go rules: one pure function from a system's facts to a verdict and its blockers.

Every rule adds a ``Blocker`` with the reason and the page that fixes it ("target").
A blocking item makes the recommendation NO-GO; when only conditions remain it is
CONDITIONAL GO; with nothing left it is GO.  ``tests/unit/test_recommendation.py`` is the
table of cases that specifies these rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from registry.enums import AnswerStatus, ControlStatus, Question, Severity, Tier, Verdict
from registry.reliability.passk import meets

BLOCKING = "blocking"
CONDITION = "condition"


@dataclass(frozen=True)
class AnswerFact:
    question: Question
    status: AnswerStatus | None  # None: never answered
    comment: str | None = None


@dataclass(frozen=True)
class ControlFact:
    control_id: int
    ref: str
    title: str
    status: ControlStatus
    due_on: date | None = None
    stale_evidence: int = 0  # evidence items older than the allowed age
    current_evidence: int = 1  # evidence items within the allowed age
    verified: bool = False  # by a compliance officer who is not named on the system
    waiver_expires_on: date | None = None  # of a waived control
    waiver_lapsed: bool = False  # waived, but the waiver has expired (``registry.controls.staleness``)

    @property
    def awaits_verification(self) -> bool:
        """Done (implemented with current evidence, or not applicable) but not verified."""
        return self.done and not self.verified

    @property
    def done(self) -> bool:
        return self.status is ControlStatus.NOT_APPLICABLE or (
            self.status is ControlStatus.IMPLEMENTED and self.current_evidence > 0) or (
            self.status is ControlStatus.WAIVED and not self.waiver_lapsed)

    @property
    def satisfied(self) -> bool:
        """What GO requires of a required control: done, and verified."""
        return self.done and self.verified


@dataclass(frozen=True)
class DriftFact:
    """An open drift alert of one of the system's metrics (``registry.monitoring``)."""

    metric_id: int
    summary: str


@dataclass(frozen=True)
class IncidentFact:
    """An open critical or major incident (``registry.incidents``)."""

    incident_id: int
    severity: Severity
    title: str
    occurred_on: date


@dataclass(frozen=True)
class GateFact:
    """The release gate (pass^k ≥ threshold) and the measured curve, k = 1..8 (None: not enough trials)."""

    k: int
    threshold: float
    curve: tuple[tuple[int, float | None], ...]
    tasks: int

    @property
    def measured(self) -> float | None:
        return dict(self.curve).get(self.k)


@dataclass(frozen=True)
class ReadinessFacts:
    tier: Tier
    owner_active: bool
    measured_baselines: int
    answers: list[AnswerFact]
    controls: list[ControlFact]  # the required ones only
    today: date
    decision_expires_on: date | None = None  # of the latest recorded decision
    re_review_reasons: list[str] = field(default_factory=list)
    # After the baseline (issue 16): open drift alerts, open critical/major incidents, the release
    # gate with its measured curve, and what the value case lacks for production at this tier.
    drift_alerts: tuple[DriftFact, ...] = ()
    incidents: tuple[IncidentFact, ...] = ()
    gate: GateFact | None = None
    value_gaps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Blocker:
    rule: str
    severity: str
    message: str
    target: str  # "profile", "metrics", "readiness:<question>", "control:<id>", "controls", "decisions"

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCKING


@dataclass(frozen=True)
class Recommendation:
    verdict: Verdict
    blockers: list[Blocker]
    verified_controls: int = 0  # "N of M required controls verified"
    required_controls: int = 0

    @property
    def blocking(self) -> list[Blocker]:
        return [b for b in self.blockers if b.blocking]

    @property
    def conditions(self) -> list[Blocker]:
        return [b for b in self.blockers if not b.blocking]


VERIFY_WITHIN_DAYS = 30  # the generated condition of a low/medium-tier decision: verify by then


def verified_count(controls: list[ControlFact]) -> int:
    """How many required controls are satisfied: done and verified (N of M)."""
    return sum(1 for c in controls if c.satisfied)


ANSWER_STATE = {
    None: "has not been answered",
    AnswerStatus.DRAFT: "is a draft, not yet submitted by the accountable owner",
    AnswerStatus.SUBMITTED: "waits for a compliance review",
    AnswerStatus.RETURNED: "was returned by compliance",
}


def recommend(facts: ReadinessFacts, *, for_new_decision: bool = False) -> Recommendation:
    """Apply every rule.  ``for_new_decision``: the facts of a review in progress, where an
    expired decision or a material change is what the new decision resolves, not a blocker."""
    out: list[Blocker] = []

    def add(rule: str, message: str, target: str, severity: str = BLOCKING) -> None:
        out.append(Blocker(rule, severity, message, target))

    if facts.tier is Tier.NOT_ASSESSED:
        add("tier_not_assessed", "The risk questions have not been answered, so the tier is not assessed: answer "
            "them on the system's profile.", "profile")
    if facts.tier is Tier.UNACCEPTABLE:
        add("unacceptable_tier", "The risk tier is unacceptable: this practice may not be deployed at all.", "profile")
    if not facts.owner_active:
        add("no_owner", "No active accountable owner is named: name a person who owns the system.", "profile")
    if facts.measured_baselines == 0:
        add("no_baseline", "No baseline metric has a measured value: record what the system must beat.", "metrics")
    answers = {a.question: a for a in facts.answers}
    for question in Question:
        answer = answers.get(question)
        status = answer.status if answer else None
        if status is AnswerStatus.ACCEPTED:
            continue
        message = f"Readiness question “{question.label}” {ANSWER_STATE[status]}"
        if status is AnswerStatus.RETURNED and answer.comment:
            message += f": “{answer.comment.strip().rstrip('.')}”"
        add("answer_not_accepted", message + ".", f"readiness:{question.value}")
    high = facts.tier is Tier.HIGH
    unverified = 0
    for control in facts.controls:
        name = f"{control.ref} ({_short(control.title)})"
        target = f"control:{control.control_id}"
        if control.status is ControlStatus.NOT_STARTED:
            add("control_not_started", f"Required control {name} is not started.", target)
        elif control.status is ControlStatus.IN_PROGRESS:
            if high:
                add("control_not_implemented", f"Required control {name} is in progress; a high-risk system needs "
                    "every required control implemented.", target)
            elif control.due_on is None:
                add("control_no_due_date", f"Required control {name} is in progress without a due date.", target)
            elif control.due_on < facts.today:
                add("control_overdue", f"Required control {name} was due on {control.due_on.isoformat()}.", target)
            else:
                add("control_in_progress", f"Implement {name} by {control.due_on.isoformat()}.", target, CONDITION)
        elif control.status is ControlStatus.WAIVED and control.waiver_lapsed:
            when = f"on {control.waiver_expires_on.isoformat()}" if control.waiver_expires_on else "(no expiry recorded)"
            add("waiver_expired", f"The waiver of required control {name} expired {when}: renew it or implement "
                "the practice.", target)
        elif control.status is ControlStatus.IMPLEMENTED and not control.current_evidence and not control.stale_evidence:
            add("control_no_evidence", f"Required control {name} is marked implemented but has no evidence: "
                "attach a file or a link that shows it.", target)
        if control.stale_evidence and not control.current_evidence:  # current evidence beside old is enough
            add("stale_evidence", f"Evidence for required control {name} is stale: "
                f"{control.stale_evidence} item{'s' if control.stale_evidence != 1 else ''} too old to rely on, "
                "and none is current.", target)
        if control.awaits_verification:
            if high:
                add("control_unverified", f"Required control {name} is {_done_as(control)} but not verified by a "
                    "compliance officer who is not named on the system; a high-risk system needs every required "
                    "control verified.", target)
            else:
                unverified += 1
    if unverified:  # low and medium tier: at best CONDITIONAL GO, with the condition to verify
        by = f" by {(facts.today + timedelta(days=VERIFY_WITHIN_DAYS)).isoformat()}" if for_new_decision else ""
        add("controls_unverified", f"Verify {unverified} required control{'s' if unverified != 1 else ''}{by}: "
            f"{'they are' if unverified != 1 else 'it is'} done but not yet verified by a compliance officer "
            "who is not named on the system.", "controls", CONDITION)
    for alert in facts.drift_alerts:
        add("drift_alert", f"Drift alert open: {alert.summary.rstrip('.')}. Resolve it with a note once the metric "
            "is back in its band or the cause is handled.", "monitoring")
    for incident in facts.incidents:
        when = incident.occurred_on.isoformat()
        if incident.severity is Severity.CRITICAL:
            add("incident_critical", f"Critical incident of {when} is open: “{_short(incident.title)}”. Mitigate "
                "or close it before GO.", "incidents")
        else:
            add("incident_major", f"Major incident of {when} is open: “{_short(incident.title)}”. Mitigate or "
                "close it; while it is open the system is at best CONDITIONAL GO.", "incidents", CONDITION)
    if facts.gate is not None:
        gate, measured = facts.gate, facts.gate.measured
        shown = ", ".join(f"pass^{k} {_pct(v)}" for k, v in gate.curve)
        if measured is None:
            add("reliability_gate", f"Release gate pass^{gate.k} ≥ {_pct(gate.threshold)} cannot be checked: "
                f"not enough trials (every task needs at least {gate.k}; {gate.tasks} task"
                f"{'s' if gate.tasks != 1 else ''} recorded). Measured: {shown or 'nothing'}.", "reliability")
        elif not meets(measured, gate.threshold):
            add("reliability_gate", f"Release gate not met: pass^{gate.k} is {_pct(measured)} against "
                f"{_pct(gate.threshold)} over {gate.tasks} tasks. Measured: {shown}.", "reliability")
    if facts.value_gaps:
        add("value_case", f"The value case is not ready for production at {facts.tier.label.lower()} tier: "
            + " ".join(facts.value_gaps), "value")
    if not for_new_decision:
        if facts.decision_expires_on is not None and facts.decision_expires_on < facts.today:
            add("review_overdue", f"The re-review date {facts.decision_expires_on.isoformat()} has passed: "
                "the decision must be reviewed again.", "decisions")
        if facts.re_review_reasons:
            add("material_change", "Re-review required after a material change: "
                + "; ".join(facts.re_review_reasons) + ".", "decisions")
    if any(b.blocking for b in out):
        verdict = Verdict.NO_GO
    elif out:
        verdict = Verdict.CONDITIONAL_GO
    else:
        verdict = Verdict.GO
    return Recommendation(verdict, out, verified_count(facts.controls), len(facts.controls))


def _pct(value: float | None) -> str:
    return "not enough trials" if value is None else f"{value * 100:.1f}%".replace(".0%", "%")


def _done_as(control: ControlFact) -> str:
    return {ControlStatus.NOT_APPLICABLE: "marked not applicable",
            ControlStatus.WAIVED: "waived"}.get(control.status, "implemented")


@lru_cache(maxsize=4096)  # control titles repeat across thousands of systems
def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
