"""Posts and what hangs off them: feed items, aggregations, likes, reposts, quotes, bookmarks, gates,
feed generators."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, CommitColumns, empty_json_array, false_default, indexed_at_column, zero_default


class Post(CommitColumns, Base):
    __tablename__ = "posts"

    uri: Mapped[str] = mapped_column(primary_key=True)
    cid: Mapped[str]
    author_did: Mapped[str]
    text: Mapped[str]
    langs: Mapped[list[Any] | None]
    parent_uri: Mapped[str | None]
    root_uri: Mapped[str | None]
    parent_cid: Mapped[str | None]
    root_cid: Mapped[str | None]
    embed: Mapped[dict[str, Any] | None]
    facets: Mapped[list[Any] | None]
    tags: Mapped[list[Any]] = empty_json_array()
    has_thread_gate: Mapped[bool] = false_default()
    has_post_gate: Mapped[bool] = false_default()
    violates_thread_gate: Mapped[bool] = false_default()
    violates_embedding_rules: Mapped[bool] = false_default()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_posts_author_did", "author_did"),
        Index("idx_posts_author_created", "author_did", "created_at"),
        Index("idx_posts_indexed_at", "indexed_at"),
        Index("idx_posts_parent_uri", "parent_uri"),
        Index("idx_posts_root_uri", "root_uri"),
    )


class PostAggregation(Base):
    """Counters keyed by subject URI, whether or not the subject is indexed (DIRECTION §4)."""

    __tablename__ = "post_aggregations"

    post_uri: Mapped[str] = mapped_column(primary_key=True)
    like_count: Mapped[int] = zero_default()
    repost_count: Mapped[int] = zero_default()
    reply_count: Mapped[int] = zero_default()
    bookmark_count: Mapped[int] = zero_default()
    quote_count: Mapped[int] = zero_default()
    created_at: Mapped[datetime | None] = indexed_at_column()
    updated_at: Mapped[datetime | None] = indexed_at_column()


class FeedItem(Base):
    __tablename__ = "feed_items"

    uri: Mapped[str] = mapped_column(primary_key=True)
    post_uri: Mapped[str]
    originator_did: Mapped[str]
    type: Mapped[str]  # post | repost
    sort_at: Mapped[datetime]
    cid: Mapped[str]
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        Index("idx_feed_items_originator_sort", "originator_did", "sort_at"),
        Index("idx_feed_items_post", "post_uri"),
        Index("idx_feed_items_sort_at", "sort_at"),
    )


class Like(CommitColumns, Base):
    __tablename__ = "likes"

    uri: Mapped[str] = mapped_column(primary_key=True)
    user_did: Mapped[str]
    post_uri: Mapped[str]
    subject_cid: Mapped[str | None]
    via: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        UniqueConstraint("user_did", "post_uri", name="unique_like_user_post"),
        Index("idx_likes_post_uri", "post_uri"),
    )


class Repost(CommitColumns, Base):
    __tablename__ = "reposts"

    uri: Mapped[str] = mapped_column(primary_key=True)
    user_did: Mapped[str]
    post_uri: Mapped[str]
    subject_cid: Mapped[str | None]
    via: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        UniqueConstraint("user_did", "post_uri", name="unique_repost_user_post"),
        Index("idx_reposts_post_uri", "post_uri"),
    )


class Bookmark(Base):
    """Private AppView data written by the API; the firehose never carries bookmarks."""

    __tablename__ = "bookmarks"

    uri: Mapped[str] = mapped_column(primary_key=True)
    user_did: Mapped[str | None]
    post_uri: Mapped[str | None]
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        UniqueConstraint("user_did", "post_uri", name="unique_bookmark_user_post"),
        Index("idx_bookmarks_post_uri", "post_uri"),
    )


class Quote(Base):
    __tablename__ = "quotes"

    uri: Mapped[str] = mapped_column(primary_key=True)  # "<post uri>#quote"
    cid: Mapped[str | None]
    post_uri: Mapped[str | None]
    quoted_uri: Mapped[str | None]
    quoted_cid: Mapped[str | None]
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        UniqueConstraint("post_uri", "quoted_uri", name="unique_quote_post_quoted"),
        Index("idx_quotes_quoted", "quoted_uri"),
    )


class FeedGenerator(Base):
    __tablename__ = "feed_generators"

    uri: Mapped[str] = mapped_column(primary_key=True)
    cid: Mapped[str | None]
    creator_did: Mapped[str | None]
    did: Mapped[str]
    display_name: Mapped[str]
    description: Mapped[str | None]
    avatar_url: Mapped[str | None]
    like_count: Mapped[int] = zero_default()
    created_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (
        Index("idx_feed_generators_creator", "creator_did"),
        Index("idx_feed_generators_like_count", "like_count"),
    )


class ThreadGate(Base):
    """An absent `allow` means anyone may reply: all three allow flags null, `allow_list_uris` null."""

    __tablename__ = "thread_gates"

    post_uri: Mapped[str] = mapped_column(primary_key=True)
    uri: Mapped[str] = mapped_column(unique=True)  # ours: the gate record's own URI, to delete by it
    owner_did: Mapped[str | None]
    allow_mentions: Mapped[bool | None]
    allow_following: Mapped[bool | None]
    allow_list_members: Mapped[bool | None]
    # Ours: `#followerRule` (the post author's followers may reply); null when `allow` is absent.
    allow_followers: Mapped[bool | None]
    allow_list_uris: Mapped[list[Any] | None]
    created_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None] = indexed_at_column()

    __table_args__ = (Index("idx_thread_gates_owner", "owner_did"),)


class PostGate(Base):
    __tablename__ = "post_gates"

    post_uri: Mapped[str] = mapped_column(primary_key=True)
    uri: Mapped[str] = mapped_column(unique=True)  # ours: the gate record's own URI, to delete by it
    owner_did: Mapped[str | None]
    embedding_rules: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime | None]
