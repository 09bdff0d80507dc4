"""The social graph: follows, blocks, lists and their items, list blocks, starter packs, verifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlalchemy.orm import Mapped

from models.base import (
    FREE_TEXT,
    Base,
    did_column,
    empty_json_array,
    indexed_at_column,
    uri_column,
    uri_key,
    varchar,
)


class Follow(Base):
    __tablename__ = "follows"

    uri: Mapped[str] = uri_key()
    follower_did: Mapped[str] = did_column()
    following_did: Mapped[str] = did_column()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()
    commit_time: Mapped[datetime | None]
    commit_seq: Mapped[str | None] = varchar(32, nullable=True)
    commit_rev: Mapped[str | None] = varchar(64, nullable=True)

    __table_args__ = (
        Index("idx_follows_follower", "follower_did"),
        Index("idx_follows_following", "following_did"),
        Index("unique_follow_follower_following", "follower_did", "following_did", unique=True),
    )


class Block(Base):
    __tablename__ = "blocks"

    uri: Mapped[str] = uri_key()
    blocker_did: Mapped[str] = did_column()
    blocked_did: Mapped[str] = did_column()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()
    commit_time: Mapped[datetime | None]
    commit_seq: Mapped[str | None] = varchar(32, nullable=True)
    commit_rev: Mapped[str | None] = varchar(64, nullable=True)

    __table_args__ = (
        Index("idx_blocks_blocker", "blocker_did"),
        Index("idx_blocks_blocked", "blocked_did"),
        Index("unique_block_blocker_blocked", "blocker_did", "blocked_did", unique=True),
    )


class List(Base):
    __tablename__ = "lists"

    uri: Mapped[str] = uri_key()
    cid: Mapped[str] = did_column()
    creator_did: Mapped[str] = did_column()
    name: Mapped[str] = did_column(info=FREE_TEXT)
    purpose: Mapped[str] = varchar(64)
    description: Mapped[str | None]
    avatar_url: Mapped[str | None]
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_lists_creator", "creator_did"),
        Index("idx_lists_purpose", "purpose"),
        Index("idx_lists_indexed_at", "indexed_at"),
    )


class ListItem(Base):
    __tablename__ = "list_items"

    uri: Mapped[str] = uri_key()
    cid: Mapped[str] = did_column()
    list_uri: Mapped[str] = uri_column()
    subject_did: Mapped[str] = did_column()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_list_items_list", "list_uri"),
        Index("idx_list_items_subject", "subject_did"),
        Index("unique_list_item", "list_uri", "subject_did", unique=True),
    )


class ListBlock(Base):
    __tablename__ = "list_blocks"

    uri: Mapped[str] = uri_key()
    blocker_did: Mapped[str] = did_column()
    list_uri: Mapped[str] = uri_column()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_list_blocks_blocker", "blocker_did"),
        Index("idx_list_blocks_list", "list_uri"),
        Index("unique_list_block", "blocker_did", "list_uri", unique=True),
    )


class StarterPack(Base):
    __tablename__ = "starter_packs"

    uri: Mapped[str] = uri_key()
    cid: Mapped[str] = did_column()
    creator_did: Mapped[str] = did_column()
    name: Mapped[str] = did_column(info=FREE_TEXT)
    description: Mapped[str | None]
    list_uri: Mapped[str | None] = uri_column(nullable=True)
    feeds: Mapped[list[Any]] = empty_json_array()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_starter_packs_creator", "creator_did"),
        Index("idx_starter_packs_list", "list_uri"),
        Index("idx_starter_packs_indexed_at", "indexed_at"),
    )


class Verification(Base):
    """Unique per subject (`unique_verification_subject`): a second verifier of the same account waits
    in models.indexer.AsideRecord and is promoted when the live verification is deleted."""

    __tablename__ = "verifications"

    uri: Mapped[str] = uri_key()
    cid: Mapped[str] = did_column()
    subject_did: Mapped[str] = did_column()
    handle: Mapped[str] = did_column()
    verified_at: Mapped[datetime]
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_verifications_subject", "subject_did"),
        Index("idx_verifications_handle", "handle"),
        Index("unique_verification_subject", "subject_did", unique=True),
    )
