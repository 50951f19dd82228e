"""Entry points of background jobs: what an RQ worker (``registry report worker``) or a thread runs.

The job functions themselves (``registry.reports.bulk.run_export_job``) take their sessions and
settings as arguments; this top-level module builds those from the app (the worker's, or a new
one from the environment) so that no service reaches for Flask.
"""

from __future__ import annotations

from flask import Flask, current_app, has_app_context

from registry import create_app
from registry.imports.runner import run_import
from registry.imports.staging import ImportStaging
from registry.reports.bulk import mark_failed
from registry.reports.bulk import run_export_job as run_export
from registry.web import export_run


def _app() -> Flask:
    return current_app._get_current_object() if has_app_context() else create_app()


def run_export_job(job_id: int) -> None:
    """RQ: build the ZIP of bulk export ``job_id``."""
    run_export(job_id, export_run(_app()))


def export_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback (a timeout, a killed worker): the export shows as failed, not stuck."""
    with _app().extensions["registry.sessions"][0]() as session:
        mark_failed(session, job.args[0], f"The export stopped ({getattr(exc_type, '__name__', 'error')}).")
        session.commit()


def run_import_job(staged_id: str) -> None:
    """RQ: commit the staged inventory upload ``staged_id``."""
    app = _app()
    run_import(app.extensions["registry.sessions"][0], ImportStaging(app.config["IMPORT_DIR"]), staged_id)
