"""What the OMB M-25-21 flag and the EU AI Act class drive: the minimum-practice and obligation
catalogues (by flag, whatever the tier), waivers and their expiry, the declared vs computed
determination, and the recomputation of stored tiers when the rules change."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.controls.applicability import applies, required_controls
from registry.controls.catalogue import CATALOGUE_DIR, read_catalogue
from registry.controls.models import Control
from registry.controls.services import assess_control, verify_control
from registry.db import utcnow
from registry.decisions.recommendation import ControlFact, ReadinessFacts, recommend
from registry.decisions.services import record_decision
from registry.enums import AnswerStatus, ControlStatus, EUClass, Question, Tier, Verdict
from registry.errors import ValidationFailed
from registry.inventory.determination import computed_high, determination
from registry.inventory.models import AISystem
from registry.inventory.services import recompute_tiers, system_payload, update_system
from registry.inventory.tiering import EU_HIGH_RISK_FLAG, OMB_HIGH_IMPACT, RULES_VERSION, system_flags
from registry.review.services import review_queue
from registry.state.facts import load_facts
from tests.conftest import make_system

OMB_FILE = CATALOGUE_DIR / "omb-m-25-21-minimum-practices.yaml"
EU_FILE = CATALOGUE_DIR / "eu-ai-act-high-risk.yaml"
NIST_REFS = {c["ref"] for c in read_catalogue(CATALOGUE_DIR / "nist-ai-rmf-1.0.yaml")["controls"]}

# An internal low-tier tool, and the same system once it decides benefits on its own output.
LOW = {"kind": "predictive_model", "affects": ["internal_staff"], "data_categories": [], "autonomy": "human_in_the_loop",
       "risk": {"prohibited_practice": "none", "decision_domains": [], "legal_effect": False}}
BENEFITS_PRINCIPAL = {"affects": ["public"], "risk": {"prohibited_practice": "none",
                                                       "decision_domains": ["essential_services"], "legal_effect": True,
                                                       "decision_role": "principal"}}
# Motor insurance pricing (not Annex III), a principal basis for the price: OMB high-impact, EU minimal.
MOTOR_PRINCIPAL = {"affects": ["customers"], "risk": {"prohibited_practice": "none",
                                                      "decision_domains": ["other_insurance"], "legal_effect": True,
                                                      "decision_role": "principal"}}


def _refs(session, system, key):
    return [c.ref for c in required_controls(session, system) if c.framework.key == key]


# --- The catalogues -------------------------------------------------------------------------------------


def test_the_omb_catalogue_has_the_memos_practices_with_sections_and_nist_links():
    controls = read_catalogue(OMB_FILE)["controls"]
    refs = [c["ref"] for c in controls]
    for section in ("i", "ii", "iii", "iv", "v", "vi", "vii"):
        assert f"OMB-4(b)({section})" in refs, section
    titles = " ".join(c["title"].lower() for c in controls)
    for practice in ("pre-deployment testing", "impact assessment", "independent review", "monitoring", "training",
                     "fail-safe", "notice", "appeal", "consultation"):
        assert practice in titles, practice
    assert all(c["flags"] == [OMB_HIGH_IMPACT] and not c["tiers"] and c["waivable"] for c in controls)
    for c in controls:
        assert c["related"] and set(c["related"]) <= NIST_REFS, (c["ref"], c["related"])


def test_the_eu_catalogue_covers_the_articles_and_is_not_waivable():
    controls = read_catalogue(EU_FILE)["controls"]
    refs = [c["ref"] for c in controls]
    assert refs == [f"EU-ART-{a}" for a in (9, 10, 11, 12, 13, 14, 15, 17, 26, 27)]
    assert all(f"{c['ref'].split('-')[-1]}" in c["title"] for c in controls)  # the title cites its article
    assert all(c["flags"] == [EU_HIGH_RISK_FLAG] and not c["waivable"] for c in controls)
    assert all(set(c["related"]) <= NIST_REFS for c in controls)


def test_a_catalogue_row_gives_tiers_or_flags_not_both(tmp_path):
    bad = tmp_path / "bad.yaml"
    for row in ("{ref: A, function: F, title: T, tiers: [high], flags: [omb_high_impact]}",  # both
                "{ref: A, function: F, title: T}",  # neither
                "{ref: A, function: F, title: T, flags: [nonsense]}"):
        bad.write_text(f"framework: {{key: x, name: X}}\ncontrols:\n- {row}\n", encoding="utf-8")
        with pytest.raises(ValidationFailed) as err:
            read_catalogue(bad)
        assert "controls" in err.value.errors, row
    bad.write_text("framework: {key: x, name: X}\ncontrols:\n- {ref: A, function: F, title: T, flags: [eu_high_risk]}\n",
                   encoding="utf-8")
    assert read_catalogue(bad)["controls"][0]["flags"] == ["eu_high_risk"]


@pytest.mark.parametrize(("eu", "omb", "flags"), [
    (EUClass.MINIMAL, False, set()),
    (EUClass.MINIMAL, None, {OMB_HIGH_IMPACT}),  # not determined counts, as the tier does
    (EUClass.MINIMAL, True, {OMB_HIGH_IMPACT}),
    (EUClass.HIGH_RISK_ANNEX_III, False, {EU_HIGH_RISK_FLAG}),
    (EUClass.HIGH_RISK_ANNEX_I, True, {EU_HIGH_RISK_FLAG, OMB_HIGH_IMPACT}),
    (EUClass.ANNEX_III_NOT_HIGH, False, set()),
    (None, None, set()),  # computed under earlier rules: nothing determined, nothing claimed
])
def test_system_flags(eu, omb, flags):
    assert system_flags(eu, omb) == flags


def test_flagged_controls_apply_by_flag_whatever_the_tier(session):
    practice = session.scalar(select(Control).where(Control.ref == "OMB-4(b)(i)"))
    for tier in ("low", "medium", "high"):
        assert applies(practice, tier, "predictive_model", [], {OMB_HIGH_IMPACT})
        assert not applies(practice, tier, "predictive_model", [], {EU_HIGH_RISK_FLAG})
    assert not applies(practice, "unacceptable", "predictive_model", [], {OMB_HIGH_IMPACT})


def test_an_omb_high_impact_system_gets_the_practices_and_keeps_them_under_a_lower_override(session, people):
    system = make_system(session, people["owner"], **(LOW | MOTOR_PRINCIPAL))
    assert (system.tier, system.omb_high_impact, system.eu_class) == (Tier.HIGH, True, EUClass.MINIMAL)
    assert len(_refs(session, system, "omb-m-25-21")) == 9
    assert _refs(session, system, "eu-ai-act-high-risk") == []
    low = make_system(session, people["owner"], **LOW)
    assert _refs(session, low, "omb-m-25-21") == [] and low.omb_high_impact is False
    # The facts the go / no-go rules read require the practices too (one loader for every page).
    facts = load_facts(session, [system.id, low.id])
    refs = {sid: {c.ref for c in f.facts.controls} for sid, f in facts.items()}
    assert "OMB-4(b)(vii)" in refs[system.id] and "OMB-4(b)(vii)" not in refs[low.id]


def test_an_eu_high_risk_system_gets_the_obligations(session, people):
    system = make_system(session, people["owner"], **(LOW | BENEFITS_PRINCIPAL))
    assert system.eu_class is EUClass.HIGH_RISK_ANNEX_III and system.omb_high_impact is True
    assert len(_refs(session, system, "eu-ai-act-high-risk")) == 10
    assert len(_refs(session, system, "omb-m-25-21")) == 9


def test_answering_not_principal_drops_the_practices(session, people):
    system = make_system(session, people["owner"], **(LOW | MOTOR_PRINCIPAL))
    payload = system_payload(system)
    payload["risk"]["decision_role"] = "material"
    update_system(session, people["owner"], system.id, payload, expected_version=system.version)
    session.commit()
    assert system.omb_high_impact is False
    assert _refs(session, system, "omb-m-25-21") == []


# --- Waivers --------------------------------------------------------------------------------------------


@pytest.fixture
def high_impact(session, people):
    return make_system(session, people["owner"], **(LOW | MOTOR_PRINCIPAL))


def _practice(session, ref="OMB-4(b)(vii)"):
    return session.scalar(select(Control).where(Control.ref == ref))


def test_a_waiver_needs_its_reason_who_granted_it_and_a_future_expiry(session, people, high_impact):
    practice = _practice(session)
    with pytest.raises(ValidationFailed) as err:
        assess_control(session, people["owner"], high_impact.id, practice.id, {"status": "waived"})
    assert set(err.value.errors) == {"waiver_reason", "waiver_granted_by", "waiver_expires_on"}
    with pytest.raises(ValidationFailed) as err:
        assess_control(session, people["owner"], high_impact.id, practice.id,
                       {"status": "waived", "waiver_reason": "Classified use", "waiver_granted_by": "Chief AI Officer",
                        "waiver_expires_on": date.today().isoformat()})
    assert "waiver_expires_on" in err.value.errors
    with pytest.raises(ValidationFailed) as err:  # never open-ended (and 9999-12-31 is no 500)
        assess_control(session, people["owner"], high_impact.id, practice.id,
                       {"status": "waived", "waiver_reason": "r", "waiver_granted_by": "CAIO",
                        "waiver_expires_on": "9999-12-31"})
    assert "at most a year" in err.value.errors["waiver_expires_on"][0]
    session.rollback()
    nist = session.scalar(select(Control).where(Control.ref == "GOVERN 1.1"))
    with pytest.raises(ValidationFailed) as err:
        assess_control(session, people["owner"], high_impact.id, nist.id,
                       {"status": "waived", "waiver_reason": "x", "waiver_granted_by": "CAIO",
                        "waiver_expires_on": (date.today() + timedelta(days=9)).isoformat()})
    assert "cannot be waived" in err.value.errors["status"][0]


def test_a_waiver_counts_once_verified_and_is_audited(session, people, high_impact):
    practice = _practice(session)
    expires = date.today() + timedelta(days=90)
    a = assess_control(session, people["owner"], high_impact.id, practice.id,
                       {"status": "waived", "waiver_reason": " Consultation would reveal a classified programme ",
                        "waiver_granted_by": "Chief AI Officer (Dana Reyes)", "waiver_expires_on": expires.isoformat()})
    session.commit()
    assert (a.waiver_reason, a.waiver_granted_by, a.waiver_expires_on) == (
        "Consultation would reveal a classified programme", "Chief AI Officer (Dana Reyes)", expires)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "control.assess")
                            .order_by(AuditEvent.seq.desc())).first()
    assert event.data["after"]["waiver_granted_by"] == "Chief AI Officer (Dana Reyes)"
    fact = next(c for c in load_facts(session, [high_impact.id])[high_impact.id].facts.controls
                if c.ref == "OMB-4(b)(vii)")
    assert fact.done and not fact.waiver_lapsed and not fact.satisfied
    verify_control(session, people["compliance"], high_impact.id, practice.id)
    session.commit()
    fact = next(c for c in load_facts(session, [high_impact.id])[high_impact.id].facts.controls
                if c.ref == "OMB-4(b)(vii)")
    assert fact.satisfied
    # Changing the status clears the waiver's fields.
    a = assess_control(session, people["owner"], high_impact.id, practice.id, {"status": "in_progress"})
    assert (a.waiver_reason, a.waiver_granted_by, a.waiver_expires_on, a.verified_at) == (None, None, None, None)


def test_an_expired_waiver_blocks_go_and_cannot_be_verified(session, people, high_impact):
    practice = _practice(session)
    expires = date.today() + timedelta(days=10)
    assess_control(session, people["owner"], high_impact.id, practice.id,
                   {"status": "waived", "waiver_reason": "r", "waiver_granted_by": "CAIO",
                    "waiver_expires_on": expires.isoformat()})
    session.commit()
    later = expires + timedelta(days=1)
    facts = load_facts(session, [high_impact.id], today=later)[high_impact.id]
    fact = next(c for c in facts.facts.controls if c.ref == "OMB-4(b)(vii)")
    assert fact.waiver_lapsed and not fact.done
    blockers = [b for b in recommend(facts.facts).blockers if b.rule == "waiver_expired"]
    assert len(blockers) == 1 and blockers[0].blocking and expires.isoformat() in blockers[0].message
    on_the_day = load_facts(session, [high_impact.id], today=expires)[high_impact.id]
    assert not [b for b in recommend(on_the_day.facts).blockers if b.rule == "waiver_expired"]
    assert expires in on_the_day.due_dates  # the state cache is recomputed the day after
    with pytest.raises(ValidationFailed, match="waiver expired"):
        verify_control(session, people["compliance"], high_impact.id, practice.id, today=later)


def test_the_waiver_rule_in_the_recommendation():
    def facts(control):
        answers = [type("A", (), {"question": q, "status": AnswerStatus.ACCEPTED, "comment": None})() for q in Question]
        return ReadinessFacts(tier=Tier.MEDIUM, owner_active=True, measured_baselines=1, answers=answers,
                              controls=[control], today=date(2027, 1, 10))
    valid = ControlFact(1, "OMB-4(b)(vi)", "Appeals", ControlStatus.WAIVED, None, 0, 0, True, date(2027, 3, 1), False)
    lapsed = ControlFact(1, "OMB-4(b)(vi)", "Appeals", ControlStatus.WAIVED, None, 0, 0, True, date(2027, 1, 9), True)
    assert recommend(facts(valid)).verdict is Verdict.GO
    result = recommend(facts(lapsed))
    assert result.verdict is Verdict.NO_GO and [b.rule for b in result.blockers] == ["waiver_expired"]


# --- Declared vs computed -------------------------------------------------------------------------------


@pytest.mark.parametrize(("regime", "eu", "omb", "expected"), [
    ("other", EUClass.HIGH_RISK_ANNEX_III, False, True), ("other", EUClass.MINIMAL, True, True),
    ("other", EUClass.MINIMAL, False, False), ("other", EUClass.MINIMAL, None, None), ("other", None, None, None),
    ("other", EUClass.PROHIBITED, False, True),
    # Compared like with like: an OMB call against the OMB flag, an EU call against the EU class.
    ("omb_m_25_21", EUClass.HIGH_RISK_ANNEX_III, False, False), ("omb_m_25_21", EUClass.MINIMAL, None, None),
    ("eu_ai_act", EUClass.MINIMAL, True, False), ("eu_ai_act", EUClass.HIGH_RISK_ANNEX_I, False, True),
])
def test_computed_high(regime, eu, omb, expected):
    assert computed_high(regime, eu, omb) is expected


def test_a_declared_determination_is_shown_and_a_disagreement_reaches_the_queue(session, people):
    declared = {"high_impact": False, "justification": "A person reviews every price.",
                "source": "Agency AI inventory 2025"}
    system = make_system(session, people["owner"], **(LOW | MOTOR_PRINCIPAL | {"declared": declared}))
    agrees = make_system(session, people["owner"], **(LOW | {"declared": declared | {"source": "BU"}}))
    assert (system.declared_high_impact, system.declared_source) == (False, "Agency AI inventory 2025")
    d = determination(system)
    assert d.disagrees and d.message.startswith(
        "Declared neither high-impact nor high-risk (its own classification), computed "
        "high-impact or high-risk: a principal basis for")
    assert not determination(agrees).disagrees
    queue = review_queue(session, people["compliance"], utcnow().date())
    assert [(row.id, message) for row, message in queue.disagreements] == [(system.id, d.message)]
    # Declared high, computed not: listed too; undeclared: never.
    payload = system_payload(agrees)
    payload["declared"] = {"high_impact": True, "regime": "omb_m_25_21", "justification": "", "source": ""}
    update_system(session, people["owner"], agrees.id, payload, expected_version=agrees.version)
    session.commit()
    queue = review_queue(session, people["compliance"], utcnow().date())
    assert {row.id for row, _ in queue.disagreements} == {system.id, agrees.id}
    messages = dict((row.id, m) for row, m in queue.disagreements)
    assert messages[agrees.id].startswith("Declared high-impact (OMB M-25-21 high-impact), computed not high-impact")
    # An OMB "not high-impact" on an EU high-risk system that is not OMB high-impact is no disagreement.
    eu_only = make_system(session, people["owner"], **(LOW | {
        "affects": ["public"], "declared": {"high_impact": False, "regime": "omb_m_25_21"},
        "risk": {"prohibited_practice": "none", "decision_domains": ["employment"], "decision_role": "material"}}))
    assert eu_only.eu_class is EUClass.HIGH_RISK_ANNEX_III and eu_only.omb_high_impact is False
    assert not determination(eu_only).disagrees
    queue = review_queue(session, people["compliance"], utcnow().date())
    assert eu_only.id not in {row.id for row, _ in queue.disagreements}


# --- Recomputation under new rules ----------------------------------------------------------------------


def test_systems_computed_under_earlier_rules_are_recomputed_audited_and_flagged(session, people):
    changed = make_system(session, people["owner"], **(LOW | {"data_categories": ["health"]}))
    same = make_system(session, people["owner"], **LOW)
    current = make_system(session, people["owner"], **LOW)
    # Decided under v1 at HIGH; under v2 still HIGH but now OMB high-impact: 9 more practices.
    decided = make_system(session, people["owner"], **(LOW | MOTOR_PRINCIPAL))
    record_decision(session, people["compliance"], decided.id,
                    {"verdict": "no_go", "rationale": "Not ready: nothing answered yet."})
    session.commit()
    for system, tier in ((changed, Tier.LOW), (same, Tier.LOW), (decided, Tier.HIGH)):  # as rules v1 left them
        system.tier_rules, system.computed_tier, system.tier = RULES_VERSION - 1, tier, tier
        system.eu_class, system.eu_basis, system.omb_high_impact, system.omb_basis = None, "", None, ""
    session.commit()
    assert _refs(session, decided, "omb-m-25-21") == []  # nothing determined yet, nothing required by flag
    assert decided.re_review_required_at is None
    counts = recompute_tiers(session, None, actor_label="tier rules (test)")
    session.commit()
    assert counts == {"recomputed": 3, "changed": 2}
    assert (changed.tier, changed.tier_rules, changed.eu_class) == (Tier.MEDIUM, RULES_VERSION, EUClass.MINIMAL)
    assert same.tier_rules == RULES_VERSION and same.eu_class is EUClass.MINIMAL
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "system.tier_recomputed")
                             .order_by(AuditEvent.seq)).all()
    assert [(e.system_id, e.actor_label) for e in events] == [(changed.id, "tier rules (test)"),
                                                               (decided.id, "tier rules (test)")]
    assert events[0].summary.startswith(f"Tier recomputed under rules v{RULES_VERSION}: Low → Medium because ")
    assert "health" in events[0].summary.lower()
    assert "High → High and now OMB M-25-21 high-impact" in events[1].summary
    # The decided system is flagged for re-review and now needs the practices.
    assert decided.re_review_required_at is not None
    assert any("OMB M-25-21" in reason for reason in decided.re_review_reasons)
    assert len(_refs(session, decided, "omb-m-25-21")) == 9
    assert changed.re_review_required_at is None  # no decision: nothing to re-review
    assert recompute_tiers(session, None) == {"recomputed": 0, "changed": 0}
    assert session.get(AISystem, current.id).tier_rules == RULES_VERSION
