"""Inventory downloads: the systems, controls and decisions as Excel, the systems as CSV.

Both take exactly the inventory list's query arguments (``InventoryFilters.from_args``), so
the filters of ``/systems`` and the portfolio carry over, and export every matching system
(paging ignored).  Each download is an audit event with its filters and row counts.  An Excel
export of more than ``EXPORT_INLINE_SYSTEMS`` systems is built as a job (``registry.exports.jobs``):
the link shows how many systems match and a button that starts it, then its progress and the file.
"""

from __future__ import annotations

import tempfile

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required

from registry.auth.permissions import can_export_inventory, require
from registry.db import utcnow
from registry.exports import jobs
from registry.exports.services import write_export
from registry.inventory.queries import InventoryFilters
from registry.reports.queue import QueueUnavailable, expired_message
from registry.web import bring_states_up_to_date, db_session, export_run, reap_if_stale, record_export, writer

bp = Blueprint("exports", __name__)

SPOOL_BYTES = 16 * 1024 * 1024  # larger exports go to a temporary file, not memory


def _actor():
    actor = current_user._get_current_object()
    require(can_export_inventory(actor), "Your role does not allow exporting the inventory.")
    return actor


def _download(fmt: str):
    actor = _actor()
    filters = InventoryFilters.from_args(request.args)
    today = utcnow().date()
    bring_states_up_to_date(today)
    session = db_session()
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - send_file closes it
    try:
        result = write_export(session, actor, filters, fmt, out, today=today)
    except BaseException:
        out.close()
        raise
    record_export(actor, "inventory.export", "inventory", None, system_id=None, summary=result.summary(),
                  after=result.audit_after(filters))
    out.seek(0)
    response = send_file(out, mimetype=result.content_type, as_attachment=True, download_name=result.file_name,
                         max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/exports/systems.xlsx")
@login_required
def systems_xlsx():
    actor = _actor()
    session = db_session()
    filters = InventoryFilters.from_args(request.args)
    systems = jobs.matching_systems(session, filters)
    if not jobs.runs_as_job(systems, current_app.config["EXPORT_INLINE_SYSTEMS"]):
        return _download("xlsx")
    return render_template("exports/start.html", systems=systems, args=request.query_string.decode(),
                           jobs=jobs.recent_jobs(session, actor))


@bp.post("/exports/systems.xlsx")
@login_required
def start_xlsx():
    """Build the workbook of the query's filters as a job (whatever the number of systems)."""
    actor = _actor()
    session = db_session()
    run = export_run(current_app)
    job = jobs.create_job(session, actor, InventoryFilters.from_args(request.args), backend=run.settings.backend,
                          today=utcnow().date())
    try:
        jobs.start(session, job, run)  # commits the job, or raises with nothing written
    except QueueUnavailable as err:
        session.rollback()
        return render_template("exports/start.html", systems=jobs.matching_systems(session, InventoryFilters.from_args(
            request.args)), args=request.query_string.decode(), jobs=jobs.recent_jobs(session, actor),
            error=err.message), err.status
    return redirect(url_for("exports.job", job_id=job.id), 303)


@bp.get("/exports/jobs/<int:job_id>")
@login_required
def job(job_id: int):
    job = jobs.get_job(db_session(), _actor(), job_id)
    reap_if_stale(job)
    return render_template("exports/job.html", job=job, retention_days=current_app.config["EXPORT_RETENTION_DAYS"])


@bp.get("/exports/jobs/<int:job_id>/download")
@login_required
def job_download(job_id: int):
    actor = _actor()
    session = db_session()
    job = jobs.get_job(session, actor, job_id)
    run = export_run(current_app)
    if jobs.stored_file(session, run.store, job) is None:
        flash("That export is not ready (or its file was removed); start a new one." if job.status != "expired"
              else expired_message(run.settings.retention_days), "error")
        return redirect(url_for("exports.job", job_id=job.id))
    with writer() as audit:
        result = jobs.record_download(audit, actor, job)
        audit.commit()
    return Response(run.store.stream(run.readers, job.blob_sha256), mimetype=result.content_type, headers={
        "Content-Disposition": f'attachment; filename="{job.file_name}"', "Content-Length": str(job.size_bytes),
        "X-Content-SHA256": job.sha256, "Cache-Control": "no-store"})


@bp.get("/exports/systems.csv")
@login_required
def systems_csv():
    return _download("csv")
