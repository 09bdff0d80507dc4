"""Our own tables, in the `indexer` schema (DIRECTION §3): what our rules need beyond PublicAppView's
tables — record versions and tombstones, account tombstones, account status and versions, records
kept aside, which record caused each notification, and what a thread gate's flags cannot say.
PublicAppView's tooling never looks at this schema, and no column of ours is on a public table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, MetaData, text
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from models.base import INDEXER_SCHEMA, Base


def _utc_now_column() -> Any:
    return mapped_column(
        TIMESTAMP(timezone=False), nullable=False, server_default=text("timezone('utc', now())")
    )


class IndexerBase(Base):
    """Tables of the `indexer` schema."""

    __abstract__ = True
    __table_args__: Any = {"schema": INDEXER_SCHEMA}


class RecordVersion(IndexerBase):
    """The version that last wrote each record URI; a delete leaves the row with `deleted` set (a
    tombstone). Every create, update or delete older than this row is stale and skipped, which is what
    makes any order and any number of replays converge. Rows of an adopted database start at version
    0, which every event beats."""

    __tablename__ = "record_versions"

    uri: Mapped[str] = mapped_column(primary_key=True)
    did: Mapped[str]
    version: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool]
    updated_at: Mapped[datetime] = _utc_now_column()

    __table_args__ = (
        Index("idx_record_versions_did", "did"),
        Index("idx_record_versions_tombstones", "updated_at", postgresql_where=text("deleted")),
        {"schema": INDEXER_SCHEMA},
    )


class AccountTombstone(IndexerBase):
    """An account deleted at `version`: its older events are stale, whatever their record."""

    __tablename__ = "account_tombstones"

    did: Mapped[str] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime] = _utc_now_column()


class AccountState(IndexerBase):
    """Account status (DIRECTION §3: `active` or null while active, else the relay's word, or
    `inactive`) and the versions that last set the handle and the status (latest version wins)."""

    __tablename__ = "account_states"

    did: Mapped[str] = mapped_column(primary_key=True)
    status: Mapped[str | None]
    handle_version: Mapped[int | None] = mapped_column(BigInteger)
    status_version: Mapped[int | None] = mapped_column(BigInteger)


class AsideRecord(IndexerBase):
    """A second live record of a pair the public table holds once — a like of a post the same account
    already likes, a second verifier of an account (`verifications` is unique per subject). It waits
    here and is promoted when the live one is deleted, so counts equal live relationships."""

    __tablename__ = "aside_records"

    uri: Mapped[str] = mapped_column(primary_key=True)
    collection: Mapped[str]
    author_did: Mapped[str]
    subject: Mapped[str]
    version: Mapped[int] = mapped_column(BigInteger)
    cid: Mapped[str | None]
    row: Mapped[dict[str, Any]]  # the row the collection would have written, ready to insert
    indexed_at: Mapped[datetime] = _utc_now_column()

    __table_args__ = (
        Index("idx_aside_records_pair", "collection", "author_did", "subject", "version"),
        Index("idx_aside_records_author", "author_did"),
        {"schema": INDEXER_SCHEMA},
    )


class NotificationSource(IndexerBase):
    """The record that caused a notification (`notifications.uri`), so deleting the record removes
    its notifications by index."""

    __tablename__ = "notification_sources"

    uri: Mapped[str] = mapped_column(primary_key=True)  # the notification's URI
    record_uri: Mapped[str]

    __table_args__ = (
        Index("idx_notification_sources_record_uri", "record_uri"),
        {"schema": INDEXER_SCHEMA},
    )


class ThreadGateRule(IndexerBase):
    """What `thread_gates`' flags cannot say, one row per gate we wrote: `allow_followers` is null when
    the record has no `allow` (anyone may reply; the public row then holds the column defaults), else
    whether it has a `#followerRule` (the post author's followers may reply)."""

    __tablename__ = "thread_gate_rules"

    post_uri: Mapped[str] = mapped_column(primary_key=True)
    allow_followers: Mapped[bool | None]


def public_metadata() -> MetaData:
    """The `public` tables alone (PublicAppView's schema), as a metadata of their own."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        if table.schema is None:
            table.to_metadata(metadata)
    return metadata
