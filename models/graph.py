"""The social graph: follows, blocks, lists and their items, list blocks, starter packs, verifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, CommitColumns, empty_json_array, indexed_at_column


class Follow(CommitColumns, Base):
    __tablename__ = "follows"

    uri: Mapped[str] = mapped_column(primary_key=True)
    follower_did: Mapped[str]
    following_did: Mapped[str]
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        UniqueConstraint("follower_did", "following_did", name="unique_follow_follower_following"),
        Index("idx_follows_following", "following_did"),
    )


class Block(CommitColumns, Base):
    __tablename__ = "blocks"

    uri: Mapped[str] = mapped_column(primary_key=True)
    blocker_did: Mapped[str]
    blocked_did: Mapped[str]
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        UniqueConstraint("blocker_did", "blocked_did", name="unique_block_blocker_blocked"),
        Index("idx_blocks_blocked", "blocked_did"),
    )


class List(Base):
    __tablename__ = "lists"

    uri: Mapped[str] = mapped_column(primary_key=True)
    cid: Mapped[str | None]
    creator_did: Mapped[str | None]
    name: Mapped[str]
    purpose: Mapped[str]
    description: Mapped[str | None]
    avatar_url: Mapped[str | None]
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (Index("idx_lists_creator", "creator_did"),)


class ListItem(Base):
    __tablename__ = "list_items"

    uri: Mapped[str] = mapped_column(primary_key=True)
    cid: Mapped[str | None]
    list_uri: Mapped[str | None]
    subject_did: Mapped[str | None]
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        UniqueConstraint("list_uri", "subject_did", name="unique_list_item"),
        Index("idx_list_items_subject", "subject_did"),
    )


class ListBlock(Base):
    __tablename__ = "list_blocks"

    uri: Mapped[str] = mapped_column(primary_key=True)
    blocker_did: Mapped[str | None]
    list_uri: Mapped[str | None]
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        UniqueConstraint("blocker_did", "list_uri", name="unique_list_block"),
        Index("idx_list_blocks_list", "list_uri"),
    )


class StarterPack(Base):
    __tablename__ = "starter_packs"

    uri: Mapped[str] = mapped_column(primary_key=True)
    cid: Mapped[str | None]
    creator_did: Mapped[str | None]
    name: Mapped[str]
    description: Mapped[str | None]
    list_uri: Mapped[str | None]
    feeds: Mapped[list[Any]] = empty_json_array()
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        Index("idx_starter_packs_creator", "creator_did"),
        Index("idx_starter_packs_list", "list_uri"),
    )


class Verification(Base):
    """Keyed by (issuer, subject): the original's unique index on `subject_did` alone lost a second
    verifier of the same account (DIRECTION §3)."""

    __tablename__ = "verifications"

    uri: Mapped[str] = mapped_column(primary_key=True)
    cid: Mapped[str | None]
    creator_did: Mapped[str]
    subject_did: Mapped[str | None]
    handle: Mapped[str | None]
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        UniqueConstraint("creator_did", "subject_did", name="unique_verification_creator_subject"),
        Index("idx_verifications_subject", "subject_did"),
    )
