"""The portfolio after the baseline, on the demo: systems held back by drift, critical incidents, the
release gate and the value case; incidents by failure mode; value and cost by stage; stopped
pilots by reason.  Each figure is checked against an independent computation over the ORM."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from registry.enums import AlertStatus, IncidentStatus, Severity, Stage
from registry.incidents.models import Incident
from registry.inventory.models import AISystem
from registry.monitoring.models import DriftAlert
from registry.portfolio.services import after_baseline_counts, portfolio_figures, portfolio_filters
from registry.value.models import PilotStop, ValueCase
from tests.web.test_portfolio_pages import pdf_text


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_portfolio_shows_what_followed_the_baseline(session, people, as_role, demo_portfolio):
    executive = as_role("executive")  # signs in (a write) before this test's session reads
    live = {s.id: s for s in session.scalars(select(AISystem).where(AISystem.deleted_at.is_(None)))}
    p = portfolio_figures(session, people["executive"], portfolio_filters(MultiDict()))
    held = after_baseline_counts(p)
    drifting = {a.system_id for a in session.scalars(select(DriftAlert).where(DriftAlert.status == AlertStatus.OPEN))}
    critical = {i.system_id for i in session.scalars(select(Incident).where(
        Incident.status == IncidentStatus.OPEN, Incident.severity == Severity.CRITICAL))}
    assert held["drift_alert"] == len(drifting) >= 1 and held["incident_critical"] == len(critical) >= 1
    assert held["reliability_gate"] >= 1  # the refund agent's pass^8 below its gate

    incidents = list(session.scalars(select(Incident)))
    modes = Counter(i.failure_mode for i in incidents)
    assert {r["mode"]: r["total"] for r in p.incidents_by_mode} == dict(modes)
    assert sum(r["open"] for r in p.incidents_by_mode) == sum(i.status is IncidentStatus.OPEN for i in incidents)

    for stage in (Stage.PRODUCTION, Stage.PILOT):
        cases = [c for c in session.scalars(select(ValueCase)) if live[c.system_id].stage is stage]
        totals = p.value[stage]
        assert totals.with_case == len(cases)
        assert totals.without_case == sum(1 for s in live.values() if s.stage is stage) - len(cases)
        for currency, t in totals.by_currency.items():
            mine = [c for c in cases if c.currency == currency]
            assert t.sums["annual_run_cost"] == sum(c.annual_run_cost or 0 for c in mine)
            assert t.recorded["annual_maintenance_cost"] == sum(c.annual_maintenance_cost is not None for c in mine)

    # filtered: the filters apply to the value cases and the stops too
    unit = live[next(iter(drifting))].business_unit
    scoped = portfolio_figures(session, people["executive"], portfolio_filters(MultiDict({"business_unit": unit})))
    for stage in (Stage.PRODUCTION, Stage.PILOT):
        cases = [c for c in session.scalars(select(ValueCase))
                 if live[c.system_id].stage is stage and live[c.system_id].business_unit == unit]
        assert scoped.value[stage].with_case == len(cases)
        assert scoped.value[stage].without_case == sum(
            1 for s in live.values() if s.stage is stage and s.business_unit == unit) - len(cases)
    assert scoped.stops.total == sum(1 for st in session.scalars(select(PilotStop)) if live[st.system_id].business_unit == unit)

    stops = list(session.scalars(select(PilotStop)))
    assert p.stops.total == len(stops) == 2
    assert {r: n for r, n in p.stops.counts.items() if n} == dict(Counter(s.reason for s in stops))

    session.commit()
    page = _text(executive.get("/portfolio").get_data(as_text=True))
    section = page[page.index("After the baseline"):page.index("By business unit")]
    assert f"{held['drift_alert']} with an open drift alert" in section
    assert f"{held['incident_critical']} with an open critical incident" in section
    assert "Incidents by failure mode" in section and "Prompt injection and jailbreaking" in section
    assert "What AI is worth and what it costs" in section and "Pilots stopped" in section
    assert "Costs exceed the business value" in section
    production = p.value[Stage.PRODUCTION].by_currency["EUR"]
    assert f"EUR {production.sums['expected_annual_value']:,.0f}" in section


def test_the_board_pack_pdf_carries_the_same_figures(session, people, as_role, demo_portfolio):
    executive = as_role("executive")
    p = portfolio_figures(session, people["executive"], portfolio_filters(MultiDict()))
    held = after_baseline_counts(p)
    session.commit()
    text = " ".join(pdf_text(executive.get("/portfolio.pdf").data).split())
    assert f"With an open drift alert {held['drift_alert']}" in text
    assert f"With an open critical incident {held['incident_critical']}" in text
    assert "Hallucination 2 0 0" in text and "Pilots stopped: 2" in text
    production = p.value[Stage.PRODUCTION].by_currency["EUR"]
    assert f"EUR {production.sums['annual_run_cost']:,.0f}" in text
