"""The file store: content-addressed, shared by every node, in the database or an S3-compatible store.

``put`` reads a stream a chunk at a time while hashing it, into a spooled temporary file (memory
up to ``SPOOL_BYTES``, then disk), and stores the bytes once per SHA-256: a second upload of the
same bytes only finds the existing row.  In the database the bytes go to ``blob_chunks`` in pieces
of ``CHUNK_BYTES``; with ``FILE_STORE_URL=s3://bucket/prefix?endpoint_url=…&region_name=…`` they go
to the object store under ``prefix/<sha256>`` and the database keeps the row only.  Either way the
row is written in the caller's transaction, so a rolled-back upload leaves no row (in S3 an
unreferenced object may remain; being named by its hash, it is harmless and reused).

Reading goes by the row's ``location``, not by today's setting, so files stored before a change of
store stay readable.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from registry.db import setting, utcnow
from registry.errors import ValidationFailed
from registry.files.models import Blob, BlobChunk

CHUNK_BYTES = 1024 * 1024
SPOOL_BYTES = 8 * 1024 * 1024


class StoreConfigError(RuntimeError):
    """FILE_STORE_URL names no store this registry can use."""


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    size_bytes: int
    created: bool  # False: these bytes were already stored (deduplicated)


class TooLarge(ValidationFailed):
    pass


class BytesMissing(LookupError):
    """A blob's row is there but its bytes are not (an object deleted from the bucket)."""


def file_store(session: Session) -> FileStore:
    """The configured store, carried by the session like the other settings (``make_session_factory``)."""
    return setting(session, "file_store")


def _insert_ignore(session: Session, values: dict):
    """INSERT … ON CONFLICT DO NOTHING on the blobs row; True when this call inserted it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (insert(Blob.__table__).values(**values, created_at=utcnow())
                 .on_conflict_do_nothing(index_elements=["sha256"]).returning(Blob.__table__.c.sha256))
    return session.execute(statement).first() is not None


class FileStore:
    """Where new files go (``location``); reads follow each blob's own location."""

    def __init__(self, s3: S3Bucket | None = None):
        self.s3 = s3
        self.location = "s3" if s3 else "db"

    # -- writing -----------------------------------------------------------------------------
    def put(self, session: Session, stream: BinaryIO, *, max_bytes: int | None = None) -> BlobRef:
        """Store the stream's bytes (once per content) in ``session``'s transaction."""
        digest, size = hashlib.sha256(), 0
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge("The file is too large.", errors={"file": [
                        f"Files may be at most {max_bytes / 1024 / 1024:.0f} MB."]})
                digest.update(chunk)
                spool.write(chunk)
            sha = digest.hexdigest()
            # Found: held (FOR KEY SHARE on PostgreSQL) until the caller commits, so that a purge which
            # locks the row before checking who refers to it waits for, then sees, the new reference.
            if session.get(Blob, sha, with_for_update={"key_share": True}) is not None:
                return BlobRef(sha, size, False)
            spool.seek(0)
            if self.s3 is not None:
                self.s3.upload(sha, spool)
            inserted = _insert_ignore(session, {"sha256": sha, "size_bytes": size, "location": self.location})
            if inserted and self.s3 is None:
                for seq, piece in enumerate(iter(lambda: spool.read(CHUNK_BYTES), b"")):
                    session.execute(BlobChunk.__table__.insert().values(sha256=sha, seq=seq, data=piece))
            return BlobRef(sha, size, inserted)

    def put_bytes(self, session: Session, data: bytes, *, max_bytes: int | None = None) -> BlobRef:
        return self.put(session, io.BytesIO(data), max_bytes=max_bytes)

    def delete(self, session: Session, sha256: str) -> bool:
        """Remove a blob nobody refers to any more (the caller has checked that); True if it existed."""
        blob = session.get(Blob, sha256)
        if blob is None:
            return False
        if blob.location == "s3":
            _delete_after_commit(session, self._bucket(), sha256)
        session.execute(delete(BlobChunk).where(BlobChunk.sha256 == sha256))
        session.delete(blob)
        session.flush()
        return True

    # -- reading -----------------------------------------------------------------------------
    @staticmethod
    def find(session: Session, sha256: str | None) -> Blob | None:
        return session.get(Blob, sha256) if sha256 else None

    def chunks(self, session: Session, blob: Blob) -> Iterator[bytes]:
        """The blob's bytes a chunk at a time, read through ``session`` (which must stay open)."""
        if blob.location == "s3":
            yield from self._bucket().download(blob.sha256)
            return
        seq = 0
        while True:
            piece = session.scalar(select(BlobChunk.data).where(BlobChunk.sha256 == blob.sha256,
                                                                BlobChunk.seq == seq))
            if piece is None:
                return
            yield piece
            seq += 1

    def stream(self, readers: sessionmaker, sha256: str) -> Iterator[bytes]:
        """For a streamed response: opens its own read session, closed when the stream ends."""
        with readers() as session:
            blob = session.get(Blob, sha256)
            if blob is None:
                return
            yield from self.chunks(session, blob)

    def read(self, session: Session, sha256: str) -> bytes:
        blob = session.get(Blob, sha256)
        if blob is None:
            raise KeyError(sha256)
        return b"".join(self.chunks(session, blob))

    def verify(self, session: Session, blob: Blob) -> bool:
        """Whether the stored bytes are there, still hash to the blob's name and have its size."""
        digest, size = hashlib.sha256(), 0
        try:
            for piece in self.chunks(session, blob):
                digest.update(piece)
                size += len(piece)
        except BytesMissing:
            return False
        return digest.hexdigest() == blob.sha256 and size == blob.size_bytes

    def _bucket(self) -> S3Bucket:
        if self.s3 is None:
            raise StoreConfigError("This file is in an S3 store, but FILE_STORE_URL names none.")
        return self.s3


def _delete_after_commit(session: Session, bucket: S3Bucket, sha256: str) -> None:
    """Remove the object once the row's deletion is committed (never before: a rolled-back
    deletion would leave a row naming bytes that are gone); forgotten on rollback."""
    pending = session.info.setdefault("s3_deletes", [])
    if not session.info.get("s3_deletes_hooked"):
        session.info["s3_deletes_hooked"] = True

        @event.listens_for(session, "after_commit")
        def _delete(s: Session) -> None:
            for target, sha in s.info.pop("s3_deletes", []):
                target.delete(sha)

        @event.listens_for(session, "after_rollback")
        def _forget(s: Session) -> None:
            s.info.pop("s3_deletes", None)

    pending.append((bucket, sha256))


class S3Bucket:
    """Objects ``<prefix>/<sha256>`` in one bucket of an S3-compatible store (boto3)."""

    def __init__(self, bucket: str, prefix: str = "", **client_options):
        import boto3  # optional: only an S3 store needs it (the `s3` extra)

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = boto3.client("s3", **{k: v for k, v in client_options.items() if v})

    def key(self, sha256: str) -> str:
        return f"{self.prefix}/{sha256}" if self.prefix else sha256

    def upload(self, sha256: str, fileobj: BinaryIO) -> None:
        self.client.upload_fileobj(fileobj, self.bucket, self.key(sha256))

    def download(self, sha256: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]
        except self.client.exceptions.NoSuchKey:
            raise BytesMissing(sha256) from None
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))


def store_from_url(url: str | None) -> FileStore:
    """``None`` or ``""`` or ``db``: the database.  ``s3://bucket/prefix?endpoint_url=…&region_name=…``:
    an S3-compatible store (credentials from the usual AWS_* variables or the instance's role)."""
    if not url or url == "db":
        return FileStore()
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise StoreConfigError(f"FILE_STORE_URL must be empty (the database) or s3://bucket/prefix, not {url!r}.")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"endpoint_url", "region_name"}
    if unknown:
        raise StoreConfigError(f"FILE_STORE_URL: unknown option(s) {', '.join(sorted(unknown))} "
                               "(known: endpoint_url, region_name).")
    return FileStore(S3Bucket(parts.netloc, parts.path, **query))
