"""Inventory pages: the list, a system, and the forms that change it."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from registry.auth.models import User
from registry.auth.permissions import can_create_system, can_edit_system, require
from registry.db import utcnow
from registry.decisions.services import assess_system
from registry.enums import Role
from registry.errors import Conflict, ValidationFailed
from registry.inventory import services
from registry.inventory.determination import determination
from registry.inventory.forms import (
    ConfirmForm,
    ConfirmOverrideForm,
    MetricForm,
    SystemForm,
    TierOverrideForm,
    attach_errors,
    refuse,
)
from registry.inventory.queries import ATTENTION, SORTS, InventoryFilters, list_systems
from registry.inventory.schemas import SystemSchema, flatten_errors
from registry.inventory.units import unit_names
from registry.monitoring.services import metric_counts
from registry.web import bring_states_up_to_date, db_session

bp = Blueprint("inventory", __name__)


def _add_schema_errors(form: SystemForm) -> None:
    """When the form itself fails, still show the schema's rules (vendor, lists…) at once."""
    errors = SystemSchema().validate(form.payload())
    attach_errors(form, {k: v for k, v in flatten_errors(errors).items() if not form._fields.get(k.split(".")[0], None)
                         or not form._fields[k.split(".")[0]].errors})


def _actor() -> User:
    return current_user._get_current_object()


@bp.get("/systems")
@login_required
def index():
    filters = InventoryFilters.from_args(request.args, per_page=current_app.config["PAGE_SIZE"])
    # the list shows (and may filter on) the state cache: bring rows that time or a setting changed up to date
    bring_states_up_to_date(utcnow().date())
    page = list_systems(db_session(), _actor(), filters)
    return render_template("inventory/index.html", page=page, sorts=SORTS, attention_labels=ATTENTION)


@bp.route("/systems/new", methods=["GET", "POST"])
@login_required
def new():
    require(can_create_system(_actor()), "Your role cannot register systems.")
    session = db_session()
    form = SystemForm()
    form.set_people(services.assignable_people(session))
    form.set_units(unit_names(session))
    if request.method == "GET":
        form.accountable_owner.data = current_user.email if current_user.role is Role.OWNER else ""
    status = 200
    if form.validate_on_submit():
        try:
            system = services.create_system(session, _actor(), form.payload())
        except ValidationFailed as err:
            refuse(session, form, err)
            status = 422
        else:
            session.commit()
            flash(f"Registered {system.name}. Its risk tier is {system.tier.label}.", "success")
            return redirect(url_for("inventory.show", system_id=system.id))
    elif request.method == "POST":
        _add_schema_errors(form)
        status = 422
    return render_template("inventory/form.html", form=form, system=None), status


@bp.get("/systems/<int:system_id>")
@login_required
def show(system_id: int):
    session = db_session()
    system = services.get_system(session, _actor(), system_id)
    return render_template(
        "inventory/show.html",
        system=system,
        state=assess_system(session, system),
        determination=determination(system),
        field_labels=services.FIELD_LABELS,
        tab="overview",
        override_form=TierOverrideForm(tier=system.tier_override.value if system.tier_override else ""),
        metric_form=MetricForm(),
        confirm_form=ConfirmForm(version=system.version),
        can_edit=can_edit_system(current_user, system),
        monitoring=metric_counts(session, system.id),
    )


@bp.route("/systems/<int:system_id>/edit", methods=["GET", "POST"])
@login_required
def edit(system_id: int):
    session = db_session()
    system = services.get_system(session, _actor(), system_id)
    require(can_edit_system(current_user, system), "Only the system's owners (or an admin) can edit it.")
    form = SystemForm()
    form.set_people(services.assignable_people(session))
    form.set_units(unit_names(session), system.business_unit)
    status = 200
    if request.method == "GET":
        form.fill(services.system_payload(system))
        form.version.data = str(system.version)
    elif form.validate_on_submit():
        try:
            expected = int(form.version.data or -1)
        except ValueError:
            expected = -1
        try:
            services.update_system(session, _actor(), system_id, form.payload(), expected_version=expected)
        except ValidationFailed as err:
            refuse(session, form, err)
            status = 422
        except Conflict as err:
            session.rollback()
            form.form_errors.append(err.message)
            status = 409
        else:
            session.commit()
            flash("Saved.", "success")
            return redirect(url_for("inventory.show", system_id=system_id))
    else:
        _add_schema_errors(form)
        status = 422
    return render_template("inventory/form.html", form=form, system=system), status


@bp.post("/systems/<int:system_id>/tier")
@login_required
def override_tier(system_id: int):
    session = db_session()
    form = TierOverrideForm()
    if not form.validate_on_submit():
        for messages in form.errors.values():
            for message in messages:
                flash(message, "error")
        return redirect(url_for("inventory.show", system_id=system_id) + "#risk-tier"), 303
    system = services.override_tier(session, _actor(), system_id, form.tier.data or None, form.reason.data)
    session.commit()
    if not form.tier.data:
        flash("Tier override removed.", "success")
    elif system.override_pending:
        flash("Tier override recorded. It lowers the tier, so it applies once a second compliance officer "
              "confirms it; until then the computed tier applies.", "success")
    else:
        flash("Tier override recorded.", "success")
    return redirect(url_for("inventory.show", system_id=system_id) + "#risk-tier")


@bp.post("/systems/<int:system_id>/tier/confirm")
@login_required
def confirm_override(system_id: int):
    session = db_session()
    form = ConfirmOverrideForm()
    if not form.validate_on_submit() or not form.version.data.isdigit():
        abort(400)
    system = services.confirm_tier_override(session, _actor(), system_id, expected_tier=form.tier.data,
                                            expected_version=int(form.version.data))
    session.commit()
    flash(f"Tier override confirmed: the tier is now {system.tier.label}.", "success")
    return redirect(url_for("inventory.show", system_id=system_id) + "#risk-tier")


@bp.post("/systems/<int:system_id>/delete")
@login_required
def delete(system_id: int):
    session = db_session()
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        expected = int(form.version.data) if form.version.data else None
    except ValueError:
        expected = None
    services.delete_system(session, _actor(), system_id, expected_version=expected)
    session.commit()
    flash("The system was deleted. Its history stays in the audit trail.", "success")
    return redirect(url_for("inventory.index"))


@bp.route("/systems/<int:system_id>/metrics/new", methods=["GET", "POST"])
@login_required
def new_metric(system_id: int):
    session = db_session()
    system = services.get_system(session, _actor(), system_id)
    require(can_edit_system(current_user, system), "Only the system's owners (or an admin) can change its metrics.")
    form = MetricForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.add_metric(session, _actor(), system_id, form.payload())
        except ValidationFailed as err:
            session.rollback()
            attach_errors(form, err.errors)
            status = 422
        else:
            session.commit()
            flash("Baseline metric added.", "success")
            return redirect(url_for("inventory.show", system_id=system_id) + "#metrics")
    elif request.method == "POST":
        status = 422
    return render_template("inventory/metric_form.html", form=form, system=system, metric=None), status


@bp.route("/systems/<int:system_id>/metrics/<int:metric_id>/edit", methods=["GET", "POST"])
@login_required
def edit_metric(system_id: int, metric_id: int):
    session = db_session()
    system = services.get_system(session, _actor(), system_id)
    require(can_edit_system(current_user, system), "Only the system's owners (or an admin) can change its metrics.")
    metric = next((m for m in system.metrics if m.id == metric_id), None)
    if metric is None:
        abort(404)
    form = MetricForm()
    status = 200
    if request.method == "GET":
        form.name.data, form.unit.data, form.source.data = metric.name, metric.unit, metric.source
        form.baseline.data, form.target.data = metric.baseline_value, metric.target_value
        form.measured_on.data, form.direction.data = metric.measured_on, metric.direction.value
    elif form.validate_on_submit():
        try:
            services.update_metric(session, _actor(), system_id, metric_id, form.payload())
        except ValidationFailed as err:
            session.rollback()
            attach_errors(form, err.errors)
            status = 422
        else:
            session.commit()
            flash("Baseline metric saved.", "success")
            return redirect(url_for("inventory.show", system_id=system_id) + "#metrics")
    else:
        status = 422
    return render_template("inventory/metric_form.html", form=form, system=system, metric=metric), status


@bp.post("/systems/<int:system_id>/metrics/<int:metric_id>/delete")
@login_required
def delete_metric(system_id: int, metric_id: int):
    session = db_session()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.delete_metric(session, _actor(), system_id, metric_id)
    session.commit()
    flash("Baseline metric removed.", "success")
    return redirect(url_for("inventory.show", system_id=system_id) + "#metrics")
