"""Bulk export: the audit PDFs of a filtered set of decided systems, as one ZIP, built outside the request.

A compliance officer picks systems with the inventory's filters; the current decision of each
matching system is exported.  The job runs on RQ when ``REDIS_URL`` is set (``registry worker``,
entry point ``registry.jobs.run_job``) and otherwise on a thread in the web process (the
single-machine default) — see ``registry.reports.queue``.  Either way :func:`run_export_job` does
the work: it builds the ZIP in a temporary file, beating and reporting progress as it goes, then
puts it in the file store with the job's outcome in one transaction.  Any node streams it from there.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.services import record_event, record_events_bulk
from registry.auth.models import User
from registry.auth.permissions import can_verify_report, require
from registry.db import utcnow
from registry.decisions.models import Decision, current_decisions
from registry.errors import DomainError, NotFound, ValidationFailed
from registry.files.store import FileStore
from registry.inventory.models import AISystem
from registry.inventory.queries import InventoryFilters, filtered_ids_query
from registry.reports import queue
from registry.reports.models import ExportJob
from registry.reports.queue import QUEUE_NAME, JobContext, QueueUnavailable, join_threads
from registry.reports.services import render_decision_pdf, report_for, store_report

__all__ = ["QUEUE_NAME", "QueueUnavailable", "join_threads"]
KIND = "audit_pdfs"
MAX_DECISIONS = 500


def current_decision_ids(session: Session, filters: InventoryFilters) -> list[int]:
    """The current decision of every system matching ``filters`` (systems never decided are left out)."""
    current = current_decisions(filtered_ids_query(filters))
    return list(session.scalars(select(current.c.decision_id).order_by(current.c.decision_id)))


def filters_summary(f: InventoryFilters) -> dict:
    return {k: v for k, v in {"q": f.q, "stage": f.stage, "tier": f.tier, "kind": f.kind,
                              "business_unit": f.business_unit, "owner": f.owner}.items() if v}


def create_job(session: Session, actor: User, filters: InventoryFilters, *, backend: str) -> ExportJob:
    require(can_verify_report(actor), "Only compliance officers export audit PDFs in bulk.")
    ids = current_decision_ids(session, filters)
    if not ids:
        raise ValidationFailed("No decided system matches these filters, so there is nothing to export.")
    if len(ids) > MAX_DECISIONS:
        raise ValidationFailed(f"{len(ids):,} decided systems match; one export holds at most {MAX_DECISIONS}. "
                               "Narrow the filters (for example by business unit or tier) and export in parts.")
    job = ExportJob(requested_by_id=actor.id, status="queued", backend=backend, filters=filters_summary(filters),
                    decision_ids=[str(i) for i in ids], total=len(ids), done=0)
    session.add(job)
    session.flush()
    record_event(session, actor, "report.bulk_export", "export_job", job.id,
                 summary=f"Asked for a ZIP of {len(ids)} audit PDFs", after={"filters": job.filters, "decisions": len(ids)})
    return job


def get_job(session: Session, actor: User, job_id: int) -> ExportJob:
    require(can_verify_report(actor), "Only compliance officers export audit PDFs in bulk.")
    job = session.get(ExportJob, job_id)
    if job is None or job.requested_by_id != actor.id or job.kind != KIND:
        raise NotFound("There is no such export of yours.")
    return job


def recent_jobs(session: Session, actor: User, limit: int = 10) -> list[ExportJob]:
    return list(session.scalars(select(ExportJob).where(ExportJob.requested_by_id == actor.id, ExportJob.kind == KIND)
                                .order_by(ExportJob.id.desc()).limit(limit)))


def zip_name(job: ExportJob) -> str:
    return f"audit-pdfs-{job.id}.zip"


def run_export_job(job_id: int, run: JobContext) -> None:
    """Build the ZIP of job ``job_id`` and store it (RQ or thread entry point)."""
    def work(beat: queue.Heartbeat) -> None:
        with tempfile.TemporaryFile() as spool:
            _build(job_id, run, beat, spool)

    queue.run_claimed(run.sessions, ExportJob, job_id, work, what="export")


def _build(job_id: int, run: JobContext, beat: queue.Heartbeat, spool) -> None:
    sessions, readers, limits = run.sessions, run.readers, run.limits
    with sessions() as session:
        job = session.get(ExportJob, job_id)
        ids, done = [int(i) for i in job.decision_ids], 0
        skipped: list[str] = []
        manifest = io.StringIO()
        writer = csv.writer(manifest, lineterminator="\r\n")
        writer.writerow(MANIFEST_HEADER)
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as zf:
            for raw_id in ids:
                beat.check()
                # Read and render outside the write transaction (a render takes about a second).
                with readers() as reader:
                    decision = reader.get(Decision, raw_id)
                    if decision is None:
                        skipped.append(f"decision #{raw_id} no longer exists")
                        continue
                    name = reader.scalar(select(AISystem.name).where(AISystem.id == decision.system_id)) or ""
                    row = [decision.id, decision.system_id, name, decision.verdict.label,
                           decision.decided_at.isoformat(timespec="seconds")]
                    report = report_for(reader, decision.id)
                    try:
                        if report is None:
                            report = store_report(session, decision, render_decision_pdf(decision, limits))
                    except DomainError as err:  # one PDF that cannot be produced does not sink the rest
                        session.rollback()
                        skipped.append(f"decision #{decision.id}: {err.message}")
                        writer.writerow(["", *row, "", decision.snapshot_sha256, "", f"not included: {err.message}"])
                        continue
                    pdf, doc_id, pdf_sha = report.pdf, report.document_id, report.sha256
                    stamp = _zip_time(decision.decided_at)
                    snapshot_sha = decision.snapshot_sha256
                file_name = f"{doc_id}.pdf"
                zf.writestr(zipfile.ZipInfo(file_name, date_time=stamp), pdf)
                writer.writerow([doc_id, *row, pdf_sha, snapshot_sha, file_name, "included"])
                done += 1
                session.commit()  # the stored PDF
                beat.report(done=done, progress=f"{done} of {len(ids)} PDFs")
            zf.writestr("manifest.csv", "\ufeff" + manifest.getvalue())
        beat.check()
        spool.seek(0)
        blob = run.store.put(session, spool)
        error = f"{len(skipped)} PDF(s) could not be included: " + "; ".join(skipped)[:2000] if skipped else None
        queue.finish(session, ExportJob, job_id, status="done", done=done, file_name=zip_name(job), progress="",
                     sha256=blob.sha256, size_bytes=blob.size_bytes, blob_sha256=blob.sha256, error=error)
        session.commit()


MANIFEST_HEADER = ["document_id", "decision_id", "system_id", "system", "verdict", "decided_at", "pdf_sha256",
                   "snapshot_sha256", "file", "status"]


def mark_failed(session: Session, job_id: int, message: str) -> None:
    """End a queued or running job as failed with ``message`` (RQ's failure callback)."""
    job = session.get(ExportJob, job_id)
    if job is not None and job.status in queue.ACTIVE:
        job.status, job.finished_at, job.error = "failed", utcnow(), message


def stored_zip(session: Session, store: FileStore, job: ExportJob):
    """The job's ZIP in the store, or None (not finished, expired, or its bytes gone)."""
    if job.status != "done":
        return None
    return store.find(session, job.blob_sha256)


def manifest_rows(session: Session, store: FileStore, job: ExportJob) -> list[dict]:
    """The manifest of the job's stored ZIP (the ZIP is spooled from the store to read it)."""
    with tempfile.TemporaryFile() as spool:
        for piece in store.chunks(session, store.find(session, job.blob_sha256)):
            spool.write(piece)
        spool.seek(0)
        with zipfile.ZipFile(spool) as zf:
            return list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode("utf-8-sig"))))


def record_zip_download(session: Session, actor: User, job: ExportJob, rows: list[dict], *,
                        address: str | None = None) -> None:
    """One event for the ZIP, plus a ``report.download`` on each decision in it (``rows``: its
    manifest), so every system's own trail shows that its PDF left the registry."""
    record_event(session, actor, "report.bulk_download", "export_job", job.id,
                 summary=f"Downloaded the ZIP of {job.done} audit PDFs (export #{job.id})",
                 after={"sha256": job.sha256, "files": job.done}, address=address)
    record_events_bulk(session, actor, [{
        "action": "report.download", "entity_type": "decision", "entity_id": int(r["decision_id"]),
        "system_id": int(r["system_id"]), "address": address,
        "summary": f"Downloaded the audit PDF {r['document_id']} of decision #{r['decision_id']} in export #{job.id}",
        "after": {"document_id": r["document_id"], "pdf_sha256": r["pdf_sha256"], "export": job.id},
    } for r in rows if r.get("status") == "included"])


def _zip_time(moment: datetime) -> tuple:
    return (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second)


def start(session: Session, job: ExportJob, run: JobContext) -> str:
    """Hand the job (its row uncommitted in ``session``) to RQ or a thread, committing it; see ``queue.launch``."""
    return queue.launch(session, run.settings, queue=QUEUE_NAME, entry="registry.jobs.run_job", args=(job.id,),
                        thread_target=lambda: run_export_job(job.id, run), name=f"export-job-{job.id}")

