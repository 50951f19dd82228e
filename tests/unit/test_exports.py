"""The inventory export opened back with openpyxl and pandas and compared with the database.

The oracle is what the pages show: ``assess_system`` for verdicts and blockers,
``control_rows`` for a system's controls, the ``decisions`` table for decisions; the export
itself reads the state cache and set-based queries.
"""

from __future__ import annotations

import io
from datetime import UTC

import openpyxl
import pandas as pd
import pytest
from flask_login import AnonymousUserMixin
from sqlalchemy import event, func, select

from registry.auth.permissions import can_export_inventory
from registry.controls.models import ControlAssessment
from registry.controls.services import control_rows, is_stale
from registry.db import utcnow
from registry.decisions.models import Decision
from registry.decisions.services import assess_system
from registry.enums import Role, Tier
from registry.errors import PermissionDenied
from registry.exports.services import (
    CONTROLS,
    DECISIONS,
    NO_LONGER_APPLIES,
    SYSTEMS,
    blockers_text,
    write_export,
)
from registry.inventory.models import AISystem
from registry.inventory.queries import InventoryFilters
from registry.seed.synthetic import seed_synthetic
from registry.state.cache import refresh_due_states
from tests.conftest import make_system, make_user


def export(session, fmt="xlsx", filters=None, actor=None):
    today = utcnow().date()
    refresh_due_states(session, today)
    session.commit()
    out = io.BytesIO()
    result = write_export(session, actor, filters or InventoryFilters(), fmt, out, today=today)
    out.seek(0)
    return result, out


def sheet_dicts(workbook, title) -> list[dict]:
    rows = list(workbook[title].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def naive(value):
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0) if value else None


@pytest.fixture
def demo(session, demo_portfolio):
    """The session, on a database holding the demo portfolio (loaded once per run, see conftest)."""
    return session


def test_demo_portfolio_systems_sheet_matches_the_pages(demo):
    session = demo
    result, out = export(session)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == [SYSTEMS, CONTROLS, DECISIONS]
    rows = sheet_dicts(wb, SYSTEMS)
    systems = sorted(session.scalars(select(AISystem).where(AISystem.deleted_at.is_(None))),
                     key=lambda s: (s.name.lower(), s.id))
    assert result.rows[SYSTEMS] == len(rows) == len(systems) == 30
    assert [r["System ID"] for r in rows] == [s.id for s in systems]  # the inventory's default order
    today = utcnow().date()
    for row, system in zip(rows, systems, strict=True):
        state = assess_system(session, system, today=today)
        assert row["Name"] == system.name
        assert row["Business unit"] == system.business_unit
        assert row["Lifecycle stage"] == system.stage.label and row["Effective tier"] == system.tier.label
        assert row["Kind"] == system.kind.label and row["Autonomy"] == system.autonomy.label
        assert row["Sourcing"] == system.sourcing.label and row["Vendor"] == system.vendor_name
        assert row["Accountable owner"] == system.accountable_owner.name
        assert row["Accountable owner email"] == system.accountable_owner.email
        assert row["Technical owner"] == (system.technical_owner.name if system.technical_owner else None)
        assert row["Data touched"] == (", ".join(c.label for c in system.data_categories) or None)
        assert row["Recommendation now"] == state.recommendation.verdict.label, system.name
        assert row["Current decision"] == (state.decision.verdict.label if state.decision else "Undecided")
        assert row["Decided at (UTC)"] == (naive(state.decision.decided_at) if state.decision else None)
        decision_expiry = row["Decision expires on"].date() if row["Decision expires on"] else None
        assert decision_expiry == (state.decision.expires_on if state.decision else None)
        expected = [("Blocking: " if b.blocking else "Condition: ") + b.message for b in state.recommendation.blockers]
        assert (row["Blockers"] or "").split("\n") == (expected or [""]), system.name
        assert row["Stale evidence"] == ("Yes" if any(b.rule == "stale_evidence" for b in state.recommendation.blockers)
                                         else "No")
        assert row["Re-review required"] == ("Yes" if system.re_review_required_at else "No")
        assert row["Last updated (UTC)"] == naive(system.updated_at)
    # the demo shows every verdict, decided and undecided systems, and re-reviews
    assert {r["Recommendation now"] for r in rows} >= {"NO-GO"}
    assert {"GO", "CONDITIONAL GO", "NO-GO", "Undecided"} <= {r["Current decision"] for r in rows}
    assert "Yes" in {r["Re-review required"] for r in rows} and "Yes" in {r["Stale evidence"] for r in rows}


def test_demo_portfolio_controls_sheet_matches_each_controls_page(demo):
    session = demo
    result, out = export(session)
    rows = sheet_dicts(openpyxl.load_workbook(out), CONTROLS)
    today = utcnow().date()
    expected = []
    for system in sorted(session.scalars(select(AISystem).where(AISystem.deleted_at.is_(None))),
                         key=lambda s: (s.name.lower(), s.id)):
        for r in control_rows(session, system):
            a = r.assessment
            evidence = a.evidence if a else []
            expected.append((
                system.id, system.name, r.control.framework.name, r.control.ref, r.control.title,
                r.control.function, "Yes" if r.required else NO_LONGER_APPLIES, r.status.label,
                a.due_on if a else None, a.na_reason if a else None, len(evidence),
                sum(1 for e in evidence if is_stale(e, today, 365)),
                a.verified_by.name if a and a.verified_by else None, naive(a.verified_at) if a else None,
            ))
    got = [tuple(r.values()) for r in rows]
    got = [(*g[:8], g[8].date() if g[8] else None, *g[9:]) for g in got]
    assert result.rows[CONTROLS] == len(got) == len(expected) > 500
    assert got == expected
    assert {g[7] for g in got} >= {"Implemented", "In progress", "Not started", "Not applicable"}
    assert any(g[11] for g in got) and any(g[12] for g in got)  # stale evidence and verifications appear


def test_demo_portfolio_decisions_sheet_holds_every_decision(demo):
    session = demo
    result, out = export(session)
    frame = pd.read_excel(out, sheet_name=DECISIONS, dtype=object, keep_default_na=False, engine="openpyxl")
    decisions = {d.id: d for d in session.scalars(select(Decision))}
    assert result.rows[DECISIONS] == len(frame) == len(decisions) > 5
    latest = {}
    for d in sorted(decisions.values(), key=lambda d: (d.decided_at, d.id)):
        latest[d.system_id] = d.id
    for row in frame.to_dict("records"):
        d = decisions[row["Decision ID"]]
        assert row["System ID"] == d.system_id
        assert row["Verdict"] == d.verdict.label and row["Recommended"] == d.recommended.label
        assert row["Differs from recommendation"] == ("Yes" if d.verdict != d.recommended else "No")
        assert row["Rationale"] == d.rationale
        assert row["Conditions"] == "\n".join(d.conditions)
        assert row["Decided by email"] == d.decided_by.email
        assert pd.Timestamp(row["Decided at (UTC)"]).to_pydatetime() == naive(d.decided_at)
        assert pd.Timestamp(row["Expires on"]).date() == d.expires_on
        assert (row["Supersedes decision"] or None) == d.supersedes_id
        assert row["Snapshot SHA-256"] == d.snapshot_sha256
        assert row["Current decision"] == ("Yes" if latest[d.system_id] == d.id else "No")
    assert set(frame["Current decision"]) == {"Yes"}  # no demo decision is superseded (see the next test)


def test_a_superseded_decision_is_not_current(session, people):
    from registry.decisions.services import record_decision

    system = make_system(session, people["owner"])
    first = record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": "Not ready."})
    session.commit()
    second = record_decision(session, people["compliance"], system.id,
                             {"verdict": "no_go", "rationale": "Still not ready, re-reviewed."})
    session.commit()
    _, out = export(session)
    rows = sheet_dicts(openpyxl.load_workbook(out), DECISIONS)
    assert [(r["Decision ID"], r["Current decision"], r["Supersedes decision"]) for r in rows] == [
        (first.id, "No", None), (second.id, "Yes", second.supersedes_id)]
    assert second.supersedes_id == first.id
    assert sheet_dicts(openpyxl.load_workbook(export(session)[1]), SYSTEMS)[0]["Current decision"] == "NO-GO"


def test_csv_is_the_systems_sheet(demo):
    session = demo
    _, xlsx = export(session)
    result, out = export(session, "csv")
    assert result.rows == {SYSTEMS: 30} and result.file_name.endswith(".csv")
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    workbook = sheet_dicts(openpyxl.load_workbook(xlsx), SYSTEMS)
    assert frame.columns.tolist() == list(workbook[0])
    for csv_row, xlsx_row in zip(frame.to_dict("records"), workbook, strict=True):
        for header, value in xlsx_row.items():
            if hasattr(value, "isoformat"):
                value = value.strftime("%Y-%m-%d %H:%M:%S") if "(UTC)" in header else value.date().isoformat()
            assert csv_row[header] == ("" if value is None else str(value)), header


def test_filters_and_sort_carry_over(demo):
    session = demo
    filters = InventoryFilters(tier=["high"], sort="updated", descending=True)
    result, out = export(session, filters=filters)
    wb = openpyxl.load_workbook(out)
    high = list(session.scalars(select(AISystem).where(AISystem.tier == Tier.HIGH)
                                .order_by(AISystem.updated_at.desc(), AISystem.id)))
    assert [r["System ID"] for r in sheet_dicts(wb, SYSTEMS)] == [s.id for s in high]
    assert {r["System ID"] for r in sheet_dicts(wb, CONTROLS)} <= {s.id for s in high}
    assert {r["System ID"] for r in sheet_dicts(wb, DECISIONS)} <= {s.id for s in high}
    assert result.audit_after(filters)["filters"] == {"tier": ["high"], "sort": "-updated"}
    empty, out = export(session, filters=InventoryFilters(q="no such system anywhere"))
    assert empty.rows == {SYSTEMS: 0, CONTROLS: 0, DECISIONS: 0}
    assert [c.value for c in openpyxl.load_workbook(out)[SYSTEMS][1]][:2] == ["System ID", "Name"]


def test_synthetic_portfolio_counts_match_the_database(session):
    seed_synthetic(session, 300)
    session.commit()
    result, out = export(session)
    workbook = pd.read_excel(out, sheet_name=None, engine="openpyxl")
    live = session.scalar(select(func.count(AISystem.id)).where(AISystem.deleted_at.is_(None)))
    assert len(workbook[SYSTEMS]) == result.rows[SYSTEMS] == live == 300
    assert len(workbook[DECISIONS]) == result.rows[DECISIONS] == session.scalar(select(func.count(Decision.id)))
    by_system = workbook[CONTROLS].groupby("System ID").size().to_dict()
    sample = list(session.scalars(select(AISystem).order_by(AISystem.id).limit(25)))
    for system in sample:
        assert by_system.get(system.id, 0) == len(control_rows(session, system)), system.id
    assessed = session.scalar(select(func.count(ControlAssessment.id)))
    assert (workbook[CONTROLS]["Status"] != "Not started").sum() <= assessed
    states = {r["System ID"]: r["Recommendation now"] for r in workbook[SYSTEMS].to_dict("records")}
    today = utcnow().date()
    for system in sample:
        assert states[system.id] == assess_system(session, system, today=today).recommendation.verdict.label


def test_queries_do_not_grow_with_the_number_of_systems(app, session):
    owner = make_user(session, "owner")
    engine = app.extensions["registry.engine"]

    def count_queries() -> int:
        seen = []

        def before(*_args):
            seen.append(1)

        today = utcnow().date()
        refresh_due_states(session, today)
        session.commit()
        event.listen(engine, "before_cursor_execute", before)
        try:
            write_export(session, None, InventoryFilters(), "xlsx", io.BytesIO(), today=today)
        finally:
            event.remove(engine, "before_cursor_execute", before)
        return len(seen)

    for _ in range(3):
        make_system(session, owner)
    few = count_queries()
    for _ in range(30):
        make_system(session, owner)
    assert count_queries() == few <= 12


def test_text_from_users_is_neutralised_and_unicode_survives(session):
    owner = make_user(session, "owner", name="=HYPERLINK(\"http://evil.example\")", email="o@example.test")
    make_system(session, owner, name="@SUM(1+1) 人工智能 🤖", business_unit="-5", purpose="x",
                vendor_name="+vendor", sourcing="vendor")
    _, out = export(session)
    row = openpyxl.load_workbook(out)[SYSTEMS][2]
    cells = {c.column_letter: c for c in row}
    assert cells["B"].value == "@SUM(1+1) 人工智能 🤖" and cells["B"].quotePrefix
    assert cells["C"].value == "-5" and cells["C"].data_type == "s" and cells["C"].quotePrefix
    assert cells["J"].value.startswith("=HYPERLINK") and cells["J"].data_type == "s" and cells["J"].quotePrefix
    assert all(c.data_type != "f" for c in row)
    _, out = export(session, "csv")
    text = out.getvalue().decode("utf-8-sig")
    assert "'@SUM(1+1) 人工智能 🤖" in text and ",'-5," in text and "'+vendor" in text
    assert "\"'=HYPERLINK(\"\"http://evil.example\"\")\"" in text


def test_blockers_text_reads_one_line_per_item():
    assert blockers_text([
        {"severity": "blocking", "message": "Answer Drift is a draft."},
        {"severity": "condition", "message": "Control X is in progress."},
    ]) == "Blocking: Answer Drift is a draft.\nCondition: Control X is in progress."
    assert blockers_text(None) == ""


def test_every_role_may_export_but_not_anonymous(session):
    for role in Role:
        user = make_user(session, role.value)
        assert can_export_inventory(user)
    assert not can_export_inventory(None)


def test_export_refuses_an_unknown_format_and_a_user_without_rights(session):
    with pytest.raises(ValueError, match="unknown export format"):
        write_export(session, None, InventoryFilters(), "ods", io.BytesIO(), today=utcnow().date())
    with pytest.raises(PermissionDenied):
        write_export(session, AnonymousUserMixin(), InventoryFilters(), "csv", io.BytesIO(), today=utcnow().date())
