"""The five readiness questions: their wording, what a complete answer needs, how it reads.

``missing_parts`` is the one place that says what an owner still has to provide; the
readiness page lists its messages and submission is refused while any remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from registry.enums import CheckFrequency, Question
from registry.inventory.models import OWNERSHIP_ROLES

REHEARSAL_MAX_AGE_DAYS = 365

PROMPTS = {
    Question.OUTCOME: "What specific business outcome is this system supposed to improve, and what is the current baseline?",
    Question.OWNERSHIP: "Who owns the system in production, including performance, review queues, escalation and business impact?",
    Question.DRIFT: "What does model or data drift look like, and how will the organisation detect it early?",
    Question.HUMAN_WORKFLOW: "What is the human workflow when the AI is uncertain, wrong or operating outside its intended scope?",
    Question.ROLLBACK: "What is the rollback plan if the system needs to be paused without disrupting the business?",
}

OWNER_ROLES = dict(zip(OWNERSHIP_ROLES, (
    "Owner of performance",
    "Owner of the human review queue",
    "Owner of escalation",
    "Owner of business impact",
), strict=True))

DEGRADED_MODES = {
    "full": "Full",
    "degraded": "Degraded",
    "minimal": "Minimal",
    "offline": "Offline",
}


@dataclass
class AnswerContext:
    """What the checks need besides the answer: the system's metrics and the people named."""

    metrics: dict[int, Any] = field(default_factory=dict)  # id -> BaselineMetric
    people: dict[int, Any] = field(default_factory=dict)  # id -> User
    today: date = field(default_factory=date.today)
    drift_rules: int = 0  # how many of the metrics have a structured drift rule (registry.monitoring)


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def missing_parts(question: Question, content: dict, ctx: AnswerContext) -> list[str]:
    """Every part a complete answer still lacks, as sentences an owner can act on."""
    content = content or {}
    missing: list[str] = []
    if question is Question.OUTCOME:
        if _blank(content.get("business_outcome")):
            missing.append("Describe the business outcome the system should improve.")
        linked = [ctx.metrics[i] for i in content.get("metric_ids", []) if i in ctx.metrics]
        if not ctx.metrics:
            missing.append("Record at least one baseline metric on the system page, then link it here.")
        elif not linked:
            missing.append("Link at least one baseline metric.")
        for metric in linked:
            if metric.baseline_value is None:
                missing.append(f"Measure the baseline of “{metric.name}” (value, date and source).")
            elif _blank(metric.source):
                missing.append(f"Say where the baseline of “{metric.name}” comes from (source).")
            if metric.target_value is None:
                missing.append(f"Set a target for “{metric.name}”.")
    elif question is Question.OWNERSHIP:
        for key, label in OWNER_ROLES.items():
            person = ctx.people.get(content.get(key)) if content.get(key) else None
            if person is None:
                missing.append(f"Name the {label.lower()} (a person).")
            elif not person.is_active:
                missing.append(f"The {label.lower()}, {person.name}, no longer has an active account: name someone else.")
    elif question is Question.DRIFT:
        # A metric's structured drift rule (its band, on the Monitoring tab) is the threshold: the
        # answer links to the rules rather than restating them, and names who watches and how often.
        signals = content.get("signals") or []
        if not signals:
            missing.append("Name at least one drift signal with how often it is checked and who is alerted"
                           + (" (the drift rules on the Monitoring tab give the thresholds)." if ctx.drift_rules
                              else ", and its threshold (or set a drift rule on a metric's Monitoring tab)."))
        for n, signal in enumerate(signals, start=1):
            name = signal.get("signal") or f"signal {n}"
            parts = (("signal", "what is watched"), ("frequency", "how often it is checked"), ("alerted", "who is alerted"))
            if not ctx.drift_rules:
                parts += (("threshold", "the threshold (or set a drift rule on the Monitoring tab)"),)
            for key, label in parts:
                if _blank(signal.get(key)):
                    missing.append(f"Drift signal “{name}”: say {label}.")
    elif question is Question.HUMAN_WORKFLOW:
        if content.get("automate_at") is None and not content.get("never_automate"):
            missing.append("Say when outputs are used without a person: an automation threshold, or “never automate”.")
        if content.get("suggest_at") is None:
            missing.append("Set the confidence below which outputs are escalated to a person (the suggestion band’s floor).")
        if not content.get("escalation_triggers"):
            missing.append("List at least one escalation trigger.")
        if _blank(content.get("reviewer_role")):
            missing.append("Name the reviewer role that handles suggestions and escalations.")
        if not content.get("reviewer_capacity_per_day"):
            missing.append("Give the reviewers’ capacity (items per day).")
        if _blank(content.get("feedback_loop")):
            missing.append("Say how reviewers’ corrections feed back into the system.")
    elif question is Question.ROLLBACK:
        if _blank(content.get("kill_switch")):
            missing.append("Describe the kill switch: who pauses the system, and how.")
        modes = content.get("degraded_modes") or {}
        for key, label in DEGRADED_MODES.items():
            if _blank(modes.get(key)):
                missing.append(f"Describe the {label.lower()} mode.")
        if _blank(content.get("fallback_process")):
            missing.append("Describe the fallback process the business runs while the system is paused.")
        if content.get("time_to_pause_minutes") is None:
            missing.append("Give the time it takes to pause the system (minutes).")
        rehearsal = content.get("last_rehearsal")
        if not rehearsal:
            missing.append("Rehearse the rollback and record the date of the last rehearsal.")
        else:
            when = date.fromisoformat(rehearsal)
            if when > ctx.today:
                missing.append("The last rehearsal date is in the future.")
            elif (ctx.today - when).days > REHEARSAL_MAX_AGE_DAYS:
                missing.append(f"The last rehearsal was on {rehearsal}, more than a year ago: rehearse again.")
    return missing


def _person(ctx: AnswerContext, user_id) -> str:
    person = ctx.people.get(user_id) if user_id else None
    if person is None:
        return NOT_ANSWERED if not user_id else "a person no longer registered"
    return person.label


NOT_ANSWERED = "not answered"


def describe(question: Question, content: dict, ctx: AnswerContext) -> list[tuple[str, str]]:
    """The answer as (label, text) pairs: what pages, history, snapshots and PDFs show.
    A field nobody filled in reads "not answered", never as if it were an answer."""
    content = content or {}
    rows: list[tuple[str, str]] = []

    def text(value) -> str:
        return NOT_ANSWERED if _blank(value) else str(value)

    if question is Question.OUTCOME:
        rows.append(("Business outcome", text(content.get("business_outcome"))))
        linked = 0
        for i in content.get("metric_ids", []):
            metric = ctx.metrics.get(i)
            if metric is None:
                continue
            linked += 1
            baseline = "not measured" if metric.baseline_value is None else (
                f"{metric.baseline_value:g} {metric.unit} on "
                f"{metric.measured_on.isoformat() if metric.measured_on else 'a date not recorded'}"
                f" ({metric.source or 'source not recorded'})")
            target = "no target set" if metric.target_value is None else f"target {metric.target_value:g} {metric.unit}"
            rows.append((f"Metric: {metric.name}", f"baseline {baseline}; {target}; {metric.direction.label.lower()}"))
        if not linked:
            rows.append(("Metrics", NOT_ANSWERED))
    elif question is Question.OWNERSHIP:
        rows += [(label, _person(ctx, content.get(key))) for key, label in OWNER_ROLES.items()]
    elif question is Question.DRIFT:
        for n, s in enumerate(content.get("signals") or [], start=1):
            freq = CheckFrequency(s["frequency"]).label.lower() if s.get("frequency") else NOT_ANSWERED
            rows.append((f"Signal {n}: {text(s.get('signal'))}",
                         f"threshold {text(s.get('threshold'))}; checked {freq}; alerts {text(s.get('alerted'))}"))
        if not content.get("signals"):
            rows.append(("Signals", NOT_ANSWERED))
        if content.get("notes"):
            rows.append(("Notes", content["notes"]))
    elif question is Question.HUMAN_WORKFLOW:
        automate, suggest = content.get("automate_at"), content.get("suggest_at")
        if content.get("never_automate"):
            rows.append(("Automate", "never (a person confirms every output)"))
        else:
            rows.append(("Automate", NOT_ANSWERED if automate is None else f"confidence ≥ {automate:g}%"))
        rows.append(("Suggest for confirmation", NOT_ANSWERED if suggest is None else
                     f"confidence ≥ {suggest:g}%" + ("" if automate is None else f" and < {automate:g}%")))
        rows.append(("Escalate", NOT_ANSWERED if suggest is None else f"confidence < {suggest:g}%, or any trigger below"))
        rows.append(("Escalation triggers", "; ".join(content.get("escalation_triggers") or []) or NOT_ANSWERED))
        rows.append(("Reviewer role", text(content.get("reviewer_role"))))
        capacity = content.get("reviewer_capacity_per_day")
        rows.append(("Reviewer capacity", NOT_ANSWERED if capacity is None else f"{capacity} items per day"))
        rows.append(("Corrections feed back", text(content.get("feedback_loop"))))
    elif question is Question.ROLLBACK:
        rows.append(("Kill switch", text(content.get("kill_switch"))))
        modes = content.get("degraded_modes") or {}
        rows += [(f"{label} mode", text(modes.get(key))) for key, label in DEGRADED_MODES.items()]
        rows.append(("Fallback process", text(content.get("fallback_process"))))
        minutes = content.get("time_to_pause_minutes")
        rows.append(("Time to pause", NOT_ANSWERED if minutes is None else f"{minutes} minutes"))
        rows.append(("Last rehearsal", text(content.get("last_rehearsal"))))
    return rows
