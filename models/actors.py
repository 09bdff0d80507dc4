"""Accounts: one `users` row per DID any event names, filled in by profiles, identity and account events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, indexed_at_column

PLACEHOLDER_HANDLE = "handle.invalid"


class User(Base):
    __tablename__ = "users"

    did: Mapped[str] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(server_default=PLACEHOLDER_HANDLE)
    display_name: Mapped[str | None]
    description: Mapped[str | None]
    avatar_url: Mapped[str | None]  # bare blob CID
    banner_url: Mapped[str | None]  # bare blob CID
    profile_record: Mapped[dict[str, Any] | None]
    pinned_post: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.timezone("utc", func.now()))
    indexed_at: Mapped[datetime] = indexed_at_column()
    # Ours (DIRECTION §3, account status): `active` or null while active, else the relay's word.
    status: Mapped[str | None]
    # Latest-version-wins bookkeeping for identity and account events (DIRECTION §4 "Versions").
    handle_version: Mapped[int | None] = mapped_column(BigInteger)
    status_version: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("idx_users_handle", "handle"),
        Index("idx_users_created_at", "created_at"),
    )
