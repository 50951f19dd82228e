"""Long jobs (registry.reports.queue): heartbeats, reaping the silent ones, retention, the
portfolio rebuild as a job, and the commands that run them."""

from __future__ import annotations

import hashlib
import io
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from registry.cli import main
from registry.controls.evidence_store import evidence_store
from registry.controls.services import add_evidence, control_rows
from registry.db import utcnow
from registry.files.models import Blob
from registry.imports.models import StagedImport
from registry.portfolio import jobs as rebuild
from registry.reports import queue
from registry.reports.models import ExportJob
from registry.state.models import SystemState
from registry.web import export_run
from tests.conftest import make_system

SETTINGS = queue.JobSettings(redis_url=None, stale_seconds=120, queued_seconds=1800, retention_days=7)


def _job(session, user, **values) -> ExportJob:
    job = ExportJob(requested_by_id=user.id, backend="thread", **{"status": "queued", **values})
    session.add(job)
    session.commit()
    return job


def _staged(session, user, **values) -> StagedImport:
    staged = StagedImport(id=f"staged-{time.monotonic_ns()}", user_id=user.id, file_name="r.csv", size_bytes=1,
                          **{"status": "staged", **values})
    session.add(staged)
    session.commit()
    return staged


def test_a_running_job_whose_heartbeat_stopped_is_failed_and_a_fresh_one_is_not(session, people):
    now = utcnow()
    officer = people["compliance"]
    silent = _job(session, officer, status="running", started_at=now - timedelta(minutes=10),
                  heartbeat_at=now - timedelta(seconds=121))
    alive = _job(session, officer, status="running", started_at=now - timedelta(minutes=10),
                 heartbeat_at=now - timedelta(seconds=30))
    never_beat = _job(session, officer, status="running")  # a row from before heartbeats: no time at all
    silent_import = _staged(session, officer, status="running", heartbeat_at=now - timedelta(minutes=5))
    importing = _staged(session, officer, status="running", heartbeat_at=now)
    done = _job(session, officer, status="done", heartbeat_at=now - timedelta(days=3))

    assert queue.reap(session, SETTINGS, now) == 3
    session.commit()
    for row in (silent, never_beat, silent_import):
        session.refresh(row)
        assert row.status == "failed" and row.finished_at is not None
        assert row.error.startswith("The job stopped answering (no heartbeat for over 2 minutes)")
    for row, status in ((alive, "running"), (importing, "running"), (done, "done")):
        session.refresh(row)
        assert row.status == status and not row.error
    assert queue.reap(session, SETTINGS, now) == 0  # nothing twice


def test_a_queued_job_no_worker_picks_up_is_failed_with_that_reason(session, people):
    now = utcnow()
    old = _job(session, people["compliance"], created_at=now - timedelta(minutes=31))
    recent = _job(session, people["compliance"], created_at=now - timedelta(minutes=29))
    waiting = _staged(session, people["compliance"], status="queued", queued_at=now - timedelta(hours=1),
                      created_at=now - timedelta(hours=2))
    being_previewed = _staged(session, people["compliance"], created_at=now - timedelta(hours=2))
    assert queue.reap(session, SETTINGS, now) == 2
    session.commit()
    for row in (old, waiting):
        session.refresh(row)
        assert row.status == "failed" and "No worker has picked it up in 30 minutes" in row.error
    for row, status in ((recent, "queued"), (being_previewed, "staged")):
        session.refresh(row)
        assert row.status == status


def test_the_heartbeat_writes_progress_and_notices_a_reaped_job(app, session, people):
    job = _job(session, people["compliance"], status="running", started_at=utcnow(),
               heartbeat_at=utcnow() - timedelta(minutes=1), total=10)
    before = job.heartbeat_at
    sessions, readers = app.extensions["registry.sessions"]
    with queue.Heartbeat(sessions, ExportJob, job.id, every=0.05) as beat:
        beat.report(done=4, progress="4 of 10 PDFs")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with readers() as reader:  # a read transaction: the beating thread needs the write lock (SQLite)
                seen = reader.get(ExportJob, job.id)
            if seen.done == 4:
                break
            time.sleep(0.05)
        assert seen.done == 4 and seen.progress == "4 of 10 PDFs" and seen.heartbeat_at > before
        beat.check()  # still ours
        queue.reap(session, SETTINGS, utcnow() + timedelta(minutes=5))  # as if it had gone silent
        session.commit()
        assert beat.lost.wait(5)
        with pytest.raises(queue.JobLost):
            beat.check()
    session.refresh(job)
    assert job.status == "failed" and job.done == 4
    session.commit()
    # a reaped job cannot finish afterwards: its last write is guarded on "running"
    with sessions() as other, pytest.raises(queue.JobLost):
        queue.finish(other, ExportJob, job.id, status="done")


def test_a_job_claimed_once_is_not_claimed_again(app, session, people):
    job = _job(session, people["compliance"])
    sessions = app.extensions["registry.sessions"][0]
    assert queue.claim(sessions, ExportJob, job.id) is True
    assert queue.claim(sessions, ExportJob, job.id) is False
    started = time.monotonic()
    assert queue.claim(sessions, ExportJob, 987654, wait_seconds=0.3) is False  # never committed
    assert time.monotonic() - started >= 0.3


def _blob(app, session, data: bytes) -> str:
    sha = app.extensions["registry.files"].put_bytes(session, data).sha256
    session.commit()
    return sha


def _blobs(session) -> set[str]:
    session.commit()
    return set(session.scalars(select(Blob.sha256)))


def test_retention_expires_old_exports_and_deletes_files_no_one_else_names(app, session, people):
    store, now = app.extensions["registry.files"], utcnow()
    officer = people["compliance"]
    shared, own, fresh_file = (_blob(app, session, data) for data in (b"zip shared", b"zip alone", b"zip new"))
    old = dict(status="done", finished_at=now - timedelta(days=8))
    alone = _job(session, officer, **old, blob_sha256=own, sha256=own, size_bytes=9)
    twin_old = _job(session, officer, **old, blob_sha256=shared, sha256=shared, size_bytes=10)
    twin_new = _job(session, officer, status="done", finished_at=now - timedelta(days=6), blob_sha256=shared,
                    sha256=shared, size_bytes=10)
    recent = _job(session, officer, status="done", finished_at=now - timedelta(days=1), blob_sha256=fresh_file)
    failed = _job(session, officer, status="failed", finished_at=now - timedelta(days=30))
    upload = _blob(app, session, b"Ref,System\nR1,Old upload\n")
    stale_upload = _staged(session, officer, created_at=now - timedelta(hours=25), upload_sha256=upload)
    todays = _staged(session, officer, created_at=now - timedelta(hours=23), upload_sha256=upload)

    counts = queue.purge(session, store, SETTINGS, now)
    session.commit()
    assert counts == {"expired": 2, "staged": 1, "files": 1}
    for job in (alone, twin_old):
        session.refresh(job)
        assert job.status == "expired" and job.expired_at is not None and job.blob_sha256 is None
        assert job.sha256 and job.size_bytes  # the record of what the file was stays
    for job, status in ((twin_new, "done"), (recent, "done"), (failed, "failed")):
        session.refresh(job)
        assert job.status == status
    assert _blobs(session) == {shared, fresh_file, upload}  # `own` deleted; the others still named
    assert session.get(StagedImport, stale_upload.id) is None and session.get(StagedImport, todays.id)
    assert queue.purge(session, store, SETTINGS, now) == {"expired": 0, "staged": 0, "files": 0}
    session.commit()


def test_a_blob_named_by_evidence_is_never_deleted_by_retention(app, session, people):
    """The same bytes as an export (an officer attached the ZIP as evidence) stay while evidence names them."""
    store, now = app.extensions["registry.files"], utcnow()
    data = b"%PDF-1.4 an export someone also attached as evidence"
    system = make_system(session, people["owner"])
    control = next(r.control for r in control_rows(session, system) if r.required)
    stored = evidence_store(session).save(session, io.BytesIO(data), "export.pdf")
    add_evidence(session, people["owner"], system.id, control.id, {"description": "the ZIP"}, stored=stored)
    session.commit()
    sha = hashlib.sha256(data).hexdigest()
    assert sha in _blobs(session)
    _job(session, people["compliance"], status="done", finished_at=now - timedelta(days=30), blob_sha256=sha)
    assert queue.purge(session, store, SETTINGS, now) == {"expired": 1, "staged": 0, "files": 0}
    session.commit()
    assert sha in _blobs(session)


def test_the_portfolio_rebuild_runs_as_a_job_with_progress(app, session, people):
    for _ in range(3):
        make_system(session, people["owner"])
    session.execute(SystemState.__table__.delete())
    session.commit()
    run = export_run(app)
    with app.extensions["registry.sessions"][0]() as writer:
        job = rebuild.create_job(writer, backend=run.settings.backend)
        assert rebuild.start(writer, job, run) == "thread"
    queue.join_threads()
    session.commit()
    job = session.get(ExportJob, job.id)
    assert job.kind == "portfolio_rebuild" and job.status == "done", job.error
    assert job.done == job.total == 3 and job.result == {"systems": 3} and job.requested_by_id is None
    assert session.scalar(select(func.count()).select_from(SystemState)) == 3
    session.commit()


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(main, list(args))


def test_the_job_commands(cli, session, people):
    now = utcnow()
    silent = _job(session, people["compliance"], status="running", heartbeat_at=now - timedelta(hours=1))
    result = cli("jobs", "reap")
    assert result.exit_code == 0 and "Marked 1 job failed." in result.output
    listed = cli("jobs", "list")
    assert listed.exit_code == 0 and f"{silent.id}\taudit_pdfs\tfailed\t0/0" in listed.output
    assert "stopped answering" in listed.output
    purged = cli("jobs", "purge")
    assert purged.exit_code == 0 and "Expired 0 export(s) older than 7 days" in purged.output
    for args in (("worker", "--burst"), ("report", "worker"), ("portfolio", "rebuild", "--queue")):
        result = cli(*args)
        assert result.exit_code == 2 and "REDIS_URL is not set" in result.output, args
    session.commit()
    assert session.scalar(select(func.count()).select_from(ExportJob)) == 1  # --queue without Redis made none


def test_a_queued_rebuild_goes_to_rq_and_the_worker_runs_it(app, cli, session, people, rq_only):
    make_system(session, people["owner"])
    session.commit()
    queued = cli("portfolio", "rebuild", "--queue")
    assert queued.exit_code == 0 and "Queued job #" in queued.output, queued.output
    job_id = int(queued.output.split("#")[1].split(":")[0])
    assert cli("jobs", "list").output.startswith(f"{job_id}\tportfolio_rebuild\tqueued\t0/1")
    ran = cli("worker", "--burst")
    assert ran.exit_code == 0, ran.output
    session.commit()
    job = session.get(ExportJob, job_id)
    assert job.status == "done" and job.done == job.total == 1 and job.backend == "rq", job.error
    session.commit()
