"""A staged upload from the page: its plan (the preview), and its commit as a job.

The commit runs in the request for a small file, and for a large one as a background job (RQ
when ``REDIS_URL`` is set, entry point ``registry.jobs.run_import_job``; otherwise a thread in
the web process: ``registry.reports.queue``), whose progress the page reads from the staged row.
Both call :func:`run_import`, which does what ``registry import`` does: read, resolve the mapping,
plan, commit in one transaction (with the staged row's outcome and the problems report, guarded on
the row still being "running": a reaped import never half-commits), save the mapping with the
import it served.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.auth.models import User
from registry.auth.permissions import can_import
from registry.db import utcnow
from registry.errors import DomainError
from registry.files.store import FileStore
from registry.imports import staging
from registry.imports.mapping import check_mapping
from registry.imports.models import StagedImport
from registry.imports.reader import ImportFileError, Table, read_table
from registry.imports.services import (
    ImportPlan,
    ImportRefused,
    UnknownLayout,
    commit_import,
    plan_import,
    resolve_mapping,
    save_mapping,
)
from registry.imports.staging import STEPS
from registry.reports import queue
from registry.reports.queue import IMPORT_QUEUE_NAME, JobContext, JobLost, QueueUnavailable, join_threads

log = logging.getLogger(__name__)
QUEUE_NAME = IMPORT_QUEUE_NAME
__all__ = ["QUEUE_NAME", "QueueUnavailable", "join_threads"]


class MappingNeeded(Exception):
    """The upload has no usable mapping yet: ``suggestion`` is where the editor starts."""

    def __init__(self, message: str, suggestion: dict, problems: list[str] | None = None):
        super().__init__(message)
        self.message, self.suggestion, self.problems = message, suggestion, problems or []


def mapping_for(session: Session, table: Table, staged: StagedImport) -> tuple[dict, str]:
    """The mapping an upload uses and its name: the edited one, else the chosen layout, else the
    layout recognised by the headers.  Raises ``MappingNeeded`` when none fits."""
    if staged.mapping is not None:
        mapping, layout = staged.mapping, staged.save_as or staged.layout or ""
    else:
        try:
            mapping, layout = resolve_mapping(session, table, staged.layout)
        except UnknownLayout as err:
            raise MappingNeeded(str(err), err.suggestion) from None
    problems = check_mapping(mapping, table.headers)
    if problems:
        raise MappingNeeded(f"The mapping “{layout or 'new'}” does not fit {table.file_name}.", mapping, problems)
    if not layout:
        raise MappingNeeded("Name the mapping: records are matched on it when a file of this layout is imported "
                            "again.", mapping)
    return mapping, layout


def preview(session: Session, store: FileStore, staged: StagedImport) -> tuple[Table, ImportPlan]:
    table = read_table(staging.data(session, store, staged), staged.file_name, staged.sheet)
    mapping, layout = mapping_for(session, table, staged)
    return table, plan_import(session, table, mapping, layout=layout)


def run_import(run: JobContext, staged_id: str, *, waiting: str = "queued") -> None:
    """Commit a staged upload in one transaction, recording progress and the outcome on its row.
    ``waiting``: the status it starts from ("queued" for a job, "staged" in the request)."""
    if not queue.claim(run.sessions, StagedImport, staged_id, waiting=waiting):
        return
    try:
        with queue.Heartbeat(run.sessions, StagedImport, staged_id) as beat:
            _commit(run, staged_id, beat)
    except JobLost:
        return


def _commit(run: JobContext, staged_id: str, beat: queue.Heartbeat) -> None:
    steps = 0

    def step(text: str, _done: int | None = None) -> None:
        nonlocal steps
        steps = min(steps + 1, STEPS)
        beat.report(progress=text, step=steps)

    step("Reading the file…")
    plan = None
    with run.sessions() as session:
        staged = session.get(StagedImport, staged_id)
        try:
            table = read_table(staging.data(session, run.store, staged), staged.file_name, staged.sheet)
            beat.report(rows=len(table.rows))
            actor = session.get(User, staged.user_id)
            if actor is None or not actor.is_active or not can_import(actor):
                raise ImportRefused("Your account may no longer import inventories.")
            mapping, layout = mapping_for(session, table, staged)
            step(f"Checking {len(table.rows):,} rows…")
            plan = plan_import(session, table, mapping, layout=layout)
            result = commit_import(session, actor, plan, only_valid=staged.only_valid, progress=step)
            if staged.save_as:
                save_mapping(session, actor, staged.save_as, table.headers, mapping)
            beat.check()
            queue.finish(session, StagedImport, staged_id, status="done", result={**result, "layout": layout},
                         progress="", step=STEPS, rows=len(table.rows), error="",
                         report_sha256=staging.store_report(session, run.store, plan.problems_csv()))
            session.commit()
        except JobLost:
            raise
        except (ImportRefused, MappingNeeded) as err:  # the person can fix it: back to the preview, with why
            _settle(session, staged_id, status="staged", error=getattr(err, "message", None) or str(err), step=0)
        except (ImportFileError, DomainError) as err:
            _settle(session, staged_id, status="failed", error=getattr(err, "message", None) or str(err),
                    report=plan.problems_csv() if plan else None, store=run.store)
        except IntegrityError:
            _settle(session, staged_id, status="failed", error="Another import wrote some of the same records "
                    "meanwhile; nothing was imported. Run it again.", report=plan.problems_csv() if plan else None,
                    store=run.store)
        except Exception:
            log.exception("import %s failed", staged_id)
            _settle(session, staged_id, status="failed",
                    error="The import stopped on an unexpected error; nothing was imported.")
            raise


def _settle(session: Session, staged_id: str, *, status: str, error: str, step: int | None = None,
            report: str | None = None, store: FileStore | None = None) -> None:
    """End a commit that wrote nothing: roll back, then record why on the row (if still running)."""
    session.rollback()
    values = {"status": status, "error": error, "progress": ""}
    if step is not None:
        values["step"] = step
    if report is not None and store is not None:
        values["report_sha256"] = staging.store_report(session, store, report)
    try:
        queue.finish(session, StagedImport, staged_id, **values)
    except JobLost:
        session.rollback()
        return
    session.commit()


def enqueue(session: Session, run: JobContext, staged: StagedImport) -> str:
    """Queue the commit of ``staged`` (uncommitted changes in ``session``) on RQ or a thread, committing it."""
    staged.status, staged.progress, staged.error = "queued", "Waiting to start…", ""
    staged.queued_at, staged.backend = utcnow(), run.settings.backend
    session.flush()
    return queue.launch(session, run.settings, queue=IMPORT_QUEUE_NAME, entry="registry.jobs.run_import_job",
                        args=(staged.id,), thread_target=lambda: run_import(run, staged.id),
                        name=f"import-{staged.id}", timeout=1800)
