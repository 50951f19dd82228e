"""Control pages: a system's controls by function, one control with guidance, evidence, verification."""

from __future__ import annotations

import time
import unicodedata
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from registry.auth.permissions import can_edit_system, can_review
from registry.controls import services
from registry.controls.evidence_store import evidence_store
from registry.controls.forms import AssessmentForm, BulkVerifyForm, EvidenceForm, VerifyForm
from registry.decisions.services import assess_system
from registry.enums import ControlStatus, EvidenceKind
from registry.errors import Conflict, ValidationFailed
from registry.files.store import file_store
from registry.inventory import services as inventory
from registry.inventory.forms import ConfirmForm, attach_errors, refuse
from registry.web import db_session, record_export

bp = Blueprint("controls", __name__)


def _actor():
    return current_user._get_current_object()


TO_VERIFY = "to_verify"  # the controls page's filter for what waits for a compliance officer


def _to_verify(row) -> bool:
    a = row.assessment
    return a is not None and a.status in services.VERIFIABLE and a.verified_at is None


def _matches(row, status: str) -> bool:
    return not status or (_to_verify(row) if status == TO_VERIFY else row.status.value == status)


@bp.get("/systems/<int:system_id>/controls")
@login_required
def index(system_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    state = assess_system(session, system)
    status = request.args.get("status", "")
    groups: dict[str, list] = {}
    counts = {s: 0 for s in ControlStatus}
    for row in state.rows:
        if row.required:
            counts[row.status] += 1
        if not _matches(row, status):
            continue
        groups.setdefault(row.control.function if row.required else "No longer required", []).append(row)
    required = sum(1 for r in state.rows if r.required)
    can_verify = can_review(current_user, system)
    return render_template("controls/index.html", system=system, state=state, groups=groups, counts=counts,
                           required=required, status=status, tab="controls",
                           to_verify=sum(1 for r in state.rows if _to_verify(r)), is_to_verify=_to_verify,
                           can_verify=can_verify, bulk_form=BulkVerifyForm() if can_verify else None,
                           select_all=request.args.get("select") == "all",
                           stale=lambda e: services.is_stale(e, state.today, state.max_age_days))


@bp.post("/systems/<int:system_id>/controls/verify")
@login_required
def verify_many(system_id: int):
    """Verify the ticked controls with one note; each goes through ``verify_control`` on its own."""
    session = db_session()
    form = BulkVerifyForm()
    back = url_for("controls.index", system_id=system_id, status=request.form.get("status") or None)
    form.validate_on_submit()  # CSRF is checked before the view; the service says what is wrong with the rest
    try:
        result = services.verify_controls(session, _actor(), system_id, form.picks(request.form),
                                          note=form.note.data or "")
    except ValidationFailed as err:
        session.rollback()
        flash(err.message, "error")
        return redirect(back), 303
    session.commit()
    if result.verified:
        refs = ", ".join(a.control.ref for a in result.verified)
        flash(f"Verified {len(result.verified)} control{'' if len(result.verified) == 1 else 's'}: {refs}.", "success")
    if result.refused:
        refs = {c.id: c.ref for c in session.scalars(
            select(services.Control).where(services.Control.id.in_([i for i, _ in result.refused])))}
        flash(f"Not verified ({len(result.refused)}): " + " ".join(
            f"{refs.get(i, f'#{i}')}: {why}" for i, why in result.refused), "error")
    return redirect(back), 303


def _render_control(session, system, control_id, *, form=None, evidence_form=None, status=200):
    state = assess_system(session, system)
    row = next((r for r in state.rows if r.control.id == control_id), None)
    if row is None:
        control = session.get(services.Control, control_id)
        if control is None:
            abort(404)
        row = services.ControlRow(control, None, False)
    a = row.assessment
    if form is None:
        form = AssessmentForm(status=row.status.value, due_on=a.due_on if a else None,
                              na_reason=a.na_reason if a else "", notes=a.notes if a else "",
                              waiver_reason=a.waiver_reason if a else "",
                              waiver_granted_by=a.waiver_granted_by if a else "",
                              waiver_expires_on=a.waiver_expires_on if a else None,
                              version=str(a.version if a else 0))
    form.set_waivable(row.control.waivable)  # the choice shown; the service refuses a waiver of any other
    blockers = [b for b in state.recommendation.blockers if b.target == f"control:{control_id}"]
    walk = request.args.get("status", "")  # the list filter the reader came from
    return render_template(
        "controls/show.html", system=system, state=state, row=row, form=form, walk=walk,
        neighbours=_neighbours(state.rows, control_id, walk),
        evidence_form=evidence_form or EvidenceForm(), verify_form=VerifyForm(version=str(a.version if a else 0)),
        blockers=blockers, can_edit=can_edit_system(current_user, system),
        can_verify=can_review(current_user, system), tab="controls",
        stale=lambda e: services.is_stale(e, state.today, state.max_age_days),
    ), status


def _neighbours(rows, control_id: int, status: str):
    """The previous and next control of the system (in the controls page's order) that the filter
    ``status`` keeps: a reviewer walks through what waits without going back to the list."""
    ids = [r.control.id for r in rows]
    if control_id not in ids:
        return None, None
    at = ids.index(control_id)
    before = [r for r in rows[:at] if _matches(r, status)]
    after = [r for r in rows[at + 1:] if _matches(r, status)]
    return (before[-1] if before else None), (after[0] if after else None)


@bp.route("/systems/<int:system_id>/controls/<int:control_id>", methods=["GET", "POST"])
@login_required
def show(system_id: int, control_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    if request.method == "GET":
        return _render_control(session, system, control_id)
    if not can_edit_system(current_user, system):
        abort(403)
    form = AssessmentForm()
    if not form.validate_on_submit():
        return _render_control(session, system, control_id, form=form, status=422)
    try:
        services.assess_control(session, _actor(), system_id, control_id, form.payload(),
                                expected_version=form.expected_version())
    except (ValidationFailed, Conflict) as err:
        refuse(session, form, err)
        return _render_control(session, system, control_id, form=form, status=err.status)
    session.commit()
    flash("Control status saved.", "success")
    return redirect(url_for("controls.show", system_id=system_id, control_id=control_id))


@bp.post("/systems/<int:system_id>/controls/<int:control_id>/evidence")
@login_required
def add_evidence(system_id: int, control_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    if not can_edit_system(current_user, system):
        abort(403)
    form = EvidenceForm()
    if not form.validate_on_submit():
        return _render_control(session, system, control_id, evidence_form=form, status=422)
    upload = form.file.data
    stored = None
    try:
        if upload is not None and upload.filename:
            stored = evidence_store(session).save(session, upload.stream, upload.filename)
        services.add_evidence(session, _actor(), system_id, control_id, form.payload(), stored=stored)
        session.commit()
    except (ValidationFailed, Conflict) as err:
        session.rollback()  # the file's blob too: it was written in this transaction
        attach_errors(form, err.errors)
        if not err.errors:
            form.form_errors.append(err.message)
        return _render_control(session, system, control_id, evidence_form=form, status=err.status)
    flash("Evidence attached." + (f" SHA-256 {stored.sha256[:12]}…" if stored else ""), "success")
    return redirect(url_for("controls.show", system_id=system_id, control_id=control_id) + "#evidence")


@bp.get("/systems/<int:system_id>/evidence/<int:evidence_id>")
@login_required
def download_evidence(system_id: int, evidence_id: int):
    session = db_session()
    inventory.get_system(session, _actor(), system_id)
    evidence = services.get_evidence(session, system_id, evidence_id)
    if evidence.kind != EvidenceKind.FILE:
        abort(404)  # a link is shown as a link; the registry does not redirect to it
    if evidence.stored_name is not None:
        abort(410, "The evidence file has not been moved into the file store yet. "
                   "Ask an admin to run `registry files migrate`.")
    files = file_store(session)
    blob = files.find(session, evidence.sha256)
    if blob is None:
        abort(410, "The evidence file is no longer in the store. Ask an admin to restore it from backup.")
    record_export(_actor(), "evidence.download", "evidence", evidence.id, system_id=system_id,
                  summary=f"Downloaded evidence {evidence.file_name}", after={"sha256": evidence.sha256})
    readers = current_app.extensions["registry.sessions"][1]
    response = Response(files.stream(readers, blob.sha256), mimetype=evidence.content_type, direct_passthrough=True)
    response.content_length = blob.size_bytes
    response.headers.set("Content-Disposition", "attachment", **_download_name(evidence.file_name or "evidence"))
    response.cache_control.no_cache = True
    response.cache_control.max_age = 0
    response.expires = int(time.time())
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _download_name(name: str) -> dict[str, str]:
    """Content-Disposition's filename (and filename* for a name beyond ASCII), as send_file writes them."""
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        return {"filename": simple, "filename*": f"UTF-8''{quote(name, safe='!#$&+-.^_`|~')}"}
    return {"filename": name}


@bp.post("/systems/<int:system_id>/evidence/<int:evidence_id>/remove")
@login_required
def remove_evidence(system_id: int, evidence_id: int):
    session = db_session()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    evidence = services.remove_evidence(session, _actor(), system_id, evidence_id)
    control_id = evidence.assessment.control_id
    session.commit()
    flash("Evidence withdrawn. It stays in the history and in any decision that cited it.", "success")
    return redirect(url_for("controls.show", system_id=system_id, control_id=control_id) + "#evidence")


@bp.post("/systems/<int:system_id>/controls/<int:control_id>/verify")
@login_required
def verify(system_id: int, control_id: int):
    session = db_session()
    form = VerifyForm()
    if not form.validate_on_submit():
        abort(400)
    status = request.form.get("status") or None  # the filter the reviewer walks through, kept
    try:
        services.verify_control(session, _actor(), system_id, control_id, expected_version=form.expected_version())
    except (ValidationFailed, Conflict) as err:
        session.rollback()
        flash(err.message, "error")
        return redirect(url_for("controls.show", system_id=system_id, control_id=control_id, status=status)), 303
    session.commit()
    flash("Control verified.", "success")
    return redirect(url_for("controls.show", system_id=system_id, control_id=control_id, status=status))
