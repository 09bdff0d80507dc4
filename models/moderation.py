"""Moderation: labeler services and labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, indexed_at_column, zero_default


class LabelerService(Base):
    __tablename__ = "labeler_services"

    uri: Mapped[str] = mapped_column(primary_key=True)
    cid: Mapped[str | None]
    creator_did: Mapped[str | None]
    policies: Mapped[dict[str, Any]]
    like_count: Mapped[int] = zero_default()
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (Index("idx_labeler_services_creator", "creator_did"),)


class Label(Base):
    """Labels come from labelers' own streams, not from repository commits; the table is kept for the API."""

    __tablename__ = "labels"

    uri: Mapped[str] = mapped_column(primary_key=True)
    src: Mapped[str | None]
    subject: Mapped[str | None]
    val: Mapped[str | None]
    neg: Mapped[bool | None]
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        Index("idx_labels_subject_val", "subject", "val"),
        Index("idx_labels_src", "src"),
    )
