"""Inventory exports through the test client: filters carry over, headers, audit events, links."""

from __future__ import annotations

import io
import re
from html import unescape

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.db import utcnow
from registry.exports.services import CONTROLS, DECISIONS, SYSTEMS
from tests.conftest import make_system

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def portfolio(session, people):
    systems = {
        "claims": make_system(session, people["owner"], name="Claims triage", business_unit="Claims"),
        "hr": make_system(session, people["owner"], name="Résumé screener 履歴書", business_unit="People",
                          kind="predictive_model",
                          risk={"prohibited_practice": "none", "decision_domains": ["employment"], "legal_effect": True}),
        "chat": make_system(session, people["other_owner"], name="=Parcel chatbot", business_unit="Logistics",
                            kind="generative_assistant", data_categories=["public"],
                            risk={"prohibited_practice": "none", "decision_domains": [], "legal_effect": False}),
    }
    session.commit()
    return systems


def _events(session) -> list[AuditEvent]:
    session.commit()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "inventory.export")
                                .order_by(AuditEvent.seq)))


def test_excel_export_downloads_the_filtered_systems_and_is_audited(session, people, as_role, portfolio):
    browser = as_role("executive")
    response = browser.get("/exports/systems.xlsx?business_unit=People&business_unit=Claims&sort=-name&page=3&per_page=1")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    today = utcnow().date().isoformat()
    assert response.headers["Content-Disposition"] == f"attachment; filename=inventory-{today}.xlsx"
    assert response.headers["Cache-Control"] == "no-store"
    wb = openpyxl.load_workbook(io.BytesIO(response.data))
    assert wb.sheetnames == [SYSTEMS, CONTROLS, DECISIONS]
    names = [row[1] for row in wb[SYSTEMS].iter_rows(min_row=2, values_only=True)]
    assert names == ["Résumé screener 履歴書", "Claims triage"]  # both units, sorted by name descending, no paging
    assert {row[0] for row in wb[CONTROLS].iter_rows(min_row=2, values_only=True)} == {
        portfolio["hr"].id, portfolio["claims"].id}
    [event] = _events(session)
    assert event.actor_id == people["executive"].id and event.system_id is None
    after = event.after
    assert after["format"] == "xlsx" and after["file_name"] == f"inventory-{today}.xlsx"
    assert after["filters"] == {"business_unit": ["People", "Claims"], "sort": "-name"}
    assert after["rows"] == {SYSTEMS: 2, CONTROLS: wb[CONTROLS].max_row - 1, DECISIONS: 0}
    assert "Exported the inventory as XLSX (2 systems" in event.summary


def test_csv_export_is_the_systems_sheet_with_bom_and_neutralised_text(session, as_role, portfolio):
    response = as_role("owner").get("/exports/systems.csv?kind=generative_assistant")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].endswith(".csv")
    assert response.data.startswith(b"\xef\xbb\xbf") and b"\r\n" in response.data
    frame = pd.read_csv(io.BytesIO(response.data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert frame["Name"].tolist() == ["'=Parcel chatbot"]
    assert frame["System ID"].tolist() == [str(portfolio["chat"].id)]
    [event] = _events(session)
    assert event.after["rows"] == {SYSTEMS: 1}
    assert event.after["filters"] == {"kind": ["generative_assistant"], "sort": "name"}


def test_unknown_filter_values_are_ignored_like_the_inventory_list(session, as_role, portfolio):
    response = as_role("compliance").get("/exports/systems.csv?tier=bogus&owner=abc&page=x&per_page=-4&sort=evil")
    assert response.status_code == 200
    frame = pd.read_csv(io.BytesIO(response.data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(frame) == 3


def test_anonymous_users_are_sent_to_sign_in_and_nothing_is_audited(session, as_role, portfolio):
    response = as_role("anonymous").get("/exports/systems.xlsx")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _events(session) == []


def test_the_inventory_links_to_exports_with_its_current_filters(session, as_role, portfolio):
    html = as_role("executive").get("/systems?tier=high&q=screener&page=1&sort=-updated").get_data(as_text=True)
    links = {unescape(m) for m in re.findall(r'href="(/exports/systems\.(?:xlsx|csv)[^"]*)"', html)}
    assert len(links) == 2
    for link in links:
        assert "tier=high" in link and "q=screener" in link and "sort=-updated" in link and "page=" not in link
    assert ">Export Excel<" in html and ">Export CSV<" in html
    browser = as_role("executive")
    xlsx = next(link for link in links if ".xlsx" in link)
    wb = openpyxl.load_workbook(io.BytesIO(browser.get(xlsx).data))
    assert [row[1] for row in wb[SYSTEMS].iter_rows(min_row=2, values_only=True)] == ["Résumé screener 履歴書"]


def test_the_export_reads_states_that_time_has_changed(session, people, as_role, portfolio):
    """A state whose valid_until has passed is refreshed before the export reads it."""
    from sqlalchemy import update

    from registry.state.models import SystemState

    session.execute(update(SystemState).values(valid_until=utcnow().date(), blockers=[]))
    session.commit()
    response = as_role("admin").get("/exports/systems.csv")
    frame = pd.read_csv(io.BytesIO(response.data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert all(frame["Blockers"].str.startswith("Blocking: "))  # recomputed, not the emptied cache
