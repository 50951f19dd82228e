"""Structured logs: one JSON object a line (``LOG_FORMAT=json``), and the request id on every record
logged while a request is served.  No Flask here: the web layer hands in how to find the id."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

APP_LOGGER = "registry"  # Flask's app.logger (the app is named after the package): errors.py logs here
REQUEST_LOGGER = "registry.request"  # one line per request
# What a record may carry besides its message (``extra=``), in the order they are written.
FIELDS = ("request_id", "method", "route", "path", "status", "duration_ms", "user_id")
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID when it is a sane token (≤ 64 of [A-Za-z0-9._-]), else a new one."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to a record that has none, from ``lookup()`` (None outside a request)."""

    def __init__(self, lookup: Callable[[], str | None]):
        super().__init__()
        self.lookup = lookup

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            try:
                record.request_id = self.lookup()
            except Exception:  # noqa: BLE001 - a log line is never lost over its request id
                record.request_id = None
        return True


def configure(log_format: str, lookup: Callable[[], str | None]) -> None:
    """Set up the ``registry`` logger: the request-id filter always; with ``json``, a stderr handler
    writing JSON lines at INFO.  Idempotent (an app built twice in one process configures once)."""
    logger = logging.getLogger(APP_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, RequestIdFilter)]:
        logger.removeFilter(old)
    for old in [h for h in logger.handlers if isinstance(h.formatter, JsonFormatter)]:
        logger.removeHandler(old)
    request_ids = RequestIdFilter(lookup)
    logger.addFilter(request_ids)  # records logged on app.logger itself (errors.py)
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(request_ids)  # records from child loggers (registry.request, …)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
