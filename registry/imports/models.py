"""A column and value mapping saved by name, reused for files of the same layout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
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
