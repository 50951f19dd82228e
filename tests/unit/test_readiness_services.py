"""The readiness lifecycle: draft → submitted (attested by the accountable owner) → accepted / returned."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.db import utcnow
from registry.enums import AnswerStatus, Question
from registry.errors import Conflict, PermissionDenied, ValidationFailed
from registry.inventory.services import add_metric
from registry.monitoring.services import set_drift_rule
from registry.readiness.questions import missing_parts
from registry.readiness.services import context_for, review_answer, save_answer, submit_answer
from tests.builders import complete_payloads, measured_metric
from tests.conftest import make_system, make_user


@pytest.fixture
def system(session, people):
    return make_system(session, people["owner"])


def _payload(session, people, system, question):
    metric = measured_metric(session, people["owner"], system)
    return complete_payloads(system, people, [metric.id])[question]


def test_draft_submit_accept(session, people, system):
    answer = save_answer(session, people["owner"], system.id, "drift", _payload(session, people, system, Question.DRIFT))
    assert answer.status is AnswerStatus.DRAFT
    submit_answer(session, people["owner"], system.id, "drift", attest=True)
    assert answer.status is AnswerStatus.SUBMITTED and "attest personally" in answer.attestation
    assert people["owner"].name in answer.attestation
    review_answer(session, people["compliance"], system.id, "drift", {"outcome": "accept", "comment": "Clear."})
    session.commit()
    assert answer.status is AnswerStatus.ACCEPTED and answer.reviewed_by_id == people["compliance"].id
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.system_id == system.id)).all()
    assert actions[-3:] == ["readiness.save", "readiness.submit", "readiness.accept"]


def test_only_the_accountable_owner_submits_and_must_attest(session, people, system):
    system.technical_owner_id = people["other_owner"].id
    session.commit()
    save_answer(session, people["other_owner"], system.id, "drift", _payload(session, people, system, Question.DRIFT))
    with pytest.raises(PermissionDenied):
        submit_answer(session, people["other_owner"], system.id, "drift", attest=True)
    with pytest.raises(PermissionDenied):
        submit_answer(session, people["admin"], system.id, "drift", attest=True)
    with pytest.raises(ValidationFailed) as err:
        submit_answer(session, people["owner"], system.id, "drift", attest=False)
    assert "attest" in err.value.errors


def test_an_incomplete_answer_cannot_be_submitted_and_says_what_is_missing(session, people, system):
    save_answer(session, people["owner"], system.id, "rollback", {"kill_switch": "Flag in the console"})
    with pytest.raises(ValidationFailed) as err:
        submit_answer(session, people["owner"], system.id, "rollback", attest=True)
    missing = err.value.errors["answer"]
    assert "Describe the degraded mode." in missing
    assert "Give the time it takes to pause the system (minutes)." in missing
    assert "Rehearse the rollback and record the date of the last rehearsal." in missing
    assert not any("kill switch" in m for m in missing)


@pytest.mark.parametrize(("question", "payload", "expected"), [
    (Question.OUTCOME, {"business_outcome": "x"}, "Record at least one baseline metric on the system page, then link it here."),
    (Question.OWNERSHIP, {"performance_owner": None}, "Name the owner of the human review queue (a person)."),
    (Question.DRIFT, {"signals": [{"signal": "PSI", "threshold": "", "frequency": "daily", "alerted": "x"}]},
     "Drift signal “PSI”: say the threshold (or set a drift rule on the Monitoring tab)."),
    (Question.HUMAN_WORKFLOW, {"suggest_at": 50}, "List at least one escalation trigger."),
    (Question.ROLLBACK, {"last_rehearsal": "2024-01-01"}, "more than a year ago"),
])
def test_missing_parts_name_each_gap(session, people, system, question, payload, expected):
    ctx = context_for(session, system)
    assert any(expected in m for m in missing_parts(question, payload, ctx))


def test_a_drift_rule_on_the_monitoring_tab_stands_for_the_thresholds(session, people, system):
    """The drift answer links to the structured rules instead of restating them."""
    signal = {"signals": [{"signal": "Precision", "threshold": "", "frequency": "weekly", "alerted": "Claims lead"}]}
    assert any("threshold" in m for m in missing_parts(Question.DRIFT, signal, context_for(session, system)))
    metric = add_metric(session, people["owner"], system.id, {"name": "Precision", "unit": "%", "baseline": 90,
                                                             "measured_on": "2026-01-05", "source": "eval",
                                                             "target": 92, "direction": "higher"})
    set_drift_rule(session, people["owner"], system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                                    "below": 5, "consecutive": 2})
    ctx = context_for(session, system)
    assert ctx.drift_rules == 1 and not missing_parts(Question.DRIFT, signal, ctx)
    assert any("the drift rules on the Monitoring tab give the thresholds" in m
               for m in missing_parts(Question.DRIFT, {"signals": []}, ctx))


def test_a_returned_answer_needs_a_comment(session, people, system):
    save_answer(session, people["owner"], system.id, "drift", _payload(session, people, system, Question.DRIFT))
    submit_answer(session, people["owner"], system.id, "drift", attest=True)
    with pytest.raises(ValidationFailed) as err:
        review_answer(session, people["compliance"], system.id, "drift", {"outcome": "return", "comment": "  "})
    assert "comment" in err.value.errors
    answer = review_answer(session, people["compliance"], system.id, "drift",
                           {"outcome": "return", "comment": "Who is alerted at night?"})
    assert answer.status is AnswerStatus.RETURNED and answer.review_comment == "Who is alerted at night?"


def test_editing_an_accepted_answer_sends_it_back_to_draft_visibly(session, people, system):
    payload = _payload(session, people, system, Question.DRIFT)
    save_answer(session, people["owner"], system.id, "drift", payload)
    submit_answer(session, people["owner"], system.id, "drift", attest=True)
    review_answer(session, people["compliance"], system.id, "drift", {"outcome": "accept"})
    session.commit()
    payload["signals"][0]["threshold"] = "±3 points week on week"
    answer = save_answer(session, people["owner"], system.id, "drift", payload)
    session.commit()
    assert answer.status is AnswerStatus.DRAFT and answer.attestation is None
    events = session.scalars(select(AuditEvent).where(AuditEvent.system_id == system.id).order_by(AuditEvent.seq)).all()
    change, reopen = events[-2], events[-1]
    assert change.action == "readiness.save" and "±3 points" in str(change.after) and "±5 points" in str(change.before)
    assert reopen.action == "readiness.reopen" and reopen.before == {"status": "Accepted"}


def test_reviewers_may_not_review_systems_they_are_named_on(session, people, system):
    payload = _payload(session, people, system, Question.OWNERSHIP)
    payload["escalation_owner"] = people["compliance"].email
    save_answer(session, people["owner"], system.id, "ownership", payload)
    submit_answer(session, people["owner"], system.id, "ownership", attest=True)
    with pytest.raises(PermissionDenied):
        review_answer(session, people["compliance"], system.id, "ownership", {"outcome": "accept"})
    with pytest.raises(PermissionDenied):
        review_answer(session, people["executive"], system.id, "ownership", {"outcome": "accept"})


@pytest.mark.parametrize(("payload", "field"), [
    ({"signals": [{"signal": "x", "frequency": "fortnightly"}]}, "signals.0.frequency"),
    ({"signals": "lots"}, "signals"),
])
def test_malformed_drift_answers_are_refused_and_nothing_is_written(session, people, system, payload, field):
    with pytest.raises(ValidationFailed) as err:
        save_answer(session, people["owner"], system.id, "drift", payload)
    assert field in err.value.errors
    session.rollback()
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "readiness.save")) is None


def test_bad_bands_people_and_dates_are_refused(session, people, system):
    with pytest.raises(ValidationFailed) as err:
        save_answer(session, people["owner"], system.id, "human_workflow", {"automate_at": 60, "suggest_at": 80})
    assert "suggest_at" in err.value.errors
    with pytest.raises(ValidationFailed) as err:
        save_answer(session, people["owner"], system.id, "ownership", {"performance_owner": "nobody@example.test"})
    assert "performance_owner" in err.value.errors
    with pytest.raises(ValidationFailed) as err:
        save_answer(session, people["owner"], system.id, "rollback", {"last_rehearsal": "2999-01-01"})
    assert "last_rehearsal" in err.value.errors
    with pytest.raises(ValidationFailed) as err:
        save_answer(session, people["owner"], system.id, "outcome", {"metric_ids": [987654]})
    assert "metric_ids" in err.value.errors


def test_a_stale_copy_cannot_overwrite_or_review(session, people, system):
    payload = _payload(session, people, system, Question.DRIFT)
    answer = save_answer(session, people["owner"], system.id, "drift", payload)
    session.commit()
    seen = answer.version
    save_answer(session, people["owner"], system.id, "drift", payload | {"notes": "changed"}, expected_version=seen)
    session.commit()
    with pytest.raises(Conflict):
        save_answer(session, people["owner"], system.id, "drift", payload | {"notes": "mine"}, expected_version=seen)
    session.rollback()
    submit_answer(session, people["owner"], system.id, "drift", attest=True)
    session.commit()
    with pytest.raises(Conflict):
        review_answer(session, people["compliance"], system.id, "drift", {"outcome": "accept"}, expected_version=seen)


def test_two_reviewers_at_once_one_wins_the_other_gets_a_conflict(app, session, people, system):
    second = make_user(session, "compliance")
    save_answer(session, people["owner"], system.id, "drift", _payload(session, people, system, Question.DRIFT))
    answer = submit_answer(session, people["owner"], system.id, "drift", attest=True)
    session.commit()
    version = answer.version
    factory = app.extensions["registry.sessions"][0]
    results, barrier = [], threading.Barrier(2, timeout=20)

    def review(reviewer_id, outcome):
        barrier.wait()  # before any database access: SQLite's writers queue at BEGIN
        with factory() as s:
            from registry.auth.models import User

            reviewer = s.get(User, reviewer_id)
            try:
                review_answer(s, reviewer, system.id, "drift", {"outcome": outcome, "comment": "late"},
                              expected_version=version)
                s.commit()
                results.append("ok")
            except Conflict:
                s.rollback()
                results.append("conflict")

    threads = [threading.Thread(target=review, args=(people["compliance"].id, "accept")),
               threading.Thread(target=review, args=(second.id, "return"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["conflict", "ok"]
    session.expire_all()
    reviews = session.scalars(select(AuditEvent).where(AuditEvent.action.in_(["readiness.accept", "readiness.return"]))).all()
    assert len(reviews) == 1


def test_now_dates_the_answer_and_its_audit_events_which_keep_the_real_time_too(session, people, system):
    saved, submitted, reviewed = (datetime(2026, 10, d, 10, 0, tzinfo=UTC) for d in (1, 2, 5))
    answer = save_answer(session, people["owner"], system.id, "drift", _payload(session, people, system, Question.DRIFT),
                         now=saved)
    submit_answer(session, people["owner"], system.id, "drift", attest=True, now=submitted)
    review_answer(session, people["compliance"], system.id, "drift", {"outcome": "accept", "comment": "Clear."},
                  now=reviewed)
    session.commit()
    session.refresh(answer)
    assert (answer.submitted_at, answer.reviewed_at, answer.updated_at) == (submitted, reviewed, reviewed)
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.system_id == system.id,
        AuditEvent.action.in_(["readiness.save", "readiness.submit", "readiness.accept"]))).all()
    assert {e.action: e.when for e in events} == {
        "readiness.save": saved, "readiness.submit": submitted, "readiness.accept": reviewed}
    real = utcnow()  # when each was really written stays in the hashed record
    assert all(abs((datetime.fromisoformat(e.data["written_at"]) - real).total_seconds()) < 60 for e in events)


@pytest.mark.parametrize("change", ["changed", "deleted"])
def test_changing_a_linked_metric_reopens_an_accepted_outcome(session, people, system, change):
    from registry.inventory.services import delete_metric, update_metric

    metric = measured_metric(session, people["owner"], system)
    payload = complete_payloads(system, people, [metric.id])[Question.OUTCOME]
    save_answer(session, people["owner"], system.id, "outcome", payload)
    submit_answer(session, people["owner"], system.id, "outcome", attest=True)
    answer = review_answer(session, people["compliance"], system.id, "outcome", {"outcome": "accept"})
    session.commit()
    if change == "changed":
        update_metric(session, people["owner"], system.id, metric.id, {
            "name": metric.name, "unit": "%", "baseline": 65.0, "measured_on": "2026-03-31",
            "source": metric.source, "target": 85, "direction": "higher"})
    else:
        delete_metric(session, people["owner"], system.id, metric.id)
    session.commit()
    assert answer.status is AnswerStatus.DRAFT and answer.attestation is None
    assert (metric.id in answer.content["metric_ids"]) is (change == "changed")
    reopen = session.scalars(select(AuditEvent).where(AuditEvent.action == "readiness.reopen")).one()
    assert f"baseline metric was {change}" in reopen.summary


def test_an_answer_that_became_incomplete_cannot_be_accepted(session, people, system):
    metric = measured_metric(session, people["owner"], system)
    save_answer(session, people["owner"], system.id, "outcome",
                complete_payloads(system, people, [metric.id])[Question.OUTCOME])
    submit_answer(session, people["owner"], system.id, "outcome", attest=True)
    metric.target_value = None  # changed below the services, e.g. by an import
    session.flush()
    with pytest.raises(ValidationFailed, match="no longer complete"):
        review_answer(session, people["compliance"], system.id, "outcome", {"outcome": "accept"})
