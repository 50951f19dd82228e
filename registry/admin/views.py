"""Admin pages: the people who can sign in and their roles; the list of organisation units."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from registry.auth.forms import UserCreateForm, UserUpdateForm
from registry.auth.permissions import can_manage_users, require
from registry.auth.services import create_user, list_users, update_user
from registry.errors import Conflict, NotFound, ValidationFailed
from registry.inventory.forms import MergeForm, UnitForm, attach_errors
from registry.inventory.models import OrgUnit
from registry.inventory.units import (
    add_unit,
    can_manage_units,
    merge_units,
    rename_unit,
    unit_usage,
    unlisted_units,
)
from registry.web import db_session

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", methods=["GET", "POST"])
@login_required
def users():
    require(can_manage_users(current_user), "Only admins manage users.")
    session = db_session()
    form = UserCreateForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = create_user(session, current_user._get_current_object(), email=form.email.data,
                               name=form.name.data, role=form.role.data, password=form.password.data)
        except (ValidationFailed, Conflict) as err:
            session.rollback()
            attach_errors(form, err.errors)
            status = err.status
        else:
            session.commit()
            flash(f"Created the account for {user.email}.", "success")
            return redirect(url_for("admin.users"))
    elif form.is_submitted():
        status = 422
    people = list_users(session)
    edit_forms = {u.id: UserUpdateForm(prefix=f"u{u.id}", role=u.role.value, active=u.is_active) for u in people}
    return render_template("admin/users.html", form=form, people=people, edit_forms=edit_forms), status


@bp.post("/users/<int:user_id>")
@login_required
def update(user_id: int):
    require(can_manage_users(current_user), "Only admins manage users.")
    session = db_session()
    form = UserUpdateForm(prefix=f"u{user_id}")
    if not form.validate_on_submit():
        flash("Choose a role from the list.", "error")
        return redirect(url_for("admin.users"))
    update_user(session, current_user._get_current_object(), user_id, role=form.role.data, active=form.active.data)
    session.commit()
    flash("Account updated.", "success")
    return redirect(url_for("admin.users"))


def _require_units_admin() -> None:
    require(can_manage_units(current_user), "Only admins manage the list of units.")


@bp.route("/units", methods=["GET", "POST"])
@login_required
def units():
    """The list, what uses each unit, the units systems use that the list lacks; add a unit
    (the "add to the list" buttons post here too)."""
    _require_units_admin()
    session = db_session()
    form = UnitForm()
    status = 200
    if form.validate_on_submit():
        try:
            unit = add_unit(session, current_user._get_current_object(), form.name.data)
        except (ValidationFailed, Conflict) as err:
            session.rollback()
            attach_errors(form, err.errors)
            status = err.status
        else:
            session.commit()
            flash(f"Added {unit.name} to the list of units.", "success")
            return redirect(url_for("admin.units"))
    elif form.is_submitted():
        status = 422
    listed = list(session.scalars(select(OrgUnit).order_by(func.lower(OrgUnit.name), OrgUnit.name)))
    usage = unit_usage(session)
    return render_template("admin/units.html", form=form, units=listed, usage=usage,
                           unlisted=unlisted_units(session, usage), rename_form=UnitForm(formdata=None),
                           merge_form=MergeForm(formdata=None)), status


@bp.post("/units/<int:unit_id>/rename")
@login_required
def rename(unit_id: int):
    _require_units_admin()
    session = db_session()
    form = UnitForm()
    if not form.validate_on_submit():
        flash(" ".join(form.name.errors) or "The form expired. Please submit it again.", "error")
        return redirect(url_for("admin.units"))
    try:
        old = session.get(OrgUnit, unit_id)
        old_name = old.name if old else None
        unit = rename_unit(session, current_user._get_current_object(), unit_id, form.name.data)
    except (ValidationFailed, Conflict, NotFound) as err:
        session.rollback()
        flash(" ".join(m for ms in err.errors.values() for m in ms) or err.message, "error")
        return redirect(url_for("admin.units"))
    session.commit()
    flash(f"Renamed {old_name} to {unit.name}." if old_name != unit.name else "Nothing to change.", "success")
    return redirect(url_for("admin.units"))


@bp.post("/units/merge")
@login_required
def merge():
    _require_units_admin()
    session = db_session()
    form = MergeForm()
    if not form.validate_on_submit():
        flash(" ".join(m for ms in form.errors.values() for m in ms) or "Choose the unit to merge into.", "error")
        return redirect(url_for("admin.units"))
    try:
        moved = merge_units(session, current_user._get_current_object(), form.source.data, form.target.data)
    except (ValidationFailed, Conflict, NotFound) as err:
        session.rollback()
        flash(" ".join(m for ms in err.errors.values() for m in ms) or err.message, "error")
        return redirect(url_for("admin.units"))
    target = session.get(OrgUnit, form.target.data)
    session.commit()
    flash(f"Merged {form.source.data} into {target.name}: {moved} system{'s' if moved != 1 else ''} moved.", "success")
    return redirect(url_for("admin.units"))
