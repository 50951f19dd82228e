"""Audit PDF pages: download a decision's PDF, verify an uploaded PDF, bulk ZIP exports with progress."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

from registry import web
from registry.audit.services import record_event
from registry.auth.permissions import can_download_report, can_verify_report, require
from registry.decisions import services as decisions
from registry.errors import ValidationFailed
from registry.inventory import services as inventory
from registry.inventory.models import AISystem
from registry.reports import bulk, queue
from registry.reports.forms import MAX_PDF_BYTES, BulkExportForm, VerifyUploadForm
from registry.reports.queue import QueueUnavailable
from registry.reports.services import (
    RenderLimits,
    record_download,
    render_decision_pdf,
    report_for,
    store_report,
)
from registry.reports.verify import verify_pdf
from registry.web import client_address, db_session, export_run

bp = Blueprint("reports", __name__)


def _actor():
    return current_user._get_current_object()


@bp.get("/systems/<int:system_id>/decisions/<int:decision_id>/audit.pdf")
@login_required
def download(system_id: int, decision_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    decision = decisions.get_decision(session, system_id, decision_id)
    require(can_download_report(current_user, system), "You may download the audit PDFs of your own systems only.")
    report = report_for(session, decision.id)
    # The first download renders the PDF, before the write transaction opens; later ones serve the stored bytes.
    rendered = None if report is not None else render_decision_pdf(decision, RenderLimits.from_config(current_app.config))
    with web.writer() as writer:
        if report is None:
            report = store_report(writer, decision, rendered)
        pdf, doc_id, sha = report.pdf, report.document_id, report.sha256
        record_download(writer, _actor(), decision, report, address=client_address())
        writer.commit()
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{doc_id}.pdf"', "X-Content-SHA256": sha,
        "Cache-Control": "private, no-store"})


@bp.route("/reports/verify", methods=["GET", "POST"])
@login_required
def verify():
    require(can_verify_report(current_user), "Only compliance officers verify audit PDFs here.")
    form = VerifyUploadForm()
    if request.method == "GET":
        return render_template("reports/verify.html", form=form, result=None)
    if not form.validate_on_submit():
        return render_template("reports/verify.html", form=form, result=None), 400
    upload = form.file.data
    data = upload.read(MAX_PDF_BYTES + 1) if upload else b""
    if not data:
        form.file.errors.append("Choose the PDF to check.")
        return render_template("reports/verify.html", form=form, result=None), 422
    if len(data) > MAX_PDF_BYTES:
        form.file.errors.append(f"The file is larger than {MAX_PDF_BYTES // (1024 * 1024)} MB; no audit PDF is that large.")
        return render_template("reports/verify.html", form=form, result=None), 413
    db_session().commit()  # the sign-in lookup opened a write transaction (nothing to save): release it
    with web.reader() as session:
        result = verify_pdf(session, data)
    with web.writer() as writer:
        _record_verification(writer, result, upload.filename)
        writer.commit()
    return render_template("reports/verify.html", form=VerifyUploadForm(formdata=None), result=result,
                           file_name=upload.filename), 200 if result.authentic else 422


def _record_verification(session, result, file_name: str | None) -> None:
    record_event(session, _actor(), "report.verify", "decision", result.decision_id, system_id=result.system_id,
                 summary=("Verified" if result.authentic else "Checked, not verified: ")
                 + (f" audit PDF {result.document_id}" if result.document_id else f" an uploaded file ({file_name or 'no name'})"),
                 after={"authentic": result.authentic, "file_sha256": result.file_sha256,
                        "document_id": result.document_id, "checks": {c.label: c.ok for c in result.checks}},
                 address=client_address())


def _business_units(session) -> list[tuple[str, str]]:
    units = session.scalars(select(AISystem.business_unit).distinct().order_by(AISystem.business_unit))
    return [(u, u) for u in units if u]


@bp.route("/reports/exports", methods=["GET", "POST"])
@login_required
def exports():
    require(can_verify_report(current_user), "Only compliance officers export audit PDFs in bulk.")
    session = db_session()
    form = BulkExportForm()
    form.business_unit.choices = _business_units(session)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            run = export_run(current_app)
            try:
                job = bulk.create_job(session, _actor(), form.filters(), backend=run.settings.backend)
                bulk.start(session, job, run)  # commits: the job and its audit event, or nothing
            except (ValidationFailed, QueueUnavailable) as err:
                session.rollback()
                form.form_errors.append(err.message)
                status = err.status
            else:
                flash(f"Export #{job.id} started: {job.total} audit PDFs.", "success")
                return redirect(url_for("reports.export_job", job_id=job.id))
        else:
            status = 422
    preview = None if request.method == "POST" else len(bulk.current_decision_ids(session, form.filters()))
    return render_template("reports/exports.html", form=form, jobs=bulk.recent_jobs(session, _actor()),
                           preview=preview, limit=bulk.MAX_DECISIONS), status


@bp.get("/reports/exports/<int:job_id>")
@login_required
def export_job(job_id: int):
    job = bulk.get_job(db_session(), _actor(), job_id)
    web.reap_if_stale(job)
    return render_template("reports/export_job.html", job=job,
                           retention_days=current_app.config["EXPORT_RETENTION_DAYS"])


@bp.get("/reports/exports/<int:job_id>/download")
@login_required
def export_download(job_id: int):
    session = db_session()
    job = bulk.get_job(session, _actor(), job_id)
    run = export_run(current_app)
    if bulk.stored_zip(session, run.store, job) is None:
        flash("That export is not ready (or its file was removed); start a new one." if job.status != "expired"
              else queue.expired_message(run.settings.retention_days), "error")
        return redirect(url_for("reports.export_job", job_id=job.id))
    try:
        rows = bulk.manifest_rows(session, run.store, job)
    except LookupError:  # the row is there, its bytes are not (an object removed from the bucket)
        flash("The file of this export is missing from the file store; start a new one.", "error")
        return redirect(url_for("reports.export_job", job_id=job.id))
    with web.writer() as writer:
        bulk.record_zip_download(writer, _actor(), job, rows, address=client_address())
        writer.commit()
    return Response(run.store.stream(run.readers, job.blob_sha256), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{job.file_name}"',
                             "Content-Length": str(job.size_bytes), "X-Content-SHA256": job.sha256,
                             "Cache-Control": "private, no-store"})
