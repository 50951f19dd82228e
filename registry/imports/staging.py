"""Uploaded inventory files between the upload, the preview and the commit.

A staged upload is a row of ``staged_imports`` (who uploaded it, its name, the mapping chosen or
edited, and once committed the job's status, progress and counts) and the file's bytes in the file
store, so that any web node previews it and any node or worker commits it.  Nothing is written to
the registry before the commit; a staged upload belongs to whoever uploaded it (anyone else gets
the same 404 as for an upload that never was), and uploads older than a day are gone: refused at
once, removed by the retention round (``registry.reports.queue.purge``) or the next upload.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.errors import NotFound
from registry.files.store import FileStore
from registry.imports.models import StagedImport
from registry.reports.queue import ACTIVE, STAGED_MAX_AGE

MAX_AGE = STAGED_MAX_AGE
STEPS = 6  # read, check, write, audit, readiness state, save
_ID = re.compile(r"^[A-Za-z0-9_-]{20,40}$")
GONE = "No such upload (it may have expired: uploads are kept for a day)."


def stage(session: Session, store: FileStore, data: bytes, file_name: str, user_id: int, *,
          layout: str | None = None, sheet: str | None = None) -> StagedImport:
    """Keep an upload (its bytes in the store) in ``session``'s transaction."""
    blob = store.put_bytes(session, data)
    staged = StagedImport(id=secrets.token_urlsafe(18), user_id=user_id, file_name=file_name[:255],
                          size_bytes=len(data), upload_sha256=blob.sha256, layout=layout, sheet=sheet,
                          status="staged", created_at=utcnow())
    session.add(staged)
    session.flush()
    return staged


def expired(staged: StagedImport, now: datetime | None = None) -> bool:
    """Older than a day and not being committed: as good as removed."""
    return staged.status not in ACTIVE and staged.created_at < (now or utcnow()) - MAX_AGE


def get(session: Session, staged_id: str, user_id: int) -> StagedImport:
    """The upload, if it exists, is not expired and ``user_id`` uploaded it (anyone else gets the same 404)."""
    staged = session.get(StagedImport, staged_id) if _ID.match(staged_id or "") else None
    if staged is None or staged.user_id != user_id or expired(staged):
        raise NotFound(GONE)
    return staged


def data(session: Session, store: FileStore, staged: StagedImport) -> bytes:
    try:
        return store.read(session, staged.upload_sha256)
    except LookupError:  # the blob's row or its bytes are gone
        raise NotFound("The uploaded file is no longer here: upload it again.") from None


def report(session: Session, store: FileStore, staged: StagedImport) -> str | None:
    """The committed plan's problems (the rows skipped and why), kept with the commit."""
    if not staged.report_sha256:
        return None
    try:
        return store.read(session, staged.report_sha256).decode("utf-8")
    except LookupError:
        return None


def store_report(session: Session, store: FileStore, text: str) -> str:
    return store.put_bytes(session, text.encode("utf-8")).sha256
