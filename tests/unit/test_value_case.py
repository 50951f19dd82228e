"""The value case: its schema's limits (blank is not 0), versions, audit, who may edit it, the
production rule at each tier, and the portfolio's totals by stage and currency."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import pytest
from sqlalchemy import event, select

from registry.audit.models import AuditEvent
from registry.enums import Stage, Tier
from registry.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from registry.inventory.models import AISystem
from registry.inventory.services import delete_system
from registry.readiness.services import save_answer
from registry.value import services
from registry.value.models import ValueCase
from registry.value.rules import NO_FUNDER, NO_RUN_COST, NO_TEAM, value_case_gaps
from registry.value.schemas import CURRENCIES, MONEY_LIMIT, ValueCaseSchema
from tests.conftest import make_system

FULL = {"currency": "EUR", "expected_annual_value": 500000, "value_basis": "12 FTE of triage at 40k each",
        "one_off_cost": 120000, "annual_run_cost": 30000, "annual_maintenance_cost": 80000,
        "maintenance_team": "Claims ML team", "run_funded_by": "Claims operations", "latency": "< 2 s",
        "volume": "40,000 claims a month", "availability": "99.5 % office hours"}


def _events(session, system_id: int, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.system_id == system_id,
                                                         AuditEvent.action == action).order_by(AuditEvent.seq)))


# -- the schema ---------------------------------------------------------------------------------

def _errors(payload: dict) -> dict:
    return ValueCaseSchema().validate(payload)


def test_the_schema_takes_a_full_case_and_strips_text():
    data = ValueCaseSchema().load({**FULL, "maintenance_team": "  Claims ML team  "})
    assert data["maintenance_team"] == "Claims ML team"
    assert data["annual_run_cost"] == 30000.0


def test_a_figure_left_out_or_null_is_not_recorded_and_zero_is_kept():
    data = ValueCaseSchema().load({"currency": "USD", "annual_run_cost": 0, "one_off_cost": None})
    assert data["annual_run_cost"] == 0.0
    assert data["one_off_cost"] is None
    assert data["expected_annual_value"] is None
    assert data["annual_maintenance_cost"] is None


@pytest.mark.parametrize("bad", [-1, -0.01, MONEY_LIMIT * 1.0001, "", "lots", True, [1], {"a": 1}, "nan", "inf"])
def test_a_money_figure_is_a_finite_amount_from_zero_to_a_trillion(bad):
    assert "annual_run_cost" in _errors({"currency": "EUR", "annual_run_cost": bad})


def test_the_limits_themselves_are_accepted():
    assert _errors({"currency": "EUR", "annual_run_cost": 0, "expected_annual_value": MONEY_LIMIT}) == {}


def test_figures_need_a_currency_from_the_list():
    assert "currency" in _errors({"expected_annual_value": 10})
    assert "currency" in _errors({"currency": "XYZ", "expected_annual_value": 10})
    assert "currency" in _errors({"currency": "eur", "expected_annual_value": 10})
    assert _errors({"maintenance_team": "Team A"}) == {}  # no figure: no currency needed
    assert set(CURRENCIES) >= {"EUR", "USD", "GBP", "JPY", "BRL"} and len(CURRENCIES) == 14


def test_text_limits_unknown_fields_and_nul_are_refused():
    assert "maintenance_team" in _errors({"maintenance_team": "x" * 301})
    assert _errors({"maintenance_team": "x" * 300}) == {}
    assert "value_basis" in _errors({"value_basis": "x" * 4001})
    assert "latency" in _errors({"latency": "fast\x00"})
    assert "annual_cost" in _errors({"annual_cost": 5})


# -- saving -------------------------------------------------------------------------------------

def test_saving_records_the_case_and_audits_it(session, people):
    owner = people["owner"]
    system = make_system(session, owner)
    case = services.save_value_case(session, owner, system.id, FULL, expected_version=0)
    session.commit()
    assert case.version == 1 and case.updated_by_id == owner.id
    assert services.value_case_for(session, system.id).annual_run_cost == 30000
    created = _events(session, system.id, "value_case.create")
    assert len(created) == 1
    assert created[0].before is None
    assert created[0].after["annual_run_cost"] == 30000 and created[0].after["currency"] == "EUR"


def test_an_edit_bumps_the_version_and_audits_only_what_changed(session, people):
    owner = people["owner"]
    system = make_system(session, owner)
    services.save_value_case(session, owner, system.id, FULL, expected_version=0)
    session.commit()
    case = services.save_value_case(session, owner, system.id, {**FULL, "annual_run_cost": None},
                                    expected_version=1)
    session.commit()
    assert case.version == 2 and case.annual_run_cost is None
    [edit] = _events(session, system.id, "value_case.update")
    assert edit.before == {"annual_run_cost": 30000}
    assert edit.after == {"annual_run_cost": "Not recorded"}
    # the same again changes nothing: no new version, no event
    services.save_value_case(session, owner, system.id, {**FULL, "annual_run_cost": None}, expected_version=2)
    session.commit()
    assert services.value_case_for(session, system.id).version == 2
    assert len(_events(session, system.id, "value_case.update")) == 1


def test_a_save_based_on_a_stale_version_is_refused_and_changes_nothing(session, people):
    owner = people["owner"]
    system = make_system(session, owner)
    services.save_value_case(session, owner, system.id, FULL, expected_version=0)
    session.commit()
    with pytest.raises(Conflict):
        services.save_value_case(session, owner, system.id, {**FULL, "one_off_cost": 1}, expected_version=0)
    session.rollback()
    with pytest.raises(Conflict):  # someone created it meanwhile
        services.save_value_case(session, people["admin"], system.id, FULL, expected_version=0)
    session.rollback()
    assert services.value_case_for(session, system.id).one_off_cost == 120000


def test_bad_input_writes_nothing(session, people):
    owner = people["owner"]
    system = make_system(session, owner)
    with pytest.raises(ValidationFailed) as err:
        services.save_value_case(session, owner, system.id, {**FULL, "annual_run_cost": -5}, expected_version=0)
    assert "annual_run_cost" in err.value.errors
    session.rollback()
    assert services.value_case_for(session, system.id) is None
    assert _events(session, system.id, "value_case.create") == []


@pytest.mark.parametrize("role", ["compliance", "other_owner", "executive"])
def test_only_whoever_edits_the_system_edits_its_value_case(session, people, role):
    system = make_system(session, people["owner"])
    with pytest.raises(PermissionDenied):
        services.save_value_case(session, people[role], system.id, FULL, expected_version=0)


def test_admin_and_the_seeder_may_save_and_a_deleted_system_has_none(session, people):
    system = make_system(session, people["owner"])
    services.save_value_case(session, people["admin"], system.id, FULL, expected_version=0)
    services.save_value_case(session, None, system.id, {**FULL, "volume": "more"})
    session.commit()
    assert services.value_case_for(session, system.id).volume == "more"
    delete_system(session, people["admin"], system.id)
    session.commit()
    with pytest.raises(NotFound):
        services.save_value_case(session, people["admin"], system.id, FULL)


def test_net_value_needs_all_three_figures(session, people):
    case = ValueCase(expected_annual_value=500000, annual_run_cost=30000, annual_maintenance_cost=80000)
    assert services.net_annual_value(case) == 390000
    case.annual_maintenance_cost = None
    assert services.net_annual_value(case) is None
    case.annual_maintenance_cost, case.annual_run_cost = 0, 0
    assert services.net_annual_value(case) == 500000
    assert services.net_annual_value(None) is None


def test_the_business_outcome_comes_from_the_readiness_answer(session, people):
    owner = people["owner"]
    system = make_system(session, owner)
    assert services.business_outcome(session, system.id) is None
    save_answer(session, owner, system.id, "outcome", {"business_outcome": "Cut claim handling time by 20 %"},
                expected_version=0)
    session.commit()
    assert services.business_outcome(session, system.id) == ("Cut claim handling time by 20 %", "Draft")


# -- the production rule ------------------------------------------------------------------------

def _case(**kw) -> ValueCase:
    return ValueCase(**{"annual_run_cost": 1000.0, "run_funded_by": "IT", "maintenance_team": "ML ops", **kw})


@pytest.mark.parametrize("tier", [Tier.MEDIUM, Tier.HIGH, "medium", "high"])
def test_medium_and_high_tier_need_a_budgeted_run_cost_and_a_named_team(tier):
    assert value_case_gaps(None, tier) == [NO_RUN_COST, NO_TEAM]
    assert value_case_gaps(_case(), tier) == []
    assert value_case_gaps(_case(annual_run_cost=None), tier) == [NO_RUN_COST]
    assert value_case_gaps(_case(maintenance_team="  "), tier) == [NO_TEAM]
    assert value_case_gaps(_case(run_funded_by=""), tier) == [NO_FUNDER]
    # a recorded 0 is an answer: nothing to fund
    assert value_case_gaps(_case(annual_run_cost=0.0, run_funded_by=""), tier) == []


@pytest.mark.parametrize("tier", [Tier.LOW, Tier.NOT_ASSESSED, Tier.UNACCEPTABLE, None])
def test_other_tiers_are_not_held_by_this_rule(tier):
    assert value_case_gaps(None, tier) == []
    assert value_case_gaps(_case(annual_run_cost=None, maintenance_team=""), tier) == []


# -- totals for the portfolio -------------------------------------------------------------------

def test_totals_by_stage_and_currency_match_an_independent_sum(session, people):
    owner = people["owner"]
    rng = random.Random(16)
    expected = defaultdict(lambda: {"systems": 0, "sums": defaultdict(float), "recorded": defaultdict(int)})
    without, text_only = defaultdict(int), defaultdict(int)
    for i in range(14):
        stage = ["pilot", "production", "idea", "retired"][i % 4]
        system = make_system(session, owner, stage=stage)
        if i % 5 == 4:
            if stage in ("pilot", "production"):
                without[stage] += 1
            continue
        currency = ["EUR", "USD", "GBP"][i % 3]
        figures = {k: (None if rng.random() < 0.25 else round(rng.uniform(0, 1e6), 2))
                   for k in ("expected_annual_value", "one_off_cost", "annual_run_cost", "annual_maintenance_cost")}
        services.save_value_case(session, None, system.id, {"currency": currency, **figures})
        if stage in ("pilot", "production") and all(v is None for v in figures.values()):
            text_only[stage] += 1  # no figure: its currency is only a default, counted in none
        elif stage in ("pilot", "production"):
            bucket = expected[(stage, currency)]
            bucket["systems"] += 1
            for k, v in figures.items():
                if v is not None:
                    bucket["sums"][k] += v
                    bucket["recorded"][k] += 1
    gone = make_system(session, owner, stage="pilot")  # deleted: not counted
    services.save_value_case(session, None, gone.id, {"currency": "EUR", "one_off_cost": 1e9})
    delete_system(session, people["admin"], gone.id)
    session.commit()

    totals = services.value_totals(session)
    assert set(totals) == {Stage.PRODUCTION, Stage.PILOT}
    for stage in (Stage.PRODUCTION, Stage.PILOT):
        got = totals[stage]
        mine = {c: b for (s, c), b in expected.items() if s == stage.value}
        assert set(got.by_currency) == set(mine)
        assert got.with_case == sum(b["systems"] for b in mine.values()) + text_only[stage.value]
        assert got.no_figures == text_only[stage.value]
        assert got.without_case == without[stage.value]
        for currency, bucket in mine.items():
            row = got.by_currency[currency]
            assert row.systems == bucket["systems"]
            for k in ("expected_annual_value", "one_off_cost", "annual_run_cost", "annual_maintenance_cost"):
                assert math.isclose(row.sums[k], bucket["sums"][k], rel_tol=1e-9, abs_tol=1e-6), (stage, currency, k)
                assert row.recorded[k] == bucket["recorded"][k]


def test_totals_can_be_restricted_to_some_systems(session, people):
    owner = people["owner"]
    a = make_system(session, owner, stage="production")
    b = make_system(session, owner, stage="production")
    services.save_value_case(session, None, a.id, {"currency": "EUR", "annual_run_cost": 10})
    services.save_value_case(session, None, b.id, {"currency": "EUR", "annual_run_cost": 32})
    session.commit()
    assert services.value_totals(session)[Stage.PRODUCTION].by_currency["EUR"].sums["annual_run_cost"] == 42
    only_a = select(AISystem.id).where(AISystem.id == a.id)
    restricted = services.value_totals(session, only_a)[Stage.PRODUCTION]
    assert restricted.by_currency["EUR"].sums["annual_run_cost"] == 10 and restricted.with_case == 1


def test_totals_take_two_queries_whatever_the_number_of_systems(app, session, people):
    owner = people["owner"]
    for _ in range(6):
        system = make_system(session, owner, stage="production")
        services.save_value_case(session, None, system.id, {"currency": "EUR", "annual_run_cost": 1})
    session.commit()
    statements = []
    engine = session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        services.value_totals(session)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2



def test_a_value_case_without_figures_is_not_counted_in_a_currency(session, people):
    owner = people["owner"]
    figured, text_only = make_system(session, owner), make_system(session, owner)
    services.save_value_case(session, owner, figured.id, {"currency": "EUR", "annual_run_cost": 1000})
    services.save_value_case(session, owner, text_only.id, {"maintenance_team": "Claims ML team"})
    session.commit()
    pilot = services.value_totals(session)[Stage.PILOT]
    assert set(pilot.by_currency) == {"EUR"} and pilot.by_currency["EUR"].systems == 1
    assert (pilot.with_case, pilot.no_figures, pilot.without_case) == (2, 1, 0)
