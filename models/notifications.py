"""Notifications, unique per (record, reason, recipient) through their URI."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, indexed_at_column


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # "<record uri>#notification" plus a suffix naming the reason and, where needed, the recipient.
    uri: Mapped[str] = mapped_column(unique=True)
    # Ours: the record that caused it, so deleting the record removes its notifications by index.
    record_uri: Mapped[str]
    recipient_did: Mapped[str | None]
    author_did: Mapped[str | None]
    reason: Mapped[str | None]
    reason_subject: Mapped[str | None]
    cid: Mapped[str | None]
    is_read: Mapped[bool | None] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        Index("idx_notifications_recipient_created", "recipient_did", "created_at"),
        Index("idx_notifications_record_uri", "record_uri"),
    )
