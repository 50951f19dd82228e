"""Inventory services: validation, permissions, stale edits, tier override, audit in the same transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.decisions.services import record_decision
from registry.enums import Tier
from registry.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from registry.inventory import services
from registry.inventory.models import AISystem, BaselineMetric
from tests.conftest import make_system, make_user, system_payload


def events(session, action=None):
    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(session.scalars(stmt))


def test_create_computes_tier_and_records_event(session, people):
    system = services.create_system(session, people["owner"], system_payload(people["owner"]))
    session.commit()
    assert system.tier is Tier.HIGH and system.computed_tier is Tier.HIGH
    assert any("insurance" in r.lower() for r in system.tier_reasons)
    [event] = events(session, "system.create")
    assert event.actor_id == people["owner"].id
    assert event.after["accountable_owner"] == "Olu Owner <owner@example.test>"  # names, not ids
    assert event.after["data_categories"] == "Personal data, Financial data"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"accountable_owner": "nobody@example.test"}, "accountable_owner"),
        ({"sourcing": "vendor", "vendor_name": None}, "vendor_name"),
        ({"kind": "crystal_ball"}, "kind"),
        ({"affects": []}, "affects"),
        ({"data_categories": ["gossip"]}, "data_categories.0"),
        ({"risk": {"decision_domains": ["astrology"]}}, "risk.decision_domains.0"),
        ({"metrics": [{"name": "Accuracy", "unit": "%", "baseline": "high", "direction": "higher"}]}, "metrics.0.baseline"),
    ],
)
def test_create_rejects_bad_input_and_writes_nothing(session, people, overrides, field):
    with pytest.raises(ValidationFailed) as err:
        services.create_system(session, people["owner"], system_payload(people["owner"], **overrides))
    assert field in err.value.errors, err.value.errors
    session.rollback()
    assert session.scalar(select(func.count(AISystem.id))) == 0
    assert not events(session, "system.create")


def test_owner_must_be_named_on_what_they_register(session, people):
    with pytest.raises(ValidationFailed):
        services.create_system(session, people["owner"], system_payload(people["other_owner"]))


@pytest.mark.parametrize("role", ["compliance", "executive"])
def test_roles_that_cannot_register(session, people, role):
    with pytest.raises(PermissionDenied):
        services.create_system(session, people[role], system_payload(people["owner"]))


def test_update_records_field_level_diff(session, people):
    system = make_system(session, people["owner"])
    payload = services.system_payload(system) | {"stage": "production", "technical_owner": people["other_owner"].email}
    services.update_system(session, people["owner"], system.id, payload, expected_version=system.version)
    session.commit()
    [event] = events(session, "system.update")
    assert event.before == {"stage": "Pilot", "technical_owner": None}
    assert event.after == {"stage": "Production", "technical_owner": "Otto Other <other@example.test>"}


def test_stale_edit_is_refused_and_nothing_is_overwritten(session, people):
    system = make_system(session, people["owner"])
    read_version = system.version
    first = services.system_payload(system) | {"name": "First save"}
    services.update_system(session, people["owner"], system.id, first, expected_version=read_version)
    session.commit()
    second = services.system_payload(system) | {"name": "Second save", "business_unit": "Elsewhere"}
    with pytest.raises(Conflict):
        services.update_system(session, people["admin"], system.id, second, expected_version=read_version)
    session.rollback()
    fresh = session.get(AISystem, system.id)
    assert fresh.name == "First save" and fresh.business_unit == "Claims & Insurance"


def test_object_level_edit_rule(session, people):
    system = make_system(session, people["owner"])
    payload = services.system_payload(system)
    for role in ("other_owner", "compliance", "executive"):
        with pytest.raises(PermissionDenied):
            services.update_system(session, people[role], system.id, payload, expected_version=system.version)
    # a technical owner is named on the system and may edit it
    payload["technical_owner"] = people["other_owner"].email
    services.update_system(session, people["owner"], system.id, payload, expected_version=system.version)
    session.commit()
    services.update_system(session, people["other_owner"], system.id, payload | {"name": "Renamed"},
                           expected_version=system.version)


def test_tier_override_kept_across_edits_and_audited(session, people):
    system = make_system(session, people["owner"], risk={"decision_domains": []}, data_categories=[],
                         affects=["internal_staff"])
    assert system.tier is Tier.LOW
    services.override_tier(session, people["compliance"], system.id, "medium", "Feeds the pricing committee.")
    session.commit()
    assert system.tier is Tier.MEDIUM and system.computed_tier is Tier.LOW
    payload = services.system_payload(system) | {"name": "Renamed"}
    services.update_system(session, people["owner"], system.id, payload, expected_version=system.version)
    assert system.tier is Tier.MEDIUM
    [event] = events(session, "system.tier_override")
    assert event.after["tier_override_reason"] == "Feeds the pricing committee."
    assert event.before["tier"] == "Low" and event.after["tier"] == "Medium"


def test_tier_override_needs_reason_and_a_compliance_officer_not_named(session, people):
    system = make_system(session, people["owner"])
    with pytest.raises(ValidationFailed):
        services.override_tier(session, people["compliance"], system.id, "low", "   ")
    with pytest.raises(PermissionDenied):
        services.override_tier(session, people["owner"], system.id, "low", "I think so")
    named = make_system(session, people["owner"], technical_owner=people["compliance"].email)
    with pytest.raises(PermissionDenied):
        services.override_tier(session, people["compliance"], named.id, "low", "Conflict of interest")


def test_metrics_are_typed_and_audited(session, people):
    system = make_system(session, people["owner"])
    metric = services.add_metric(session, people["owner"], system.id, {
        "name": "Urgent claims seen within 24 h", "unit": "%", "baseline": "61.5", "measured_on": "2026-03-31",
        "source": "Guidewire export", "target": 80, "direction": "higher"})
    session.commit()
    assert metric.baseline_value == 61.5 and isinstance(metric.baseline_value, float)
    with pytest.raises(ValidationFailed) as err:
        services.add_metric(session, people["owner"], system.id, {"name": "x", "unit": "%", "baseline": 3,
                                                                  "direction": "sideways"})
    assert {"direction", "measured_on"} <= set(err.value.errors)
    with pytest.raises(ValidationFailed):
        services.add_metric(session, people["owner"], system.id, {"name": "x", "unit": "%", "baseline": 3,
                                                                  "measured_on": "2999-01-01", "direction": "higher"})
    session.rollback()
    services.update_metric(session, people["owner"], system.id, metric.id, {
        "name": metric.name, "unit": "%", "baseline": 63, "measured_on": "2026-03-31", "direction": "higher"})
    services.delete_metric(session, people["owner"], system.id, metric.id)
    session.commit()
    assert session.scalar(select(func.count(BaselineMetric.id))) == 0
    actions = [e.action for e in events(session) if e.entity_type == "metric"]
    assert actions == ["metric.create", "metric.update", "metric.delete"]


def test_audit_event_is_in_the_same_transaction(session, people):
    system = make_system(session, people["owner"])
    before = len(events(session))
    services.update_system(session, people["owner"], system.id, services.system_payload(system) | {"name": "X"},
                           expected_version=system.version)
    session.rollback()  # the change is abandoned: its event must vanish with it
    assert len(events(session)) == before
    assert session.get(AISystem, system.id).name != "X"


def test_delete_is_soft_admin_only_and_hides_the_system(session, people):
    system = make_system(session, people["owner"])
    with pytest.raises(PermissionDenied):
        services.delete_system(session, people["owner"], system.id)
    services.delete_system(session, people["admin"], system.id)
    session.commit()
    with pytest.raises(NotFound):
        services.get_system(session, people["executive"], system.id)
    assert events(session, "system.delete")[0].before["name"] == system.name


LOW_RISK = {"affects": ["internal_staff"], "data_categories": [],
            "risk": {"prohibited_practice": "none", "decision_domains": [], "legal_effect": False}}
PROHIBITED = {"risk": {"prohibited_practice": "social_scoring", "decision_domains": [], "legal_effect": False}}


def test_an_unacceptable_tier_is_never_overridden(session, people):
    system = make_system(session, people["owner"], **PROHIBITED)
    assert system.computed_tier is Tier.UNACCEPTABLE
    with pytest.raises(ValidationFailed) as err:
        services.override_tier(session, people["compliance"], system.id, "low", "The board accepts the risk.")
    assert "cannot be overridden" in err.value.message
    session.rollback()
    session.expire_all()
    fresh = session.get(AISystem, system.id)
    assert fresh.tier is Tier.UNACCEPTABLE and fresh.tier_override is None
    assert not events(session, "system.tier_override")


def test_an_override_made_earlier_never_lowers_a_prohibited_practice(session, people):
    """Overridden to HIGH while harmless; then the answers describe a prohibited practice: the
    override lapses (it would hold the system below UNACCEPTABLE) and the tier is UNACCEPTABLE."""
    system = make_system(session, people["owner"])
    services.override_tier(session, people["compliance"], system.id, "high", "Customer-facing; treat as high.")
    session.commit()
    payload = services.system_payload(system)
    payload["risk"] = PROHIBITED["risk"]
    services.update_system(session, people["owner"], system.id, payload, expected_version=system.version)
    session.commit()
    assert system.tier is Tier.UNACCEPTABLE and system.tier_override is None
    lapse = events(session, "system.tier_override_lapsed")[-1]
    assert "override to High lapsed" in lapse.summary and "Unacceptable" in lapse.summary
    assert system.re_review_required_at is None  # nothing was decided: nothing to re-review


def test_the_page_refuses_an_override_of_a_prohibited_practice(session, people, as_role):
    system = make_system(session, people["owner"], **PROHIBITED)
    officer = as_role("compliance")
    page = officer.get(f"/systems/{system.id}").get_data(as_text=True)
    assert 'id="no-override"' in page and f'action="/systems/{system.id}/tier"' not in page
    response = officer.post(f"/systems/{system.id}/tier", {"tier": "low", "reason": "Trying anyway."},
                            token_from=f"/systems/{system.id}")
    assert response.status_code == 422 and "cannot be overridden" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(AISystem, system.id).tier_override is None


def test_a_downward_override_waits_for_a_second_officer(session, people):
    """HIGH by the rules, lowered to LOW: HIGH still applies until another officer confirms."""
    system = make_system(session, people["owner"])
    assert system.computed_tier is Tier.HIGH
    services.override_tier(session, people["compliance"], system.id, "low", "Only ranks claims for a person.")
    session.commit()
    assert system.tier is Tier.HIGH and system.override_pending and system.tier_override_against is Tier.HIGH
    with pytest.raises(PermissionDenied, match="second compliance officer"):
        services.confirm_tier_override(session, people["compliance"], system.id)
    session.rollback()
    with pytest.raises(PermissionDenied):
        services.confirm_tier_override(session, people["owner"], system.id)
    session.rollback()
    second = make_user(session, "compliance", email="second@example.test")
    session.commit()
    services.confirm_tier_override(session, second, system.id)
    session.commit()
    assert system.tier is Tier.LOW and not system.override_pending
    assert system.tier_override_confirmed_by_id == second.id
    events = session.scalars(select(AuditEvent.action).where(AuditEvent.system_id == system.id)
                             .order_by(AuditEvent.seq)).all()
    assert events[-2:] == ["system.tier_override", "system.tier_override_confirmed"]
    with pytest.raises(Conflict):  # nothing is waiting any more
        services.confirm_tier_override(session, make_user(session, "compliance"), system.id)
    session.rollback()


def test_an_upward_override_applies_at_once(session, people):
    system = make_system(session, people["owner"], **LOW_RISK)
    services.override_tier(session, people["compliance"], system.id, "high", "Board wants high-tier controls.")
    session.commit()
    assert system.tier is Tier.HIGH and not system.override_pending


def test_a_confirmed_low_override_lapses_when_the_answers_raise_the_tier(session, people):
    """MEDIUM by the rules, confirmed LOW; an employment domain is added: HIGH, override gone, re-review."""
    system = make_system(session, people["owner"], **LOW_RISK)
    payload = services.system_payload(system) | {"data_categories": ["personal"]}
    services.update_system(session, people["owner"], system.id, payload, expected_version=system.version)
    session.commit()
    assert system.computed_tier is Tier.MEDIUM
    services.override_tier(session, people["compliance"], system.id, "low", "Pseudonymised; internal use only.")
    services.confirm_tier_override(session, make_user(session, "compliance"), system.id)
    session.commit()
    assert system.tier is Tier.LOW
    record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": "Not ready yet."})
    session.commit()
    payload = services.system_payload(system)
    payload["risk"] = {**payload["risk"], "decision_domains": ["employment"]}
    services.update_system(session, people["owner"], system.id, payload, expected_version=system.version)
    session.commit()
    assert system.computed_tier is Tier.HIGH and system.tier is Tier.HIGH and system.tier_override is None
    assert system.re_review_required_at is not None
    assert system.re_review_reasons[0] == ("Tier override to Low lapsed: the rules now give High, above Medium, "
                                           "the tier it was made against")
    assert "Tier from the rules: Medium → High" in system.re_review_reasons
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.system_id == system.id)
                              .order_by(AuditEvent.seq)).all()
    assert actions[-3:] == ["system.update", "system.tier_override_lapsed", "system.re_review_required"]


def test_a_lower_computed_tier_keeps_the_override(session, people):
    """Only a rise above the tier it was made against ends an override."""
    system = make_system(session, people["owner"])
    services.override_tier(session, people["compliance"], system.id, "medium", "Adjusters review each ranking.")
    services.confirm_tier_override(session, make_user(session, "compliance"), system.id)
    session.commit()
    payload = services.system_payload(system)
    payload["risk"] = {**payload["risk"], "decision_domains": []}
    services.update_system(session, people["owner"], system.id, payload, expected_version=system.version)
    session.commit()
    assert system.tier_override is Tier.MEDIUM and system.tier is Tier.MEDIUM and system.re_review_required_at is None
