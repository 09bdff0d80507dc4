"""Tables PublicAppView's API alone writes (sessions, settings, preferences, mutes, subscriptions, its
own cursor and jobs): they exist so the API finds its schema complete; this worker never writes them,
and they stay empty beside us unless the API fills them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import (
    Base,
    did_column,
    empty_json_array,
    empty_json_object,
    false_default,
    indexed_at_column,
    now_default,
    serial_key,
    uri_column,
    uri_key,
    varchar,
)


def _user_fk(table: str) -> ForeignKey:
    return ForeignKey("users.did", ondelete="CASCADE", name=f"{table}_user_did_users_did_fk")


class ActivitySubscription(Base):
    __tablename__ = "activity_subscriptions"

    uri: Mapped[str] = uri_key()
    cid: Mapped[str] = did_column()
    subscriber_did: Mapped[str] = did_column()
    subject_did: Mapped[str] = did_column()
    priority: Mapped[bool] = false_default()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_activity_subscriptions_subscriber", "subscriber_did"),
        Index("idx_activity_subscriptions_subject", "subject_did"),
        Index("unique_activity_subscription", "subscriber_did", "subject_did", unique=True),
    )


class AuthorizedAdmin(Base):
    __tablename__ = "authorized_admins"

    did: Mapped[str] = did_column(primary_key=True)
    handle: Mapped[str] = did_column()
    added_at: Mapped[datetime] = now_default()

    __table_args__ = (Index("idx_authorized_admins_handle", "handle"),)


class FirehoseCursor(Base):
    __tablename__ = "firehose_cursor"

    id: Mapped[int] = serial_key()
    service: Mapped[str] = did_column()
    cursor: Mapped[str | None]
    last_event_time: Mapped[datetime | None]
    updated_at: Mapped[datetime] = now_default()

    __table_args__ = (
        UniqueConstraint("service", name="firehose_cursor_service_unique"),
        Index("idx_firehose_cursor_service", "service", unique=True),
    )


class ListMute(Base):
    __tablename__ = "list_mutes"

    uri: Mapped[str] = uri_key()
    muter_did: Mapped[str] = did_column()
    list_uri: Mapped[str] = uri_column()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_list_mutes_muter", "muter_did"),
        Index("idx_list_mutes_list", "list_uri"),
        Index("unique_list_mute", "muter_did", "list_uri", unique=True),
    )


class Mute(Base):
    __tablename__ = "mutes"

    uri: Mapped[str] = uri_key()
    muter_did: Mapped[str] = did_column()
    muted_did: Mapped[str] = did_column()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_mutes_muter", "muter_did"),
        Index("idx_mutes_muted", "muted_did"),
        Index("unique_mute_muter_muted", "muter_did", "muted_did", unique=True),
    )


class OAuthState(Base):
    __tablename__ = "oauth_states"

    state: Mapped[str] = did_column(primary_key=True)
    state_data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = now_default()
    expires_at: Mapped[datetime]

    __table_args__ = (Index("idx_oauth_states_expires_at", "expires_at"),)


class PostViewerState(Base):
    """The reference table has no primary key (only a unique index); the mapper uses that pair."""

    __tablename__ = "post_viewer_states"

    post_uri: Mapped[str] = uri_column()
    viewer_did: Mapped[str] = did_column()
    like_uri: Mapped[str | None] = uri_column(nullable=True)
    repost_uri: Mapped[str | None] = uri_column(nullable=True)
    bookmarked: Mapped[bool] = false_default()
    thread_muted: Mapped[bool] = false_default()
    reply_disabled: Mapped[bool] = false_default()
    embedding_disabled: Mapped[bool] = false_default()
    pinned: Mapped[bool] = false_default()
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()

    __table_args__ = (
        Index("idx_post_viewer_states_post_viewer", "post_uri", "viewer_did", unique=True),
        Index("idx_post_viewer_states_post", "post_uri"),
        Index("idx_post_viewer_states_viewer", "viewer_did"),
    )
    __mapper_args__ = {"primary_key": ["post_uri", "viewer_did"]}


class PushSubscription(Base):
    __tablename__ = "push_subscriptions"

    id: Mapped[int] = serial_key()
    user_did: Mapped[str] = did_column(_user_fk("push_subscriptions"))
    platform: Mapped[str] = varchar(32)
    token: Mapped[str]
    endpoint: Mapped[str | None]
    keys: Mapped[dict[str, Any] | None]
    app_id: Mapped[str | None] = did_column(nullable=True)
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()

    __table_args__ = (
        Index("idx_push_subscriptions_user", "user_did"),
        Index("idx_push_subscriptions_token", "token", unique=True),
        Index("idx_push_subscriptions_platform", "platform"),
    )


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = did_column(primary_key=True)
    user_did: Mapped[str] = did_column(_user_fk("sessions"))
    access_token: Mapped[str]
    refresh_token: Mapped[str | None]
    pds_endpoint: Mapped[str] = uri_column()
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()

    __table_args__ = (
        Index("idx_sessions_user_did", "user_did"),
        Index("idx_sessions_expires_at", "expires_at"),
    )


class ThreadContext(Base):
    __tablename__ = "thread_contexts"

    post_uri: Mapped[str] = uri_key()
    root_author_like_uri: Mapped[str | None] = uri_column(nullable=True)
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()

    __table_args__ = (Index("idx_thread_contexts_root_author_like", "root_author_like_uri"),)


class ThreadMute(Base):
    __tablename__ = "thread_mutes"

    uri: Mapped[str] = uri_key()
    muter_did: Mapped[str] = did_column()
    thread_root_uri: Mapped[str] = uri_column()
    created_at: Mapped[datetime]
    indexed_at: Mapped[datetime] = indexed_at_column()

    __table_args__ = (
        Index("idx_thread_mutes_muter", "muter_did"),
        Index("idx_thread_mutes_thread", "thread_root_uri"),
        Index("unique_thread_mute", "muter_did", "thread_root_uri", unique=True),
    )


# The API's default notification preferences, as its schema states them (whitespace included: a
# default is compared as text).
NOTIFICATION_PREFERENCES_V2_DEFAULT = (
    "'{\n"
    '      "chat": {"include": "accepted", "push": true},\n'
    '      "follow": {"list": true, "push": true, "include": "all"},\n'
    '      "like": {"list": true, "push": false, "include": "follows"},\n'
    '      "mention": {"list": true, "push": true, "include": "all"},\n'
    '      "reply": {"list": true, "push": true, "include": "all"},\n'
    '      "repost": {"list": true, "push": false, "include": "follows"},\n'
    '      "quote": {"list": true, "push": true, "include": "all"},\n'
    '      "likeViaRepost": {"list": false, "push": false, "include": "all"},\n'
    '      "repostViaRepost": {"list": false, "push": false, "include": "all"},\n'
    '      "starterpackJoined": {"list": true, "push": false},\n'
    '      "subscribedPost": {"list": true, "push": true},\n'
    '      "unverified": {"list": true, "push": false},\n'
    '      "verified": {"list": true, "push": true}\n'
    "    }'::jsonb"
)


class UserPreferences(Base):
    __tablename__ = "user_preferences"

    user_did: Mapped[str] = did_column(_user_fk("user_preferences"), primary_key=True)
    adult_content: Mapped[bool] = false_default()
    content_labels: Mapped[dict[str, Any]] = empty_json_object()
    feed_view_prefs: Mapped[dict[str, Any]] = empty_json_object()
    thread_view_prefs: Mapped[dict[str, Any]] = empty_json_object()
    interests: Mapped[list[Any]] = empty_json_array()
    saved_feeds: Mapped[list[Any]] = empty_json_array()
    notification_priority: Mapped[bool] = false_default()
    notification_preferences_v2: Mapped[dict[str, Any]] = mapped_column(
        nullable=False, server_default=text(NOTIFICATION_PREFERENCES_V2_DEFAULT)
    )
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()


class UserSettings(Base):
    __tablename__ = "user_settings"

    user_did: Mapped[str] = did_column(_user_fk("user_settings"), primary_key=True)
    blocked_keywords: Mapped[list[Any]] = empty_json_array()
    muted_users: Mapped[list[Any]] = empty_json_array()
    custom_lists: Mapped[list[Any]] = empty_json_array()
    feed_preferences: Mapped[dict[str, Any]] = empty_json_object()
    data_collection_forbidden: Mapped[bool] = false_default()
    last_backfill_at: Mapped[datetime | None]
    last_liked_posts_backfill: Mapped[datetime | None]
    last_follows_backfill: Mapped[datetime | None]
    last_feeds_backfill: Mapped[datetime | None]
    last_notifications_backfill: Mapped[datetime | None]
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()


class VideoJob(Base):
    __tablename__ = "video_jobs"

    id: Mapped[int] = serial_key()
    job_id: Mapped[str] = did_column()
    user_did: Mapped[str] = did_column(_user_fk("video_jobs"))
    state: Mapped[str] = varchar(32)
    progress: Mapped[int] = mapped_column(Integer(), nullable=False, server_default=text("0"))
    blob_ref: Mapped[dict[str, Any] | None]
    error: Mapped[str | None]
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = now_default()

    __table_args__ = (
        UniqueConstraint("job_id", name="video_jobs_job_id_unique"),
        Index("idx_video_jobs_job_id", "job_id", unique=True),
        Index("idx_video_jobs_user", "user_did"),
        Index("idx_video_jobs_state", "state"),
        Index("idx_video_jobs_created_at", "created_at"),
    )
