"""Records of collections without a table of their own, kept as lexicon JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlalchemy.orm import Mapped

from models.base import Base, did_column, indexed_at_column, uri_key


class GenericRecord(Base):
    __tablename__ = "generic_records"

    uri: Mapped[str] = uri_key()
    cid: Mapped[str] = did_column()
    author_did: Mapped[str] = did_column()
    record_type: Mapped[str] = did_column()
    record: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_generic_records_author", "author_did"),
        Index("idx_generic_records_type", "record_type"),
        Index("idx_generic_records_created_at", "created_at"),
    )
