"""Bulk export: the audit PDFs of a filtered set of decided systems, as one ZIP, built outside the request.

A compliance officer picks systems with the inventory's filters; the current decision of each
matching system is exported.  The job runs on RQ when ``REDIS_URL`` is set (a worker runs
``registry report worker``, entry point ``registry.jobs``) and otherwise on a thread in the web process (the single-machine
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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from registry.audit.services import record_event, record_events_bulk
from registry.auth.models import User
from registry.auth.permissions import can_verify_report, require
from registry.db import utcnow
from registry.decisions.models import Decision, current_decisions
from registry.errors import DomainError, NotFound, ValidationFailed
from registry.inventory.models import AISystem
from registry.inventory.queries import InventoryFilters, filtered_ids_query
from registry.reports.models import ExportJob
from registry.reports.services import RenderLimits, render_decision_pdf, report_for, store_report

MAX_DECISIONS = 500
QUEUE_NAME = "reports"
_threads: list[threading.Thread] = []


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
    if job is None or job.requested_by_id != actor.id:
        raise NotFound("There is no such export of yours.")
    return job


def recent_jobs(session: Session, actor: User, limit: int = 10) -> list[ExportJob]:
    return list(session.scalars(select(ExportJob).where(ExportJob.requested_by_id == actor.id)
                                .order_by(ExportJob.id.desc()).limit(limit)))


def zip_path(export_dir: str | Path, job: ExportJob) -> Path:
    return Path(export_dir) / f"audit-pdfs-{job.id}.zip"


@dataclass(frozen=True)
class ExportRun:
    """What a bulk export needs besides the job id: sessions, where ZIPs go, render limits.
    Built by the caller (``registry.jobs`` for RQ, the view for a thread), never from Flask here."""

    sessions: sessionmaker
    readers: sessionmaker
    export_dir: str
    limits: RenderLimits


def run_export_job(job_id: int, run: ExportRun) -> None:
    """Build the ZIP of job ``job_id``, committing progress after every PDF (RQ or thread entry point)."""
    sessions, readers, limits = run.sessions, run.readers, run.limits
    with sessions() as session:
        # Claim the job: of two workers handed the same job, only one gets it.
        claimed = session.execute(update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == "queued")
                                  .values(status="running")).rowcount
        job = session.get(ExportJob, job_id)
        session.commit()
        if not claimed or job is None:
            return
        ids = [int(i) for i in job.decision_ids]
        target = zip_path(run.export_dir, job)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        skipped: list[str] = []
        try:
            manifest = io.StringIO()
            writer = csv.writer(manifest, lineterminator="\r\n")
            writer.writerow(MANIFEST_HEADER)
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as zf:
                for raw_id in ids:
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
                    job.done += 1
                    session.commit()  # the stored PDF and the progress
                zf.writestr("manifest.csv", "\ufeff" + manifest.getvalue())
            data_hash = _sha256_file(partial)
            os.replace(partial, target)
            job.status, job.file_name = "done", target.name
            job.sha256, job.size_bytes, job.finished_at = data_hash, target.stat().st_size, utcnow()
            if skipped:
                job.error = f"{len(skipped)} PDF(s) could not be included: " + "; ".join(skipped)[:2000]
            session.commit()
        except Exception as err:  # noqa: BLE001 - any failure ends the job with a message, not a stuck bar
            session.rollback()
            partial.unlink(missing_ok=True)
            mark_failed(session, job_id, err.message if isinstance(err, DomainError)
                        else f"The export stopped ({type(err).__name__}).")
            session.commit()


MANIFEST_HEADER = ["document_id", "decision_id", "system_id", "system", "verdict", "decided_at", "pdf_sha256",
                   "snapshot_sha256", "file", "status"]


class QueueUnavailable(DomainError):
    status = 503
    title = "Job queue unavailable"


def mark_failed(session: Session, job_id: int, message: str) -> None:
    """End a queued or running job as failed with ``message`` (a finished job is left as it is)."""
    job = session.get(ExportJob, job_id)
    if job is not None and job.status in {"queued", "running"}:
        job.status, job.finished_at, job.error = "failed", utcnow(), message


def record_zip_download(session: Session, actor: User, job: ExportJob, path: Path, *,
                        address: str | None = None) -> None:
    """One event for the ZIP, plus a ``report.download`` on each decision in it, so every
    system's own trail shows that its PDF left the registry."""
    record_event(session, actor, "report.bulk_download", "export_job", job.id,
                 summary=f"Downloaded the ZIP of {job.done} audit PDFs (export #{job.id})",
                 after={"sha256": job.sha256, "files": job.done}, address=address)
    with zipfile.ZipFile(path) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode("utf-8-sig"))))
    record_events_bulk(session, actor, [{
        "action": "report.download", "entity_type": "decision", "entity_id": int(r["decision_id"]),
        "system_id": int(r["system_id"]), "address": address,
        "summary": f"Downloaded the audit PDF {r['document_id']} of decision #{r['decision_id']} in export #{job.id}",
        "after": {"document_id": r["document_id"], "pdf_sha256": r["pdf_sha256"], "export": job.id},
    } for r in rows if r.get("status") == "included"])


def _zip_time(moment: datetime) -> tuple:
    return (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def enqueue(job: ExportJob, run: ExportRun, *, redis_url: str | None) -> str:
    """Hand the job to RQ when ``redis_url`` is set (a worker runs ``registry.jobs.run_export_job``),
    else to a background thread in this process; returns the backend used."""
    if redis_url:
        try:
            Queue(QUEUE_NAME, connection=Redis.from_url(redis_url)).enqueue(
                "registry.jobs.run_export_job", job.id, job_timeout=3600, result_ttl=3600,
                on_failure=Callback("registry.jobs.export_failed"))
        except RedisError as err:
            raise QueueUnavailable("The job queue (Redis) cannot be reached, so the export was not started. "
                                   "Try again later, or tell an administrator.") from err
        return "rq"
    thread = threading.Thread(target=run_export_job, args=(job.id, run), name=f"export-job-{job.id}", daemon=True)
    _threads.append(thread)
    thread.start()
    return "thread"


def backend_for(redis_url: str | None) -> str:
    return "rq" if redis_url else "thread"


def join_threads(timeout: float = 60) -> None:
    """Wait for in-process jobs (tests and orderly shutdown)."""
    while _threads:
        _threads.pop().join(timeout)
