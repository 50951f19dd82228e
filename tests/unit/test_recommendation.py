"""The go / no-go rules, one table: every rule alone, then in combination.

Each case starts from facts that give GO (all answers accepted, an owner, a measured
baseline, every required control implemented with current evidence and verified by an
officer not named on the system) and changes what the case names.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from registry.decisions.recommendation import (
    AnswerFact,
    ControlFact,
    DriftFact,
    GateFact,
    IncidentFact,
    ReadinessFacts,
    recommend,
)
from registry.enums import AnswerStatus, ControlStatus, Question, Severity, Tier, Verdict

TODAY = date(2026, 11, 23)
LATER = date(2027, 1, 31)
EARLIER = date(2026, 10, 1)


def control(i: int, status=ControlStatus.IMPLEMENTED, due=None, stale=0, current=1, verified=True) -> ControlFact:
    return ControlFact(i, f"MAP {i}.1", f"Control {i}", status, due, stale, current, verified)


def facts(tier=Tier.MEDIUM, **changes) -> ReadinessFacts:
    base = ReadinessFacts(
        tier=tier, owner_active=True, measured_baselines=1,
        answers=[AnswerFact(q, AnswerStatus.ACCEPTED) for q in Question],
        controls=[control(1), control(2), control(3, ControlStatus.NOT_APPLICABLE)],
        today=TODAY,
    )
    return replace(base, **changes)


def answers_with(question: Question, status, comment=None) -> list[AnswerFact]:
    return [AnswerFact(q, status if q is question else AnswerStatus.ACCEPTED, comment if q is question else None)
            for q in Question]


CASES = {
    # name: (facts, expected verdict, expected rules)
    "all clear, medium": (facts(), Verdict.GO, []),
    "all clear, low": (facts(Tier.LOW), Verdict.GO, []),
    "all clear, high": (facts(Tier.HIGH), Verdict.GO, []),
    "unacceptable tier": (facts(Tier.UNACCEPTABLE, controls=[]), Verdict.NO_GO, ["unacceptable_tier"]),
    "no accountable owner": (facts(owner_active=False), Verdict.NO_GO, ["no_owner"]),
    "no measured baseline": (facts(measured_baselines=0), Verdict.NO_GO, ["no_baseline"]),
    "answer never given": (facts(answers=[a for a in facts().answers if a.question is not Question.DRIFT]),
                           Verdict.NO_GO, ["answer_not_accepted"]),
    "answer in draft": (facts(answers=answers_with(Question.ROLLBACK, AnswerStatus.DRAFT)), Verdict.NO_GO,
                        ["answer_not_accepted"]),
    "answer submitted": (facts(answers=answers_with(Question.OWNERSHIP, AnswerStatus.SUBMITTED)), Verdict.NO_GO,
                         ["answer_not_accepted"]),
    "answer returned": (facts(answers=answers_with(Question.OUTCOME, AnswerStatus.RETURNED, "No source")),
                        Verdict.NO_GO, ["answer_not_accepted"]),
    "control not started": (facts(controls=[control(1, ControlStatus.NOT_STARTED)]), Verdict.NO_GO,
                            ["control_not_started"]),
    "high: control in progress with a due date": (
        facts(Tier.HIGH, controls=[control(1, ControlStatus.IN_PROGRESS, LATER)]), Verdict.NO_GO,
        ["control_not_implemented"]),
    "medium: control in progress with a due date": (
        facts(controls=[control(1, ControlStatus.IN_PROGRESS, LATER)]), Verdict.CONDITIONAL_GO, ["control_in_progress"]),
    "low: control in progress with a due date": (
        facts(Tier.LOW, controls=[control(1, ControlStatus.IN_PROGRESS, LATER)]), Verdict.CONDITIONAL_GO,
        ["control_in_progress"]),
    "medium: control in progress without a due date": (
        facts(controls=[control(1, ControlStatus.IN_PROGRESS)]), Verdict.NO_GO, ["control_no_due_date"]),
    "medium: control in progress, due date passed": (
        facts(controls=[control(1, ControlStatus.IN_PROGRESS, EARLIER)]), Verdict.NO_GO, ["control_overdue"]),
    "stale evidence beside current evidence": (facts(controls=[control(1, stale=2, current=1)]), Verdict.GO, []),
    "only stale evidence": (facts(controls=[control(1, stale=1, current=0)]), Verdict.NO_GO, ["stale_evidence"]),
    "implemented without any evidence": (facts(controls=[control(1, current=0)]), Verdict.NO_GO,
                                         ["control_no_evidence"]),
    "not applicable needs no evidence": (facts(controls=[control(1, ControlStatus.NOT_APPLICABLE, current=0)]),
                                         Verdict.GO, []),
    "re-review date passed": (facts(decision_expires_on=EARLIER), Verdict.NO_GO, ["review_overdue"]),
    "re-review date ahead": (facts(decision_expires_on=LATER), Verdict.GO, []),
    "material change since the decision": (facts(re_review_reasons=["Risk tier: Medium → High"]), Verdict.NO_GO,
                                           ["material_change"]),
    # GO means verified
    "high: implemented, not verified": (facts(Tier.HIGH, controls=[control(1), control(2, verified=False)]),
                                        Verdict.NO_GO, ["control_unverified"]),
    "high: not applicable, not verified": (
        facts(Tier.HIGH, controls=[control(1, ControlStatus.NOT_APPLICABLE, current=0, verified=False)]),
        Verdict.NO_GO, ["control_unverified"]),
    "medium: implemented, not verified": (facts(controls=[control(1, verified=False)]), Verdict.CONDITIONAL_GO,
                                          ["controls_unverified"]),
    "low: three not verified, one condition": (
        facts(Tier.LOW, controls=[control(1, verified=False), control(2, verified=False),
                                  control(3, ControlStatus.NOT_APPLICABLE, current=0, verified=False)]),
        Verdict.CONDITIONAL_GO, ["controls_unverified"]),
    "verified, but the evidence went stale": (facts(controls=[control(1, stale=1, current=0)]), Verdict.NO_GO,
                                              ["stale_evidence"]),
    "in progress is not waiting for verification": (
        facts(Tier.LOW, controls=[control(1, ControlStatus.IN_PROGRESS, LATER, verified=False)]),
        Verdict.CONDITIONAL_GO, ["control_in_progress"]),
    # combinations
    "conditions and a blocker: the blocker wins": (
        facts(controls=[control(1, ControlStatus.IN_PROGRESS, LATER), control(2, ControlStatus.NOT_STARTED)]),
        Verdict.NO_GO, ["control_in_progress", "control_not_started"]),
    "two conditions": (
        facts(Tier.LOW, controls=[control(1, ControlStatus.IN_PROGRESS, LATER), control(2, ControlStatus.IN_PROGRESS, LATER)]),
        Verdict.CONDITIONAL_GO, ["control_in_progress", "control_in_progress"]),
    "everything missing": (
        facts(Tier.HIGH, owner_active=False, measured_baselines=0, answers=[],
              controls=[control(1, ControlStatus.NOT_STARTED), control(2, ControlStatus.IN_PROGRESS, LATER, stale=1, current=0)],
              decision_expires_on=EARLIER, re_review_reasons=["Kind: a → b"]),
        Verdict.NO_GO,
        ["no_owner", "no_baseline"] + ["answer_not_accepted"] * 5
        + ["control_not_started", "control_not_implemented", "stale_evidence", "review_overdue", "material_change"]),
    "unacceptable even with everything else in order": (facts(Tier.UNACCEPTABLE), Verdict.NO_GO, ["unacceptable_tier"]),
    # after the baseline (issue 16)
    "open drift alert": (facts(drift_alerts=(DriftFact(7, "Precision 70 % is below the band 88–100 %"),)),
                         Verdict.NO_GO, ["drift_alert"]),
    "open critical incident": (facts(incidents=(IncidentFact(1, Severity.CRITICAL, "Refunds promised", EARLIER),)),
                               Verdict.NO_GO, ["incident_critical"]),
    "open major incident: at best conditional": (
        facts(incidents=(IncidentFact(2, Severity.MAJOR, "Wrong tracking answers", EARLIER),)),
        Verdict.CONDITIONAL_GO, ["incident_major"]),
    "gate met exactly": (facts(gate=GateFact(2, 0.3, ((1, 0.6), (2, 0.3), (3, 0.1)), 1)), Verdict.GO, []),
    "gate not met": (facts(gate=GateFact(3, 0.3, ((1, 0.6), (2, 0.3), (3, 0.1)), 1)), Verdict.NO_GO,
                     ["reliability_gate"]),
    "gate without enough trials": (facts(gate=GateFact(8, 0.5, ((1, 0.6), (8, None)), 1)), Verdict.NO_GO,
                                   ["reliability_gate"]),
    "value case lacks the run budget": (facts(value_gaps=("no budgeted annual run cost",)), Verdict.NO_GO,
                                        ["value_case"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rules(name):
    given, verdict, rules = CASES[name]
    result = recommend(given)
    assert result.verdict is verdict
    assert [b.rule for b in result.blockers] == rules


def test_every_blocker_names_the_page_that_fixes_it():
    result = recommend(CASES["everything missing"][0])
    targets = {b.rule: b.target for b in result.blockers}
    assert targets["no_owner"] == "profile" and targets["no_baseline"] == "metrics"
    assert targets["control_not_started"] == "control:1" and targets["review_overdue"] == "decisions"
    assert {b.target for b in result.blockers if b.rule == "answer_not_accepted"} == {
        f"readiness:{q.value}" for q in Question}


def test_a_returned_answer_quotes_the_reviewers_comment():
    result = recommend(CASES["answer returned"][0])
    assert "No source" in result.blockers[0].message and "returned" in result.blockers[0].message


def test_a_new_decision_resolves_an_overdue_review_and_a_material_change():
    """Recording the re-review must not be blocked by the very thing it resolves."""
    given = facts(decision_expires_on=EARLIER, re_review_reasons=["Autonomy: a → b"])
    assert recommend(given).verdict is Verdict.NO_GO
    assert recommend(given, for_new_decision=True).verdict is Verdict.GO


def test_only_conditions_are_conditions():
    result = recommend(CASES["medium: control in progress with a due date"][0])
    assert result.conditions and not result.blocking
    assert "2027-01-31" in result.conditions[0].message


def test_unverified_controls_give_one_dated_condition_for_a_new_decision():
    given = CASES["low: three not verified, one condition"][0]
    now, review = recommend(given), recommend(given, for_new_decision=True)
    assert now.conditions[0].message.startswith("Verify 3 required controls: they are done but not yet verified")
    assert review.conditions[0].message.startswith("Verify 3 required controls by 2026-12-23:")
    assert now.conditions[0].target == "controls"


def test_n_of_m_required_controls_verified():
    """Verified counts only what is done: implemented with current evidence, or not applicable."""
    given = facts(controls=[control(1), control(2, verified=False), control(3, stale=1, current=0),
                            control(4, ControlStatus.NOT_APPLICABLE, current=0), control(5, ControlStatus.NOT_STARTED,
                                                                                      current=0, verified=False)])
    result = recommend(given)
    assert (result.verified_controls, result.required_controls) == (2, 5)


def test_the_gate_blocker_shows_the_measured_curve_and_never_a_number_without_trials():
    curve = ((1, 0.92), (2, 0.85), (8, 0.41))
    missed = recommend(facts(gate=GateFact(8, 0.9, curve, 40))).blockers[0]
    assert missed.target == "reliability"
    assert "pass^8 is 41% against 90% over 40 tasks" in missed.message
    assert "pass^1 92%, pass^2 85%, pass^8 41%" in missed.message
    short = recommend(facts(gate=GateFact(8, 0.9, ((1, 0.5), (8, None)), 3))).blockers[0]
    assert "not enough trials" in short.message and "pass^8 not enough trials" in short.message
    assert "%" not in short.message.split("Measured:")[1].split("pass^8")[1]


def test_incidents_and_drift_name_what_is_open_and_where_to_fix_it():
    result = recommend(facts(drift_alerts=(DriftFact(7, "Precision 70 % is below the band 88–100 %."),),
                             incidents=(IncidentFact(1, Severity.CRITICAL, "Refunds promised", EARLIER),
                                        IncidentFact(2, Severity.MAJOR, "Wrong answers", EARLIER))))
    by_rule = {b.rule: b for b in result.blockers}
    assert by_rule["drift_alert"].message.startswith("Drift alert open: Precision 70 % is below the band 88–100 %.")
    assert by_rule["drift_alert"].target == "monitoring" and by_rule["incident_critical"].target == "incidents"
    assert "2026-10-01" in by_rule["incident_critical"].message and "Refunds promised" in by_rule["incident_critical"].message
    assert not by_rule["incident_major"].blocking and result.verdict is Verdict.NO_GO
