"""Issue 17 (scale): the list and the dashboard stay the same weight however many owners there are,
and the owner filter (a text field matched on the server) finds the same systems the old menu did."""

from __future__ import annotations

import re

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from registry.inventory.models import AISystem
from registry.inventory.queries import InventoryFilters, list_systems
from registry.portfolio.services import portfolio_figures, portfolio_filters
from tests.conftest import make_system, make_user

NAMES = re.compile(r'<a href="/systems/\d+">([^<]+)</a>')


def _names(web, url: str) -> tuple[list[str], str]:
    page = web.get(url).get_data(as_text=True)
    return NAMES.findall(page), page


def test_the_owner_filter_matches_name_or_email_on_the_server(session, people, as_role):
    make_system(session, people["owner"], name="Alpha")  # Olu Owner, owner@example.test
    make_system(session, people["other_owner"], name="Beta")  # Otto Other, other@example.test
    web = as_role("executive")
    assert _names(web, "/systems?owner_name=olu")[0] == ["Alpha"]
    assert _names(web, "/systems?owner_name=OTHER%40example")[0] == ["Beta"]  # email, any case
    assert _names(web, "/systems?owner_name=o")[0] == ["Alpha", "Beta"]
    names, page = _names(web, "/systems?owner_name=100%25")  # % is literal, not a wildcard
    assert names == [] and "No system matches these filters" in page
    # the field keeps what was typed; the result agrees with the filter by id (the dashboard's links)
    assert 'name="owner_name" value="olu"' in web.get("/systems?owner_name=olu").get_data(as_text=True)
    assert _names(web, f"/systems?owner={people['owner'].id}")[0] == ["Alpha"]


def test_an_owner_named_by_id_is_shown_and_kept_by_the_form(session, people, as_role):
    make_system(session, people["owner"], name="Alpha")
    make_system(session, people["other_owner"], name="Beta")
    web = as_role("executive")
    names, page = _names(web, f"/systems?owner={people['other_owner'].id}")
    assert names == ["Beta"]
    assert re.search(r'id="owner-filter">Accountable owner:\s*<span class="chip">Otto Other</span>', page)
    assert f'<input type="hidden" name="owner" value="{people["other_owner"].id}">' in page
    assert 'name="owner" value="none" >' in page  # "No owner yet" left unticked


def test_the_list_and_dashboard_do_not_list_every_owner(session, people, as_role):
    owners = [make_user(session, "owner", name=f"Owner Number {i:03d}") for i in range(40)]
    for i, owner in enumerate(owners):
        make_system(session, owner, name=f"System {i:03d}")
    web = as_role("executive")
    listing = web.get("/systems").get_data(as_text=True)
    dashboard = web.get("/portfolio").get_data(as_text=True)
    for page in (listing, dashboard):
        assert 'id="f-owner"' in page and 'name="owner_name"' in page
        assert "Owner Number 030" not in page  # not on the first page of 25, and no menu of owners
    # one more owner and system adds nothing to the dashboard but its own figures
    assert "<option" not in dashboard.split('id="f-owner"')[1].split("</div>")[0]


def test_the_dashboard_filters_by_owner_name_like_the_list(session, people):
    make_system(session, people["owner"], name="Alpha", stage="pilot")
    make_system(session, people["owner"], name="Alpha two", stage="production")
    make_system(session, people["other_owner"], name="Beta", stage="production")
    filters = portfolio_filters(MultiDict([("owner_name", "olu")]))
    figures = portfolio_figures(session, people["executive"], filters)
    listed = list_systems(session, people["executive"], InventoryFilters(owner_name="olu"))
    assert figures.total == listed.total == 2
    owner_id = people["owner"].id
    by_id = portfolio_figures(session, people["executive"], portfolio_filters(MultiDict([("owner", str(owner_id))])))
    assert by_id.by_stage == figures.by_stage and by_id.options_owners == [(owner_id, "Olu Owner")]
    assert figures.options_owners == []  # only the owners a filter names by id, never every owner
    assert {s.name for s in listed.systems} == set(session.scalars(
        select(AISystem.name).where(AISystem.accountable_owner_id == owner_id)))
