"""A staged upload from the page: its plan (the preview), and its commit as a job.

The commit runs in the request for a small file, and for a large one as a background job (RQ
when ``REDIS_URL`` is set, entry point ``registry.jobs.run_import_job``; otherwise a thread in
the web process), whose progress the page reads from the staged record.  Both call
:func:`run_import`, which does what ``registry import`` does: read, resolve the mapping, plan,
commit in one transaction, save the mapping with the import it served.
"""

from __future__ import annotations

import logging
import threading

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from registry.auth.models import User
from registry.auth.permissions import can_import
from registry.errors import DomainError
from registry.imports.mapping import check_mapping
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
from registry.imports.staging import STEPS, ImportStaging, Staged

log = logging.getLogger(__name__)
QUEUE_NAME = "imports"
_threads: list[threading.Thread] = []


class MappingNeeded(Exception):
    """The upload has no usable mapping yet: ``suggestion`` is where the editor starts."""

    def __init__(self, message: str, suggestion: dict, problems: list[str] | None = None):
        super().__init__(message)
        self.message, self.suggestion, self.problems = message, suggestion, problems or []


def mapping_for(session: Session, table: Table, staged: Staged) -> tuple[dict, str]:
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


def preview(session: Session, staging: ImportStaging, staged: Staged) -> tuple[Table, ImportPlan]:
    table = read_table(staging.data(staged), staged.file_name, staged.sheet)
    mapping, layout = mapping_for(session, table, staged)
    return table, plan_import(session, table, mapping, layout=layout)


def run_import(sessions: sessionmaker, staging: ImportStaging, staged_id: str) -> Staged:
    """Commit a staged upload in one transaction, recording progress and the outcome on it."""
    staged = staging.load(staged_id)

    def step(text: str, _done: int | None = None) -> None:
        staged.progress, staged.step = text, min(staged.step + 1, STEPS)
        staging.save(staged)

    staged.status, staged.error, staged.step = "running", "", 0
    step("Reading the file…")
    try:
        table = read_table(staging.data(staged), staged.file_name, staged.sheet)
        staged.rows = len(table.rows)
        with sessions() as session:
            actor = session.get(User, staged.user_id)
            if actor is None or not actor.is_active or not can_import(actor):
                raise ImportRefused("Your account may no longer import inventories.")
            mapping, layout = mapping_for(session, table, staged)
            step(f"Checking {staged.rows:,} rows…")
            plan = plan_import(session, table, mapping, layout=layout)
            staging.write_report(staged, plan.problems_csv())
            result = commit_import(session, actor, plan, only_valid=staged.only_valid,
                                   progress=step)
            if staged.save_as:
                save_mapping(session, actor, staged.save_as, table.headers, mapping)
            session.commit()
    except (ImportRefused, MappingNeeded) as err:  # the person can fix it: back to the preview, with why
        staged.status, staged.progress, staged.step = "staged", "", 0
        staged.error = getattr(err, "message", None) or str(err)
        staging.save(staged)
        return staged
    except (ImportFileError, DomainError) as err:
        return _failed(staging, staged, getattr(err, "message", None) or str(err))
    except IntegrityError:
        return _failed(staging, staged, "Another import wrote some of the same records meanwhile; nothing was "
                                        "imported. Run it again.")
    except Exception:
        log.exception("import %s failed", staged_id)
        _failed(staging, staged, "The import stopped on an unexpected error; nothing was imported.")
        raise
    staged.status, staged.result, staged.progress, staged.step = "done", {**result, "layout": layout}, "", STEPS
    staging.save(staged)
    return staged


def _failed(staging: ImportStaging, staged: Staged, message: str) -> Staged:
    staged.status, staged.error, staged.progress = "failed", message, ""
    staging.save(staged)
    return staged


class QueueUnavailable(DomainError):
    status = 503
    title = "Job queue unavailable"


def enqueue(sessions: sessionmaker, staging: ImportStaging, staged: Staged, *, redis_url: str | None) -> str:
    """Run the import on RQ when ``redis_url`` is set, else on a thread; returns the backend used."""
    staged.status, staged.progress = "queued", "Waiting to start…"
    if redis_url:
        staged.backend = "rq"
        staging.save(staged)
        try:
            Queue(QUEUE_NAME, connection=Redis.from_url(redis_url)).enqueue(
                "registry.jobs.run_import_job", staged.id, job_timeout=1800, result_ttl=3600)
        except RedisError as err:
            _failed(staging, staged, "The job queue (Redis) cannot be reached, so the import was not started.")
            raise QueueUnavailable("The job queue (Redis) cannot be reached, so the import was not started. "
                                   "Try again later, or tell an administrator.") from err
        return "rq"
    staged.backend = "thread"
    staging.save(staged)
    thread = threading.Thread(target=run_import, args=(sessions, staging, staged.id), name=f"import-{staged.id}",
                              daemon=True)
    _threads.append(thread)
    thread.start()
    return "thread"


def join_threads(timeout: float = 120) -> None:
    """Wait for in-process imports (tests and orderly shutdown)."""
    while _threads:
        _threads.pop().join(timeout)
