"""The executive's first questions at the top of the portfolio: systems in production without a
current GO, GOs expired, pilots running longer than LONG_PILOT_DAYS; each figure against an
independent computation and linked to exactly its systems."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from registry.db import utcnow
from registry.decisions.models import Decision
from registry.decisions.services import latest_decision
from registry.enums import Stage, Verdict
from registry.inventory.models import AISystem, StageChange
from registry.inventory.queries import ATTENTION, LONG_PILOT_DAYS
from registry.portfolio.services import portfolio_figures, portfolio_filters
from registry.state.cache import rebuild_all
from tests.databases import tampering
from tests.web.test_portfolio_pages import pdf_text


def independent(session, today) -> dict[str, set[int]]:
    out = {"production_without_go": set(), "go_expired": set(), "long_pilot": set()}
    for s in session.scalars(select(AISystem).where(AISystem.deleted_at.is_(None))):
        d = latest_decision(session, s.id)
        go = d is not None and d.verdict in (Verdict.GO, Verdict.CONDITIONAL_GO)
        current = go and (d.expires_on is None or d.expires_on >= today)
        if s.stage is Stage.PRODUCTION and not current:
            out["production_without_go"].add(s.id)
        if go and d.expires_on is not None and d.expires_on < today and s.stage in (Stage.PILOT, Stage.PRODUCTION):
            out["go_expired"].add(s.id)
        entered = [c.entered_at for c in session.scalars(select(StageChange).where(
            StageChange.system_id == s.id, StageChange.stage == Stage.PILOT))]
        if s.stage is Stage.PILOT and entered and (today - max(entered).date()).days > LONG_PILOT_DAYS:
            out["long_pilot"].add(s.id)
    return out


def test_the_headline_figures_match_an_independent_computation_and_link_to_their_systems(
        session, people, as_role, demo_portfolio):
    executive = as_role("executive")
    today = utcnow().date()
    # make the demo show each figure: one pilot running for 200 days, one GO expired yesterday
    pilot = session.scalar(select(AISystem).where(AISystem.stage == Stage.PILOT).order_by(AISystem.id))
    session.execute(update(StageChange).where(StageChange.system_id == pilot.id)
                    .values(entered_at=utcnow() - timedelta(days=200)))
    go = session.scalar(select(Decision).where(Decision.verdict.in_([Verdict.GO, Verdict.CONDITIONAL_GO]))
                        .order_by(Decision.id.desc()))
    with tampering(session):  # recorded decisions are immutable: lift the guard to age one
        session.execute(update(Decision).where(Decision.id == go.id).values(expires_on=today - timedelta(days=1)))
    session.commit()
    rebuild_all(session)
    session.commit()
    expected = independent(session, today)
    assert all(expected.values()), expected  # each figure has systems behind it
    p = portfolio_figures(session, people["executive"], portfolio_filters(MultiDict()), today=today)
    assert p.attention == {k: len(v) for k, v in expected.items()}
    page = executive.get("/portfolio").get_data(as_text=True)
    first = re.search(r'<ul class="cards" id="attention">(.*?)</ul>', page, re.S)
    assert first and page.index('id="attention"') < page.index('id="h-figures"')  # before everything else
    for key, ids in expected.items():
        link = re.search(rf'id="attention-{key.replace("_", "-")}">\s*<span class="figure"><a href="([^"]+)">(\d+)</a>',
                         first.group(1))
        assert link and int(link.group(2)) == len(ids)
        listing = executive.get(link.group(1).replace("&amp;", "&") + "&per_page=200").get_data(as_text=True)
        shown = {int(i) for i in re.findall(r'<a href="/systems/(\d+)">', listing)}
        assert shown == ids, key
    # the board pack leads with the same three figures
    session.commit()  # release SQLite's lock: the export is audited (a write)
    response = executive.get("/portfolio.pdf")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    pdf = " ".join(pdf_text(response.data).split())
    glance = re.search(r"(?i)what needs attention first(.*?)Decision GO", pdf).group(1)
    for key, label in ATTENTION.items():
        assert re.search(rf"{re.escape(label)}[^0-9]*{len(expected[key])} ", glance), (key, glance)


def test_the_inventory_shows_and_sorts_by_decision_and_recommendation(session, people, as_role, demo_portfolio):
    from registry.decisions.services import assess_system

    executive = as_role("executive")
    expected = {}
    for s in session.scalars(select(AISystem).where(AISystem.deleted_at.is_(None))):
        d = latest_decision(session, s.id)
        expected[s.id] = (d.verdict.label if d else "Undecided", assess_system(session, s).recommendation.verdict.label)
    session.commit()
    page = executive.get("/systems?sort=decision&per_page=200").get_data(as_text=True)
    rows = re.findall(r'<a href="/systems/\d+">.*?</tr>', page, re.S)
    cells = {int(i): re.findall(r'<span class="badge verdict-[a-z_]+">([^<]+)</span>', row)
             for i, row in zip(re.findall(r'<a href="/systems/(\d+)">', page), rows, strict=True)}
    assert {i: tuple(c) for i, c in cells.items()} == expected
    order = ["GO", "CONDITIONAL GO", "NO-GO", "Undecided"]
    shown = [expected[int(i)][0] for i in re.findall(r'<a href="/systems/(\d+)">', page)]
    assert shown == sorted(shown, key=lambda v: order.index(v) if v in order else 9)
    page = executive.get("/systems?sort=-recommendation&per_page=200").get_data(as_text=True)
    shown = [expected[int(i)][1] for i in re.findall(r'<a href="/systems/(\d+)">', page)]
    assert shown == sorted(shown, key=lambda v: order.index(v) if v in order else 9, reverse=True)


def test_systems_outside_the_funnel_are_counted_not_dropped(session, people, as_role):
    from tests.conftest import make_system

    executive = as_role("executive")
    for stage in ("idea", "pilot", "retired", "retired"):
        make_system(session, people["owner"], stage=stage)
    p = portfolio_figures(session, people["executive"], portfolio_filters(MultiDict()), today=utcnow().date())
    assert p.funnel[0]["reached"] == 2 and p.outside_funnel == {Stage.RETIRED: 2}
    page = " ".join(executive.get("/portfolio").get_data(as_text=True).split())
    assert "2 of the 4 systems are not in the funnel" in page and "(2 retired)" in page
