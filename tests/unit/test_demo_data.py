"""The demo portfolio loads through the services and shows every tier, stage and readiness state."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.audit.services import verify_chain
from registry.auth.models import User
from registry.auth.passwords import verify_password
from registry.controls.models import Evidence
from registry.controls.services import is_stale
from registry.db import utcnow
from registry.decisions.models import Decision, DecisionAcknowledgement
from registry.decisions.services import assess_system, latest_decision
from registry.enums import AnswerStatus, ControlStatus, EvidenceKind, Role, Stage, Tier, Verdict
from registry.errors import ValidationFailed
from registry.files.store import FileStore
from registry.inventory.models import AISystem
from registry.readiness.models import ReadinessAnswer
from registry.seed.demo import load_demo, read_demo
from registry.seed.demo_readiness import read_readiness


def test_demo_portfolio_reads_like_a_company(session, demo_portfolio):
    counts = demo_portfolio.counts
    assert 25 <= counts["systems"] <= 40
    systems = list(session.scalars(select(AISystem)))
    # Every tier and stage a person can give ("not assessed" and "not recorded" are for imports).
    assert Counter(s.tier for s in systems).keys() == set(Tier) - {Tier.NOT_ASSESSED}
    assert Counter(s.stage for s in systems).keys() == set(Stage) - {Stage.UNKNOWN}
    assert len({s.business_unit for s in systems}) >= 6
    assert sum(1 for s in systems if s.tier_override) >= 1
    assert all(s.tier_override_reason for s in systems if s.tier_override)
    names = " ".join(s.name.lower() for s in systems)
    for expected in ("chatbot", "resume", "fraud", "claims", "contract", "coding", "refund"):
        assert expected in names or any(expected in s.purpose.lower() for s in systems), expected
    assert verify_chain(session).ok


def test_demo_accounts_cover_every_role_and_share_the_documented_password(session, demo_portfolio):
    users = list(session.scalars(select(User)))
    assert {u.role for u in users} == set(Role)
    password = read_demo()["demo_password"]
    assert all(verify_password(u.password_hash, password) for u in users)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert password in readme
    for role in Role:
        assert any(u.email in readme for u in users if u.role is role), f"README should list a demo {role.label} account"


def _states(session) -> dict[str, object]:
    """Every system's readiness as the pages see it today, keyed by name."""
    return {s.name: assess_system(session, s) for s in session.scalars(select(AISystem))}


def test_demo_shows_every_readiness_state(session, demo_portfolio):
    counts = demo_portfolio.counts
    today = utcnow().date()
    assert 10 <= counts["readiness_systems"] <= 14
    states = _states(session)
    decisions = list(session.scalars(select(Decision)))
    assert {d.verdict for d in decisions} == set(Verdict)
    latest = {name: st.decision for name, st in states.items() if st.decision}

    # an expired decision, still the latest one of its system, so the system is overdue for review
    expired = [name for name, d in latest.items() if d.expires_on < today]
    assert expired
    assert all(any(b.rule == "review_overdue" for b in states[n].recommendation.blockers) for n in expired)

    # re-review required after a material change that followed a decision
    flagged = [st for st in states.values() if st.system.re_review_required_at]
    assert flagged and all(st.system.re_review_reasons and st.decision for st in flagged)
    assert all(any(b.rule == "material_change" for b in st.recommendation.blockers) for st in flagged)

    # returned answers carry the reviewer's comment; some answers are drafts, some wait for review
    answers = list(session.scalars(select(ReadinessAnswer)))
    returned = [a for a in answers if a.status is AnswerStatus.RETURNED]
    assert returned and all(a.review_comment and len(a.review_comment) >= 40 for a in returned)
    assert {a.status for a in answers} == set(AnswerStatus)

    # stale evidence on a required control, and it blocks
    stale = [(name, r.control.ref) for name, st in states.items() for r in st.rows
             if r.required and r.assessment and any(is_stale(e, today, 365) for e in r.assessment.evidence)]
    assert stale
    assert all(any(b.rule == "stale_evidence" for b in states[name].recommendation.blockers) for name, _ in stale)

    # undecided systems with readiness work under way, and what blocks them
    undecided = [st for st in states.values() if st.decision is None and st.answers]
    assert len(undecided) >= 3 and all(st.recommendation.blocking for st in undecided)

    # the unacceptable-tier system is NO-GO and nothing else
    for st in states.values():
        if st.system.tier is Tier.UNACCEPTABLE and st.decision:
            assert st.decision.verdict is Verdict.NO_GO

    # evidence files were stored through the evidence store into the file store, hashed; links point at the wiki
    files = list(session.scalars(select(Evidence).where(Evidence.kind == EvidenceKind.FILE)))
    assert files
    for evidence in files:
        assert evidence.stored_name is None
        data = FileStore().read(session, evidence.sha256)
        assert hashlib.sha256(data).hexdigest() == evidence.sha256 and len(data) == evidence.size_bytes
        if evidence.file_name.endswith(".pdf"):
            assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    links = session.scalars(select(Evidence.url).where(Evidence.kind == EvidenceKind.LINK)).all()
    assert all(url.startswith("https://wiki.northwind.example/ai/") for url in links)
    assert verify_chain(session).ok


def test_demo_decisions_agree_with_their_frozen_recommendation(session, demo_portfolio):
    decisions = list(session.scalars(select(Decision)))
    for d in decisions:
        snap = d.snapshot
        assert snap["decision"]["verdict"] == d.verdict.value
        assert d.decided_at.date() < utcnow().date() and d.expires_on > d.decided_at.date()
        recommended = snap["recommendation"]["verdict"]
        assert recommended == d.verdict.value or len(d.rationale) >= 40, d.system_id
        if d.verdict is Verdict.GO:
            # a GO stands on accepted answers, a measured baseline and controls done with current evidence
            assert recommended == "go" or snap["decision"]["differs_from_recommendation"]
            assert all(a["status"] == AnswerStatus.ACCEPTED.label for a in snap["answers"])
            assert any(m["baseline"] is not None and m["measured_on"] <= snap["decision"]["decided_at"]
                       for m in snap["metrics"])
            for control in snap["controls"]:
                assert control["status"] in (ControlStatus.IMPLEMENTED.label, ControlStatus.NOT_APPLICABLE.label)
                if control["status"] == ControlStatus.IMPLEMENTED.label:
                    assert control["evidence"] and not any(e["stale"] for e in control["evidence"])
        if d.verdict is Verdict.CONDITIONAL_GO:
            assert d.conditions
    # each decision was recorded by a compliance officer who is not named on the system
    for d in decisions:
        system = session.get(AISystem, d.system_id)
        assert d.decided_by.role is Role.COMPLIANCE and d.decided_by_id not in system.named_user_ids()
    go = [d for d in decisions if d.verdict is Verdict.GO and latest_decision(session, d.system_id).id == d.id]
    assert {session.get(AISystem, d.system_id).tier for d in go} >= {Tier.LOW, Tier.MEDIUM}


def test_an_inconsistent_demo_entry_fails_loudly_with_the_system_name(session, tmp_path):
    bad = {"as_of": date(2026, 11, 29), "systems": {"Refund desk agent": {"decision": {
        "verdict": "go", "by": "mireille.duval@northwind.example", "at": date(2026, 6, 1),
        "rationale": "Looks fine to me."}}}}
    path = tmp_path / "readiness.yaml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(ValidationFailed, match="Refund desk agent.*does not match the recommendation"):
        load_demo(session, readiness_path=path)


def test_demo_readiness_names_only_portfolio_systems():
    names = {s["name"] for s in read_demo()["systems"]}
    assert set(read_readiness()["systems"]) <= names


def test_demo_work_before_a_decision_is_dated_before_it(session, demo_portfolio):
    checked = 0
    for d in session.scalars(select(Decision)):
        accepted = session.scalars(select(ReadinessAnswer).where(
            ReadinessAnswer.system_id == d.system_id, ReadinessAnswer.status == AnswerStatus.ACCEPTED)).all()
        for a in accepted:
            assert a.reviewed_at <= d.decided_at, (d.system_id, a.question, a.reviewed_at, d.decided_at)
            checked += 1
    assert checked


def test_every_demo_go_is_verified_and_only_recorded_acknowledgements_are_shown(session, demo_portfolio):
    decisions = session.scalars(select(Decision)).all()
    for d in decisions:
        rec = d.snapshot["recommendation"]
        if d.verdict is Verdict.GO:
            assert rec["verified_controls"] == rec["required_controls"] > 0, d.id
    acks = {a.decision_id: a for a in session.scalars(select(DecisionAcknowledgement))}
    assert 0 < len(acks) < len(decisions)  # the demo shows both: acknowledged and pending
    for decision_id, ack in acks.items():
        decision = session.get(Decision, decision_id)
        system = session.get(AISystem, decision.system_id)
        assert ack.user_id == system.accountable_owner_id and ack.acknowledged_at > decision.decided_at
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "decision.acknowledge",
                                                        AuditEvent.entity_id == str(decision_id)))
        assert event.when == ack.acknowledged_at
    events = session.scalar(select(func.count()).select_from(AuditEvent)
                            .where(AuditEvent.action == "decision.acknowledge"))
    assert events == len(acks)
