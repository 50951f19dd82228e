"""Domain errors raised by services, and the one place that maps them to HTTP responses."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as NotFoundHTTP


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.headers = headers or {}


class BadRequest(DomainError):
    status = 400
    title = "Bad request"


class Unauthorized(DomainError):
    """No valid credentials (the JSON API's bearer token)."""

    status = 401
    title = "Not authenticated"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class PermissionDenied(DomainError):
    status = 403
    title = "Not allowed"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class ValidationFailed(DomainError):
    status = 422
    title = "Invalid input"


class PreconditionFailed(DomainError):
    """The client's If-Match names a version that is no longer current."""

    status = 412
    title = "Precondition failed"


class PreconditionRequired(DomainError):
    """An update sent without If-Match (the version it was based on)."""

    status = 428
    title = "Precondition required"


class RateLimited(DomainError):
    status = 429
    title = "Too many attempts"


# The JSON API's error codes, by status: ``{"error": {"code", "message", "fields"}}``.
API_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
             406: "not_acceptable", 409: "conflict", 410: "gone", 412: "precondition_failed",
             413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_failed",
             428: "precondition_required", 429: "rate_limited", 500: "server_error"}


def api_error(status: int, message: str, fields: dict | None = None, headers: dict | None = None):
    """The JSON API's one error shape (every /api/ response that is not a success)."""
    body = {"error": {"code": API_CODES.get(status, "server_error" if status >= 500 else "bad_request"),
                      "message": message, "fields": fields or {}}}
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _wants_json() -> bool:
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


# The registry's own words for the HTTP errors the framework raises (not its generic text).
PAGE_ERRORS = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    403: ("Not allowed", "Your role does not allow this."),
    404: ("Page not found", "There is no page at this address: the link may be mistyped, or what it pointed to "
                            "no longer exists."),
    405: ("Not possible here", "This address does not take that kind of request. Use the page's own links and buttons."),
    413: ("File too large", "The file is larger than the registry accepts (20 MB). Split it, or compress the evidence."),
    429: ("Too many requests", "Too many requests in a short time. Wait a minute and try again."),
}


def _respond(status: int, title: str, message: str, errors: dict | None = None, headers: dict | None = None):
    if request.path.startswith("/api/"):
        return api_error(status, message, errors, headers)
    if _wants_json():
        body = {"error": title, "message": message}
        if errors:
            body["errors"] = errors
        return jsonify(body), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def _route_exists(err: MethodNotAllowed) -> bool:
    """Whether the URL names a route at all.  Werkzeug answers 405 when a converter refuses a value
    (an id above the largest the databases store) and a rule of the same shape has other methods."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for method in err.valid_methods or ():
        try:
            adapter.match(method=method)
            return True
        except HTTPException:
            continue
    return False


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        return _respond(err.status, err.title, err.message, err.errors, err.headers)

    @app.errorhandler(StaleDataError)
    def _stale(err: StaleDataError):
        return _respond(409, Conflict.title, "Someone else changed this record at the same moment. Reload and try again.")

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        if isinstance(err, MethodNotAllowed) and request.path.startswith("/api/") and not _route_exists(err):
            err = NotFoundHTTP()  # an id too large for the converter: no such resource, whatever the method
        headers = {k: v for k, v in err.get_headers() if k in ("Allow", "Retry-After", "WWW-Authenticate")}
        title, message = err.name, err.description or err.name
        if isinstance(err, CSRFError):
            title, message = "Form expired", ("The form was sent without its security token (CSRF), or the token "
                                              "expired. Reload the page and send it again.")
        elif not request.path.startswith("/api/") and err.code in PAGE_ERRORS:
            title, message = PAGE_ERRORS[err.code]
        return _respond(err.code or 500, title, message, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):  # pragma: no cover - last resort
        app.logger.exception("Unhandled error")
        return _respond(500, "Server error", "Something went wrong on our side. The error was logged.")
