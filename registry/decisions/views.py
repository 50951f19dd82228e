"""Decision pages: the recommendation with its blockers, recording a decision, past decisions."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from registry.auth.permissions import (
    can_acknowledge_decision,
    can_download_report,
    can_record_decision,
    require,
)
from registry.decisions import services
from registry.decisions.forms import DecisionForm
from registry.errors import Conflict, ValidationFailed
from registry.inventory import services as inventory
from registry.inventory.forms import ConfirmForm, refuse
from registry.reports.services import RenderLimits, ReportUnavailable, document_id, ensure_report, report_for
from registry.web import db_session, record_export

bp = Blueprint("decisions", __name__)


def _actor():
    return current_user._get_current_object()


def _render(session, system, form=None, status=200, message=None):
    state = services.assess_system(session, system)
    review = state.recommendation_for_new_decision()
    if form is None:
        form = DecisionForm(verdict=review.verdict.value, basis=services.basis_fingerprint(review),
                            conditions="\n".join(b.message for b in review.conditions),
                            expires_on=services.default_expiry(system.tier, state.today))
    if form.basis.data is None or message:
        form.basis.data = services.basis_fingerprint(review)
    if message:
        form.form_errors.append(message)
    decisions = services.decisions_for(session, system.id)
    changes = services.changes_since(decisions[0], system) if decisions and system.re_review_required_at else []
    return render_template(
        "decisions/index.html", system=system, state=state, review=review, form=form, decisions=decisions,
        changes=changes, can_decide=can_record_decision(current_user, system), tab="decisions",
        acknowledgement=services.acknowledgement_for(session, state.decision.id) if state.decision else None,
        can_download=can_download_report(current_user, system),
        default_expiry=services.default_expiry(system.tier, state.today),
    ), status


@bp.route("/systems/<int:system_id>/decisions", methods=["GET", "POST"])
@login_required
def index(system_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    if request.method == "GET":
        return _render(session, system)
    require(can_record_decision(current_user, system),
            "Only a compliance officer who is not named on the system can record its decision.")
    form = DecisionForm()
    if not form.validate_on_submit():
        return _render(session, system, form, 422)
    try:
        decision = services.record_decision(session, _actor(), system_id, form.payload(),
                                            expected_basis=form.basis.data)
    except (ValidationFailed, Conflict) as err:
        refuse(session, form, err)
        if isinstance(err, Conflict):
            form.basis.data = None  # the re-rendered page carries the current fingerprint
            return _render(session, system, DecisionForm(formdata=None, verdict=form.verdict.data,
                                                         rationale=form.rationale.data, conditions=form.conditions.data,
                                                         expires_on=form.expires_on.data) , 409, message=err.message)
        return _render(session, system, form, 422)
    session.commit()
    flash(f"Recorded {decision.verdict.label}. The snapshot it was based on is frozen "
          f"(SHA-256 {decision.snapshot_sha256[:12]}…).", "success")
    _issue_report(session, decision)
    return redirect(url_for("decisions.show", system_id=system_id, decision_id=decision.id))


def _issue_report(session, decision) -> None:
    """Render and store the audit PDF now; if that fails, the first download tries again."""
    try:
        ensure_report(session, decision, RenderLimits.from_config(current_app.config))
        session.commit()
    except ReportUnavailable as err:
        session.rollback()
        flash(f"{err.message} The decision is recorded; the PDF will be produced when someone downloads it.", "error")


@bp.get("/systems/<int:system_id>/decisions/<int:decision_id>")
@login_required
def show(system_id: int, decision_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    decision = services.get_decision(session, system_id, decision_id)
    latest = services.latest_decision(session, system_id)
    state = services.assess_system(session, system)
    superseded = latest is not None and latest.id != decision.id
    return render_template("decisions/show.html", system=system, state=state, decision=decision,
                           snap=decision.snapshot, superseded=superseded, latest=latest,
                           acknowledgement=services.acknowledgement_for(session, decision.id),
                           can_acknowledge=not superseded and can_acknowledge_decision(current_user, system, decision),
                           ack_form=ConfirmForm(), tab="decisions", report=report_for(session, decision.id),
                           can_download=can_download_report(current_user, system), document_id=document_id)


@bp.post("/systems/<int:system_id>/decisions/<int:decision_id>/acknowledge")
@login_required
def acknowledge(system_id: int, decision_id: int):
    session = db_session()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    decision = services.get_decision(session, system_id, decision_id)
    services.acknowledge_decision(session, _actor(), system_id, decision.id)
    session.commit()
    flash(f"You acknowledged decision #{decision.id} ({decision.verdict.label})"
          + (" and its conditions." if decision.conditions else "."), "success")
    return redirect(url_for("decisions.show", system_id=system_id, decision_id=decision_id) + "#acknowledgement")


@bp.get("/systems/<int:system_id>/decisions/<int:decision_id>/snapshot.json")
@login_required
def snapshot(system_id: int, decision_id: int):
    session = db_session()
    inventory.get_system(session, _actor(), system_id)
    decision = services.get_decision(session, system_id, decision_id)
    if services.snapshot_hash(decision.snapshot) != decision.snapshot_sha256:
        abort(409, "The stored snapshot no longer matches its recorded hash; it may have been altered.")
    record_export(_actor(), "decision.export_snapshot", "decision", decision.id, system_id=system_id,
                  summary=f"Exported the snapshot of decision #{decision.id}",
                  after={"snapshot_sha256": decision.snapshot_sha256})
    body = json.dumps(decision.snapshot, indent=2, sort_keys=True, ensure_ascii=False)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="decision-{decision.id}-snapshot.json"',
        "X-Snapshot-SHA256": decision.snapshot_sha256})
