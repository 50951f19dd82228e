"""`registry report …` and the demo's audit PDFs, through Click's runner against the test database."""

from __future__ import annotations

import subprocess

from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.cli import main
from registry.decisions.models import Decision
from registry.decisions.services import record_decision
from registry.enums import Verdict
from registry.inventory.models import AISystem
from registry.reports.models import DecisionReport
from registry.reports.services import ensure_report
from registry.seed.demo import read_demo
from tests.conftest import make_system


def _pdftotext(pdf: bytes) -> str:
    """The PDF's text (poppler's pdftotext: a twentieth of pypdf's time on these 20-page reports)."""
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def test_demo_decisions_have_pdfs_and_the_report_commands_work(app, session, tmp_path):
    runner = app.test_cli_runner()

    def cli(*args):
        return runner.invoke(main, list(args))

    seeded = cli("seed", "--demo")  # into an empty database (the refusals: test_cli.py, on a demo copy)
    assert seeded.exit_code == 0, seeded.output
    assert "Loaded the demo portfolio: 30 systems" in seeded.output
    session.commit()
    decisions = session.scalars(select(Decision).order_by(Decision.id)).all()
    reports = {r.decision_id: r for r in session.scalars(select(DecisionReport))}
    assert decisions and set(reports) == {d.id for d in decisions}  # every demo decision has its PDF
    assert f"Issued the audit PDFs of its {len(decisions)} decisions." in seeded.output
    for decision in decisions:  # the PDF states the verified count and claims no acknowledgement
        text = " ".join(_pdftotext(reports[decision.id].pdf).split())
        rec = decision.snapshot["recommendation"]
        summary = text[text.index("1. Executive summary"):text.index("2. System profile")]
        assert f"{rec['verified_controls']} of {rec['required_controls']} required controls verified" in summary
        assert "Owner acknowledgement: pending at issue" in text and "Acknowledged" not in text
        if decision.verdict is Verdict.GO:
            assert rec["verified_controls"] == rec["required_controls"] > 0, decision.id
        # ORGANISATION_NAME is not set here: the demo's PDFs name its own organisation, and keep it
        assert reports[decision.id].organisation_name == read_demo()["organisation"] == "Northwind Mobility Group"
        assert text[:text.index("1. Executive summary")].count("Northwind Mobility Group") >= 1

    listed = cli("report", "list")
    assert listed.exit_code == 0
    lines = listed.output.strip().split("\n")
    assert len(lines) == len(decisions)
    first = decisions[0]
    name = session.scalar(select(AISystem.name).where(AISystem.id == first.system_id))
    assert lines[0].split("\t") == [str(first.id), str(first.system_id), name, first.verdict.label,
                                    first.decided_at.date().isoformat()]

    session.commit()  # release SQLite's write lock before the command writes
    out = tmp_path / "audit.pdf"
    exported = cli("report", "export", str(first.id), "-o", str(out))
    assert exported.exit_code == 0, exported.output
    assert out.read_bytes() == reports[first.id].pdf
    session.commit()
    assert session.scalar(select(func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == "report.export")) == 1
    session.commit()

    verified = cli("report", "verify", str(out))
    assert verified.exit_code == 0 and "AUTHENTIC AND UNALTERED" in verified.output
    assert verified.output.count("[PASS]") == 4

    damaged = bytearray(out.read_bytes())
    damaged[-200] ^= 0x20
    bad = tmp_path / "damaged.pdf"
    bad.write_bytes(bytes(damaged))
    refused = cli("report", "verify", str(bad))
    assert refused.exit_code == 1 and "NOT VERIFIED" in refused.output

    assert cli("report", "issue").output.strip() == "Issued 0 audit PDFs."
    missing = cli("report", "export", "999999", "-o", str(tmp_path / "x.pdf"))
    assert missing.exit_code == 2 and "There is no decision #999999" in missing.output
    nowhere = cli("report", "export", str(first.id), "-o", str(tmp_path / "no" / "such" / "x.pdf"))
    assert nowhere.exit_code == 2 and "no such directory" in nowhere.output
    assert cli("report", "worker").exit_code == 2  # REDIS_URL unset in tests


def test_verify_prints_a_superseded_status_and_still_exits_0(app, session, people, tmp_path):
    system = make_system(session, people["owner"])
    rationale = "Nothing is ready yet: no answers, no controls; recorded for the trail."
    first = record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": rationale})
    session.commit()
    pdf = tmp_path / "first.pdf"
    pdf.write_bytes(ensure_report(session, first).pdf)
    session.commit()
    record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": rationale + " Again."})
    session.commit()
    result = app.test_cli_runner().invoke(main, ["report", "verify", str(pdf)])
    assert result.exit_code == 0, result.output
    assert "AUTHENTIC AND UNALTERED" in result.output and "Record status: superseded by decision #" in result.output
