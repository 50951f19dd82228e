"""The stored audit PDF of a decision, and bulk export jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from registry.auth.models import User
from registry.db import Base, utcnow


class DecisionReport(Base):
    """The audit PDF of one decision: rendered once, then served byte for byte."""

    __tablename__ = "decision_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), unique=True)
    document_id: Mapped[str] = mapped_column(String(40), unique=True)
    # The bytes are loaded only when the PDF itself is served.
    pdf: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    page_count: Mapped[int]
    snapshot_sha256: Mapped[str] = mapped_column(String(64))
    renderer: Mapped[str] = mapped_column(String(80))
    # The ORGANISATION_NAME printed on this PDF when it was issued ("" when none was set): with the
    # snapshot it is all the PDF shows, so the issued file can be rendered again byte for byte.
    organisation_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExportJob(Base):
    """A long job built outside the request (RQ worker, or a thread without Redis): a ZIP of audit
    PDFs (``audit_pdfs``), an inventory workbook (``inventory_xlsx``) or a recomputation of the
    portfolio state (``portfolio_rebuild``).  The file it made is in the file store (``blob_sha256``)
    until the retention period ends; ``sha256`` and ``size_bytes`` stay as the record of it."""

    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), default="audit_pdfs", server_default="audit_pdfs")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the command line
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued/running/done/failed/expired
    backend: Mapped[str] = mapped_column(String(16))  # rq / thread
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decision_ids: Mapped[list[str]] = mapped_column(default=list)
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    progress: Mapped[str] = mapped_column(String(200), default="", server_default="")  # the step in words
    result: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    file_name: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]

    requested_by: Mapped[User | None] = relationship(lazy="joined")
