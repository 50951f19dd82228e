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
