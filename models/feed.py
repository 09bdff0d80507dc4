"""Posts and what hangs off them: feed items, aggregations, likes, reposts, quotes, bookmarks, gates,
feed generators."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from models.base import (
    FREE_TEXT,
    Base,
    bool_default,
    did_column,
    empty_json_array,
    empty_json_object,
    false_default,
    indexed_at_column,
    now_default,
    uri_column,
    uri_key,
    varchar,
    zero_default,
)


class Post(Base):
    __tablename__ = "posts"

    uri: Mapped[str] = uri_key()
    cid: Mapped[str] = did_column()
    author_did: Mapped[str] = did_column()
    text: Mapped[str]
    langs: Mapped[list[Any] | None]
    parent_uri: Mapped[str | None] = uri_column(nullable=True)
    parent_cid: Mapped[str | None] = did_column(nullable=True)
    root_uri: Mapped[str | None] = uri_column(nullable=True)
    root_cid: Mapped[str | None] = did_column(nullable=True)
    embed: Mapped[dict[str, Any] | None]
    facets: Mapped[list[Any] | None]
    violates_thread_gate: Mapped[bool] = false_default()
    violates_embedding_rules: Mapped[bool] = false_default()
    has_thread_gate: Mapped[bool] = false_default()
    has_post_gate: Mapped[bool] = false_default()
    tags: Mapped[list[Any]] = empty_json_array()
    search_vector: Mapped[Any | None] = mapped_column(TSVECTOR())
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()
    commit_time: Mapped[datetime | None]
    commit_seq: Mapped[str | None] = varchar(32, nullable=True)
    commit_rev: Mapped[str | None] = varchar(64, nullable=True)

    __table_args__ = (
        Index("idx_posts_author_did", "author_did"),
        Index("idx_posts_indexed_at", "indexed_at"),
        Index("idx_posts_parent_uri", "parent_uri"),
        Index("idx_posts_root_uri", "root_uri"),
        Index("idx_posts_search_vector", "search_vector", postgresql_using="gin"),
    )


class PostAggregation(Base):
    """Counters keyed by subject URI, whether or not the subject is indexed (DIRECTION §4)."""

    __tablename__ = "post_aggregations"

    post_uri: Mapped[str] = uri_key()
    like_count: Mapped[int] = zero_default()
    repost_count: Mapped[int] = zero_default()
    reply_count: Mapped[int] = zero_default()
    bookmark_count: Mapped[int] = zero_default()
    quote_count: Mapped[int] = zero_default()
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()

    __table_args__ = (
        Index("idx_post_aggregations_like_count", "like_count"),
        Index("idx_post_aggregations_repost_count", "repost_count"),
        Index("idx_post_aggregations_reply_count", "reply_count"),
        Index("idx_post_aggregations_bookmark_count", "bookmark_count"),
        Index("idx_post_aggregations_quote_count", "quote_count"),
    )


class FeedItem(Base):
    __tablename__ = "feed_items"

    uri: Mapped[str] = uri_key()
    post_uri: Mapped[str] = uri_column()
    originator_did: Mapped[str] = did_column()
    type: Mapped[str] = varchar(32)  # post | repost
    sort_at: Mapped[datetime]
    cid: Mapped[str] = did_column()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_feed_items_originator", "originator_did"),
        Index("idx_feed_items_post", "post_uri"),
        Index("idx_feed_items_sort_at", "sort_at"),
        Index("idx_feed_items_type", "type"),
        Index("idx_feed_items_originator_sort", "originator_did", "sort_at"),
    )


class Like(Base):
    __tablename__ = "likes"

    uri: Mapped[str] = uri_key()
    user_did: Mapped[str] = did_column()
    post_uri: Mapped[str] = uri_column()
    subject_cid: Mapped[str | None] = did_column(nullable=True)
    via: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()
    commit_time: Mapped[datetime | None]
    commit_seq: Mapped[str | None] = varchar(32, nullable=True)
    commit_rev: Mapped[str | None] = varchar(64, nullable=True)

    __table_args__ = (
        Index("idx_likes_user_did", "user_did"),
        Index("idx_likes_post_uri", "post_uri"),
        Index("unique_like_user_post", "user_did", "post_uri", unique=True),
    )


class Repost(Base):
    __tablename__ = "reposts"

    uri: Mapped[str] = uri_key()
    user_did: Mapped[str] = did_column()
    post_uri: Mapped[str] = uri_column()
    subject_cid: Mapped[str | None] = did_column(nullable=True)
    via: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()
    commit_time: Mapped[datetime | None]
    commit_seq: Mapped[str | None] = varchar(32, nullable=True)
    commit_rev: Mapped[str | None] = varchar(64, nullable=True)

    __table_args__ = (
        Index("idx_reposts_user_did", "user_did"),
        Index("idx_reposts_post_uri", "post_uri"),
        Index("unique_repost_user_post", "user_did", "post_uri", unique=True),
    )


class Bookmark(Base):
    """Private AppView data written by the API; the firehose never carries bookmarks."""

    __tablename__ = "bookmarks"

    uri: Mapped[str] = uri_key()
    user_did: Mapped[str] = did_column()
    post_uri: Mapped[str] = uri_column()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_bookmarks_user_did", "user_did"),
        Index("idx_bookmarks_post_uri", "post_uri"),
        Index("unique_bookmark_user_post", "user_did", "post_uri", unique=True),
    )


class Quote(Base):
    __tablename__ = "quotes"

    uri: Mapped[str] = uri_key()  # "<post uri>#quote"
    cid: Mapped[str] = did_column()
    post_uri: Mapped[str] = uri_column()
    quoted_uri: Mapped[str] = uri_column()
    quoted_cid: Mapped[str | None] = did_column(nullable=True)
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_quotes_post", "post_uri"),
        Index("idx_quotes_quoted", "quoted_uri"),
        Index("unique_quote_post_quoted", "post_uri", "quoted_uri", unique=True),
    )


class FeedGenerator(Base):
    __tablename__ = "feed_generators"

    uri: Mapped[str] = uri_key()
    cid: Mapped[str] = did_column()
    creator_did: Mapped[str] = did_column()
    did: Mapped[str] = did_column()
    display_name: Mapped[str] = did_column(info=FREE_TEXT)
    description: Mapped[str | None]
    avatar_url: Mapped[str | None]
    like_count: Mapped[int] = zero_default()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_feed_generators_creator", "creator_did"),
        Index("idx_feed_generators_did", "did"),
        Index("idx_feed_generators_like_count", "like_count"),
        Index("idx_feed_generators_indexed_at", "indexed_at"),
    )


class ThreadGate(Base):
    """Keyed by the gated post; the gate record's URI follows from it (same repository and record key).
    What the flags cannot say (an absent `allow`: anyone may reply; `#followerRule`) is ours, in
    models.indexer.ThreadGateRule."""

    __tablename__ = "thread_gates"

    post_uri: Mapped[str] = uri_key()
    owner_did: Mapped[str] = did_column()
    allow_mentions: Mapped[bool] = bool_default(True)
    allow_following: Mapped[bool] = bool_default(True)
    allow_list_members: Mapped[bool] = false_default()
    allow_list_uris: Mapped[list[Any]] = empty_json_array()
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()

    __table_args__ = (Index("idx_thread_gates_owner", "owner_did"),)


class PostGate(Base):
    """Keyed by the gated post; the gate record's URI and owner follow from it."""

    __tablename__ = "post_gates"

    post_uri: Mapped[str] = uri_key()
    created_at: Mapped[datetime] = now_default()
    embedding_rules: Mapped[dict[str, Any]] = empty_json_object()

    __table_args__ = (Index("idx_post_gates_created_at", "created_at"),)
