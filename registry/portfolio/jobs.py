"""The portfolio state rebuilt from scratch as a job (``registry portfolio rebuild --queue``).

The same recomputation as ``registry portfolio rebuild`` (``registry.state.cache``: every system's
recommendation, decision and blockers, then the blocker counts), in one transaction, in batches
whose progress the job's row shows (``registry jobs list``), on an RQ worker
(``registry.reports.queue``).  Nothing is visible until the whole rebuild commits.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.inventory.models import AISystem
from registry.reports import queue
from registry.reports.models import ExportJob
from registry.reports.queue import QUEUE_NAME, JobContext
from registry.state.cache import recount_blockers, refresh_states

KIND = "portfolio_rebuild"
BATCH = 2000


def create_job(session: Session, *, backend: str) -> ExportJob:
    """A queued rebuild asked for by the operator (no account: the command line)."""
    total = session.scalar(select(func.count()).select_from(AISystem))
    job = ExportJob(kind=KIND, requested_by_id=None, status="queued", backend=backend, total=total, done=0)
    session.add(job)
    session.flush()
    return job


def start(session: Session, job: ExportJob, run: JobContext) -> str:
    return queue.launch(session, run.settings, queue=QUEUE_NAME, entry="registry.jobs.run_job", args=(job.id,),
                        thread_target=lambda: run_rebuild_job(job.id, run), name=f"rebuild-job-{job.id}")


def run_rebuild_job(job_id: int, run: JobContext) -> None:
    queue.run_claimed(run.sessions, ExportJob, job_id, lambda beat: _rebuild(job_id, run, beat), what="rebuild")


def _rebuild(job_id: int, run: JobContext, beat: queue.Heartbeat) -> None:
    with run.sessions() as session:
        ids = list(session.scalars(select(AISystem.id).order_by(AISystem.id)))
        today = utcnow().date()
        beat.report(total=len(ids), progress="Recomputing the systems' states")
        for start_at in range(0, len(ids), BATCH):
            beat.check()
            refresh_states(session, ids[start_at:start_at + BATCH], today=today)
            beat.report(done=min(start_at + BATCH, len(ids)))
        beat.report(progress="Counting the blockers")
        recount_blockers(session)  # whatever the counts held before, as `registry portfolio rebuild`
        beat.check()
        queue.finish(session, ExportJob, job_id, status="done", done=len(ids), total=len(ids), progress="",
                     result={"systems": len(ids)})
        session.commit()
