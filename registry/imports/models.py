"""A column and value mapping saved by name, reused for files of the same layout; uploads between
the preview and the commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, utcnow


class ImportMapping(Base):
    __tablename__ = "import_mappings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    headers: Mapped[list[str]] = mapped_column(default=list)  # the layout it was made for
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"columns": {...}, "values": {...}, "key": [...]}
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StagedImport(Base):
    """An uploaded inventory file between its preview and its commit, and the commit's job.

    The bytes are in the file store (``upload_sha256``), so the upload previewed on one web node
    is committed on another or by a worker.  It belongs to whoever uploaded it and is kept a day.
    Status: staged (being previewed), queued, running, done, failed."""

    __tablename__ = "staged_imports"
    __table_args__ = (Index("ix_staged_imports_status", "status"), Index("ix_staged_imports_created", "created_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # random, unguessable
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    upload_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    mapping: Mapped[dict[str, Any] | None]  # the edited mapping; None: recognise the layout or use ``layout``
    layout: Mapped[str | None] = mapped_column(String(120))  # a shipped layout's key or a saved mapping's name
    save_as: Mapped[str | None] = mapped_column(String(120))  # save the edited mapping under this name
    sheet: Mapped[str | None] = mapped_column(String(255))  # an Excel sheet's name (None: the first)
    only_valid: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="staged")
    backend: Mapped[str] = mapped_column(String(16), default="", server_default="")
    progress: Mapped[str] = mapped_column(String(200), default="", server_default="")
    step: Mapped[int] = mapped_column(default=0)
    rows: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
    report_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"), index=True)  # problems CSV
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
