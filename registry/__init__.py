"""Readiness Registry: the system of record that takes AI systems from pilot to production."""

from __future__ import annotations

from flask import Flask, g, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.config import ROOT, load_config

csrf = CSRFProtect()
login_manager = LoginManager()

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def create_app(overrides: dict | None = None) -> Flask:
    """Read config, wire extensions and blueprints, return the app.  No I/O beyond that."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.update(load_config(overrides))
    register_extensions(app)
    register_blueprints(app)
    register_template_helpers(app)
    from registry.errors import register_error_handlers

    register_error_handlers(app)
    return app


def register_extensions(app: Flask) -> None:
    from registry.auth import passwords
    from registry.db import make_engine, make_session_factory

    engine = make_engine(app.config["DATABASE_URL"])
    write, read = make_session_factory(engine)
    app.extensions["registry.engine"] = engine
    app.extensions["registry.sessions"] = (write, read)
    from registry.controls.evidence_store import EvidenceStore

    app.extensions["registry.evidence"] = EvidenceStore(app.config["EVIDENCE_DIR"], app.config["EVIDENCE_MAX_BYTES"])
    passwords.configure(cheap=bool(app.config.get("TESTING_CHEAP_PASSWORDS")))

    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def _load_user(login_id: str):
        from registry.auth.models import User

        user_id, _, epoch = login_id.partition(":")
        if not user_id.isdigit() or not epoch.isdigit():
            return None
        user = db_session().scalar(select(User).where(User.id == int(user_id)))
        if user is None or not user.is_active or user.session_epoch != int(epoch):
            return None
        return user

    @app.before_request
    def _idle_timeout():
        """Sign out a session idle for longer than PERMANENT_SESSION_LIFETIME (server-side check)."""
        import time

        from flask import flash, session
        from flask_login import logout_user

        session.permanent = True
        now = int(time.time())
        seen = session.get("seen")
        if seen is not None and now - int(seen) > app.permanent_session_lifetime.total_seconds():
            logout_user()
            session.clear()
            flash("You were signed out after a period of inactivity.", "info")
        session["seen"] = now

    @app.teardown_appcontext
    def _close_session(exc):
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


def db_session() -> Session:
    """The request's session: write transactions for POST and friends, read ones otherwise."""
    from flask import current_app

    if "db_session" not in g:
        write, read = current_app.extensions["registry.sessions"]
        try:
            method = request.method
        except RuntimeError:  # outside a request (CLI, shell)
            method = "POST"
        g.db_session = (write if method in WRITE_METHODS else read)()
    return g.db_session


def client_address() -> str:
    # With TRUST_PROXY_HEADERS, ProxyFix has already put the client's address here.
    return (request.remote_addr or "unknown")[:64]


def register_blueprints(app: Flask) -> None:
    from registry.admin.views import bp as admin_bp
    from registry.audit.views import bp as audit_bp
    from registry.auth.views import bp as auth_bp
    from registry.controls.views import bp as controls_bp
    from registry.decisions.views import bp as decisions_bp
    from registry.exports.views import bp as exports_bp
    from registry.inventory.views import bp as inventory_bp
    from registry.main.views import bp as main_bp
    from registry.portfolio.views import bp as portfolio_bp
    from registry.readiness.views import bp as readiness_bp
    from registry.reports.views import bp as reports_bp
    from registry.review.views import bp as review_bp

    for bp in (main_bp, auth_bp, inventory_bp, readiness_bp, controls_bp, decisions_bp, review_bp, audit_bp, admin_bp,
               exports_bp, reports_bp, portfolio_bp):
        app.register_blueprint(bp)
    if app.config.get("TRUST_PROXY_HEADERS"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)


def register_template_helpers(app: Flask) -> None:
    from registry import enums
    from registry.auth import permissions
    from registry.templating import register

    register(app)
    app.jinja_env.globals.update(enums=enums, perms=permissions)
