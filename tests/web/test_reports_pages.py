"""Audit PDF pages through the test client: download (audited, identical bytes), verify upload, bulk ZIP."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile

from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.decisions.services import acknowledge_decision, record_decision
from registry.reports import bulk
from registry.reports.models import DecisionReport, ExportJob
from tests.conftest import csrf_from, make_system

NO_GO = {"verdict": "no_go", "rationale": "Not ready: the five answers are still missing."}


def _decided(session, people, n=1, **overrides):
    decisions = []
    for _ in range(n):
        system = make_system(session, people["owner"], **overrides)
        decisions.append(record_decision(session, people["compliance"], system.id, NO_GO))
    session.commit()
    return decisions


def _events(session, action):
    session.commit()
    return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_download_serves_the_stored_pdf_identically_and_audits_every_download(session, people, as_role):
    (decision,) = _decided(session, people)
    url = f"/systems/{decision.system_id}/decisions/{decision.id}/audit.pdf"
    officer = as_role("compliance")
    first, second = officer.get(url), as_role("executive").get(url)
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    assert first.data.startswith(b"%PDF") and first.data == second.data
    stored = session.scalar(select(DecisionReport))
    assert stored.pdf == first.data and first.headers["X-Content-SHA256"] == stored.sha256
    assert f'filename="{stored.document_id}.pdf"' in first.headers["Content-Disposition"]
    assert _events(session, "report.download") == 2
    page = officer.get(f"/systems/{decision.system_id}/decisions/{decision.id}").get_data(as_text=True)
    assert stored.document_id in page and stored.sha256 in page and "Download the audit PDF" in page


def test_recording_a_decision_issues_its_pdf(session, people, as_role):
    system = make_system(session, people["owner"])
    session.commit()
    officer = as_role("compliance")
    page = officer.get(f"/systems/{system.id}/decisions").get_data(as_text=True)
    basis = __import__("re").search(r'name="basis"[^>]*value="([^"]+)"', page).group(1)
    response = officer.post(f"/systems/{system.id}/decisions", {
        "verdict": "no_go", "rationale": "Nothing is ready yet: no answers, no controls.", "basis": basis,
        "conditions": "", "expires_on": ""}, token_from=f"/systems/{system.id}/decisions")
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    session.commit()
    report = session.scalar(select(DecisionReport))
    assert report is not None and report.pdf.startswith(b"%PDF")


def test_a_render_failure_is_a_clear_503_not_a_500(app, session, people, as_role):
    (decision,) = _decided(session, people)
    app.config["REPORT_TIMEOUT_SECONDS"] = 0.01
    try:
        response = as_role("compliance").get(f"/systems/{decision.system_id}/decisions/{decision.id}/audit.pdf")
    finally:
        app.config["REPORT_TIMEOUT_SECONDS"] = 60
    assert response.status_code == 503
    assert "could not be produced" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(DecisionReport)) == 0
    assert _events(session, "report.download") == 0


def _upload(browser, data: bytes, name="report.pdf"):
    token = csrf_from(browser.get("/reports/verify").get_data(as_text=True))
    return browser.client.post("/reports/verify", data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                               content_type="multipart/form-data")


def test_the_verify_page_says_plainly_whether_a_pdf_is_authentic(session, people, as_role):
    (decision,) = _decided(session, people)
    officer = as_role("compliance")
    pdf = officer.get(f"/systems/{decision.system_id}/decisions/{decision.id}/audit.pdf").data
    ok = _upload(officer, pdf)
    assert ok.status_code == 200
    body = ok.get_data(as_text=True)
    assert "Authentic and unaltered" in body and body.count("Pass:") == 4
    assert 'id="record-status"' in body and "Record status: Current." in body
    damaged = bytearray(pdf)
    damaged[len(damaged) // 2] ^= 0xFF
    bad = _upload(officer, bytes(damaged))
    assert bad.status_code == 422 and "Not verified" in bad.get_data(as_text=True)
    junk = _upload(officer, b"hello", "notes.txt")
    assert junk.status_code == 422 and "not a readable PDF" in junk.get_data(as_text=True)
    empty = _upload(officer, b"", "empty.pdf")
    assert empty.status_code == 422 and "Choose the PDF to check" in empty.get_data(as_text=True)
    assert _events(session, "report.verify") == 3


def _run_export(app, session, people, browser, filters: dict):
    token = csrf_from(browser.get("/reports/exports").get_data(as_text=True))
    response = browser.client.post("/reports/exports", data={"csrf_token": token, **filters})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def _check_zip(browser, session, job_id, expected_decisions):
    page = browser.get(f"/reports/exports/{job_id}").get_data(as_text=True)
    assert f"Ready: {len(expected_decisions)} of {len(expected_decisions)} PDFs" in page
    response = browser.get(f"/reports/exports/{job_id}/download")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    # streamed from the file store, byte for byte what the job stored
    job = session.get(ExportJob, job_id)
    stored = browser.client.application.extensions["registry.files"].read(session, job.blob_sha256)
    assert response.data == stored and hashlib.sha256(response.data).hexdigest() == job.sha256
    assert response.headers["X-Content-SHA256"] == job.sha256 and int(response.headers["Content-Length"]) == job.size_bytes
    session.commit()
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert sorted(int(r["decision_id"]) for r in manifest) == sorted(d.id for d in expected_decisions)
    session.commit()
    for row in manifest:
        stored = session.scalar(select(DecisionReport).where(DecisionReport.document_id == row["document_id"]))
        assert archive.read(row["file"]) == stored.pdf and row["pdf_sha256"] == stored.sha256
    assert _events(session, "report.bulk_download") == 1
    downloads = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.download")).all()
    assert sorted(e.system_id for e in downloads) == sorted(d.system_id for d in expected_decisions)
    session.commit()


def test_bulk_export_in_process_builds_a_zip_of_the_filtered_systems(app, session, people, as_role):
    wanted = _decided(session, people, 2, business_unit="Claims & Insurance")
    _decided(session, people, 1, business_unit="Marketing")
    officer = as_role("compliance")
    job_id = _run_export(app, session, people, officer, {"business_unit": "Claims & Insurance"})
    bulk.join_threads()
    session.commit()
    job = session.get(ExportJob, job_id)
    assert job.backend == "thread" and job.status == "done" and job.done == job.total == 2, job.error
    session.commit()  # release SQLite's write lock before the client writes
    _check_zip(officer, session, job_id, wanted)


def test_a_running_export_shows_progress_and_refreshes(session, people, as_role):
    from registry.inventory.queries import InventoryFilters

    _decided(session, people, 2)
    from registry.db import utcnow

    job = bulk.create_job(session, people["compliance"], InventoryFilters(), backend="thread")
    job.status, job.done, job.started_at, job.heartbeat_at = "running", 1, utcnow(), utcnow()  # a live job
    session.commit()
    page = as_role("compliance").get(f"/reports/exports/{job.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "Building the ZIP: 1 of 2 PDFs" in page
    assert '<progress id="progress" max="2" value="1">' in page
    assert as_role("compliance").get(f"/reports/exports/{job.id}/download").status_code == 302


def test_bulk_export_refuses_an_empty_selection_with_a_message(session, people, as_role):
    make_system(session, people["owner"])
    response = as_role("compliance").post("/reports/exports", {"tier": "high"})
    assert response.status_code == 422 and "No decided system matches" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ExportJob)) == 0


def test_bulk_export_on_rq_runs_in_a_worker(app, session, people, as_role, rq_only):
    from redis import Redis
    from rq import Queue, SimpleWorker


    wanted = _decided(session, people, 2)
    officer = as_role("compliance")
    job_id = _run_export(app, session, people, officer, {})
    session.commit()
    job = session.get(ExportJob, job_id)
    assert job.backend == "rq" and job.status == "queued"  # nothing ran in the request
    session.commit()
    connection = Redis.from_url(rq_only)
    queue = Queue(bulk.QUEUE_NAME, connection=connection)
    assert queue.count == 1
    with app.app_context():
        SimpleWorker([queue], connection=connection).work(burst=True)
    session.commit()
    session.refresh(job)
    assert job.status == "done" and job.done == 2, job.error
    assert job.started_at is not None and job.heartbeat_at >= job.started_at
    session.commit()
    _check_zip(officer, session, job_id, wanted)


def test_one_pdf_that_cannot_be_produced_is_listed_not_fatal(app, session, people, as_role, monkeypatch):
    from registry.reports.services import ReportUnavailable

    good, bad = _decided(session, people, 2)
    real = bulk.render_decision_pdf

    def flaky(decision, limits):
        if decision.id == bad.id:
            raise ReportUnavailable("The renderer ran out of time.")
        return real(decision, limits)

    monkeypatch.setattr(bulk, "render_decision_pdf", flaky)
    officer = as_role("compliance")
    job_id = _run_export(app, session, people, officer, {})
    bulk.join_threads()
    session.commit()
    job = session.get(ExportJob, job_id)
    assert job.status == "done" and job.done == 1 and "1 PDF(s) could not be included" in job.error
    session.commit()
    archive = zipfile.ZipFile(io.BytesIO(officer.get(f"/reports/exports/{job_id}/download").data))
    rows = {int(r["decision_id"]): r for r in csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig")))}
    assert rows[good.id]["status"] == "included" and rows[bad.id]["status"].startswith("not included")


def test_redis_unreachable_is_a_503_and_no_half_made_job(app, session, people, as_role):
    _decided(session, people, 1)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        response = as_role("compliance").post("/reports/exports", {})
    finally:
        app.config["REDIS_URL"] = None
    assert response.status_code == 503 and "(Redis) cannot be reached" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ExportJob)) == 0  # no job row …
    assert _events(session, "report.bulk_export") == 0  # … and no event saying one was asked for


def test_an_export_is_visible_to_the_officer_who_asked_only(session, people, as_role):
    from registry.inventory.queries import InventoryFilters
    from tests.conftest import make_user

    _decided(session, people, 1)
    job = bulk.create_job(session, people["compliance"], InventoryFilters(), backend="thread")
    session.commit()
    make_user(session, "compliance", email="second@example.test")
    other = as_role("anonymous")
    other.login("second@example.test")
    assert other.get(f"/reports/exports/{job.id}").status_code == 404
    assert other.get(f"/reports/exports/{job.id}/download").status_code == 404


def test_the_verify_page_says_a_superseded_document_is_superseded(session, people, as_role):
    first, = _decided(session, people)
    officer = as_role("compliance")
    pdf = officer.get(f"/systems/{first.system_id}/decisions/{first.id}/audit.pdf").data
    second = record_decision(session, people["compliance"], first.system_id, {
        "verdict": "no_go", "rationale": "Re-reviewed: still nothing ready; the earlier decision is replaced."})
    session.commit()
    body = _upload(officer, pdf).get_data(as_text=True)
    assert "Authentic and unaltered" in body and "Record status: Superseded." in body
    assert f"superseded by decision #{second.id}" in body
    assert "Owner acknowledgement:</strong> not acknowledged by the accountable owner." in body
    acknowledge_decision(session, people["owner"], second.system_id, second.id)
    session.commit()
    newer = officer.get(f"/systems/{second.system_id}/decisions/{second.id}/audit.pdf").data
    body = _upload(officer, newer).get_data(as_text=True)
    assert "Record status: Current." in body and "acknowledged by Olu Owner &lt;owner@example.test&gt; on " in body
