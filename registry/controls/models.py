"""Catalogues of controls (frameworks), a system's assessment of each control, and evidence."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.auth.models import User
from registry.db import Base, enum_column, utcnow
from registry.enums import ControlStatus, EvidenceKind


class Framework(Base):
    """One catalogue, loaded from seed_data/catalogues/*.yaml (``registry catalogue load``)."""

    __tablename__ = "frameworks"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(40), default="")
    source: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Control(Base):
    """One control; ``tiers``, ``kinds`` and ``data`` say which systems must implement it."""

    __tablename__ = "controls"
    __table_args__ = (UniqueConstraint("framework_id", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id"))
    ref: Mapped[str] = mapped_column(String(60))
    function: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(60), default="")
    category_title: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    guidance: Mapped[str] = mapped_column(Text, default="")
    tiers: Mapped[list[str]] = mapped_column(default=list)
    kinds: Mapped[list[str]] = mapped_column(default=list)
    data: Mapped[list[str]] = mapped_column(default=list)
    # A control with flags applies when the system carries one of them, whatever its tier
    # (``registry.controls.applicability``): e.g. the OMB M-25-21 minimum practices.
    flags: Mapped[list[str]] = mapped_column(default=list)
    waivable: Mapped[bool] = mapped_column(default=False)  # may be waived (reason, who granted it, expiry)
    related: Mapped[list[str]] = mapped_column(default=list)  # refs of controls that cover it elsewhere (NIST AI RMF)
    position: Mapped[int] = mapped_column(default=0)
    retired: Mapped[bool] = mapped_column(default=False)

    framework: Mapped[Framework] = relationship(lazy="joined")

    @property
    def framework_key(self) -> str:
        """As on ``CatalogueControl``, so code that labels controls takes either."""
        return self.framework.key


class ControlAssessment(Base):
    """Where one system stands on one control.  Kept when the control stops applying (tier
    change), so that a later change back finds the recorded work again."""

    __tablename__ = "control_assessments"
    __table_args__ = (
        UniqueConstraint("system_id", "control_id"),
        Index("ix_control_assessments_to_verify", "verified_at", "updated_at"),  # the review queue, oldest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"))
    control_id: Mapped[int] = mapped_column(ForeignKey("controls.id"), index=True)
    status: Mapped[ControlStatus] = mapped_column(enum_column(ControlStatus), default=ControlStatus.NOT_STARTED)
    due_on: Mapped[date | None]
    na_reason: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text, default="")
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verified_at: Mapped[datetime | None]
    # A waiver (status WAIVED, waivable controls only): why, who granted it (the Chief AI Officer
    # or a named person), and until when; once expired it blocks GO like a missing practice.
    waiver_reason: Mapped[str | None] = mapped_column(Text)
    waiver_granted_by: Mapped[str | None] = mapped_column(String(200))
    waiver_expires_on: Mapped[date | None]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    control: Mapped[Control] = relationship(lazy="joined")
    verified_by: Mapped[User | None] = relationship(foreign_keys=[verified_by_id], lazy="joined")
    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="assessment", order_by="Evidence.id", lazy="selectin",
        primaryjoin="and_(Evidence.assessment_id == ControlAssessment.id, Evidence.removed_at.is_(None))",
        viewonly=True,
    )

    __mapper_args__ = {"version_id_col": version}


class Evidence(Base):
    """A file (its bytes in the file store, the blob named by ``sha256``) or a link, for one assessment.

    ``stored_name`` is set only on files uploaded before the file store, still in EVIDENCE_DIR
    until ``registry files migrate`` moves them."""

    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_assessment", "assessment_id", "removed_at"),
                      Index("ix_evidence_sha256", "sha256"))

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("control_assessments.id", ondelete="CASCADE"))
    kind: Mapped[EvidenceKind] = mapped_column(enum_column(EvidenceKind))
    description: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2000))
    file_name: Mapped[str | None] = mapped_column(String(255))
    stored_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    collected_on: Mapped[date]
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]

    assessment: Mapped[ControlAssessment] = relationship(back_populates="evidence")
    added_by: Mapped[User | None] = relationship(foreign_keys=[added_by_id], lazy="joined")
