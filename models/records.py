"""Records of collections without a table of their own, kept as lexicon JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, indexed_at_column


class GenericRecord(Base):
    __tablename__ = "generic_records"

    uri: Mapped[str] = mapped_column(primary_key=True)
    cid: Mapped[str | None]
    author_did: Mapped[str | None]
    record_type: Mapped[str | None]
    record: Mapped[dict[str, Any]]
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        Index("idx_generic_records_author", "author_did"),
        Index("idx_generic_records_type", "record_type"),
    )
