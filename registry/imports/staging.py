"""Uploaded inventory files between the upload, the preview and the commit.

A staged upload is the file's bytes and a small JSON record beside them (who uploaded it, its
name, the mapping chosen or edited, and once committed the job's status and counts), in
``IMPORT_DIR`` under a random id.  Nothing is written to the registry before the commit; a staged
upload belongs to whoever uploaded it, and uploads older than a day are removed on the next one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from registry.errors import NotFound

MAX_AGE_SECONDS = 24 * 3600
STEPS = 6  # read, check, write, audit, readiness state, save
_ID = re.compile(r"^[A-Za-z0-9_-]{20,40}$")


@dataclass
class Staged:
    id: str
    file_name: str
    user_id: int
    size: int
    created_at: float
    mapping: dict | None = None  # the edited mapping; None: recognise the layout or use ``layout``
    layout: str | None = None  # a shipped layout's key or a saved mapping's name
    save_as: str | None = None  # save the edited mapping under this name with the import
    sheet: str | None = None  # an Excel sheet's name (None: the first)
    status: str = "staged"  # staged, queued, running, done, failed
    progress: str = ""
    step: int = 0  # of STEPS, for the progress bar
    rows: int = 0
    only_valid: bool = False
    backend: str = ""
    result: dict = field(default_factory=dict)
    error: str = ""


class ImportStaging:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def _paths(self, staged_id: str) -> tuple[Path, Path]:
        if not _ID.match(staged_id or ""):
            raise NotFound("No such upload (it may have expired: uploads are kept for a day).")
        return self.directory / f"{staged_id}.upload", self.directory / f"{staged_id}.json"

    def put(self, data: bytes, file_name: str, user_id: int) -> Staged:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.purge()
        staged = Staged(secrets.token_urlsafe(18), file_name, user_id, len(data), time.time())
        data_path, _ = self._paths(staged.id)
        data_path.write_bytes(data)
        self.save(staged)
        return staged

    def get(self, staged_id: str, user_id: int) -> Staged:
        """The upload, if it exists and ``user_id`` uploaded it (anyone else gets the same 404)."""
        _, meta_path = self._paths(staged_id)
        try:
            raw = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise NotFound("No such upload (it may have expired: uploads are kept for a day).") from None
        staged = Staged(**raw)
        if staged.user_id != user_id:
            raise NotFound("No such upload (it may have expired: uploads are kept for a day).")
        return staged

    def load(self, staged_id: str) -> Staged:
        """The upload whoever uploaded it (the background job's view)."""
        _, meta_path = self._paths(staged_id)
        return Staged(**json.loads(meta_path.read_text(encoding="utf-8")))

    def data(self, staged: Staged) -> bytes:
        data_path, _ = self._paths(staged.id)
        try:
            return data_path.read_bytes()
        except OSError:
            raise NotFound("The uploaded file is no longer here: upload it again.") from None

    def write_report(self, staged: Staged, text: str) -> None:
        """The committed plan's problems (the rows skipped and why), for download after the commit."""
        data_path, _ = self._paths(staged.id)
        data_path.with_suffix(".report.csv").write_text(text, encoding="utf-8")

    def report(self, staged: Staged) -> str | None:
        data_path, _ = self._paths(staged.id)
        try:
            return data_path.with_suffix(".report.csv").read_text(encoding="utf-8")
        except OSError:
            return None

    def save(self, staged: Staged) -> None:
        """Write the record atomically (a page reading it meanwhile sees the old or the new one)."""
        _, meta_path = self._paths(staged.id)
        tmp = meta_path.with_suffix(f".{secrets.token_hex(4)}.tmp")
        tmp.write_text(json.dumps(asdict(staged)), encoding="utf-8")
        os.replace(tmp, meta_path)

    def purge(self, max_age: float = MAX_AGE_SECONDS) -> int:
        """Remove uploads older than ``max_age`` seconds (not one still running)."""
        removed = 0
        cutoff = time.time() - max_age
        for path in self.directory.glob("*.json"):
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
                if json.loads(path.read_text(encoding="utf-8")).get("status") in ("queued", "running"):
                    continue
            except (OSError, ValueError):
                pass
            for stale in (path, path.with_suffix(".upload"), path.with_suffix(".report.csv")):
                stale.unlink(missing_ok=True)
            removed += 1
        return removed
