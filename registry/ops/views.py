"""/healthz, /readyz and /metrics, and the request hooks that give every request an id, a log line
and a place in the metrics.  None of these routes needs a login or writes a session cookie."""

from __future__ import annotations

import hmac
import logging
import time

from flask import Blueprint, Flask, Response, current_app, g, has_request_context, jsonify, request
from flask.logging import default_handler

from registry.ops import health, logs
from registry.ops.metrics import CONTENT_TYPE, RequestMetrics, exposition

bp = Blueprint("ops", __name__)
PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # no session: neither read into use nor written
REQUEST_ID_HEADER = "X-Request-ID"
request_log = logging.getLogger(logs.REQUEST_LOGGER)


@bp.get("/healthz")
def healthz():
    """Liveness: the process serves requests.  Touches nothing else (readiness is /readyz)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Readiness: 200 when the database answers at the migrations' head and Redis (if configured)
    answers; otherwise 503 naming the failed checks."""
    try:
        ready, body = health.readiness(current_app.extensions["registry.engine"], current_app.config.get("REDIS_URL"))
    except Exception as exc:  # noqa: BLE001 - a probe answers 503, never 500
        current_app.logger.warning("readiness check failed: %s", exc)
        ready, body = False, {"status": "not ready", "checks": {}, "failed": ["readiness"]}
    return jsonify(body), (200 if ready else 503)


def _text(body: str, status: int, headers: dict | None = None) -> Response:
    return Response(body, status=status, mimetype="text/plain", headers=headers)


@bp.get("/metrics")
def metrics():
    """Prometheus scrape: ``Authorization: Bearer <METRICS_TOKEN>``; off (404) without a token
    unless METRICS_PUBLIC is on."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return _text("A valid metrics token is required.\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'})
    elif not current_app.config.get("METRICS_PUBLIC"):
        return _text("Not Found\n", 404)
    try:
        body = exposition(current_app.extensions["registry.metrics"], current_app.extensions["registry.engine"],
                          current_app.config.get("REDIS_URL"))
    except Exception as exc:  # noqa: BLE001 - a scrape never 500s
        current_app.logger.warning("metrics: %s", exc)
        body = "# the scrape failed; see the application log\n"
    return Response(body, status=200, content_type=CONTENT_TYPE)


def _request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def _user_id() -> int | None:
    """The signed-in user's id if this request already loaded them (never a query just to log)."""
    user = g.get("_login_user") or g.get("api_user")  # Flask-Login's cache; the API's bearer user
    return getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None


def register_request_hooks(app: Flask) -> None:
    """Registered before every other hook: the id exists before anything logs, and the log line and
    metrics are written after every other after_request hook has shaped the response."""
    app.extensions["registry.metrics"] = RequestMetrics()
    logs.configure(app.config.get("LOG_FORMAT", "text"), _request_id)
    if app.config.get("LOG_FORMAT") == "json":
        app.logger.removeHandler(default_handler)  # the JSON handler on the same logger writes errors

    @app.before_request
    def _start():
        g.request_id = logs.request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        request_id = g.get("request_id") or logs.request_id_from(None)
        response.headers[REQUEST_ID_HEADER] = request_id
        try:
            seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
            route = request.url_rule.rule if request.url_rule is not None else None
            app.extensions["registry.metrics"].observe(route, request.method, response.status_code, seconds)
            request_log.log(
                logging.ERROR if response.status_code >= 500 else logging.INFO,
                "%s %s %s", request.method, request.path, response.status_code,
                extra={"request_id": request_id, "method": request.method, "route": route, "path": request.path,
                       "status": response.status_code, "duration_ms": round(seconds * 1000, 2),
                       "user_id": _user_id()})
        except Exception:  # noqa: BLE001 - bookkeeping never breaks a response
            app.logger.exception("request bookkeeping failed")
        return response
