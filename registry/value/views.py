"""Pages of value: a system's value case (read, edit) and stopping its pilot (thin: the services do the work)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from registry.auth.permissions import can_edit_system, can_stop_pilot
from registry.decisions.services import assess_system
from registry.enums import Stage
from registry.errors import Conflict, ValidationFailed
from registry.inventory import services as inventory
from registry.inventory.forms import attach_errors, refuse
from registry.value import services
from registry.value.forms import StopForm, ValueCaseForm
from registry.value.rules import value_case_gaps
from registry.value.schemas import MONEY_FIELDS
from registry.web import actor, db_session

bp = Blueprint("value", __name__)


def _value_form(case) -> ValueCaseForm:
    if case is None:
        return ValueCaseForm(version="0")
    form = ValueCaseForm(version=str(case.version), **{k: getattr(case, k) for k in services.VALUE_FIELDS})
    if all(getattr(case, k) is None for k in MONEY_FIELDS):
        form.currency.data = ""  # no figure recorded: the stored currency is only a default
    return form


def _render(session, system, *, form=None, stop_form=None, status=200):
    case = services.value_case_for(session, system.id)
    editable = can_edit_system(current_user, system)
    stoppable = can_stop_pilot(current_user, system) and system.stage == Stage.PILOT
    return render_template(
        "value/index.html", system=system, state=assess_system(session, system), tab="value", case=case,
        labels=services.LABELS, money_fields=MONEY_FIELDS, outcome=services.business_outcome(session, system.id),
        net=services.net_annual_value(case), gaps=value_case_gaps(case, system.tier),
        stops=services.stops_for(session, system.id), can_edit=editable, can_stop=stoppable,
        form=(form or _value_form(case)) if editable else None,
        stop_form=(stop_form or StopForm()) if stoppable else None,
    ), status


@bp.get("/systems/<int:system_id>/value")
@login_required
def index(system_id: int):
    session = db_session()
    return _render(session, inventory.get_system(session, actor(), system_id))


@bp.post("/systems/<int:system_id>/value")
@login_required
def save(system_id: int):
    session = db_session()
    system = inventory.get_system(session, actor(), system_id)
    if not can_edit_system(current_user, system):
        abort(403)
    form = ValueCaseForm()
    if not form.validate_on_submit():
        return _render(session, system, form=form, status=422)
    try:
        services.save_value_case(session, actor(), system_id, form.payload(), expected_version=form.expected_version())
    except (ValidationFailed, Conflict) as err:
        refuse(session, form, err)
        return _render(session, system, form=form, status=err.status)
    session.commit()
    flash("Value case saved.", "success")
    return redirect(url_for("value.index", system_id=system_id))


@bp.post("/systems/<int:system_id>/value/stop")
@login_required
def stop(system_id: int):
    session = db_session()
    system = inventory.get_system(session, actor(), system_id)
    if not can_stop_pilot(current_user, system):
        abort(403)
    form = StopForm()
    try:  # nothing to stop (stopped already, or not a pilot): say why rather than show a form that is gone
        services.check_stoppable(session, system)
    except Conflict as err:
        flash(err.message, "error")
        return _render(session, system, status=err.status)
    if not form.validate_on_submit():
        return _render(session, system, stop_form=form, status=422)
    data = form.payload()
    try:
        services.stop_pilot(session, actor(), system_id, data["reason"], data["lessons"], note=data["note"])
    except (ValidationFailed, Conflict) as err:
        session.rollback()
        attach_errors(form, err.errors)
        if not err.errors or not set(err.errors) <= set(form._fields):
            form.form_errors.append(err.message)
        return _render(session, system, stop_form=form, status=err.status)
    session.commit()
    flash(f"Pilot stopped: {system.name} is retired; its record and history are kept.", "success")
    return redirect(url_for("value.index", system_id=system_id) + "#stopped")
