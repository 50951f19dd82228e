"""Evidence files into the file store (``registry files migrate``) and the store's check (``registry files verify``).

Before the file store, an evidence file lived in EVIDENCE_DIR on one node's disk, named by the
row's ``stored_name``.  ``migrate_evidence_files`` moves each such file into the store after
checking its bytes still hash to the row's ``sha256``, and clears ``stored_name``: one transaction
and one audit event for the run.  A file that is missing or no longer matches is reported by
evidence id and left as it is.  Run again, it finds nothing to do.

``verify_files`` re-hashes every blob and checks that every evidence file's blob is there: what a
restored backup is checked with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.controls.models import Evidence
from registry.db import setting
from registry.enums import EvidenceKind
from registry.files.models import Blob
from registry.files.store import FileStore, file_store


@dataclass
class Migration:
    moved: list[int] = field(default_factory=list)  # evidence ids now in the store
    stored_bytes: int = 0  # bytes written to the store (a file already there by content adds none)
    missing: list[int] = field(default_factory=list)  # no file on disk
    mismatched: list[int] = field(default_factory=list)  # the file's SHA-256 is not the row's
    paths: list[Path] = field(default_factory=list)  # the disk copies of the moved files

    @property
    def problems(self) -> list[str]:
        return ([f"evidence #{i}: the file is not in the evidence folder" for i in self.missing]
                + [f"evidence #{i}: the file's SHA-256 does not match the one recorded; left as it is"
                   for i in self.mismatched])


def _referred_to(session: Session, sha256: str) -> bool:
    return session.scalar(select(func.count(Evidence.id)).where(Evidence.sha256 == sha256)) > 0


def migrate_evidence_files(session: Session, evidence_dir: str | Path | None = None, *,
                           files: FileStore | None = None) -> Migration:
    """Move every evidence file still on disk (``stored_name`` set) into the file store, in the
    caller's transaction (commit it, then delete ``result.paths`` if wanted).  ``evidence_dir``:
    default EVIDENCE_DIR; ``files``: default the configured store."""
    directory = Path(evidence_dir or setting(session, "evidence_dir"))
    files = files or file_store(session)
    result = Migration()
    rows = session.scalars(select(Evidence).where(Evidence.stored_name.is_not(None))
                           .order_by(Evidence.id).with_for_update(of=Evidence)).all()
    for evidence in rows:
        name = evidence.stored_name
        path = directory / name
        if not name.isalnum() or not path.is_file():
            result.missing.append(evidence.id)
            continue
        with path.open("rb") as fh:
            ref = files.put(session, fh)  # hashes as it reads: one pass over the file
        if ref.sha256 != evidence.sha256:
            if ref.created and not _referred_to(session, ref.sha256):
                files.delete(session, ref.sha256)  # stored by this run only: not kept
            result.mismatched.append(evidence.id)
            continue
        evidence.stored_name = None
        result.moved.append(evidence.id)
        result.stored_bytes += ref.size_bytes if ref.created else 0
        result.paths.append(path)
    if result.moved:
        session.flush()
        record_event(session, None, "evidence.migrate", "evidence", None,
                     summary=f"Moved {len(result.moved)} evidence files from the evidence folder into the file store",
                     after={"moved": len(result.moved), "evidence_ids": result.moved,
                            "bytes_stored": result.stored_bytes, "left_missing": result.missing,
                            "left_mismatched": result.mismatched})
    return result


@dataclass
class Verification:
    blobs: int = 0
    blob_bytes: int = 0
    damaged: list[str] = field(default_factory=list)  # blobs whose bytes no longer hash to their name
    evidence_files: int = 0  # evidence rows whose bytes are in the store
    missing_blobs: list[int] = field(default_factory=list)  # evidence ids whose blob is not there
    not_migrated: list[int] = field(default_factory=list)  # evidence ids still in EVIDENCE_DIR

    @property
    def ok(self) -> bool:
        return not (self.damaged or self.missing_blobs or self.not_migrated)

    @property
    def problems(self) -> list[str]:
        return ([f"blob {sha}: its bytes no longer hash to its name (damaged or missing)" for sha in self.damaged]
                + [f"evidence #{i}: its file is not in the store" for i in self.missing_blobs]
                + [f"evidence #{i}: its file is still in the evidence folder (run `registry files migrate`)"
                   for i in self.not_migrated])


def verify_files(session: Session, files: FileStore | None = None) -> Verification:
    """Re-hash every blob; check every evidence file has its blob.  Reads only."""
    files = files or file_store(session)
    result = Verification()
    for sha in session.scalars(select(Blob.sha256).order_by(Blob.sha256)):
        blob = session.get(Blob, sha)
        result.blobs += 1
        result.blob_bytes += blob.size_bytes
        if not files.verify(session, blob):
            result.damaged.append(sha)
        session.expunge(blob)  # one blob in memory at a time
    is_file = Evidence.kind == EvidenceKind.FILE
    result.not_migrated = list(session.scalars(
        select(Evidence.id).where(is_file, Evidence.stored_name.is_not(None)).order_by(Evidence.id)))
    result.missing_blobs = list(session.scalars(
        select(Evidence.id).outerjoin(Blob, Blob.sha256 == Evidence.sha256)
        .where(is_file, Evidence.stored_name.is_(None), Blob.sha256.is_(None)).order_by(Evidence.id)))
    result.evidence_files = session.scalar(
        select(func.count(Evidence.id)).where(is_file, Evidence.stored_name.is_(None))) - len(result.missing_blobs)
    return result
