"""Admin pages: the people who can sign in, and their roles."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from registry.auth.forms import UserCreateForm, UserUpdateForm
from registry.auth.permissions import can_manage_users, require
from registry.auth.services import create_user, list_users, update_user
from registry.errors import Conflict, ValidationFailed
from registry.inventory.forms import attach_errors
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
