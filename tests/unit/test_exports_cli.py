"""`registry export inventory`: the page's files from the command line, audited, never half-written."""

from __future__ import annotations

import os

import openpyxl
import pytest
from sqlalchemy import select

from registry.audit.models import AuditEvent
from registry.cli import main
from registry.exports.services import CONTROLS, DECISIONS, SYSTEMS
from tests.conftest import make_system


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args, input=None):
        return runner.invoke(main, list(args), input=input)

    return invoke


@pytest.fixture
def systems(session, people):
    made = [make_system(session, people["owner"], name="Claims triage", business_unit="Claims"),
            make_system(session, people["owner"], name="+Fraud 詐欺 detector", business_unit="Payments",
                        stage="production")]
    session.commit()
    return made


def _exports(session) -> list[AuditEvent]:
    session.commit()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "inventory.export")))


def test_xlsx_with_filters_is_written_and_audited(cli, session, systems, tmp_path):
    target = tmp_path / "inventory.xlsx"
    result = cli("export", "inventory", "--format", "xlsx", "-o", str(target), "--business-unit", "Payments")
    assert result.exit_code == 0, result.output
    assert "(1 systems" in result.output
    wb = openpyxl.load_workbook(target)
    assert wb.sheetnames == [SYSTEMS, CONTROLS, DECISIONS]
    rows = list(wb[SYSTEMS].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1]) for r in rows] == [(systems[1].id, "+Fraud 詐欺 detector")]
    assert wb[SYSTEMS]["B2"].quotePrefix
    [event] = _exports(session)
    assert event.actor_id is None and event.actor_label == "command line (registry export)"
    assert event.after["filters"] == {"business_unit": ["Payments"], "sort": "name"}
    assert event.after["rows"][SYSTEMS] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.xlsx"]  # no temporary file left behind


def test_csv_is_byte_for_byte_the_pages_file(cli, session, systems, as_role, tmp_path):
    target = tmp_path / "out.csv"
    assert cli("export", "inventory", "--format", "csv", "-o", str(target), "--stage", "production").exit_code == 0
    page = as_role("admin").get("/exports/systems.csv?stage=production")
    assert target.read_bytes() == page.data
    assert page.data.startswith(b"\xef\xbb\xbf") and b"'+Fraud" in page.data
    assert len(_exports(session)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "ods", "-o", "{tmp}/x.ods"], "Invalid value for '--format'"),
        (["--format", "csv", "-o", "{tmp}/missing/x.csv"], "no such directory"),
        (["--format", "csv", "-o", "{tmp}"], "is a directory"),
        (["--format", "csv", "-o", "{tmp}/locked/x.csv"], "cannot write to"),
        (["--format", "csv", "--tier", "extreme", "-o", "{tmp}/x.csv"], "Invalid value for '--tier'"),
        (["--format", "csv"], "Missing option '-o'"),
    ],
)
def test_bad_input_fails_plainly_and_writes_nothing(cli, session, systems, tmp_path, args, message):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK) and "locked" in " ".join(args):
            pytest.skip("running as a user who can write anywhere (root)")
        result = cli("export", "inventory", *[a.format(tmp=tmp_path) for a in args])
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert sorted(p.name for p in tmp_path.rglob("*")) == ["locked"]
        assert _exports(session) == []
    finally:
        locked.chmod(0o700)


def test_a_failure_while_writing_leaves_no_file_and_no_audit_event(cli, session, systems, tmp_path, monkeypatch):
    from registry.exports import services

    def broken(*_args, **_kwargs):
        yield (1,) * len(services.SYSTEM_COLUMNS)
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "system_rows", broken)
    target = tmp_path / "inventory.csv"
    target.write_text("the previous export\n")
    result = cli("export", "inventory", "--format", "csv", "-o", str(target))
    assert result.exit_code != 0
    assert target.read_text() == "the previous export\n"  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.csv"]
    assert _exports(session) == []


def test_a_full_disk_is_a_plain_message(cli, session, systems, tmp_path, monkeypatch):
    import errno


    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("registry.cli.write_export", full)  # where the command looks it up
    result = cli("export", "inventory", "--format", "xlsx", "-o", str(tmp_path / "x.xlsx"))
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert list(tmp_path.iterdir()) == [] and _exports(session) == []
