"""Notifications, unique per (record, reason, recipient) through their URI. Which record caused each
is ours (models.indexer.NotificationSource), so a record's delete removes its notifications."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.orm import Mapped

from models.base import Base, did_column, false_default, indexed_at_column, serial_key, uri_column, varchar


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = serial_key()
    # "<record uri>#notification" plus a suffix naming the reason and, where needed, the recipient.
    uri: Mapped[str] = uri_column()
    recipient_did: Mapped[str] = did_column()
    author_did: Mapped[str] = did_column()
    reason: Mapped[str] = varchar(64)
    reason_subject: Mapped[str | None] = uri_column(nullable=True)
    cid: Mapped[str | None] = did_column(nullable=True)
    is_read: Mapped[bool] = false_default()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        UniqueConstraint("uri", name="notifications_uri_unique"),
        Index("idx_notifications_recipient", "recipient_did"),
        Index("idx_notifications_recipient_read", "recipient_did", "is_read"),
        Index("idx_notifications_created_at", "created_at"),
        Index("idx_notifications_indexed_at", "indexed_at"),
    )
