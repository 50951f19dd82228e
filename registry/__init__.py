"""Readiness Registry: the system of record that takes AI systems from pilot to production."""

from __future__ import annotations

import time

from flask import Flask, flash, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, logout_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from registry import enums
from registry.admin.views import bp as admin_bp
from registry.api.views import bp as api_bp
from registry.audit.views import bp as audit_bp
from registry.auth import passwords, permissions
from registry.auth.models import User
from registry.auth.views import bp as auth_bp
from registry.config import ROOT, load_config
from registry.controls.views import bp as controls_bp
from registry.db import make_engine, make_session_factory
from registry.decisions.views import bp as decisions_bp
from registry.errors import register_error_handlers
from registry.exports.views import bp as exports_bp
from registry.files.store import store_from_url
from registry.handlers import register_handlers
from registry.imports.views import bp as imports_bp
from registry.incidents.views import bp as incidents_bp
from registry.inventory.stages import register_stage_history
from registry.inventory.views import bp as inventory_bp
from registry.main.views import bp as main_bp
from registry.monitoring.views import bp as monitoring_bp
from registry.ops.views import PATHS as OPS_PATHS
from registry.ops.views import bp as ops_bp
from registry.ops.views import register_request_hooks
from registry.portfolio.views import bp as portfolio_bp
from registry.readiness.views import bp as readiness_bp
from registry.reliability.views import bp as reliability_bp
from registry.reports.views import bp as reports_bp
from registry.review.views import bp as review_bp
from registry.state.hooks import register_state_hooks
from registry.templating import register
from registry.value.views import bp as value_bp
from registry.web import close_db_session, db_session

csrf = CSRFProtect()
login_manager = LoginManager()
BLUEPRINTS = (main_bp, auth_bp, inventory_bp, readiness_bp, controls_bp, decisions_bp, review_bp, audit_bp, admin_bp,
              exports_bp, reports_bp, portfolio_bp, imports_bp, monitoring_bp, incidents_bp, reliability_bp, value_bp,
              api_bp, ops_bp)


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie, except on the JSON API (/api/…): there it is neither read nor written, so
    a signed-in browser's cookie can never authenticate an API request (bearer tokens only).  Nor on
    the operators' probes and metrics (``OPS_PATHS``)."""

    def open_session(self, app, request):
        if request.path.startswith("/api/") or request.path in OPS_PATHS:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if request.path.startswith("/api/") or request.path in OPS_PATHS:
            return
        super().save_session(app, session, response)


class IdConverter(IntegerConverter):
    """``<int:…>`` in every URL: at most 2**31 - 1, the largest id either database stores, so
    /systems/99999999999999999999 is a 404, not an integer overflow in the driver (a 500)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 (werkzeug's parameter name)
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(overrides: dict | None = None) -> Flask:
    """Read config, wire extensions, session hooks, event handlers and blueprints, return the app.
    No I/O beyond that."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.update(load_config(overrides))
    app.session_interface = SessionInterface()
    app.url_map.converters["int"] = IdConverter
    register_request_hooks(app)  # first: the request id exists before any other hook runs or logs
    register_extensions(app)
    register_blueprints(app)
    register_template_helpers(app)
    register_error_handlers(app)
    return app


def register_extensions(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    files = store_from_url(app.config["FILE_STORE_URL"])
    write, read = make_session_factory(engine, {
        "file_store": files,
        "evidence_max_age_days": app.config["EVIDENCE_MAX_AGE_DAYS"],
        "evidence_dir": app.config["EVIDENCE_DIR"],
        "evidence_max_bytes": app.config["EVIDENCE_MAX_BYTES"],
        "audit_key": app.config["AUDIT_KEY"],
        "audit_checkpoint_minutes": app.config["AUDIT_CHECKPOINT_MINUTES"],
    })
    for factory in (write, read):
        register_stage_history(factory)
        register_state_hooks(factory)
    register_handlers()
    app.extensions["registry.engine"] = engine
    app.extensions["registry.sessions"] = (write, read)
    app.extensions["registry.files"] = files
    passwords.configure(cheap=bool(app.config.get("TESTING_CHEAP_PASSWORDS")))

    csrf.init_app(app)
    csrf.exempt(api_bp)  # the API takes bearer tokens only, never the session cookie: nothing to forge
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def _load_user(login_id: str):
        user_id, _, epoch = login_id.partition(":")
        if not user_id.isdigit() or not epoch.isdigit():
            return None
        user = db_session().scalar(select(User).where(User.id == int(user_id)))
        if user is None or not user.is_active or user.session_epoch != int(epoch):
            return None
        return user

    @app.before_request
    def _idle_timeout():
        """Sign out a session idle for longer than PERMANENT_SESSION_LIFETIME (server-side check).
        The JSON API and the probes have no session (``SessionInterface``)."""
        if request.path.startswith("/api/") or request.path in OPS_PATHS:
            return
        session.permanent = True
        now = int(time.time())
        seen = session.get("seen")
        if seen is not None and now - int(seen) > app.permanent_session_lifetime.total_seconds():
            logout_user()
            session.clear()
            flash("You were signed out after a period of inactivity.", "info")
        session["seen"] = now

    app.teardown_appcontext(close_db_session)

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


def register_blueprints(app: Flask) -> None:
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    if app.config.get("TRUST_PROXY_HEADERS"):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)


def register_template_helpers(app: Flask) -> None:
    register(app)
    app.jinja_env.globals.update(enums=enums, perms=permissions)
