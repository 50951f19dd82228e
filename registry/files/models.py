"""Stored files by content: one row per distinct SHA-256, the bytes in chunks or in an object store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, utcnow


class Blob(Base):
    """A file's bytes, named by their SHA-256: the same bytes are stored once however often referred to."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # Where the bytes are: "db" (blob_chunks) or "s3" (the object store named by FILE_STORE_URL).
    location: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobChunk(Base):
    """One piece (at most ``store.CHUNK_BYTES``) of a blob kept in the database, so that a file is
    streamed in and out a chunk at a time rather than held whole in memory."""

    __tablename__ = "blob_chunks"

    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
