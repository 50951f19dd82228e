"""The state cache never drifts from a full recomputation (the one fact loader plus the rules)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import select

from registry.auth.services import update_user
from registry.controls.services import add_evidence, assess_control, remove_evidence
from registry.db import utcnow
from registry.decisions.services import assess_system
from registry.enums import Stage
from registry.errors import Conflict, ValidationFailed
from registry.inventory.models import AISystem, StageChange
from registry.inventory.services import (
    add_metric,
    delete_system,
    override_tier,
    system_payload,
    update_system,
)
from registry.readiness.services import review_answer, save_answer, submit_answer
from registry.seed.synthetic import seed_synthetic
from registry.state.cache import compute_state, rebuild_all, refresh_due_states
from registry.state.models import BlockerCount, BlockerDimCount, SystemBlocker, SystemState
from tests.conftest import make_system

ROLLBACK = {"kill_switch": "A feature flag turns the model off.", "fallback_process": "Adjusters triage by hand.",
            "time_to_pause_minutes": 5, "last_rehearsal": "2026-01-10",
            "degraded_modes": {"full": "Model ranks claims.", "degraded": "Rules rank claims.",
                               "minimal": "Claims queue in arrival order.", "offline": "Paper triage."}}
COMPARED = ("recommendation", "decision_id", "decision_verdict", "decided_at", "decision_expires_on", "blockers",
            "stale_evidence", "re_review_required", "valid_until", "furthest_stage")


def assert_no_drift(session, today: date | None = None) -> int:
    """Recompute every system from scratch and compare with the cached rows, field by field."""
    session.expire_all()
    cached = {s.system_id: s for s in session.scalars(select(SystemState))}
    groups: dict[int, dict] = {}
    for b in session.scalars(select(SystemBlocker)):
        groups.setdefault(b.system_id, {})[b.key] = b.blocking
    systems = list(session.scalars(select(AISystem)).unique())
    assert set(cached) == {s.id for s in systems}, "a system has no cached state (or a state has no system)"
    for system in systems:
        expected, expected_groups = compute_state(session, system.id, today=today)
        # the reference itself follows assess_system's recommendation
        assert expected["recommendation"] is assess_system(session, system, today=today).recommendation.verdict
        row = cached[system.id]
        for name in COMPARED:
            assert getattr(row, name) == expected[name], f"system #{system.id} {system.name}: {name} drifted"
        assert groups.get(system.id, {}) == {key: blocking for _sid, key, blocking in expected_groups}
    # the per-key counts of the unfiltered blockers chart equal a count over the rows
    live = {s.id for s in systems if s.deleted_at is None}
    expected_counts = Counter(b.key for b in session.scalars(select(SystemBlocker)) if b.blocking and b.system_id in live)
    counts = {c.key: c.systems for c in session.scalars(select(BlockerCount)) if c.systems}
    assert counts == dict(expected_counts)
    # …and per business unit × tier × stage × kind, under each system's current dimensions
    by_id = {s.id: s for s in systems}
    expected_dims = Counter((b.key, by_id[b.system_id].business_unit, by_id[b.system_id].tier, by_id[b.system_id].stage,
                             by_id[b.system_id].kind)
                            for b in session.scalars(select(SystemBlocker)) if b.blocking and b.system_id in live)
    dims = {(c.key, c.business_unit, c.tier, c.stage, c.kind): c.systems
            for c in session.scalars(select(BlockerDimCount)) if c.systems}
    assert dims == dict(expected_dims)
    return len(systems)


def test_demo_portfolio_states_match_a_full_recomputation(session, demo_portfolio):
    assert assert_no_drift(session) >= 25
    verdicts = {s.recommendation for s in session.scalars(select(SystemState))}
    assert len(verdicts) >= 2
    keys = set(session.scalars(select(SystemBlocker.key)))
    assert any(k.startswith("question:") for k in keys) and any(k.startswith("control:") for k in keys)
    assert any(k.startswith("rule:") for k in keys)


def test_synthetic_seed_leaves_a_complete_state_cache(session):
    seed_synthetic(session, 300, seed=11)
    session.commit()
    assert assert_no_drift(session) == 300


def test_bulk_rebuild_equals_per_system_refresh(session, demo_portfolio):
    before = {s.system_id: (s.recommendation, s.blockers, s.valid_until) for s in session.scalars(select(SystemState))}
    session.execute(SystemBlocker.__table__.delete())
    session.execute(SystemState.__table__.delete())
    assert rebuild_all(session) == len(before)
    session.commit()
    after = {s.system_id: (s.recommendation, s.blockers, s.valid_until) for s in session.scalars(select(SystemState))}
    assert after == before
    assert_no_drift(session)


def test_every_kind_of_change_through_the_services_keeps_the_cache_exact(session, people, tmp_path):
    owner, compliance, admin = people["owner"], people["compliance"], people["admin"]
    system = make_system(session, owner, metrics=[])
    other = make_system(session, people["other_owner"], stage="idea")
    assert_no_drift(session)
    state = session.get(SystemState, system.id)
    assert {b["key"] for b in state.blockers} >= {"rule:no_baseline", "question:outcome"}

    add_metric(session, owner, system.id, {"name": "Precision", "unit": "%", "baseline": 80,
                                           "measured_on": "2026-01-05", "source": "eval", "target": 85,
                                           "direction": "higher"})
    session.commit()
    assert_no_drift(session)
    assert "rule:no_baseline" not in {b["key"] for b in session.get(SystemState, system.id).blockers}

    payload = system_payload(session.get(AISystem, system.id))
    update_system(session, owner, system.id, {**payload, "stage": "production"}, expected_version=system.version)
    session.commit()
    assert_no_drift(session)
    stages = [c.stage for c in session.scalars(select(StageChange).where(StageChange.system_id == system.id)
                                               .order_by(StageChange.id))]
    assert stages == [Stage.PILOT, Stage.PRODUCTION]

    override_tier(session, compliance, system.id, "high", "Decides on claims that affect customers' money.")
    session.commit()
    assert_no_drift(session)

    control_id = session.scalar(select(SystemBlocker.key).where(SystemBlocker.system_id == system.id,
                                                                SystemBlocker.key.like("control:%")))
    assert control_id
    rows = assess_system(session, session.get(AISystem, system.id)).rows
    required = [r.control for r in rows if r.required]
    assess_control(session, owner, system.id, required[0].id, {"status": "implemented", "notes": "Done"})
    session.commit()
    assert_no_drift(session)
    evidence = add_evidence(session, owner, system.id, required[0].id,
                            {"description": "Runbook", "url": "https://example.test/runbook",
                             "collected_on": (utcnow().date() - timedelta(days=400)).isoformat()})
    session.commit()
    assert_no_drift(session)
    assert session.get(SystemState, system.id).stale_evidence is True
    remove_evidence(session, owner, system.id, evidence.id)
    session.commit()
    assert_no_drift(session)

    save_answer(session, owner, system.id, "rollback", ROLLBACK)
    session.commit()
    assert_no_drift(session)
    submit_answer(session, owner, system.id, "rollback", attest=True)
    session.commit()
    assert_no_drift(session)
    review_answer(session, compliance, system.id, "rollback", {"outcome": "accept", "comment": "Rehearsed."})
    session.commit()
    assert_no_drift(session)

    update_user(session, admin, owner.id, active=False)
    session.commit()
    assert_no_drift(session)
    assert "rule:no_owner" in {b["key"] for b in session.get(SystemState, system.id).blockers}

    delete_system(session, admin, other.id)
    session.commit()
    assert_no_drift(session)


def test_time_alone_is_caught_by_refresh_due_states(session, people):
    owner = people["owner"]
    system = make_system(session, owner)
    rows = assess_system(session, session.get(AISystem, system.id)).rows
    control = next(r.control for r in rows if r.required)
    today = utcnow().date()
    assess_control(session, owner, system.id, control.id, {"status": "in_progress", "due_on": (today + timedelta(days=3)).isoformat()})
    session.commit()
    state = session.get(SystemState, system.id)
    assert state.valid_until == today + timedelta(days=4)
    later = today + timedelta(days=5)
    assert refresh_due_states(session, today) == 0
    assert refresh_due_states(session, later) == 1
    session.commit()
    assert_no_drift(session, today=later)


def test_random_sequences_of_changes_never_drift(session, people):
    rng = random.Random(5)
    owner, compliance = people["owner"], people["compliance"]
    ids = [make_system(session, owner, stage=rng.choice(["idea", "pilot", "production"])).id for _ in range(4)]
    for _step in range(25):
        system_id = rng.choice(ids)
        system = session.get(AISystem, system_id)
        action = rng.choice(["control", "answer", "stage", "metric"])
        if action == "control":
            required = [r.control for r in assess_system(session, system).rows if r.required]
            if required:
                status = rng.choice(["not_started", "implemented", "not_applicable"])
                data = {"status": status}
                if status == "not_applicable":
                    data["na_reason"] = "Not relevant to this system's deployment."
                try:
                    assess_control(session, owner, system_id, rng.choice(required).id, data)
                except ValidationFailed:  # a refused change must leave nothing behind
                    session.rollback()
        elif action == "answer":
            try:
                save_answer(session, owner, system_id, "rollback", {**ROLLBACK, "time_to_pause_minutes": rng.randint(1, 60)})
                submit_answer(session, owner, system_id, "rollback", attest=True)
                review_answer(session, compliance, system_id, "rollback", {"outcome": rng.choice(["accept", "return"]),
                                                                           "comment": "Checked the runbook."})
            except (ValidationFailed, Conflict):  # e.g. returned without a comment; already submitted
                session.rollback()
        elif action == "stage":
            payload = system_payload(system)
            update_system(session, owner, system_id, {**payload, "stage": rng.choice(["pilot", "production"])},
                          expected_version=system.version)
        else:
            add_metric(session, owner, system_id, {"name": "Error rate", "unit": "%", "baseline": rng.random(),
                                                   "measured_on": "2026-01-05", "source": "eval",
                                                   "target": 0.1, "direction": "lower"})
        session.commit()
        assert_no_drift(session)
