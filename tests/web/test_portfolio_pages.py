"""The portfolio dashboard: every figure against an independent computation, every number a link
to exactly the systems behind it, filters, permissions, and the PDF."""

from __future__ import annotations

import html
import re
import statistics
import subprocess
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from registry.audit.models import AuditEvent
from registry.db import utcnow
from registry.decisions.services import assess_system
from registry.enums import Stage, Verdict
from registry.inventory.models import AISystem, StageChange
from registry.portfolio import services as portfolio_services
from registry.portfolio.services import portfolio_figures, portfolio_filters
from registry.seed.synthetic import seed_synthetic
from registry.state.cache import blocker_group
from tests.conftest import make_system

LINK = re.compile(r'<a href="(/systems\?[^"]*)">(\d+)</a>')
BAR_LINK = re.compile(r'<a href="(/systems\?[^"]*)"><span class="pf-bar-label">[^<]*</span> <span class="pf-bar-count">(\d+)</span></a>')
LIST_TOTAL = re.compile(r'<p class="lead">(\d+) AI system')


def independent(session, today, keep=lambda s: True) -> dict:
    """The dashboard's figures recomputed from plain ORM reads and ``assess_system`` (no cache, no SQL aggregates)."""
    systems = [s for s in session.scalars(select(AISystem).where(AISystem.deleted_at.is_(None))).unique() if keep(s)]
    out = {"total": len(systems), "by_stage": Counter(), "by_tier": Counter(), "heat": Counter(), "decisions": Counter(),
           "recommendations": Counter(), "overdue": 0, "due_soon": 0, "stale": 0, "re_review": 0, "blockers": Counter(),
           "units": defaultdict(Counter)}
    for s in systems:
        r = assess_system(session, s, today=today)
        controls = {row.control.id: row.control for row in r.rows}
        out["by_stage"][s.stage] += 1
        out["by_tier"][s.tier] += 1
        out["heat"][(s.tier, s.stage)] += 1
        out["decisions"][r.decision.verdict if r.decision else "undecided"] += 1
        out["recommendations"][r.recommendation.verdict] += 1
        overdue = bool(r.decision and r.decision.expires_on < today)
        out["overdue"] += overdue
        out["due_soon"] += bool(r.decision and today <= r.decision.expires_on <= today + timedelta(days=30))
        out["stale"] += any(b.rule == "stale_evidence" for b in r.recommendation.blockers)
        out["re_review"] += s.re_review_required_at is not None
        for key in {blocker_group(b, controls)[0] for b in r.recommendation.blockers if b.blocking}:
            out["blockers"][key] += 1
        unit = out["units"][s.business_unit]
        unit["total"] += 1
        unit["production"] += s.stage == Stage.PRODUCTION
        unit["go"] += bool(r.decision and r.decision.verdict == Verdict.GO)
        unit["no_go_rec"] += r.recommendation.verdict == Verdict.NO_GO
        unit["overdue"] += overdue
    # the funnel, from the stage history rows
    ids = {s.id for s in systems}
    history = defaultdict(list)
    for change in session.scalars(select(StageChange).order_by(StageChange.entered_at, StageChange.id)):
        if change.system_id in ids:
            history[change.system_id].append(change)
    reached, stays = Counter(), defaultdict(list)
    funnel = [Stage.IDEA, Stage.PILOT, Stage.PRODUCTION]
    for changes in history.values():
        furthest = max((funnel.index(c.stage) for c in changes if c.stage in funnel), default=-1)
        for stage in funnel[:furthest + 1]:
            reached[stage] += 1  # got at least this far
        for a, b in zip(changes, changes[1:], strict=False):
            stays[a.stage].append((b.entered_at - a.entered_at).total_seconds() / 86400)
    out["reached"] = reached
    out["both"] = reached[Stage.PRODUCTION]
    out["medians"] = {stage: round(statistics.median(days), 1) for stage, days in stays.items() if days}
    return out


def assert_figures_match(p, expected) -> None:
    assert p.total == expected["total"]
    assert {k: v for k, v in p.by_stage.items() if v} == dict(expected["by_stage"])
    assert {k: v for k, v in p.by_tier.items() if v} == dict(expected["by_tier"])
    assert {k: v for k, v in p.heat.items() if v} == dict(expected["heat"])
    assert {k: v for k, v in p.decisions.items() if v} == dict(expected["decisions"])
    assert {k: v for k, v in p.recommendations.items() if v} == dict(expected["recommendations"])
    assert (p.overdue, p.due_soon, p.stale_evidence, p.re_review) == (
        expected["overdue"], expected["due_soon"], expected["stale"], expected["re_review"])
    assert {b["key"]: b["count"] for b in p.blockers} == dict(expected["blockers"])
    assert {u["unit"]: {k: u[k] for k in ("total", "production", "go", "no_go_rec", "overdue") if u[k]}
            for u in p.units} == {unit: {k: v for k, v in c.items() if v} for unit, c in expected["units"].items()}
    for step in p.funnel:
        assert step["reached"] == expected["reached"].get(step["stage"], 0)
        assert step["median_days"] == expected["medians"].get(step["stage"])
    assert p.pilots_to_production == expected["both"]
    assert p.pilots_reached == expected["reached"].get(Stage.PILOT, 0)


def test_every_figure_matches_an_independent_computation_on_the_demo(session, people, demo_portfolio):
    today = utcnow().date()
    p = portfolio_figures(session, people["executive"], portfolio_filters(MultiDict()), today=today)
    expected = independent(session, today)
    assert p.total >= 25 and len(expected["decisions"]) >= 3 and p.blockers
    assert_figures_match(p, expected)
    unit = p.units[0]["unit"]
    p = portfolio_figures(session, people["executive"], portfolio_filters(MultiDict({"business_unit": unit})), today=today)
    assert_figures_match(p, independent(session, today, lambda s: s.business_unit == unit))


def test_every_figure_matches_on_a_synthetic_portfolio_with_filters(session, people):
    seed_synthetic(session, 400, seed=3)
    session.commit()
    today = utcnow().date()
    p = portfolio_figures(session, people["executive"], portfolio_filters(MultiDict()), today=today)
    assert_figures_match(p, independent(session, today))
    assert p.funnel[1]["median_days"] is not None and p.pilot_to_production is not None
    args = MultiDict([("tier", "high"), ("tier", "medium"), ("stage", "pilot"), ("kind", "agent"), ("kind", "predictive_model")])
    p = portfolio_figures(session, people["executive"], portfolio_filters(args), today=today)
    assert 0 < p.total < 400
    assert_figures_match(p, independent(session, today, lambda s: s.tier.value in ("high", "medium")
                                        and s.stage is Stage.PILOT and s.kind.value in ("agent", "predictive_model")))


@pytest.mark.parametrize("query", ["", "?business_unit=Customer%20Service", "?tier=high&stage=production"])
def test_every_number_links_to_exactly_the_systems_behind_it(session, as_role, demo_portfolio, query):
    web = as_role("executive")
    page = web.get("/portfolio" + query)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    links = {(html.unescape(url), int(n)) for url, n in LINK.findall(body) + BAR_LINK.findall(body)}
    assert len(links) >= 20
    assert any("blocker=" in url for url, _ in links) and any("verdict=undecided" in url for url, _ in links)
    for url, n in links:
        listed = web.get(url + "&per_page=200").get_data(as_text=True)
        match = LIST_TOTAL.search(listed)
        assert match and int(match.group(1)) == n, f"{url}: the dashboard says {n}"


def test_owners_may_not_see_the_portfolio_and_executives_get_the_nav_link(people, as_role):
    assert as_role("owner").get("/portfolio").status_code == 403
    assert as_role("owner").get("/portfolio.pdf").status_code == 403
    assert 'href="/portfolio"' not in as_role("owner").get("/").get_data(as_text=True)
    for role in ("executive", "compliance", "admin"):
        page = as_role(role).get("/portfolio")
        assert page.status_code == 200 and 'href="/portfolio"' in page.get_data(as_text=True)


def test_unknown_filter_values_are_ignored_not_errors(session, people, as_role):
    make_system(session, people["owner"])
    web = as_role("executive")
    page = web.get("/portfolio?tier=bogus&owner=x&stage=<script>&kind=42")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "<script>" not in body and ">1</a> AI system" in body  # the bad values were dropped, not applied
    page = web.get("/portfolio?business_unit=" + "x" * 500)
    assert page.status_code == 200 and "0</span> AI systems match the filters" in page.get_data(as_text=True)


def test_time_passing_is_reflected_before_the_page_reads(session, people, as_role):
    from registry.state.models import SystemState

    system = make_system(session, people["owner"])
    state = session.get(SystemState, system.id)
    state.valid_until = utcnow().date() - timedelta(days=1)
    state.recommendation = Verdict.GO  # a stale row: the page must recompute it first
    session.commit()
    body = as_role("executive").get("/portfolio").get_data(as_text=True)
    session.expire_all()
    assert session.get(SystemState, system.id).recommendation is Verdict.NO_GO
    assert "/systems?recommendation=go" not in body  # no GO recommendation left to link to


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def test_the_pdf_has_the_headline_figures_and_is_audited(session, people, as_role, demo_portfolio):
    response = as_role("executive").get("/portfolio.pdf?business_unit=Customer%20Service")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = " ".join(pdf_text(response.data).split())
    p = portfolio_figures(session, people["executive"], portfolio_filters(MultiDict({"business_unit": "Customer Service"})))
    assert f"{p.total} AI systems; {p.by_stage.get(Stage.PRODUCTION, 0)} in production" in text
    assert f"Decision GO {p.decisions[Verdict.GO]}" in text and f"Undecided {p.undecided}" in text
    assert f"Re-review overdue {p.overdue}" in text
    assert "business unit Customer Service" in text.lower() or "Customer Service" in text
    names = list(session.scalars(select(AISystem.name).where(AISystem.business_unit == "Customer Service")))
    assert names and all(" ".join(n.split())[:20] in text for n in names)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "portfolio.export_pdf")).one()
    assert "Customer Service" in event.record and event.actor_id == people["executive"].id


def test_the_pdf_lists_at_most_the_cap_and_says_so(session, people, as_role, monkeypatch):
    for _ in range(4):
        make_system(session, people["owner"])
    monkeypatch.setattr(portfolio_services, "PDF_MAX_SYSTEMS", 3)
    monkeypatch.setattr(portfolio_services.pdf_systems, "__defaults__", (3,))
    web = as_role("executive")
    response = web.get("/portfolio.pdf")
    assert response.status_code == 200
    assert "3 of 4 systems are listed" in " ".join(pdf_text(response.data).split())
    monkeypatch.setattr("registry.portfolio.views.PDF_MAX_SYSTEMS", 3)
    page = web.get("/portfolio").get_data(as_text=True)
    assert 'id="pdf-cap"' in page and "/exports/systems.xlsx" in page


def test_a_failed_render_is_a_503_with_a_message(session, people, as_role, monkeypatch):
    from registry.reports import render

    def broken(*_a, **_k):
        raise render.RenderError("The PDF took longer than 1 seconds to render and was stopped.")

    monkeypatch.setattr("registry.portfolio.views.render_pdf", broken)  # where the view looks it up
    make_system(session, people["owner"])
    response = as_role("executive").get("/portfolio.pdf")
    assert response.status_code == 503
    assert "took longer" in response.get_data(as_text=True)


def test_the_pdf_names_the_organisation_and_never_splits_a_tier_label(session, people, as_role, app, monkeypatch):
    prohibited = {"prohibited_practice": "social_scoring", "decision_domains": [], "legal_effect": False}
    for name in ("Unacceptable one", "Unacceptable two"):
        make_system(session, people["owner"], name=name, risk=prohibited)
    monkeypatch.setitem(app.config, "ORGANISATION_NAME", "Ministry of Examples")
    pages = pdf_text(as_role("executive").get("/portfolio.pdf").data).split("\f")[:-1]
    assert re.search(r"\nMinistry of Examples\s+AI portfolio — readiness and decisions\n", pages[0])  # above the title
    assert all("Ministry of Examples" in page for page in pages)  # the footer of every page
    rows = [line for line in pages[-1].splitlines() if line.strip().startswith("Unacceptable ")]
    assert len(rows) == 2 and all(re.search(r"Unacceptable (one|two)\s.*\sUnacceptable\s", row) for row in rows), rows
    assert "Unacceptabl\n" not in "\n".join(line.rstrip() for line in pages[-1].splitlines())
    monkeypatch.setitem(app.config, "ORGANISATION_NAME", "")
    assert "Ministry" not in pdf_text(as_role("executive").get("/portfolio.pdf").data)
