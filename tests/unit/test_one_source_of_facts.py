"""One source of facts (issue 10): one evidence-age setting everywhere, one definition of who is
named on a system, one current decision, and one fact loader checked against plain ORM reads."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from registry.controls.services import control_rows, is_stale
from registry.db import utcnow
from registry.decisions.models import Decision
from registry.decisions.recommendation import AnswerFact, ControlFact, ReadinessFacts
from registry.decisions.services import assess_system, latest_decision, record_decision
from registry.enums import ControlStatus, Verdict
from registry.errors import PermissionDenied
from registry.inventory.models import AISystem
from registry.inventory.queries import InventoryFilters
from registry.inventory.services import override_tier, system_payload, update_system
from registry.readiness.services import answers_for, save_answer, submit_answer
from registry.reports.bulk import current_decision_ids
from registry.review.services import review_queue
from registry.seed.synthetic import seed_synthetic
from registry.state.cache import due_count, refresh_due_states
from registry.state.facts import load_facts
from registry.state.models import SystemState
from registry.state.standing import cached_recommendation
from tests.builders import accept_all_answers, implement_all_controls
from tests.conftest import make_system, make_user

LOW = {"kind": "predictive_model", "affects": ["internal_staff"], "data_categories": [], "autonomy": "human_in_the_loop",
       "risk": {"prohibited_practice": "none", "decision_domains": [], "legal_effect": False}}


@pytest.fixture
def evidence_max_age(app):
    """Set EVIDENCE_MAX_AGE_DAYS for the app and every session it makes (as the environment would)."""
    settings = app.extensions["registry.sessions"][0].kw["info"]["registry.settings"]
    before = settings["evidence_max_age_days"], app.config["EVIDENCE_MAX_AGE_DAYS"]

    def set_to(days: int) -> None:
        settings["evidence_max_age_days"] = app.config["EVIDENCE_MAX_AGE_DAYS"] = days

    yield set_to
    settings["evidence_max_age_days"], app.config["EVIDENCE_MAX_AGE_DAYS"] = before


def test_every_place_reads_the_configured_evidence_age(session, people, as_role, evidence_max_age):
    """Evidence 200 days old is current at the default 365 days and stale at 180: the system page,
    the state cache, the dashboard's link target and the exports must all say so."""
    evidence_max_age(180)
    executive = as_role("executive")  # signed in first: reading an expired account later would lock SQLite
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, collected_on=utcnow().date() - timedelta(days=200))
    session.expire_all()
    page_verdict = assess_system(session, session.get(AISystem, system.id)).recommendation.verdict
    assert page_verdict is Verdict.NO_GO
    state = session.get(SystemState, system.id)
    assert state.recommendation is Verdict.NO_GO and state.stale_evidence
    session.commit()  # end the test's transaction before the app's requests write
    page = executive.get(f"/systems/{system.id}/decisions").get_data(as_text=True)
    assert "Recommendation for this review: <span" in page and "NO-GO" in page and "too old to rely on" in page
    listed = executive.get("/systems?recommendation=no_go&stale_evidence=1").get_data(as_text=True)
    assert system.name in listed
    rows = list(csv.DictReader(io.StringIO(executive.get("/exports/systems.csv").get_data(as_text=True).lstrip("\ufeff"))))
    row = next(r for r in rows if r["Name"] == system.name)
    assert row["Recommendation now"] == "NO-GO" and row["Stale evidence"] == "Yes"


def test_time_passing_is_judged_against_the_configured_age(session, people, evidence_max_age):
    """The refresh on page load (``valid_until``) uses the setting too: evidence 170 days old turns
    stale after 10 more days at 180, not after 195."""
    evidence_max_age(180)
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, collected_on=utcnow().date() - timedelta(days=170),
                           verifier=people["compliance"])
    state = session.get(SystemState, system.id)
    assert state.recommendation is Verdict.GO
    assert state.valid_until == utcnow().date() + timedelta(days=11)
    assert refresh_due_states(session, state.valid_until) == 1
    session.commit()
    session.expire_all()
    assert session.get(SystemState, system.id).recommendation is Verdict.NO_GO


def _name_in_ownership(session, people, system, person) -> None:
    owner = people["owner"].email
    save_answer(session, people["owner"], system.id, "ownership", {
        "performance_owner": owner, "review_queue_owner": person.email, "escalation_owner": owner,
        "business_impact_owner": owner})
    session.commit()


def test_an_officer_named_in_the_ownership_answer_cannot_override_the_tier(session, people, as_role):
    system = make_system(session, people["owner"])
    officer = people["compliance"]
    _name_in_ownership(session, people, system, officer)
    assert officer.id in session.get(AISystem, system.id).named_user_ids()
    browser = as_role("compliance")
    page = browser.get(f"/systems/{system.id}").get_data(as_text=True)
    assert f'action="/systems/{system.id}/tier"' not in page
    response = browser.post(f"/systems/{system.id}/tier", {"tier": "high", "reason": "Named, still trying."},
                            token_from=f"/systems/{system.id}")
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        override_tier(session, officer, system.id, "high", "Customer-facing; treat as high.")
    session.rollback()
    session.expire_all()
    assert session.get(AISystem, system.id).tier_override is None


def test_the_review_queue_hides_systems_the_officer_is_named_on_in_the_ownership_answer(session, people):
    named, other = make_system(session, people["owner"]), make_system(session, people["owner"])
    _name_in_ownership(session, people, named, people["compliance"])
    _name_in_ownership(session, people, other, people["other_owner"])
    for system in (named, other):
        submit_answer(session, people["owner"], system.id, "ownership", attest=True)
        session.commit()
    queue = review_queue(session, people["compliance"], utcnow().date())
    assert {r.system_id for r in queue.answers} == {other.id}  # the other system's answer waits for them
    another_officer = make_user(session, "compliance")
    assert {r.system_id for r in review_queue(session, another_officer, utcnow().date()).answers} == {named.id, other.id}


def test_being_named_in_the_ownership_answer_gives_no_edit_right(session, people):
    """The escalation owner of the ownership answer may never approve the system, and may not edit it either."""
    system = make_system(session, people["owner"])
    _name_in_ownership(session, people, system, people["other_owner"])
    fresh = session.get(AISystem, system.id)
    assert people["other_owner"].id in fresh.named_user_ids() and people["other_owner"].id not in fresh.owner_ids()
    payload = system_payload(fresh) | {"accountable_owner": people["other_owner"].email}
    with pytest.raises(PermissionDenied):
        update_system(session, people["other_owner"], system.id, payload, expected_version=fresh.version)
    session.rollback()
    session.expire_all()
    assert session.get(AISystem, system.id).accountable_owner_id == people["owner"].id


def test_changing_an_owner_keeps_the_named_people_current(session, people):
    system = make_system(session, people["owner"], technical_owner=people["other_owner"].email)
    assert session.get(AISystem, system.id).named_user_ids() == {people["owner"].id, people["other_owner"].id}
    system.technical_owner_id = None
    session.commit()
    session.expire_all()
    assert session.get(AISystem, system.id).named_user_ids() == {people["owner"].id}


def test_one_current_decision_when_ids_and_dates_disagree(session, people):
    """A decision recorded later for an earlier date (the demo seeder does this) is not current:
    the latest by decision date is, for the pages, the state, the queue, the bulk export and Excel."""
    system = make_system(session, people["owner"], **LOW)
    rationale = "Recorded for the audit trail; see the committee minutes of that week."
    newer = record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": rationale},
                            now=utcnow() - timedelta(days=1))
    session.commit()
    older = record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": rationale},
                            now=datetime(2026, 1, 5, tzinfo=UTC))
    session.commit()
    assert older.id > newer.id and older.decided_at < newer.decided_at
    assert latest_decision(session, system.id).id == newer.id
    assert session.get(SystemState, system.id).decision_id == newer.id
    assert load_facts(session, [system.id])[system.id].decision.id == newer.id
    assert current_decision_ids(session, InventoryFilters()) == [newer.id]
    queue = review_queue(session, people["compliance"], newer.expires_on + timedelta(days=1))
    assert [r.expires_on for r in queue.overdue] == [newer.expires_on]


def _facts_from_plain_reads(session, system: AISystem, today, max_age_days: int) -> ReadinessFacts:
    """An independent computation from ORM objects: what assess_system did before the one loader."""
    answers = answers_for(session, system.id)
    controls = []
    for row in control_rows(session, system):
        if not row.required:
            continue
        evidence = row.assessment.evidence if row.assessment else []
        stale = sum(1 for e in evidence if is_stale(e, today, max_age_days))
        verifier = row.assessment.verified_by_id if row.assessment else None
        expires = row.assessment.waiver_expires_on if row.assessment else None
        controls.append(ControlFact(row.control.id, row.control.ref, row.control.title, row.status,
                                    row.assessment.due_on if row.assessment else None, stale, len(evidence) - stale,
                                    verifier is not None and verifier not in system.named_user_ids(), expires,
                                    row.status is ControlStatus.WAIVED and (expires is None or expires < today)))
    decisions = session.scalars(select(Decision).where(Decision.system_id == system.id)).all()
    latest = max(decisions, key=lambda d: (d.decided_at, d.id), default=None)
    return ReadinessFacts(
        tier=system.tier, owner_active=system.accountable_owner.is_active,
        measured_baselines=sum(1 for m in system.metrics if m.baseline_value is not None),
        answers=sorted((AnswerFact(q, a.status, a.review_comment) for q, a in answers.items()),
                       key=lambda a: a.question.value),
        controls=controls, today=today, decision_expires_on=latest.expires_on if latest else None,
        re_review_reasons=list(system.re_review_reasons or []) if system.re_review_required_at else [])


@pytest.mark.parametrize("max_age_days", [365, 90])
def test_the_loader_equals_plain_orm_reads(session, people, max_age_days):
    owner = people["owner"]
    seed_synthetic(session, 120, seed=11)
    ready = make_system(session, owner, **LOW)
    accept_all_answers(session, people, ready)
    implement_all_controls(session, owner, ready, collected_on=utcnow().date() - timedelta(days=120),
                           verifier=people["compliance"])
    session.commit()
    today = utcnow().date()
    ids = list(session.scalars(select(AISystem.id).order_by(AISystem.id)))
    loaded = load_facts(session, ids, today=today, max_age_days=max_age_days)
    assert set(loaded) == set(ids)
    for system in session.scalars(select(AISystem).order_by(AISystem.id)).unique():
        facts = loaded[system.id].facts
        expected = _facts_from_plain_reads(session, system, today, max_age_days)
        assert facts.controls == expected.controls, system.name
        assert sorted(facts.answers, key=lambda a: a.question.value) == expected.answers
        assert (facts.tier, facts.owner_active, facts.measured_baselines, facts.decision_expires_on,
                facts.re_review_reasons) == (expected.tier, expected.owner_active, expected.measured_baselines,
                                             expected.decision_expires_on, expected.re_review_reasons)
    assert any(c.status is ControlStatus.IMPLEMENTED for c in loaded[ready.id].facts.controls)


def test_pages_read_the_cache_only_while_it_is_current(session, people, evidence_max_age):
    """The system pages take the recommendation from the state cache (what the loader gave at the
    last commit) unless the session holds uncommitted changes, time has passed its validity, or
    the evidence age setting changed; then they compute afresh."""
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, collected_on=utcnow().date() - timedelta(days=200),
                           verifier=people["compliance"])
    session.expire_all()
    today = utcnow().date()
    cached = cached_recommendation(session, system.id, today)
    assert cached is not None and cached[0].verdict is Verdict.GO
    assert assess_system(session, session.get(AISystem, system.id)).recommendation == cached[0]
    # uncommitted work in the session: not from the cache
    session.get(AISystem, system.id).purpose = "Edited, not yet committed."
    assert cached_recommendation(session, system.id, today) is None
    session.rollback()
    # past its validity: not from the cache
    state = session.get(SystemState, system.id)
    assert cached_recommendation(session, system.id, state.valid_until) is None
    # another evidence age: not from the cache; the page computes NO-GO, the refresh rewrites the row
    evidence_max_age(180)
    assert cached_recommendation(session, system.id, today) is None
    system = session.get(AISystem, system.id)
    assert assess_system(session, system).recommendation.verdict is Verdict.NO_GO
    assert due_count(session, today) and refresh_due_states(session, today) >= 1
    session.commit()
    cached = cached_recommendation(session, system.id, today)
    assert cached is not None and cached[0].verdict is Verdict.NO_GO


def test_the_inventory_filters_follow_a_changed_evidence_age(session, people, as_role, evidence_max_age):
    """States computed at 365 days; the setting becomes 180: the list's recommendation filter agrees
    with the system page at once (the list brings such rows up to date before filtering)."""
    executive = as_role("executive")
    system = make_system(session, people["owner"], **LOW)
    accept_all_answers(session, people, system)
    implement_all_controls(session, people["owner"], system, collected_on=utcnow().date() - timedelta(days=200),
                           verifier=people["compliance"])
    assert session.get(SystemState, system.id).recommendation is Verdict.GO
    session.commit()
    evidence_max_age(180)
    assert system.name in executive.get("/systems?recommendation=no_go").get_data(as_text=True)
    assert system.name not in executive.get("/systems?recommendation=go").get_data(as_text=True)
