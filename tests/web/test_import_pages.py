"""An imported system on the pages: what the source said, what it lacked, and nothing more."""

from __future__ import annotations

import re

from registry.imports.reader import read_table
from registry.imports.services import commit_import, plan_import
from tests.unit.test_imports import HEADER, SIMPLE, _csv, _row


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_an_imported_system_page_says_where_it_came_from_and_what_is_missing(session, people, as_role):
    executive, officer = as_role("executive"), as_role("compliance")  # signed in before the test's writes
    table = read_table(_csv([HEADER, _row("R1", "Fraud scorer", Owner="team@agency.example", **{"What it does": ""})]),
                       "register.csv")
    commit_import(session, None, plan_import(session, table, SIMPLE, layout="register"))
    session.commit()
    page = text_of(executive.get("/systems/1"))
    assert "Risk tier: Not assessed" in page and "The risk questions have not been answered yet" in page
    assert "The answers that drove it" not in page  # nothing was answered: no defaults shown as answers
    assert "No purpose recorded." in page
    assert re.search(r"Missing from the source:</strong> Purpose, Business process, Sourcing, Accountable owner", page)
    assert "Contact in the source</dt><dd>team@agency.example (not a registry user)" in page
    assert "Imported</dt><dd>from register.csv row 2 on" in page and "(id R1)" in page
    assert "Accountable owner: <strong class=\"warning-text\">none yet</strong>" in page
    assert "Affects</dt><dd>Not recorded" in page and "Autonomy</dt><dd>Not recorded" in page
    assert "Business process</dt><dd>Not recorded" in page and ">Tier not assessed</span>" in page
    assert "EU AI Act</dt><dd>not assessed" in page and "OMB M-25-21 high-impact</dt><dd>not assessed" in page
    assert "Override the tier" not in text_of(officer.get("/systems/1"))
    listing = text_of(executive.get("/systems"))
    assert "Fraud scorer" in listing and "None yet" in listing


def test_the_owners_home_puts_imported_systems_first_and_admins_see_those_without_owner(session, people, as_role):
    from tests.conftest import make_system

    owner, admin = as_role("owner"), as_role("admin")
    make_system(session, people["owner"], name="Aardvark model")
    table = read_table(_csv([HEADER, _row("R1", "Zebra scorer", Owner="owner@example.test", **{"What it does": ""}),
                             _row("R2", "Mailbox bot", Owner="team@agency.example")]), "register.csv")
    commit_import(session, None, plan_import(session, table, SIMPLE, layout="register"))
    session.commit()
    home = owner.get("/").get_data(as_text=True)
    rows = re.findall(r"<tr>.*?</tr>", home, re.S)
    assert "Zebra scorer" in rows[1] and "Aardvark model" in rows[2]  # the one to assess first, whatever its name
    assert "The risk questions have not been answered, so the tier is not assessed" in rows[1]
    assert "Missing from the source (register.csv): Purpose, Business process" in rows[1]
    assert "tier is not assessed" not in rows[2]
    assert "Mailbox bot" not in home  # not the owner's: its contact is not a registry user
    admin_home = text_of(admin.get("/"))
    assert "1 system without an accountable owner" in admin_home
    listing = text_of(admin.get("/systems?owner=0"))
    assert "Mailbox bot" in listing and "Zebra scorer" not in listing and "Aardvark model" not in listing
    page = admin.get("/systems?owner=0").get_data(as_text=True)
    assert re.search(r'<input type="checkbox" name="owner" value="none"\s+checked>', page)  # the filter shows it
    assert "without an accountable owner" not in text_of(owner.get("/"))


def test_a_topic_area_hints_at_decision_areas_without_answering_for_the_owner(session, people, as_role):
    from registry.imports.mapping import load_layouts

    admin = as_role("admin")
    federal = next(lay for lay in load_layouts() if lay.key == "us-federal-ai-inventory-2025")
    header = ["agency", "id", "use_case_name", "agency_name", "development_stage", "topic_area", "problem_solved",
              "is_high_impact", "has_pii"]
    table = read_table(_csv([header, ["DOJ", "1", "Lead triage", "Justice", "Pilot", "Law Enforcement", "Ranks tips",
                                      "", "No"],
                             ["DOE", "2", "Grid forecaster", "Energy", "Pilot", "Energy and Environment", "", "", "No"]]),
                       "inventory.csv")
    commit_import(session, None, plan_import(session, table, federal.mapping, layout=federal.key))
    session.commit()
    page = text_of(admin.get("/systems/1"))
    assert "its topic area “Law Enforcement” suggests decisions about people in law enforcement" in page
    assert "suggests decisions" not in text_of(admin.get("/systems/2"))
    form = admin.get("/systems/1/edit").get_data(as_text=True)
    assert "The import suggests, from its topic area “Law Enforcement”: Law enforcement." in form
    assert not re.search(r'<input[^>]*checked[^>]*value="law_enforcement"|<input[^>]*value="law_enforcement"[^>]*checked', form)
