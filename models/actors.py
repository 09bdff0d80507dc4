"""Accounts: one `users` row per DID any event names, filled in by profiles, identity and account events.

Account status and the versions of handles and statuses are ours (models.indexer.AccountState)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from models.base import FREE_TEXT, Base, did_column, indexed_at_column, now_default

PLACEHOLDER_HANDLE = "handle.invalid"


class User(Base):
    __tablename__ = "users"

    did: Mapped[str] = did_column(primary_key=True)
    handle: Mapped[str] = did_column()
    display_name: Mapped[str | None] = did_column(nullable=True, info=FREE_TEXT)
    avatar_url: Mapped[str | None]  # bare blob CID
    banner_url: Mapped[str | None]  # bare blob CID
    description: Mapped[str | None]
    profile_record: Mapped[dict[str, Any] | None]
    pinned_post: Mapped[dict[str, Any] | None]
    search_vector: Mapped[Any | None] = mapped_column(TSVECTOR())
    created_at: Mapped[datetime] = now_default()
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_users_handle", "handle"),
        Index("idx_users_created_at", "created_at"),
        Index("idx_users_search_vector", "search_vector", postgresql_using="gin"),
    )
