"""Long jobs through the test client: the Excel export of many systems as a job with progress, a job
that stopped answering, an export whose file the retention period removed, RQ only when Redis is set."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.db import utcnow
from registry.exports.services import CONTROLS, DECISIONS, SYSTEMS
from registry.reports import queue
from registry.reports.models import ExportJob
from tests.conftest import csrf_from, make_system


@pytest.fixture
def many(session, people, app, monkeypatch):
    """Three systems, and a limit of two for the direct Excel download: these go as a job."""
    monkeypatch.setitem(app.config, "EXPORT_INLINE_SYSTEMS", 2)
    systems = [make_system(session, people["owner"], name=f"Claims model {n}", business_unit="Claims")
               for n in range(3)]
    make_system(session, people["owner"], name="Parcel chatbot", business_unit="Logistics")
    session.commit()
    return systems


def _events(session, action="inventory.export") -> list[AuditEvent]:
    session.commit()
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
    session.commit()  # release SQLite's write lock: jobs and pages write next
    return events


def _start(browser, query: str):
    page = browser.get(f"/exports/systems.xlsx?{query}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    return html, browser.client.post(f"/exports/systems.xlsx?{query}", data={"csrf_token": csrf_from(html)})


def test_a_large_excel_export_is_a_job_with_progress_and_its_file_from_the_store(app, session, people, as_role, many):
    browser = as_role("executive")
    html, response = _start(browser, "business_unit=Claims&sort=-name")
    assert "3 systems match these filters" in html and "Build the workbook" in html
    assert response.status_code == 303
    job_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    assert _events(session) == []  # asking is not exporting: the download is audited
    queue.join_threads()
    session.commit()
    job = session.get(ExportJob, job_id)
    assert job.kind == "inventory_xlsx" and job.status == "done" and job.backend == "thread", job.error
    assert job.done == job.total == 3 * 3 and job.result["rows"][SYSTEMS] == 3
    session.commit()

    page = browser.get(f"/exports/jobs/{job_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and '<progress id="progress" max="9" value="9">' in page
    assert "Ready" in page and f"/exports/jobs/{job_id}/download" in page and "kept for 7 days" in page
    download = browser.get(f"/exports/jobs/{job_id}/download")
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    assert download.headers["Content-Disposition"] == f'attachment; filename="{job.file_name}"'
    stored = app.extensions["registry.files"].read(session, job.blob_sha256)
    session.commit()
    assert download.data == stored and hashlib.sha256(stored).hexdigest() == job.sha256
    workbook = openpyxl.load_workbook(io.BytesIO(download.data))
    assert workbook.sheetnames == [SYSTEMS, CONTROLS, DECISIONS]
    assert [r[1] for r in workbook[SYSTEMS].iter_rows(min_row=2, values_only=True)] == [
        "Claims model 2", "Claims model 1", "Claims model 0"]  # the filters and the sort carried over
    [event] = _events(session)
    assert event.actor_id == people["executive"].id and event.after["job"] == job_id
    assert event.after["filters"] == {"business_unit": ["Claims"], "sort": "-name"}
    assert event.after["rows"] == job.result["rows"] and event.after["format"] == "xlsx"
    assert "Exported the inventory as XLSX (3 systems" in event.summary


def test_the_job_page_shows_progress_while_it_runs_and_only_to_its_requester(session, people, as_role, many):
    job = ExportJob(kind="inventory_xlsx", requested_by_id=people["executive"].id, status="running", backend="thread",
                    total=9, done=4, progress="Controls sheet", result={"systems": 3}, started_at=utcnow(),
                    heartbeat_at=utcnow(), file_name="inventory.xlsx")
    session.add(job)
    session.commit()
    page = as_role("executive").get(f"/exports/jobs/{job.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and '<progress id="progress" max="9" value="4">' in page
    assert "Writing the workbook: Controls sheet (44 %)" in page
    assert as_role("executive").get(f"/exports/jobs/{job.id}/download").status_code == 302  # not ready
    for role in ("owner", "compliance", "admin"):  # someone else's export is no export at all
        assert as_role(role).get(f"/exports/jobs/{job.id}").status_code == 404
        assert as_role(role).get(f"/exports/jobs/{job.id}/download").status_code == 404
    assert as_role("anonymous").get(f"/exports/jobs/{job.id}").status_code == 302


def test_a_small_excel_export_is_still_downloaded_at_once(session, as_role, many):
    response = as_role("owner").get("/exports/systems.xlsx?business_unit=Logistics")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert session.scalar(select(func.count()).select_from(ExportJob)) == 0
    session.commit()


def test_a_job_that_stopped_answering_is_shown_failed_not_running(session, people, as_role):
    job = ExportJob(requested_by_id=people["compliance"].id, status="running", backend="rq", total=2, done=1,
                    started_at=utcnow() - timedelta(minutes=10), heartbeat_at=utcnow() - timedelta(minutes=3))
    session.add(job)
    session.commit()
    page = as_role("compliance").get(f"/reports/exports/{job.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "Stopped after 1 of 2 PDFs" in page
    assert "The job stopped answering (no heartbeat for over 2 minutes)" in page
    session.refresh(job)
    assert job.status == "failed"
    session.commit()


def test_an_export_past_the_retention_period_says_its_file_was_removed(app, session, people, as_role):
    store = app.extensions["registry.files"]
    sha = store.put_bytes(session, b"PK a zip of audit PDFs").sha256
    job = ExportJob(requested_by_id=people["compliance"].id, status="done", backend="thread", total=1, done=1,
                    file_name="audit-pdfs-1.zip", sha256=sha, size_bytes=22, blob_sha256=sha,
                    finished_at=utcnow() - timedelta(days=8))
    session.add(job)
    session.commit()
    assert queue.purge(session, store, queue.JobSettings.from_config(app.config))["files"] == 1
    session.commit()
    officer = as_role("compliance")
    page = re.sub(r"\s+", " ", officer.get(f"/reports/exports/{job.id}").get_data(as_text=True))
    assert "was removed on" in page and "after 7 days, as every export is" in page
    assert "Download the ZIP" not in page and sha in page  # the record of what it was stays
    response = officer.get(f"/reports/exports/{job.id}/download", follow_redirects=True)
    assert "The file was removed after 7 days" in response.get_data(as_text=True)
    assert _events(session, "report.bulk_download") == []


def test_with_redis_the_workbook_goes_to_rq_and_a_worker_builds_it(app, session, people, as_role, many, rq_only):
    from redis import Redis
    from rq import Queue

    from registry.jobs import work

    browser = as_role("executive")
    _html, response = _start(browser, "business_unit=Claims")
    job_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    session.commit()
    job = session.get(ExportJob, job_id)
    assert job.backend == "rq" and job.status == "queued"
    session.commit()
    assert Queue(queue.QUEUE_NAME, connection=Redis.from_url(rq_only)).count == 1
    with app.app_context():
        work(app, burst=True)  # `registry worker --burst`: reaps and purges, then runs the queue
    session.commit()
    session.refresh(job)
    assert job.status == "done" and job.done == job.total == 9, job.error
    session.commit()
    assert browser.get(f"/exports/jobs/{job_id}/download").status_code == 200


def test_with_redis_down_starting_a_job_is_a_503_and_makes_nothing(app, session, people, as_role, many):
    browser = as_role("executive")
    html = browser.get("/exports/systems.xlsx").get_data(as_text=True)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        response = browser.client.post("/exports/systems.xlsx", data={"csrf_token": csrf_from(html)})
    finally:
        app.config["REDIS_URL"] = None
    assert response.status_code == 503 and "(Redis) cannot be reached" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ExportJob)) == 0
    session.commit()


def test_the_workbook_reports_its_progress_system_by_system_to_the_end(app, session, people, many):
    from registry.exports.services import write_export
    from registry.inventory.queries import InventoryFilters

    heard = []
    with app.extensions["registry.sessions"][1]() as reader:
        write_export(reader, None, InventoryFilters(), "xlsx", io.BytesIO(), today=utcnow().date(),
                     progress=lambda done, total, sheet: heard.append((done, total, sheet)))
    dones = [done for done, _total, _sheet in heard]
    assert {total for _done, total, _sheet in heard} == {4 * 3}  # four systems, three sheets
    assert dones == sorted(dones) and dones[-1] == 12 and heard[-1][2] == ""
    assert [sheet for _d, _t, sheet in heard if sheet][0] == SYSTEMS and (8, 12, CONTROLS) in heard
    session.commit()


def test_a_zip_whose_bytes_are_missing_from_the_store_is_a_message_not_a_500(app, session, people, as_role,
                                                                              monkeypatch):
    from registry.files.store import FileStore

    sha = app.extensions["registry.files"].put_bytes(session, b"PK a zip").sha256
    job = ExportJob(requested_by_id=people["compliance"].id, status="done", backend="thread", total=1, done=1,
                    file_name="audit-pdfs-1.zip", sha256=sha, size_bytes=8, blob_sha256=sha, finished_at=utcnow())
    session.add(job)
    session.commit()

    def gone(self, session, blob):
        raise LookupError(blob.sha256)
        yield b""

    monkeypatch.setattr(FileStore, "chunks", gone)
    response = as_role("compliance").get(f"/reports/exports/{job.id}/download", follow_redirects=True)
    assert response.status_code == 200 and "missing from the file store" in response.get_data(as_text=True)
    assert _events(session, "report.bulk_download") == []
