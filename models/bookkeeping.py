"""Our own tables for convergence (DIRECTION §4): record versions and tombstones, account tombstones,
and relationship records kept aside while another record of the same pair is live."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, indexed_at_column


class RecordVersion(Base):
    """The version that last wrote each record URI; a delete leaves the row with `deleted` set (a
    tombstone). Every create, update or delete older than this row is stale and skipped, which is what
    makes any order and any number of replays converge."""

    __tablename__ = "record_versions"

    uri: Mapped[str] = mapped_column(primary_key=True)
    did: Mapped[str]
    version: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool]
    updated_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_record_versions_did", "did"),
        Index("idx_record_versions_tombstones", "updated_at", postgresql_where=text("deleted")),
    )


class AccountTombstone(Base):
    """An account deleted at `version`: its older events are stale, whatever their record."""

    __tablename__ = "account_tombstones"

    did: Mapped[str] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime] = indexed_at_column()


class AsideRecord(Base):
    """A second live record of a pair that is unique per (author, subject) — a like of a post the same
    account already likes, say. It waits here and is promoted when the live one is deleted, so counts
    equal live relationships."""

    __tablename__ = "aside_records"

    uri: Mapped[str] = mapped_column(primary_key=True)
    collection: Mapped[str]
    author_did: Mapped[str]
    subject: Mapped[str]
    version: Mapped[int] = mapped_column(BigInteger)
    cid: Mapped[str | None]
    row: Mapped[dict[str, Any]]  # the row the collection would have written, ready to insert
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_aside_records_pair", "collection", "author_did", "subject", "version"),
        Index("idx_aside_records_author", "author_did"),
    )
