"""Recording decisions: separation of duties, rationale, conditions, expiry, snapshot, immutability, re-review."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from registry.audit.models import AuditEvent
from registry.audit.services import verify_chain
from registry.controls.services import add_evidence, control_rows, verify_control
from registry.decisions.models import Decision, ImmutableRecord
from registry.decisions.services import (
    acknowledge_decision,
    acknowledgement_record,
    add_months,
    assess_system,
    default_expiry,
    record_decision,
    snapshot_hash,
)
from registry.enums import Verdict
from registry.errors import Conflict, PermissionDenied, ValidationFailed
from registry.inventory.services import override_tier, system_payload, update_system
from registry.readiness.services import save_answer
from registry.review.services import review_queue
from tests.builders import accept_all_answers, implement_all_controls
from tests.conftest import make_system, make_user

LOW = {"kind": "predictive_model", "affects": ["internal_staff"], "data_categories": [], "autonomy": "human_in_the_loop",
       "risk": {"prohibited_practice": "none", "decision_domains": [], "legal_effect": False}}
GO_RATIONALE = "All five answers accepted, controls implemented with current evidence."


@pytest.fixture
def ready(session, people):
    """A low-tier system whose recommendation is GO."""
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, verifier=people["compliance"])
    assert assess_system(session, system).recommendation.verdict is Verdict.GO
    return system


def test_a_go_decision_freezes_what_it_was_based_on(session, people, ready):
    decision = record_decision(session, people["compliance"], ready.id,
                               {"verdict": "go", "rationale": GO_RATIONALE, "conditions": "Quarterly drift review\n\n"})
    session.commit()
    snap = decision.snapshot
    assert decision.verdict is Verdict.GO and decision.recommended is Verdict.GO
    assert decision.conditions == ["Quarterly drift review"]
    assert decision.expires_on == add_months(date.today(), 24)
    assert snap["system"]["name"] == ready.name and snap["tier"]["effective"] == "Low"
    assert [a["status"] for a in snap["answers"]] == ["Accepted"] * 5
    assert snap["answers"][1]["answer"][0] == {"label": "Owner of performance", "value": people["owner"].label}
    assert len(snap["controls"]) == 16 and all(c["status"] == "Implemented" for c in snap["controls"])
    assert snap["controls"][0]["evidence"][0]["url"].startswith("https://")
    assert snap["metrics"][0]["baseline"] == 71.5
    assert snap["recommendation"] == {"verdict": "go", "label": "GO", "blockers": [],
                                      "verified_controls": 16, "required_controls": 16}
    assert snap["decision"]["owner_acknowledgement"] is None and snap["previous_decision"] is None
    assert snap["decision"]["decided_by"] == people["compliance"].label
    assert snap["audit_head"]["seq"] > 0
    assert decision.snapshot_sha256 == snapshot_hash(snap)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "decision.record"))
    assert event.after["snapshot_sha256"] == decision.snapshot_sha256
    assert verify_chain(session).ok


@pytest.mark.parametrize("who", ["owner", "technical", "named_in_ownership", "executive", "admin", "other_owner"])
def test_separation_of_duties(session, people, ready, who):
    actor = people.get(who)
    if who == "technical":
        actor = make_user(session, "compliance")
        ready.technical_owner_id = actor.id
        session.commit()
    elif who == "named_in_ownership":
        actor = people["compliance"]
        payload = {"performance_owner": people["owner"].email, "review_queue_owner": actor.email,
                   "escalation_owner": people["owner"].email, "business_impact_owner": people["owner"].email}
        save_answer(session, people["owner"], ready.id, "ownership", payload)
        session.commit()
    with pytest.raises(PermissionDenied):
        record_decision(session, actor, ready.id, {"verdict": "no_go", "rationale": "I should not be able to do this."})


def test_differing_from_the_recommendation_needs_a_written_rationale(session, people):
    system = make_system(session, people["owner"], **LOW)  # nothing answered: NO-GO
    with pytest.raises(ValidationFailed) as err:
        record_decision(session, people["compliance"], system.id, {"verdict": "go", "rationale": "Looks fine."})
    assert "differs from the recommendation (NO-GO)" in err.value.errors["rationale"][0]
    assert "GO means verified" in err.value.errors["verdict"][0]
    with pytest.raises(ValidationFailed) as err:
        record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": " "})
    assert "rationale" in err.value.errors
    decision = record_decision(session, people["compliance"], system.id, {
        "verdict": "conditional_go", "conditions": "Verify every required control by 2027-01-31",
        "rationale": "Board accepted the residual risk for the Q4 pilot; see minutes 2026-11-20."})
    assert decision.recommended is Verdict.NO_GO and decision.snapshot["decision"]["differs_from_recommendation"]


def test_go_is_impossible_with_an_unverified_required_control(session, people):
    """GO means verified: on a high-tier system an unverified control blocks GO, and no rationale
    records GO over it; the page says N of M verified."""
    system = make_system(session, people["owner"])  # high tier
    accept_all_answers(session, people, system)
    rows = implement_all_controls(session, people["owner"], system, verifier=people["compliance"],
                                  except_refs=())
    first = rows[0].control
    add_evidence(session, people["owner"], system.id, first.id, {  # new evidence clears its verification
        "description": "Updated runbook", "url": "https://wiki.example.test/runbook-v2"})
    session.commit()
    rec = assess_system(session, system).recommendation
    assert rec.verdict is Verdict.NO_GO and [b.rule for b in rec.blockers] == ["control_unverified"]
    assert (rec.verified_controls, rec.required_controls) == (len(rows) - 1, len(rows))
    with pytest.raises(ValidationFailed) as err:
        record_decision(session, people["compliance"], system.id, {"verdict": "go", "rationale": "x" * 80})
    assert f"{len(rows) - 1} of {len(rows)} required controls are verified" in err.value.errors["verdict"][0]
    session.rollback()
    verify_control(session, make_user(session, "compliance"), system.id, first.id)
    session.commit()
    decision = record_decision(session, people["compliance"], system.id, {"verdict": "go", "rationale": GO_RATIONALE})
    assert decision.snapshot["recommendation"]["verified_controls"] == len(rows)


def test_conditional_go_needs_conditions_and_unacceptable_is_always_no_go(session, people, ready):
    with pytest.raises(ValidationFailed) as err:
        record_decision(session, people["compliance"], ready.id,
                        {"verdict": "conditional_go", "rationale": GO_RATIONALE, "conditions": ""})
    assert "conditions" in err.value.errors
    banned = make_system(session, people["owner"], **(LOW | {"risk": {"prohibited_practice": "social_scoring"}}))
    with pytest.raises(ValidationFailed) as err:
        record_decision(session, people["compliance"], banned.id, {
            "verdict": "conditional_go", "rationale": "x" * 60, "conditions": "Stop scoring people"})
    assert "always NO-GO" in err.value.errors["verdict"][0]


@pytest.mark.parametrize(("tier", "months"), [("low", 24), ("medium", 12), ("high", 6)])
def test_expiry_defaults_and_limits_by_tier(session, people, tier, months):
    system = make_system(session, people["owner"], **LOW)
    if tier != "low":
        override_tier(session, people["compliance"], system.id, tier, "Test")
    today = date.today()
    assert default_expiry(tier, today) == add_months(today, months)
    too_late = add_months(today, months) + timedelta(days=1)
    with pytest.raises(ValidationFailed) as err:
        record_decision(session, people["compliance"], system.id,
                        {"verdict": "no_go", "rationale": "Not ready.", "expires_on": too_late.isoformat()})
    assert f"every {months} months" in err.value.errors["expires_on"][0]
    for bad in (today.isoformat(), "yesterday"):
        with pytest.raises(ValidationFailed):
            record_decision(session, people["compliance"], system.id,
                            {"verdict": "no_go", "rationale": "Not ready.", "expires_on": bad})
    decision = record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": "Not ready."})
    assert decision.expires_on == add_months(today, months)


def test_recorded_decisions_cannot_be_edited_or_deleted(app, session, people, ready):
    decision = record_decision(session, people["compliance"], ready.id, {"verdict": "go", "rationale": GO_RATIONALE})
    session.commit()
    decision.rationale = "rewritten"
    with pytest.raises(ImmutableRecord):
        session.flush()
    session.rollback()
    session.delete(session.get(Decision, decision.id))
    with pytest.raises(ImmutableRecord):
        session.flush()
    session.rollback()
    # below the ORM, the database refuses too
    with pytest.raises(Exception, match="cannot be changed"):
        session.execute(update(Decision.__table__).where(Decision.__table__.c.id == decision.id).values(rationale="x"))
    session.rollback()
    with pytest.raises(Exception, match="cannot be changed"):
        session.execute(text("UPDATE decisions SET verdict = 'no_go'"))
    session.rollback()
    with pytest.raises(Exception, match="cannot be changed or deleted"):
        session.execute(text("DELETE FROM decisions"))
    session.rollback()
    assert session.get(Decision, decision.id).rationale == GO_RATIONALE


def test_a_new_decision_supersedes_and_the_old_one_stays(session, people, ready):
    first = record_decision(session, people["compliance"], ready.id, {"verdict": "go", "rationale": GO_RATIONALE})
    second = record_decision(session, make_user(session, "compliance"), ready.id,
                             {"verdict": "no_go", "rationale": "Vendor contract lapsed; pause until renewed.",
                              "conditions": []})
    session.commit()
    assert second.supersedes_id == first.id and second.snapshot["decision"]["supersedes"] == first.id
    assert assess_system(session, ready).decision.id == second.id
    assert session.get(Decision, first.id).verdict is Verdict.GO


@pytest.mark.parametrize(("change", "reason"), [
    ({"autonomy": "fully_automated"}, "Autonomy"),
    ({"data_categories": ["health"]}, "Data touched"),
    ({"kind": "agent"}, "Kind"),
    ({"stage": "production"}, "Lifecycle stage: Pilot → Production"),
    ({"affects": ["internal_staff", "customers"]}, "Affects"),
    ({"risk": {"prohibited_practice": "none", "decision_domains": ["employment"], "legal_effect": False}},
     "Decisions about people in"),
    ({"risk": {"prohibited_practice": "none", "decision_domains": [], "legal_effect": True}},
     "Legal or similar effect"),
])
def test_a_material_change_after_a_decision_requires_re_review(session, people, ready, change, reason):
    record_decision(session, people["compliance"], ready.id, {"verdict": "go", "rationale": GO_RATIONALE})
    session.commit()
    payload = system_payload(ready) | change
    update_system(session, people["owner"], ready.id, payload, expected_version=ready.version)
    session.commit()
    assert ready.re_review_required_at is not None
    assert any(r.startswith(reason) for r in ready.re_review_reasons), ready.re_review_reasons
    state = assess_system(session, ready)
    assert "material_change" in [b.rule for b in state.recommendation.blockers]
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "system.re_review_required"))
    # the next decision resolves it
    record_decision(session, people["compliance"], ready.id, {
        "verdict": "no_go", "rationale": "Re-review after the change: controls must be re-assessed first."})
    assert ready.re_review_required_at is None and ready.re_review_reasons == []


def test_a_minor_edit_or_an_undecided_system_needs_no_re_review(session, people, ready):
    update_system(session, people["owner"], ready.id, system_payload(ready) | {"stage": "production"},
                  expected_version=ready.version)  # no decision yet
    assert ready.re_review_required_at is None
    record_decision(session, people["compliance"], ready.id, {"verdict": "go", "rationale": GO_RATIONALE})
    update_system(session, people["owner"], ready.id, system_payload(ready) | {"purpose": "Clearer wording."},
                  expected_version=ready.version)
    assert ready.re_review_required_at is None


def test_an_expired_decision_blocks_until_re_reviewed(session, people, ready):
    long_ago = datetime.now(UTC) - timedelta(days=800)
    old = record_decision(session, people["compliance"], ready.id, {"verdict": "go", "rationale": GO_RATIONALE},
                          now=long_ago)
    session.commit()
    assert old.expires_on < date.today()
    state = assess_system(session, ready)
    assert state.decision_expired and state.recommendation.verdict is Verdict.NO_GO
    assert [b.rule for b in state.recommendation.blockers] == ["review_overdue"]
    assert assess_system(session, ready, for_new_decision=True).recommendation.verdict is Verdict.GO


def test_stale_evidence_blocks_go(session, people):
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, collected_on=date.today() - timedelta(days=500))
    rec = assess_system(session, system).recommendation
    assert rec.verdict is Verdict.NO_GO and {b.rule for b in rec.blockers} == {"stale_evidence"}
    # current at 1,000 days, but never verified (nobody could verify stale evidence): at best CONDITIONAL GO
    rec = assess_system(session, system, max_age_days=1000).recommendation
    assert rec.verdict is Verdict.CONDITIONAL_GO and [b.rule for b in rec.blockers] == ["controls_unverified"]


def test_current_evidence_beside_stale_evidence_is_enough(session, people):
    """Only a control with no current evidence blocks: old evidence kept beside new does not."""
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    rows = implement_all_controls(session, people["owner"], system, collected_on=date.today() - timedelta(days=500))
    stale_ref = rows[0].control.ref
    for row in rows[1:]:
        add_evidence(session, people["owner"], system.id, row.control.id, {
            "description": "Refreshed evidence", "url": f"https://wiki.example.test/new/{row.control.id}",
            "collected_on": date.today().isoformat()})
    session.commit()
    rec = assess_system(session, system).recommendation
    assert rec.verdict is Verdict.NO_GO and [b.rule for b in rec.blockers] == ["stale_evidence", "controls_unverified"]
    assert stale_ref in rec.blockers[0].message and "none is current" in rec.blockers[0].message
    add_evidence(session, people["owner"], system.id, rows[0].control.id, {
        "description": "Refreshed evidence", "url": "https://wiki.example.test/new/first",
        "collected_on": date.today().isoformat()})
    for row in rows:
        verify_control(session, people["compliance"], system.id, row.control.id)
    session.commit()
    rec = assess_system(session, system).recommendation
    assert rec.verdict is Verdict.GO and (rec.verified_controls, rec.required_controls) == (len(rows), len(rows))


def test_a_change_of_the_computed_tier_under_an_override_requires_re_review(session, people, ready):
    """The effective tier stays HIGH (an upward override), but the rules' own tier moves: re-review."""
    override_tier(session, people["compliance"], ready.id, "high", "Board wants high-tier controls here.")
    session.commit()
    record_decision(session, people["compliance"], ready.id, {
        "verdict": "no_go", "rationale": "High-tier controls are not in place yet; re-assess after the work."})
    session.commit()
    update_system(session, people["owner"], ready.id, system_payload(ready) | {"data_categories": ["personal"],
                                                                               "affects": ["internal_staff"]},
                  expected_version=ready.version)
    session.commit()
    assert ready.tier.value == "high"
    assert any(r.startswith("Tier from the rules: Low → ") for r in ready.re_review_reasons), ready.re_review_reasons


def test_the_accountable_owner_acknowledges_the_current_decision_once(session, people, ready):
    decision = record_decision(session, people["compliance"], ready.id, {
        "verdict": "conditional_go", "rationale": GO_RATIONALE, "conditions": "Quarterly drift review"})
    session.commit()
    for who in ("compliance", "other_owner", "admin", "executive"):
        with pytest.raises(PermissionDenied, match="accountable owner"):
            acknowledge_decision(session, people[who], ready.id, decision.id)
        session.rollback()
    ack = acknowledge_decision(session, people["owner"], ready.id, decision.id)
    session.commit()
    assert acknowledgement_record(session, decision.id) == {
        "by": people["owner"].label, "at": ack.acknowledged_at.isoformat(timespec="seconds")}
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "decision.acknowledge"))
    assert event.actor_id == people["owner"].id and event.after["conditions"] == ["Quarterly drift review"]
    assert "and its 1 condition" in event.summary
    with pytest.raises(Conflict, match="already acknowledged"):
        acknowledge_decision(session, people["owner"], ready.id, decision.id)
    session.rollback()
    newer = record_decision(session, people["compliance"], ready.id, {"verdict": "go", "rationale": GO_RATIONALE})
    session.commit()
    # the next decision's snapshot says whether and when the one it supersedes was acknowledged
    assert newer.snapshot["previous_decision"]["id"] == decision.id
    assert newer.snapshot["previous_decision"]["owner_acknowledgement"]["by"] == people["owner"].label
    assert newer.snapshot["decision"]["owner_acknowledgement"] is None
    third = record_decision(session, people["compliance"], ready.id, {"verdict": "go", "rationale": GO_RATIONALE})
    session.commit()
    assert third.snapshot["previous_decision"]["owner_acknowledgement"] is None  # #2 never acknowledged
    with pytest.raises(Conflict, match="superseded"):  # only the current decision is acknowledged
        acknowledge_decision(session, people["owner"], ready.id, newer.id)
    session.rollback()


def test_a_new_accountable_owner_cannot_acknowledge_a_decision_taken_under_another(session, people, ready):
    """The owner named when the decision was taken acknowledges it; handing the system to someone
    else is a material change (re-review), and the newcomer cannot acknowledge the old decision."""
    decision = record_decision(session, people["compliance"], ready.id, {"verdict": "go", "rationale": GO_RATIONALE})
    session.commit()
    assert decision.accountable_owner_id == people["owner"].id
    payload = system_payload(ready) | {"technical_owner": people["other_owner"].email}
    update_system(session, people["owner"], ready.id, payload, expected_version=ready.version)
    session.commit()
    payload = system_payload(ready) | {"accountable_owner": people["other_owner"].email}
    update_system(session, people["other_owner"], ready.id, payload, expected_version=ready.version)
    session.commit()
    assert any(r.startswith("Accountable owner: ") for r in ready.re_review_reasons), ready.re_review_reasons
    with pytest.raises(PermissionDenied, match="named when the decision was taken"):
        acknowledge_decision(session, people["other_owner"], ready.id, decision.id)
    session.rollback()
    acknowledge_decision(session, people["owner"], ready.id, decision.id)
    session.commit()


def test_a_verifier_named_on_the_system_later_no_longer_counts_anywhere(session, people, ready):
    """The officer who verified the controls is named in the ownership answer: their verifications
    are cleared (audited), so pages, snapshot, exports and the review queue all say unverified."""
    required = assess_system(session, ready).recommendation.required_controls
    assert assess_system(session, ready).recommendation.verified_controls == required
    owner = people["owner"].email
    save_answer(session, people["owner"], ready.id, "ownership", {
        "performance_owner": owner, "review_queue_owner": people["compliance"].email, "escalation_owner": owner,
        "business_impact_owner": owner})
    session.commit()
    rec = assess_system(session, ready).recommendation
    assert rec.verified_controls == 0 and rec.verdict is not Verdict.GO
    rows = [r for r in control_rows(session, ready) if r.required]
    assert all(r.assessment.verified_by_id is None for r in rows)
    cleared = session.scalars(select(AuditEvent).where(AuditEvent.action == "control.verification_cleared")).all()
    assert len(cleared) == required and "now named on the system" in cleared[0].summary
    queue = review_queue(session, make_user(session, "compliance"), date.today())
    assert queue.to_verify_total == required


def test_a_conditional_go_over_unverified_controls_must_keep_the_verification_condition(session, people):
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    rows = implement_all_controls(session, people["owner"], system)  # done, none verified
    rec = assess_system(session, system, for_new_decision=True).recommendation
    assert rec.verdict is Verdict.CONDITIONAL_GO and rec.conditions[0].message.startswith(f"Verify {len(rows)} ")
    with pytest.raises(ValidationFailed) as err:
        record_decision(session, people["compliance"], system.id, {
            "verdict": "conditional_go", "rationale": GO_RATIONALE, "conditions": "Monitor weekly."})
    assert f"{len(rows)} required controls are done but not verified" in err.value.errors["conditions"][0]
    session.rollback()
    decision = record_decision(session, people["compliance"], system.id, {
        "verdict": "conditional_go", "rationale": GO_RATIONALE, "conditions": rec.conditions[0].message})
    assert decision.conditions == [rec.conditions[0].message]


@pytest.mark.parametrize("statement", ["UPDATE decision_acknowledgements SET acknowledged_at = decided",
                                       "DELETE FROM decision_acknowledgements"])
def test_the_database_refuses_to_change_an_acknowledgement(session, people, ready, statement):
    decision = record_decision(session, people["compliance"], ready.id, {"verdict": "go", "rationale": GO_RATIONALE})
    acknowledge_decision(session, people["owner"], ready.id, decision.id)
    session.commit()
    statement = statement.replace("decided", "acknowledged_at")
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(statement))
    session.rollback()
