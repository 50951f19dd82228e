"""The inventory workbook as a job: a large XLSX export is built outside the request.

An Excel export of more than ``EXPORT_INLINE_SYSTEMS`` systems (every system of a large
portfolio) takes longer than a request should: the page asks for it as a job (a row of
``export_jobs``, kind ``inventory_xlsx``), which runs on RQ with ``REDIS_URL`` and otherwise on a
thread (``registry.reports.queue``), writes the same workbook as the direct download
(``write_export``) into a temporary file with its progress per system and sheet, and puts it in
the file store.  Each download is audited like the direct one (``inventory.export``, with the
filters and the row counts); the file goes after the retention period like every export's.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, fields

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.auth.models import User
from registry.auth.permissions import can_export_inventory, require
from registry.errors import NotFound
from registry.exports.services import FORMATS, ExportResult, file_name, write_export
from registry.inventory.queries import InventoryFilters, ordered_ids_query
from registry.reports import queue
from registry.reports.models import ExportJob
from registry.reports.queue import QUEUE_NAME, JobContext
from registry.state.cache import refresh_due_states

KIND = "inventory_xlsx"
SHEETS = 3


def matching_systems(session: Session, filters: InventoryFilters) -> int:
    return session.scalar(select(func.count()).select_from(ordered_ids_query(filters).subquery()))


def runs_as_job(systems: int, inline_limit: int) -> bool:
    """The one rule: an Excel export of more systems than ``inline_limit`` is built as a job."""
    return systems > inline_limit


def _filters_of(job: ExportJob) -> InventoryFilters:
    known = {f.name for f in fields(InventoryFilters)}
    return InventoryFilters(**{k: v for k, v in job.filters.items() if k in known})


def create_job(session: Session, actor: User, filters: InventoryFilters, *, backend: str, today) -> ExportJob:
    """A queued workbook export of every system matching ``filters`` (no paging), the caller's."""
    require(can_export_inventory(actor), "Your role does not allow exporting the inventory.")
    systems = matching_systems(session, filters)
    job = ExportJob(kind=KIND, requested_by_id=actor.id, status="queued", backend=backend,
                    filters=asdict(filters), total=systems * SHEETS, done=0, file_name=file_name("xlsx", today),
                    result={"systems": systems})
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, actor: User, job_id: int) -> ExportJob:
    job = session.get(ExportJob, job_id)
    if job is None or job.kind != KIND or job.requested_by_id != actor.id:
        raise NotFound("There is no such export of yours.")
    return job


def recent_jobs(session: Session, actor: User, limit: int = 5) -> list[ExportJob]:
    return list(session.scalars(select(ExportJob).where(ExportJob.requested_by_id == actor.id, ExportJob.kind == KIND)
                                .order_by(ExportJob.id.desc()).limit(limit)))


def start(session: Session, job: ExportJob, run: JobContext) -> str:
    """Hand the job (uncommitted in ``session``) to RQ or a thread, committing it (``queue.launch``)."""
    return queue.launch(session, run.settings, queue=QUEUE_NAME, entry="registry.jobs.run_job", args=(job.id,),
                        thread_target=lambda: run_workbook_job(job.id, run), name=f"workbook-job-{job.id}")


def run_workbook_job(job_id: int, run: JobContext) -> None:
    """Build the workbook of job ``job_id`` and store it (RQ or thread entry point)."""
    def work(beat: queue.Heartbeat) -> None:
        with tempfile.TemporaryFile() as spool:
            _build(job_id, run, beat, spool)

    queue.run_claimed(run.sessions, ExportJob, job_id, work, what="export")


def _build(job_id: int, run: JobContext, beat: queue.Heartbeat, spool) -> None:
    with run.sessions() as session:
        job = session.get(ExportJob, job_id)
        actor = session.get(User, job.requested_by_id)
        filters, today = _filters_of(job), job.created_at.date()
        beat.report(progress="Bringing the systems' states up to date…")
        refresh_due_states(session, today)
        session.commit()

    def progress(done: int, total: int, sheet: str) -> None:
        beat.check()
        beat.report(done=done, total=total, progress=f"{sheet} sheet" if sheet else "Saving the workbook…")

    with run.readers() as session:
        result = write_export(session, actor, filters, "xlsx", spool, today=today, progress=progress)
    beat.check()
    spool.seek(0)
    with run.sessions() as session:
        blob = run.store.put(session, spool)
        queue.finish(session, ExportJob, job_id, status="done", done=job.total, progress="", file_name=result.file_name,
                     sha256=blob.sha256, size_bytes=blob.size_bytes, blob_sha256=blob.sha256,
                     result={**job.result, "rows": result.rows})
        session.commit()


def stored_file(session: Session, store, job: ExportJob):
    """The job's workbook in the store, or None (not finished, expired, or its bytes gone)."""
    return store.find(session, job.blob_sha256) if job.status == "done" else None


def record_download(session: Session, actor: User, job: ExportJob) -> ExportResult:
    """The ``inventory.export`` event of a download, as the direct download records it."""
    result = ExportResult("xlsx", job.file_name, FORMATS["xlsx"], dict(job.result.get("rows", {})))
    after = {**result.audit_after(_filters_of(job)), "job": job.id, "sha256": job.sha256}
    record_event(session, actor, "inventory.export", "inventory", None, summary=result.summary(), after=after)
    return result
