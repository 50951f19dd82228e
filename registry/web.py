"""What every view shares: the request's database session, the client's address, the signed-in
actor and auditing a download.  A module of its own, so views never import the package root
(which registers every blueprint) nor each other."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_login import current_user
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.reports.queue import JobContext, JobSettings, looks_stale, reap
from registry.reports.services import RenderLimits
from registry.state.cache import due_count, refresh_due_states

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def db_session() -> Session:
    """The request's session: write transactions for POST and friends, read ones otherwise."""
    if "db_session" not in g:
        write, read = current_app.extensions["registry.sessions"]
        try:
            method = request.method
        except RuntimeError:  # outside a request (CLI, shell)
            method = "POST"
        g.db_session = (write if method in WRITE_METHODS else read)()
    return g.db_session


def close_db_session(exc) -> None:
    """Teardown: roll back on error, then close the request's session."""
    session = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()


def writer() -> Session:
    """A new write session of its own (short transactions beside the request's)."""
    return current_app.extensions["registry.sessions"][0]()


def reader() -> Session:
    return current_app.extensions["registry.sessions"][1]()


def actor():
    """The signed-in user as a plain object (not the request-local proxy)."""
    return current_user._get_current_object()


def client_address() -> str:
    # With TRUST_PROXY_HEADERS, ProxyFix has already put the client's address here.
    return (request.remote_addr or "unknown")[:64]


def bring_states_up_to_date(today) -> int:
    """Recompute the cached states that time alone has changed (usually none: one cheap read),
    in a short write transaction of its own, before a page or an export reads the cache; then
    end the request's read transaction so that its next query sees the fresh rows."""
    with reader() as session:
        if not due_count(session, today):
            return 0
    with writer() as session:
        count = refresh_due_states(session, today)
        session.commit()
    db_session().commit()
    return count


def record_export(actor, action: str, entity_type: str, entity_id, *, system_id: int | None, summary: str,
                  after: dict) -> None:
    """Audit a download or export from a GET request: in its own write transaction, committed now."""
    with writer() as session:
        record_event(session, actor, action, entity_type, entity_id, system_id=system_id, summary=summary, after=after)
        session.commit()


def job_settings(app: Flask | None = None) -> JobSettings:
    return JobSettings.from_config((app or current_app).config)


def export_run(app: Flask) -> JobContext:
    """What a long job needs from the app: its sessions, the file store, render limits, the job settings."""
    sessions, readers = app.extensions["registry.sessions"]
    return JobContext(sessions, readers, app.extensions["registry.files"], RenderLimits.from_config(app.config),
                      job_settings(app))


def reap_if_stale(row) -> None:
    """A job page reading a job that looks stale reaps (``registry.reports.queue.reap``) before it
    answers, so the page never shows "running" for a job nobody runs.  A database too busy to
    take the write now (SQLite during a long import) leaves that to the worker's next round."""
    settings = job_settings()
    if not looks_stale(row, settings):
        return
    try:
        with writer() as session:
            reap(session, settings)
            session.commit()
    except OperationalError:
        return
    db_session().commit()  # end the read transaction, then read the row again
    db_session().refresh(row)
