"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from registry.auth.forms import LoginForm, LogoutForm, TokenCreateForm, TokenRevokeForm
from registry.auth.services import authenticate, record_logout
from registry.auth.tokens import create_token, list_tokens, revoke_token
from registry.errors import RateLimited, ValidationFailed
from registry.inventory.forms import refuse
from registry.web import actor, client_address, db_session

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("main.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        s = db_session()
        cfg = current_app.config
        try:
            user = authenticate(
                s,
                form.email.data,
                form.password.data,
                address=client_address(),
                max_failures=cfg["LOGIN_MAX_FAILURES"],
                max_failures_per_address=cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"],
                lockout_minutes=cfg["LOGIN_LOCKOUT_MINUTES"],
                help_contact=cfg["ADMIN_CONTACT"],
            )
        except (ValidationFailed, RateLimited) as err:
            s.commit()  # keep the failure record and its audit event
            form.form_errors.append(err.message)
            status = err.status if isinstance(err, RateLimited) else 401
        else:
            s.commit()
            next_url = _safe_next(request.args.get("next"))
            session.clear()  # a fresh session on sign-in: nothing carried over
            login_user(user)
            session.permanent = True
            return redirect(next_url)
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["GET", "POST"])
@login_required
def logout():
    form = LogoutForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            flash("Your sign-out form expired; please try again.", "error")
            return render_template("auth/logout.html", form=form), 400
        s = db_session()
        record_logout(s, current_user._get_current_object(), client_address())
        s.commit()
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/logout.html", form=form)


@bp.route("/settings/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    """Personal API tokens: create one (shown once, on this response only), list and revoke them."""
    session = db_session()
    user = actor()
    form = TokenCreateForm()
    status, created = 200, None
    if form.validate_on_submit():
        try:
            created = create_token(session, user, user, form.name.data, expires_on=form.expires_on.data)
        except ValidationFailed as err:
            refuse(session, form, err)
            status = 422
        else:
            session.commit()
            form = TokenCreateForm(formdata=None)
            status = 201
    elif request.method == "POST":
        status = 422
    response = current_app.make_response((render_template(
        "auth/tokens.html", form=form, created=created, tokens=list_tokens(session, user),
        revoke_form=TokenRevokeForm(), api_docs=url_for("api.docs")), status))
    response.headers["Cache-Control"] = "no-store"  # the new token is on this page, once
    return response


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):
    if not TokenRevokeForm().validate_on_submit():
        flash("Your form expired; please try again.", "error")
        return redirect(url_for("auth.tokens"))
    session = db_session()
    token = revoke_token(session, actor(), token_id)
    session.commit()
    flash(f"Revoked the token “{token.name}”. Tools using it can no longer call the API.", "success")
    return redirect(url_for("auth.tokens"))
