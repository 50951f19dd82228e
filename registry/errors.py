"""Domain errors raised by services, and the one place that maps them to HTTP responses."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


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


class RateLimited(DomainError):
    status = 429
    title = "Too many attempts"


def _wants_json() -> bool:
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _respond(status: int, title: str, message: str, errors: dict | None = None):
    if _wants_json():
        body = {"error": title, "message": message}
        if errors:
            body["errors"] = errors
        return jsonify(body), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        return _respond(err.status, err.title, err.message, err.errors)

    @app.errorhandler(StaleDataError)
    def _stale(err: StaleDataError):
        return _respond(409, Conflict.title, "Someone else changed this record at the same moment. Reload and try again.")

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        return _respond(err.code or 500, err.name, err.description or err.name)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):  # pragma: no cover - last resort
        app.logger.exception("Unhandled error")
        return _respond(500, "Server error", "Something went wrong on our side. The error was logged.")
