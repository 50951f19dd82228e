"""The reliability page: evaluation trials (CSV upload), the pass^k curve and per-task table, the
release gate, and the compounded success of the workflow's steps (thin: the services do the work)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from registry.auth.models import User
from registry.auth.permissions import can_record_trials, can_set_reliability_gate, require
from registry.decisions.services import assess_system
from registry.errors import ValidationFailed
from registry.inventory import services as inventory
from registry.inventory.forms import attach_errors
from registry.reliability import services
from registry.reliability.forms import GateForm, StepsForm, TrialsForm
from registry.web import db_session

bp = Blueprint("reliability", __name__)

MAX_BYTES = 2 * 1024 * 1024  # 10,000 trials fit many times over


def _actor() -> User:
    return current_user._get_current_object()


def _render(session, system, *, trials_form=None, gate_form=None, steps_form=None, problems=None, status=200):
    summary = services.reliability_summary(session, system.id)
    gate = summary.gate
    if gate_form is None:
        gate_form = GateForm(k=str(gate.k or 3), threshold=round(gate.threshold * 100, 2) if gate.k else None,
                             formdata=None)
    return render_template(
        "reliability/index.html", system=system, state=assess_system(session, system), summary=summary,
        trials_form=trials_form or TrialsForm(formdata=None), gate_form=gate_form,
        steps_form=steps_form or StepsForm(steps=services.steps_text(summary.step_rates), formdata=None),
        problems=problems or {}, can_record=can_record_trials(current_user, system),
        can_gate=can_set_reliability_gate(current_user, system), percent=services.percent,
    ), status


def _back(system_id: int, anchor: str):
    return redirect(url_for("reliability.index", system_id=system_id) + anchor)


@bp.get("/systems/<int:system_id>/reliability")
@login_required
def index(system_id: int):
    session = db_session()
    return _render(session, inventory.get_system(session, _actor(), system_id))


@bp.post("/systems/<int:system_id>/reliability/trials")
@login_required
def upload(system_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    require(can_record_trials(current_user, system),
            "Only the system's owners, compliance officers and admins can record its evaluation trials.")
    form = TrialsForm()
    form.validate_on_submit()  # CSRF is checked before the view; the service says what is wrong with the rest
    upload = form.file.data
    if upload is None or not upload.filename:
        form.file.errors = ["Choose a CSV file of trials."]
        return _render(session, system, trials_form=form, status=422)
    data = upload.read(MAX_BYTES + 1)
    try:
        if len(data) > MAX_BYTES:
            raise ValidationFailed("The file is larger than 2 MB: split it (at most 10,000 trials per file).",
                                   errors={"file": ["Larger than 2 MB."]})
        rows = services.read_trials_csv(data)
        result = services.record_trials(session, _actor(), system_id, rows, first_row=2, source="CSV")
    except ValidationFailed as err:
        session.rollback()
        form.file.errors = [err.message]
        problems = {k: v for k, v in err.errors.items() if k.startswith("row ")}
        return _render(session, system, trials_form=form, problems=problems, status=err.status)
    session.commit()
    flash(f"{upload.filename}: {result.received:,} trials read; {result.added:,} added, {result.corrected:,} "
          f"corrected, {result.unchanged:,} unchanged." if result.changed else
          f"{upload.filename}: every trial was already recorded with the same outcome; nothing changed.", "success")
    return _back(system_id, "#curve")


@bp.post("/systems/<int:system_id>/reliability/gate")
@login_required
def gate(system_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    require(can_set_reliability_gate(current_user, system),
            "Only compliance officers who are not named on the system, and admins, set its release gate.")
    if request.form.get("remove"):
        services.clear_gate(session, _actor(), system_id)
        session.commit()
        flash("Release gate removed.", "success")
        return _back(system_id, "#gate")
    form = GateForm()
    if not form.validate_on_submit():
        return _render(session, system, gate_form=form, status=422)
    try:
        services.set_gate(session, _actor(), system_id, int(form.k.data), float(form.threshold.data) / 100)
    except ValidationFailed as err:
        session.rollback()
        attach_errors(form, err.errors)
        return _render(session, system, gate_form=form, status=err.status)
    session.commit()
    flash(f"Release gate set: {services.gate_text(int(form.k.data), float(form.threshold.data) / 100)}.", "success")
    return _back(system_id, "#gate")


@bp.post("/systems/<int:system_id>/reliability/steps")
@login_required
def steps(system_id: int):
    session = db_session()
    system = inventory.get_system(session, _actor(), system_id)
    require(can_record_trials(current_user, system),
            "Only the system's owners, compliance officers and admins can set its workflow's step rates.")
    form = StepsForm()
    if not form.validate_on_submit():
        return _render(session, system, steps_form=form, status=422)
    try:
        rates = services.parse_step_rates(form.steps.data or "")
    except ValueError as err:
        form.steps.errors = [str(err)]
        return _render(session, system, steps_form=form, status=422)
    services.set_step_rates(session, _actor(), system_id, rates)
    session.commit()
    sentence = services.compounded_sentence(rates)
    flash(f"Step rates saved: {sentence}." if sentence else "Step rates removed.", "success")
    return _back(system_id, "#steps")
