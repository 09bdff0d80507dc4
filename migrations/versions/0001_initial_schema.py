"""Initial schema: the AppView tables of DIRECTION §3 and our bookkeeping tables (versions, tombstones,
records kept aside), all in `public`. Revision 0003 converts this layout to PublicAppView's exact
schema plus our own `indexer` schema; on a PublicAppView database (which 0003 adopts) this revision
creates nothing.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 21:04:33.778746
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations import layout

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if layout.is_public_appview(op.get_bind()):
        return  # PublicAppView's tables are here: 0003 adopts them, this layout is never created
    op.create_table(
        "account_tombstones",
        sa.Column("did", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "deleted_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("did", name=op.f("account_tombstones_pkey")),
    )
    op.create_table(
        "aside_records",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("collection", sa.Text(), nullable=False),
        sa.Column("author_did", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=True),
        sa.Column("row", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("aside_records_pkey")),
    )
    op.create_index("idx_aside_records_author", "aside_records", ["author_did"], unique=False)
    op.create_index(
        "idx_aside_records_pair",
        "aside_records",
        ["collection", "author_did", "subject", "version"],
        unique=False,
    )
    op.create_table(
        "blocks",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("blocker_did", sa.Text(), nullable=False),
        sa.Column("blocked_did", sa.Text(), nullable=False),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.Column("commit_time", postgresql.TIMESTAMP(), nullable=True),
        sa.Column("commit_seq", sa.BigInteger(), nullable=True),
        sa.Column("commit_rev", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("uri", name=op.f("blocks_pkey")),
        sa.UniqueConstraint("blocker_did", "blocked_did", name="unique_block_blocker_blocked"),
    )
    op.create_index("idx_blocks_blocked", "blocks", ["blocked_did"], unique=False)
    op.create_table(
        "bookmarks",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("user_did", sa.Text(), nullable=True),
        sa.Column("post_uri", sa.Text(), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("bookmarks_pkey")),
        sa.UniqueConstraint("user_did", "post_uri", name="unique_bookmark_user_post"),
    )
    op.create_index("idx_bookmarks_post_uri", "bookmarks", ["post_uri"], unique=False)
    op.create_table(
        "feed_generators",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=True),
        sa.Column("creator_did", sa.Text(), nullable=True),
        sa.Column("did", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("like_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("feed_generators_pkey")),
    )
    op.create_index("idx_feed_generators_creator", "feed_generators", ["creator_did"], unique=False)
    op.create_index("idx_feed_generators_like_count", "feed_generators", ["like_count"], unique=False)
    op.create_table(
        "feed_items",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("post_uri", sa.Text(), nullable=False),
        sa.Column("originator_did", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("sort_at", postgresql.TIMESTAMP(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=False),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=False),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("feed_items_pkey")),
    )
    op.create_index(
        "idx_feed_items_originator_sort", "feed_items", ["originator_did", "sort_at"], unique=False
    )
    op.create_index("idx_feed_items_post", "feed_items", ["post_uri"], unique=False)
    op.create_index("idx_feed_items_sort_at", "feed_items", ["sort_at"], unique=False)
    op.create_table(
        "follows",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("follower_did", sa.Text(), nullable=False),
        sa.Column("following_did", sa.Text(), nullable=False),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.Column("commit_time", postgresql.TIMESTAMP(), nullable=True),
        sa.Column("commit_seq", sa.BigInteger(), nullable=True),
        sa.Column("commit_rev", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("uri", name=op.f("follows_pkey")),
        sa.UniqueConstraint("follower_did", "following_did", name="unique_follow_follower_following"),
    )
    op.create_index("idx_follows_following", "follows", ["following_did"], unique=False)
    op.create_table(
        "generic_records",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=True),
        sa.Column("author_did", sa.Text(), nullable=True),
        sa.Column("record_type", sa.Text(), nullable=True),
        sa.Column("record", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("generic_records_pkey")),
    )
    op.create_index("idx_generic_records_author", "generic_records", ["author_did"], unique=False)
    op.create_index("idx_generic_records_type", "generic_records", ["record_type"], unique=False)
    op.create_table(
        "labeler_services",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=True),
        sa.Column("creator_did", sa.Text(), nullable=True),
        sa.Column("policies", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("like_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("labeler_services_pkey")),
    )
    op.create_index("idx_labeler_services_creator", "labeler_services", ["creator_did"], unique=False)
    op.create_table(
        "labels",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("src", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("val", sa.Text(), nullable=True),
        sa.Column("neg", sa.Boolean(), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("labels_pkey")),
    )
    op.create_index("idx_labels_src", "labels", ["src"], unique=False)
    op.create_index("idx_labels_subject_val", "labels", ["subject", "val"], unique=False)
    op.create_table(
        "likes",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("user_did", sa.Text(), nullable=False),
        sa.Column("post_uri", sa.Text(), nullable=False),
        sa.Column("subject_cid", sa.Text(), nullable=True),
        sa.Column("via", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=False),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.Column("commit_time", postgresql.TIMESTAMP(), nullable=True),
        sa.Column("commit_seq", sa.BigInteger(), nullable=True),
        sa.Column("commit_rev", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("uri", name=op.f("likes_pkey")),
        sa.UniqueConstraint("user_did", "post_uri", name="unique_like_user_post"),
    )
    op.create_index("idx_likes_post_uri", "likes", ["post_uri"], unique=False)
    op.create_table(
        "list_blocks",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("blocker_did", sa.Text(), nullable=True),
        sa.Column("list_uri", sa.Text(), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("list_blocks_pkey")),
        sa.UniqueConstraint("blocker_did", "list_uri", name="unique_list_block"),
    )
    op.create_index("idx_list_blocks_list", "list_blocks", ["list_uri"], unique=False)
    op.create_table(
        "list_items",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=True),
        sa.Column("list_uri", sa.Text(), nullable=True),
        sa.Column("subject_did", sa.Text(), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("list_items_pkey")),
        sa.UniqueConstraint("list_uri", "subject_did", name="unique_list_item"),
    )
    op.create_index("idx_list_items_subject", "list_items", ["subject_did"], unique=False)
    op.create_table(
        "lists",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=True),
        sa.Column("creator_did", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("lists_pkey")),
    )
    op.create_index("idx_lists_creator", "lists", ["creator_did"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("record_uri", sa.Text(), nullable=False),
        sa.Column("recipient_did", sa.Text(), nullable=True),
        sa.Column("author_did", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reason_subject", sa.Text(), nullable=True),
        sa.Column("cid", sa.Text(), nullable=True),
        sa.Column("is_read", sa.Boolean(), server_default=sa.text("false"), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("notifications_pkey")),
        sa.UniqueConstraint("uri", name=op.f("uq_notifications_uri")),
    )
    op.create_index(
        "idx_notifications_recipient_created", "notifications", ["recipient_did", "created_at"], unique=False
    )
    op.create_index("idx_notifications_record_uri", "notifications", ["record_uri"], unique=False)
    op.create_table(
        "post_aggregations",
        sa.Column("post_uri", sa.Text(), nullable=False),
        sa.Column("like_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("repost_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reply_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("bookmark_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("quote_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("post_uri", name=op.f("post_aggregations_pkey")),
    )
    op.create_table(
        "post_gates",
        sa.Column("post_uri", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("owner_did", sa.Text(), nullable=True),
        sa.Column("embedding_rules", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.PrimaryKeyConstraint("post_uri", name=op.f("post_gates_pkey")),
        sa.UniqueConstraint("uri", name=op.f("uq_post_gates_uri")),
    )
    op.create_table(
        "posts",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=False),
        sa.Column("author_did", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("langs", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("parent_uri", sa.Text(), nullable=True),
        sa.Column("root_uri", sa.Text(), nullable=True),
        sa.Column("parent_cid", sa.Text(), nullable=True),
        sa.Column("root_cid", sa.Text(), nullable=True),
        sa.Column("embed", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("facets", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "tags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("has_thread_gate", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("has_post_gate", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("violates_thread_gate", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("violates_embedding_rules", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=False),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.Column("commit_time", postgresql.TIMESTAMP(), nullable=True),
        sa.Column("commit_seq", sa.BigInteger(), nullable=True),
        sa.Column("commit_rev", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("uri", name=op.f("posts_pkey")),
    )
    op.create_index("idx_posts_author_created", "posts", ["author_did", "created_at"], unique=False)
    op.create_index("idx_posts_author_did", "posts", ["author_did"], unique=False)
    op.create_index("idx_posts_indexed_at", "posts", ["indexed_at"], unique=False)
    op.create_index("idx_posts_parent_uri", "posts", ["parent_uri"], unique=False)
    op.create_index("idx_posts_root_uri", "posts", ["root_uri"], unique=False)
    op.create_table(
        "quotes",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=True),
        sa.Column("post_uri", sa.Text(), nullable=True),
        sa.Column("quoted_uri", sa.Text(), nullable=True),
        sa.Column("quoted_cid", sa.Text(), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("quotes_pkey")),
        sa.UniqueConstraint("post_uri", "quoted_uri", name="unique_quote_post_quoted"),
    )
    op.create_index("idx_quotes_quoted", "quotes", ["quoted_uri"], unique=False)
    op.create_table(
        "record_versions",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("did", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("record_versions_pkey")),
    )
    op.create_index("idx_record_versions_did", "record_versions", ["did"], unique=False)
    op.create_index(
        "idx_record_versions_tombstones",
        "record_versions",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("deleted"),
    )
    op.create_table(
        "reposts",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("user_did", sa.Text(), nullable=False),
        sa.Column("post_uri", sa.Text(), nullable=False),
        sa.Column("subject_cid", sa.Text(), nullable=True),
        sa.Column("via", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=False),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.Column("commit_time", postgresql.TIMESTAMP(), nullable=True),
        sa.Column("commit_seq", sa.BigInteger(), nullable=True),
        sa.Column("commit_rev", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("uri", name=op.f("reposts_pkey")),
        sa.UniqueConstraint("user_did", "post_uri", name="unique_repost_user_post"),
    )
    op.create_index("idx_reposts_post_uri", "reposts", ["post_uri"], unique=False)
    op.create_table(
        "starter_packs",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=True),
        sa.Column("creator_did", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("list_uri", sa.Text(), nullable=True),
        sa.Column(
            "feeds",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("starter_packs_pkey")),
    )
    op.create_index("idx_starter_packs_creator", "starter_packs", ["creator_did"], unique=False)
    op.create_index("idx_starter_packs_list", "starter_packs", ["list_uri"], unique=False)
    op.create_table(
        "thread_gates",
        sa.Column("post_uri", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("owner_did", sa.Text(), nullable=True),
        sa.Column("allow_mentions", sa.Boolean(), nullable=True),
        sa.Column("allow_following", sa.Boolean(), nullable=True),
        sa.Column("allow_list_members", sa.Boolean(), nullable=True),
        sa.Column("allow_list_uris", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("post_uri", name=op.f("thread_gates_pkey")),
        sa.UniqueConstraint("uri", name=op.f("uq_thread_gates_uri")),
    )
    op.create_index("idx_thread_gates_owner", "thread_gates", ["owner_did"], unique=False)
    op.create_table(
        "users",
        sa.Column("did", sa.Text(), nullable=False),
        sa.Column("handle", sa.Text(), server_default="handle.invalid", nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("banner_url", sa.Text(), nullable=True),
        sa.Column("profile_record", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("pinned_post", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("handle_version", sa.BigInteger(), nullable=True),
        sa.Column("status_version", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("did", name=op.f("users_pkey")),
    )
    op.create_index("idx_users_created_at", "users", ["created_at"], unique=False)
    op.create_index("idx_users_handle", "users", ["handle"], unique=False)
    op.create_table(
        "verifications",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("cid", sa.Text(), nullable=True),
        sa.Column("creator_did", sa.Text(), nullable=False),
        sa.Column("subject_did", sa.Text(), nullable=True),
        sa.Column("handle", sa.Text(), nullable=True),
        sa.Column("verified_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column("created_at", postgresql.TIMESTAMP(), nullable=True),
        sa.Column(
            "indexed_at",
            postgresql.TIMESTAMP(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("uri", name=op.f("verifications_pkey")),
        sa.UniqueConstraint("creator_did", "subject_did", name="unique_verification_creator_subject"),
    )
    op.create_index("idx_verifications_subject", "verifications", ["subject_did"], unique=False)


def downgrade() -> None:
    if not layout.has_own_old_layout(op.get_bind()):
        return  # 0003 already took this layout down, or the database was adopted
    op.drop_index("idx_verifications_subject", table_name="verifications")
    op.drop_table("verifications")
    op.drop_index("idx_users_handle", table_name="users")
    op.drop_index("idx_users_created_at", table_name="users")
    op.drop_table("users")
    op.drop_index("idx_thread_gates_owner", table_name="thread_gates")
    op.drop_table("thread_gates")
    op.drop_index("idx_starter_packs_list", table_name="starter_packs")
    op.drop_index("idx_starter_packs_creator", table_name="starter_packs")
    op.drop_table("starter_packs")
    op.drop_index("idx_reposts_post_uri", table_name="reposts")
    op.drop_table("reposts")
    op.drop_index(
        "idx_record_versions_tombstones", table_name="record_versions", postgresql_where=sa.text("deleted")
    )
    op.drop_index("idx_record_versions_did", table_name="record_versions")
    op.drop_table("record_versions")
    op.drop_index("idx_quotes_quoted", table_name="quotes")
    op.drop_table("quotes")
    op.drop_index("idx_posts_root_uri", table_name="posts")
    op.drop_index("idx_posts_parent_uri", table_name="posts")
    op.drop_index("idx_posts_indexed_at", table_name="posts")
    op.drop_index("idx_posts_author_did", table_name="posts")
    op.drop_index("idx_posts_author_created", table_name="posts")
    op.drop_table("posts")
    op.drop_table("post_gates")
    op.drop_table("post_aggregations")
    op.drop_index("idx_notifications_record_uri", table_name="notifications")
    op.drop_index("idx_notifications_recipient_created", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("idx_lists_creator", table_name="lists")
    op.drop_table("lists")
    op.drop_index("idx_list_items_subject", table_name="list_items")
    op.drop_table("list_items")
    op.drop_index("idx_list_blocks_list", table_name="list_blocks")
    op.drop_table("list_blocks")
    op.drop_index("idx_likes_post_uri", table_name="likes")
    op.drop_table("likes")
    op.drop_index("idx_labels_subject_val", table_name="labels")
    op.drop_index("idx_labels_src", table_name="labels")
    op.drop_table("labels")
    op.drop_index("idx_labeler_services_creator", table_name="labeler_services")
    op.drop_table("labeler_services")
    op.drop_index("idx_generic_records_type", table_name="generic_records")
    op.drop_index("idx_generic_records_author", table_name="generic_records")
    op.drop_table("generic_records")
    op.drop_index("idx_follows_following", table_name="follows")
    op.drop_table("follows")
    op.drop_index("idx_feed_items_sort_at", table_name="feed_items")
    op.drop_index("idx_feed_items_post", table_name="feed_items")
    op.drop_index("idx_feed_items_originator_sort", table_name="feed_items")
    op.drop_table("feed_items")
    op.drop_index("idx_feed_generators_like_count", table_name="feed_generators")
    op.drop_index("idx_feed_generators_creator", table_name="feed_generators")
    op.drop_table("feed_generators")
    op.drop_index("idx_bookmarks_post_uri", table_name="bookmarks")
    op.drop_table("bookmarks")
    op.drop_index("idx_blocks_blocked", table_name="blocks")
    op.drop_table("blocks")
    op.drop_index("idx_aside_records_pair", table_name="aside_records")
    op.drop_index("idx_aside_records_author", table_name="aside_records")
    op.drop_table("aside_records")
    op.drop_table("account_tombstones")
