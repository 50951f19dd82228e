"""Bulk export: the audit PDFs of a filtered set of decided systems, as one ZIP, built outside the request.

A compliance officer picks systems with the inventory's filters; the current decision of each
matching system is exported.  The job runs on RQ when ``REDIS_URL`` is set (a worker runs
``registry report worker``) and otherwise on a thread in the web process (the single-machine
default).  Either way the same function, :func:`run_export_job`, does the work and records
progress in ``export_jobs``, which the job page reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import threading
import zipfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.auth.models import User
from registry.auth.permissions import can_verify_report, require
from registry.db import utcnow
from registry.decisions.models import Decision
from registry.errors import DomainError, NotFound, ValidationFailed
from registry.inventory.models import AISystem
from registry.inventory.queries import InventoryFilters, filtered_ids_query
from registry.reports.models import ExportJob
from registry.reports.services import RenderLimits, render_decision_pdf, report_for, store_report

MAX_DECISIONS = 500
QUEUE_NAME = "reports"
_threads: list[threading.Thread] = []


def current_decision_ids(session: Session, filters: InventoryFilters) -> list[int]:
    """The latest decision of every system matching ``filters`` (systems never decided are left out)."""
    ranked = (select(Decision.id, func.row_number().over(
        partition_by=Decision.system_id, order_by=(Decision.decided_at.desc(), Decision.id.desc())).label("rank"))
        .where(Decision.system_id.in_(filtered_ids_query(filters))).subquery())
    return list(session.scalars(select(ranked.c.id).where(ranked.c.rank == 1).order_by(ranked.c.id)))


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
    if job is None or job.requested_by_id != actor.id:
        raise NotFound("There is no such export of yours.")
    return job


def recent_jobs(session: Session, actor: User, limit: int = 10) -> list[ExportJob]:
    return list(session.scalars(select(ExportJob).where(ExportJob.requested_by_id == actor.id)
                                .order_by(ExportJob.id.desc()).limit(limit)))


def zip_path(export_dir: str | Path, job: ExportJob) -> Path:
    return Path(export_dir) / f"audit-pdfs-{job.id}.zip"


def run_export_job(job_id: int, app=None) -> None:
    """Build the ZIP of job ``job_id``, committing progress after every PDF (RQ or thread entry point)."""
    from flask import current_app, has_app_context

    if app is None:
        if has_app_context():
            app = current_app._get_current_object()
        else:
            from registry import create_app

            app = create_app()
    config = app.config
    sessions, readers = app.extensions["registry.sessions"]
    limits = RenderLimits(config.get("REPORT_TIMEOUT_SECONDS"), config.get("REPORT_MAX_MEMORY_MB"))
    with sessions() as session:
        job = session.get(ExportJob, job_id)
        if job is None or job.status not in {"queued", "running"}:
            return
        ids = [int(i) for i in job.decision_ids]
        target = zip_path(config["EXPORT_DIR"], job)
        job.status = "running"
        session.commit()  # nothing of the job is read again until the next short write
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        try:
            manifest = io.StringIO()
            writer = csv.writer(manifest, lineterminator="\r\n")
            writer.writerow(["document_id", "decision_id", "system_id", "system", "verdict", "decided_at",
                             "pdf_sha256", "snapshot_sha256", "file"])
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as zf:
                for raw_id in ids:
                    # Read and render outside the write transaction (a render takes about a second).
                    with readers() as reader:
                        decision = reader.get(Decision, raw_id)
                        if decision is None:
                            raise NotFound(f"Decision #{raw_id} no longer exists.")
                        name = reader.scalar(select(AISystem.name).where(AISystem.id == decision.system_id)) or ""
                        report = report_for(reader, decision.id)
                        if report is None:
                            report = store_report(session, decision, render_decision_pdf(decision, limits))
                        pdf, doc_id, pdf_sha = report.pdf, report.document_id, report.sha256
                        row = [doc_id, decision.id, decision.system_id, name, decision.verdict.label,
                               decision.decided_at.isoformat(timespec="seconds"), pdf_sha, decision.snapshot_sha256]
                        stamp = _zip_time(decision.decided_at)
                    file_name = f"{doc_id}.pdf"
                    zf.writestr(zipfile.ZipInfo(file_name, date_time=stamp), pdf)
                    writer.writerow([*row, file_name])
                    job.done += 1
                    session.commit()  # the stored PDF and the progress
                zf.writestr("manifest.csv", "\ufeff" + manifest.getvalue())
            data_hash = _sha256_file(partial)
            os.replace(partial, target)
            job.status, job.file_name = "done", target.name
            job.sha256, job.size_bytes, job.finished_at = data_hash, target.stat().st_size, utcnow()
            session.commit()
        except Exception as err:  # noqa: BLE001 - any failure ends the job with a message, not a stuck bar
            session.rollback()
            partial.unlink(missing_ok=True)
            job = session.get(ExportJob, job_id)
            job.status, job.finished_at = "failed", utcnow()
            job.error = err.message if isinstance(err, DomainError) else f"The export stopped ({type(err).__name__})."
            session.commit()


def _zip_time(moment: datetime) -> tuple:
    return (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def enqueue(app, job: ExportJob) -> str:
    """Hand the job to RQ when REDIS_URL is set, else to a background thread; returns the backend used."""
    url = app.config.get("REDIS_URL")
    if url:
        from redis import Redis
        from rq import Queue

        Queue(QUEUE_NAME, connection=Redis.from_url(url)).enqueue(
            "registry.reports.bulk.run_export_job", job.id, job_timeout=3600, result_ttl=3600)
        return "rq"
    thread = threading.Thread(target=run_export_job, args=(job.id, app), name=f"export-job-{job.id}", daemon=True)
    _threads.append(thread)
    thread.start()
    return "thread"


def backend_for(app) -> str:
    return "rq" if app.config.get("REDIS_URL") else "thread"


def join_threads(timeout: float = 60) -> None:
    """Wait for in-process jobs (tests and orderly shutdown)."""
    while _threads:
        _threads.pop().join(timeout)
