"""Entry points of background jobs: what an RQ worker (``registry worker``) or a thread runs.

The job functions themselves (``registry.reports.bulk.run_export_job``,
``registry.exports.jobs.run_workbook_job``, ``registry.imports.runner.run_import``…) take their
sessions and settings as arguments; this top-level module builds those from the app (the worker's,
or a new one from the environment) so that no service reaches for Flask.  The worker's upkeep
(reaping silent jobs, retention) is here too: see ``registry.reports.queue``.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask, current_app, has_app_context
from redis import Redis
from rq import Queue, SimpleWorker

from registry import create_app
from registry.exports.jobs import KIND as WORKBOOK
from registry.exports.jobs import run_workbook_job
from registry.imports.models import StagedImport
from registry.imports.runner import run_import
from registry.portfolio.jobs import KIND as REBUILD
from registry.portfolio.jobs import run_rebuild_job
from registry.reports import queue
from registry.reports.bulk import run_export_job as build_zip
from registry.reports.models import ExportJob
from registry.web import export_run

log = logging.getLogger(__name__)
UPKEEP_SECONDS = 60.0
RETENTION_EVERY = 60  # rounds of upkeep: retention runs hourly


def _app() -> Flask:
    return current_app._get_current_object() if has_app_context() else create_app()


def run_job(job_id: int) -> None:
    """RQ: run the ``export_jobs`` row ``job_id`` by its kind."""
    run = export_run(_app())
    kind = queue.kind_of(run.readers, job_id)
    if kind is None:
        log.warning("export job %s does not exist; nothing to run", job_id)
        return
    {WORKBOOK: run_workbook_job, REBUILD: run_rebuild_job}.get(kind, build_zip)(job_id, run)


def run_export_job(job_id: int) -> None:
    """The entry point of bulk exports enqueued before revision 0019."""
    run_job(job_id)


def run_import_job(staged_id: str) -> None:
    """RQ: commit the staged inventory upload ``staged_id``."""
    run_import(export_run(_app()), staged_id)


def job_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback (a timeout, an exception past the job's own handling): the row shows
    failed, not stuck.  Imports are enqueued with a string id, the others with an integer."""
    model = StagedImport if isinstance(job.args[0], str) else ExportJob
    queue.fail(_app().extensions["registry.sessions"][0], model, job.args[0],
               f"The job stopped ({getattr(exc_type, '__name__', 'error')}).")


export_failed = job_failed  # the callback name of jobs enqueued before 0019


def upkeep(app: Flask, stop: threading.Event, every: float = UPKEEP_SECONDS) -> None:
    """The worker's background round: reap every minute, retention every hour (``work`` does both at start)."""
    run = export_run(app)
    rounds = 0
    while not stop.wait(every):
        rounds += 1
        try:
            counts = queue.maintain(run.sessions, run.store, run.settings, retention=rounds % RETENTION_EVERY == 0)
            if any(counts.values()):
                log.info("job upkeep: %s", counts)
        except Exception:  # noqa: BLE001 - the upkeep must outlive a passing database error
            log.exception("job upkeep failed")


def work(app: Flask, *, burst: bool = False) -> None:
    """Run an RQ worker on the registry's queues, with the upkeep thread beside it."""
    connection = Redis.from_url(app.config["REDIS_URL"])
    queues = [Queue(name, connection=connection) for name in queue.QUEUES]
    stop = threading.Event()
    run = export_run(app)
    queue.maintain(run.sessions, run.store, run.settings)  # reap and purge at start, before any job
    keeper = threading.Thread(target=upkeep, args=(app, stop), name="job-upkeep", daemon=True)
    if not burst:
        keeper.start()
    try:
        # SimpleWorker: jobs run in this process (no fork), with the app's engine and sessions.
        SimpleWorker(queues, connection=connection).work(burst=burst)
    finally:
        stop.set()
