"""Long jobs: where they run, their heartbeat, reaping the ones that fell silent, and retention.

Every long job (a ZIP of audit PDFs, an inventory workbook, a portfolio rebuild: rows of
``export_jobs``; an inventory import: a row of ``staged_imports``) runs on an RQ worker
(``registry worker``) when ``REDIS_URL`` is set, and on a thread of the web process only when it
is not.  Its row is the truth the pages read:

- **start** (:func:`launch`): with Redis the job is put on the queue *before* its row is
  committed, so that Redis being down is a 503 with nothing written (no row, no audit event); a
  worker that picks the job up before the commit lands waits for the row (:func:`claim`).
- **heartbeat** (:class:`Heartbeat`): while a job runs, a small thread with its own session writes
  ``heartbeat_at`` every ``HEARTBEAT_SECONDS`` even while the job is inside one long step (a PDF
  render, a bulk write), and the progress the job reported within ``PROGRESS_SECONDS``.
- **reap** (:func:`reap`): a running job whose heartbeat is older than ``JOB_STALE_SECONDS`` is
  marked failed ("stopped answering"); a queued one no worker started within
  ``JOB_QUEUED_SECONDS`` likewise ("no worker has picked it up").  The worker reaps at start and
  every minute, ``registry jobs reap`` on demand, and a job page when the job it shows looks stale.
  A job's last write (its file, its outcome) is guarded on its row still being "running", in the
  job's own transaction: a reaped job cannot come back and half-finish.
- **retention** (:func:`purge`): finished jobs older than ``EXPORT_RETENTION_DAYS`` lose their file
  (deleted from the store when nothing else refers to the same bytes) and are marked expired;
  staged imports older than a day are removed with their files.

No Flask here: the settings come in as a :class:`JobSettings`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from registry.controls.models import Evidence
from registry.db import Base, utcnow
from registry.errors import DomainError
from registry.files.models import Blob
from registry.files.store import FileStore
from registry.imports.models import StagedImport
from registry.reports.models import ExportJob
from registry.reports.services import RenderLimits

log = logging.getLogger(__name__)

QUEUE_NAME = "reports"  # audit-PDF ZIPs, inventory workbooks, rebuilds (`registry worker` serves it)
IMPORT_QUEUE_NAME = "imports"
QUEUES = (QUEUE_NAME, IMPORT_QUEUE_NAME)
HEARTBEAT_SECONDS = 5.0  # at least this often while a job runs
PROGRESS_SECONDS = 1.0  # progress the job reported is written within this
STAGED_MAX_AGE = timedelta(days=1)
ACTIVE = ("queued", "running")
_threads: list[threading.Thread] = []


class QueueUnavailable(DomainError):
    status = 503
    title = "Job queue unavailable"


class JobLost(Exception):
    """The job's row is no longer "running" (reaped meanwhile): stop, keep nothing."""


@dataclass(frozen=True)
class JobContext:
    """What a job needs besides its id: sessions, the file store, render limits, the settings.
    Built by the caller (``registry.web.export_run`` from the app), never from Flask here."""

    sessions: sessionmaker
    readers: sessionmaker
    store: FileStore
    limits: RenderLimits
    settings: JobSettings


@dataclass(frozen=True)
class JobSettings:
    redis_url: str | None = None
    stale_seconds: int = 120  # JOB_STALE_SECONDS
    queued_seconds: int = 1800  # JOB_QUEUED_SECONDS
    retention_days: int = 7  # EXPORT_RETENTION_DAYS

    @classmethod
    def from_config(cls, config) -> JobSettings:
        return cls(config.get("REDIS_URL") or None, int(config.get("JOB_STALE_SECONDS", 120)),
                   int(config.get("JOB_QUEUED_SECONDS", 1800)), int(config.get("EXPORT_RETENTION_DAYS", 7)))

    @property
    def backend(self) -> str:
        return "rq" if self.redis_url else "thread"


# -- starting ------------------------------------------------------------------------------------
def launch(session: Session, settings: JobSettings, *, queue: str, entry: str, args: tuple,
           thread_target: Callable[[], Any], name: str, timeout: int = 3600) -> str:
    """Start a job whose row (and audit event) ``session`` holds uncommitted, and commit it.

    With Redis: enqueue ``entry`` (a dotted path in ``registry.jobs``) with ``args`` first, then
    commit; Redis down raises ``QueueUnavailable`` and the caller rolls back (nothing was made).
    Without: commit, then run ``thread_target`` on a thread of this process."""
    if settings.redis_url:
        try:
            Queue(queue, connection=Redis.from_url(settings.redis_url)).enqueue(
                entry, *args, job_timeout=timeout, result_ttl=3600, failure_ttl=86400,
                on_failure=Callback("registry.jobs.job_failed"))
        except RedisError as err:
            raise QueueUnavailable("The job queue (Redis) cannot be reached, so nothing was started. "
                                   "Try again later, or tell an administrator.") from err
        session.commit()
        return "rq"
    session.commit()
    thread = threading.Thread(target=thread_target, name=name, daemon=True)
    _threads.append(thread)
    thread.start()
    return "thread"


def join_threads(timeout: float = 120) -> None:
    """Wait for in-process jobs (tests and orderly shutdown)."""
    while _threads:
        _threads.pop().join(timeout)


def claim(sessions: sessionmaker, model, key, *, waiting: str = "queued", wait_seconds: float = 10.0) -> bool:
    """Mark the ``waiting`` job ``key`` running (of two workers handed it, one wins).  A row not there
    yet (enqueued just before its commit) is waited for up to ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with sessions() as session:
            now = utcnow()
            claimed = session.execute(update(model).where(model.id == key, model.status == waiting)
                                      .values(status="running", started_at=now, heartbeat_at=now)).rowcount
            exists = claimed or session.scalar(select(func.count()).select_from(model).where(model.id == key))
            session.commit()
        if claimed:
            return True
        if exists or time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def kind_of(readers: sessionmaker, job_id: int, *, wait_seconds: float = 10.0) -> str | None:
    """The kind of ``export_jobs`` row ``job_id``, waiting a little for a row enqueued just before its commit."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with readers() as session:
            kind = session.scalar(select(ExportJob.kind).where(ExportJob.id == job_id))
        if kind is not None or time.monotonic() >= deadline:
            return kind
        time.sleep(0.2)


def finish(session: Session, model, key, **values) -> None:
    """The job's last write, in its own transaction: refused (``JobLost``) if the row was reaped."""
    done = session.execute(update(model).where(model.id == key, model.status == "running")
                           .values(finished_at=utcnow(), **values)).rowcount
    if not done:
        raise JobLost(key)


def fail(sessions: sessionmaker, model, key, message: str) -> None:
    """End a queued or running job as failed with ``message`` (a finished one is left as it is)."""
    with sessions() as session:
        session.execute(update(model).where(model.id == key, model.status.in_(ACTIVE))
                        .values(status="failed", error=message[:4000], finished_at=utcnow()))
        session.commit()


def run_claimed(sessions: sessionmaker, model, key, work: Callable[[Heartbeat], None], *, what: str) -> None:
    """How a job of the export table runs (bulk PDFs, workbooks, rebuilds): claim it (of two workers
    handed it, one gets it), keep its heartbeat while ``work`` runs, and end it as failed with a
    message on any error, so no bar is left stuck; a job reaped meanwhile keeps what the reaper wrote."""
    if not claim(sessions, model, key):
        return
    try:
        with Heartbeat(sessions, model, key) as beat:
            work(beat)
    except JobLost:
        return
    except Exception as err:  # noqa: BLE001 - any failure ends the job with a message, not a stuck bar
        fail(sessions, model, key, err.message if isinstance(err, DomainError)
             else f"The {what} stopped ({type(err).__name__}).")


# -- heartbeat -------------------------------------------------------------------------------------
class Heartbeat:
    """``with Heartbeat(sessions, ExportJob, job_id) as beat:`` beats until the block ends.

    ``beat.report(done=3, progress="…")`` hands progress to the beating thread (never blocks the
    job: on SQLite the job's own long write transaction may hold the lock); ``beat.check()``
    raises ``JobLost`` once the row is found reaped."""

    def __init__(self, sessions: sessionmaker, model, key, every: float = HEARTBEAT_SECONDS):
        self.sessions, self.model, self.key, self.every = sessions, model, key, every
        self._pending: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{model.__tablename__}-{key}", daemon=True)

    def report(self, **values) -> None:
        with self._lock:
            self._pending.update(values)

    def check(self) -> None:
        if self.lost.is_set():
            raise JobLost(self.key)

    def beat(self) -> None:
        with self._lock:
            values, self._pending = self._pending, {}
        try:
            with self.sessions() as session:
                alive = session.execute(update(self.model).where(self.model.id == self.key,
                                                                 self.model.status == "running")
                                        .values(heartbeat_at=utcnow(), **values)).rowcount
                session.commit()
        except SQLAlchemyError:  # locked or unreachable for now: keep the progress, try next time
            log.warning("heartbeat of %s %s not written", self.model.__tablename__, self.key, exc_info=True)
            with self._lock:
                self._pending = {**values, **self._pending}
            return
        if not alive:
            self.lost.set()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(min(self.every, PROGRESS_SECONDS)):
            with self._lock:
                progressed = bool(self._pending)
            if progressed or time.monotonic() - last >= self.every:
                self.beat()
                last = time.monotonic()
            if self.lost.is_set():
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# -- reaping ---------------------------------------------------------------------------------------
def stopped_message(settings: JobSettings) -> str:
    return (f"The job stopped answering (no heartbeat for over {_duration(settings.stale_seconds)}): its worker "
            "or web process was probably restarted. Nothing of it was kept; start it again.")


def unclaimed_message(settings: JobSettings) -> str:
    return (f"No worker has picked it up in {_duration(settings.queued_seconds)} (is `registry worker` running?). "
            "Nothing was made; start it again.")


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour{'s' if seconds != 3600 else ''}"
    if seconds % 60 == 0:
        return f"{seconds // 60} minute{'s' if seconds != 60 else ''}"
    return f"{seconds} seconds"


def looks_stale(row, settings: JobSettings, now: datetime | None = None) -> bool:
    """Whether :func:`reap` would end ``row`` now (for a page deciding whether to reap)."""
    now = now or utcnow()
    if row.status == "running":
        last = row.heartbeat_at or row.started_at
        return last is None or last < now - timedelta(seconds=settings.stale_seconds)
    if row.status == "queued":
        queued = getattr(row, "queued_at", None) or row.created_at
        return queued < now - timedelta(seconds=settings.queued_seconds)
    return False


def reap(session: Session, settings: JobSettings, now: datetime | None = None) -> int:
    """Mark failed the running jobs without a recent heartbeat and the queued ones never started; return how many."""
    now = now or utcnow()
    stale = now - timedelta(seconds=settings.stale_seconds)
    unclaimed = now - timedelta(seconds=settings.queued_seconds)
    count = 0
    for model, queued_at in ((ExportJob, ExportJob.created_at),
                             (StagedImport, func.coalesce(StagedImport.queued_at, StagedImport.created_at))):
        last = func.coalesce(model.heartbeat_at, model.started_at)
        count += session.execute(update(model).where(model.status == "running", or_(last.is_(None), last < stale))
                                 .values(status="failed", error=stopped_message(settings), finished_at=now)
                                 .execution_options(synchronize_session=False)).rowcount
        count += session.execute(update(model).where(model.status == "queued", queued_at < unclaimed)
                                 .values(status="failed", error=unclaimed_message(settings), finished_at=now)
                                 .execution_options(synchronize_session=False)).rowcount
    return count


# -- retention -------------------------------------------------------------------------------------
def blob_in_use(session: Session, sha256: str) -> bool:
    """Whether any row still names the blob: a column with a foreign key to ``blobs``, or evidence."""
    columns = [Evidence.__table__.c.sha256]
    for table in Base.metadata.tables.values():
        if table.name == "blob_chunks":
            continue
        columns += [c for c in table.columns if any(fk.column.table.name == "blobs" for fk in c.foreign_keys)]
    return any(session.execute(select(column).where(column == sha256).limit(1)).first() for column in columns)


def drop_blob(session: Session, store: FileStore, sha256: str | None) -> bool:
    """Delete a blob no row names any more; True if it was deleted."""
    if not sha256:
        return False
    # Lock the row before asking who names it: an upload of the same bytes holds it FOR KEY SHARE
    # until it commits (FileStore.put), so this waits for it and then sees its reference.
    if session.scalar(select(Blob.sha256).where(Blob.sha256 == sha256).with_for_update()) is None:
        return False
    if blob_in_use(session, sha256):
        return False
    return store.delete(session, sha256)


def expired_message(days: int) -> str:
    return f"The file was removed after {days} day{'s' if days != 1 else ''}, as every export is; start a new export."


def purge(session: Session, store: FileStore, settings: JobSettings, now: datetime | None = None) -> dict[str, int]:
    """Retention: expire finished jobs older than ``retention_days`` (their files deleted from the
    store unless other rows name the same bytes) and remove staged imports older than a day."""
    now = now or utcnow()
    counts = {"expired": 0, "staged": 0, "files": 0}
    cutoff = now - timedelta(days=settings.retention_days)
    for job_id, sha in session.execute(select(ExportJob.id, ExportJob.blob_sha256)
                                       .where(ExportJob.status == "done", ExportJob.finished_at < cutoff)).all():
        claimed = session.execute(update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == "done")
                                  .values(status="expired", expired_at=now, blob_sha256=None)
                                  .execution_options(synchronize_session=False)).rowcount
        if claimed:
            counts["expired"] += 1
            counts["files"] += drop_blob(session, store, sha)
    staged = purge_staged(session, store, now)
    counts["staged"], counts["files"] = staged["staged"], counts["files"] + staged["files"]
    return counts


def purge_staged(session: Session, store: FileStore, now: datetime | None = None) -> dict[str, int]:
    """Remove staged imports older than a day (not one being committed) and their files."""
    now = now or utcnow()
    counts = {"staged": 0, "files": 0}
    old = session.scalars(select(StagedImport).where(StagedImport.created_at < now - STAGED_MAX_AGE,
                                                     StagedImport.status.not_in(ACTIVE))).all()
    for staged in old:
        shas = {staged.upload_sha256, staged.report_sha256}
        session.delete(staged)
        session.flush()
        counts["staged"] += 1
        counts["files"] += sum(drop_blob(session, store, sha) for sha in shas)
    return counts


def maintain(sessions: sessionmaker, store: FileStore, settings: JobSettings, *, retention: bool = True) -> dict:
    """One round of the worker's upkeep, each part in its own transaction."""
    with sessions() as session:
        reaped = reap(session, settings)
        session.commit()
    counts = {"reaped": reaped}
    if retention:
        with sessions() as session:
            counts.update(purge(session, store, settings))
            session.commit()
    return counts
