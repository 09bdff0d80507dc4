"""The schema is Alembic's: upgrade, check, downgrade and upgrade again on a real database, and every
table and column DIRECTION §3 names exists after `upgrade head`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from app.schema import MIGRATIONS_DIR, revisions
from tests.conftest import REPO_ROOT
from tests.migrations_support import check, downgrade, upgrade

# Written out from DIRECTION §3 on purpose, not derived from the models: the models must satisfy it.
DIRECTION_SCHEMA: dict[str, set[str]] = {
    "users": {
        "did", "handle", "display_name", "description", "avatar_url", "banner_url", "profile_record",
        "pinned_post", "created_at", "indexed_at",
    },
    "posts": {
        "uri", "cid", "author_did", "text", "langs", "parent_uri", "root_uri", "parent_cid", "root_cid",
        "embed", "facets", "tags", "has_thread_gate", "has_post_gate", "violates_thread_gate",
        "violates_embedding_rules", "created_at", "indexed_at", "commit_time", "commit_seq", "commit_rev",
    },
    "post_aggregations": {
        "post_uri", "like_count", "repost_count", "reply_count", "bookmark_count", "quote_count",
        "created_at", "updated_at",
    },
    "feed_items": {
        "uri", "post_uri", "originator_did", "type", "sort_at", "cid", "created_at", "indexed_at",
    },
    "likes": {
        "uri", "user_did", "post_uri", "subject_cid", "via", "created_at", "indexed_at", "commit_time",
        "commit_seq", "commit_rev",
    },
    "reposts": {
        "uri", "user_did", "post_uri", "subject_cid", "via", "created_at", "indexed_at", "commit_time",
        "commit_seq", "commit_rev",
    },
    "bookmarks": {"uri", "user_did", "post_uri", "created_at"},
    "quotes": {"uri", "cid", "post_uri", "quoted_uri", "quoted_cid", "created_at"},
    "follows": {
        "uri", "follower_did", "following_did", "created_at", "commit_time", "commit_seq", "commit_rev",
    },
    "blocks": {"uri", "blocker_did", "blocked_did", "created_at", "commit_time", "commit_seq", "commit_rev"},
    "list_blocks": {"uri", "blocker_did", "list_uri", "created_at"},
    "lists": {"uri", "cid", "creator_did", "name", "purpose", "description", "avatar_url", "created_at"},
    "list_items": {"uri", "cid", "list_uri", "subject_did", "created_at"},
    "feed_generators": {
        "uri", "cid", "creator_did", "did", "display_name", "description", "avatar_url", "like_count",
        "created_at",
    },
    "starter_packs": {"uri", "cid", "creator_did", "name", "description", "list_uri", "feeds", "created_at"},
    "labeler_services": {"uri", "cid", "creator_did", "policies", "like_count", "created_at"},
    "labels": {"uri", "src", "subject", "val", "neg", "created_at"},
    "verifications": {
        "uri", "cid", "subject_did", "handle", "verified_at", "created_at",
    },
    "thread_gates": {
        "post_uri", "owner_did", "allow_mentions", "allow_following", "allow_list_members",
        "allow_list_uris", "created_at", "updated_at",
    },
    "post_gates": {"post_uri", "embedding_rules", "created_at"},
    "notifications": {
        "id", "uri", "recipient_did", "author_did", "reason", "reason_subject", "cid", "is_read",
        "created_at", "indexed_at",
    },
    "generic_records": {"uri", "cid", "author_did", "record_type", "record", "created_at"},
}  # fmt: skip

# Unique keys DIRECTION §3 requires, as sorted column tuples per table.
DIRECTION_UNIQUE: dict[str, set[tuple[str, ...]]] = {
    "likes": {("post_uri", "user_did")},
    "reposts": {("post_uri", "user_did")},
    "bookmarks": {("post_uri", "user_did")},
    "quotes": {("post_uri", "quoted_uri")},
    "follows": {("follower_did", "following_did")},
    "blocks": {("blocked_did", "blocker_did")},
    "list_blocks": {("blocker_did", "list_uri")},
    "list_items": {("list_uri", "subject_did")},
    "verifications": {("subject_did",)},
    "notifications": {("uri",)},
}

# Not-null columns DIRECTION §3 marks NN.
DIRECTION_NOT_NULL: dict[str, set[str]] = {
    "users": {"handle", "created_at", "indexed_at"},
    "posts": {"cid", "author_did", "text", "tags", "has_thread_gate", "has_post_gate", "created_at"},
    "feed_items": {"post_uri", "originator_did", "type", "sort_at", "cid", "created_at"},
    "likes": {"user_did", "post_uri", "created_at"},
    "follows": {"follower_did", "following_did"},
    "lists": {"name", "purpose"},
    "feed_generators": {"did", "display_name"},
    "starter_packs": {"name", "feeds"},
    "labeler_services": {"policies"},
    "generic_records": {"record"},
}


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _introspect(
    url: str, schema: str = "public"
) -> tuple[dict[str, dict[str, bool]], dict[str, set[tuple[str, ...]]]]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = $1",
            schema,
        )
        uniques = await conn.fetch(
            """
            SELECT t.relname AS table_name, array_agg(a.attname::text ORDER BY a.attname) AS cols
            FROM pg_index i
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)
            WHERE i.indisunique AND NOT i.indisprimary
            GROUP BY t.relname, i.indexrelid
            """
        )
    finally:
        await conn.close()
    tables: dict[str, dict[str, bool]] = {}
    for row in columns:
        tables.setdefault(row["table_name"], {})[row["column_name"]] = row["is_nullable"] == "NO"
    unique: dict[str, set[tuple[str, ...]]] = {}
    for row in uniques:
        unique.setdefault(row["table_name"], set()).add(tuple(row["cols"]))
    return tables, unique


def test_upgrade_check_downgrade_upgrade(empty_database_url: str) -> None:
    upgrade(empty_database_url, "head")
    check(empty_database_url)
    downgrade(empty_database_url, "base")
    tables, _ = asyncio.run(_introspect(empty_database_url))
    assert not tables, f"downgrade base left public tables behind: {sorted(tables)}"
    ours, _ = asyncio.run(_introspect(empty_database_url, "indexer"))
    assert set(ours) == {"alembic_version"}, f"downgrade base left tables behind: {sorted(ours)}"
    upgrade(empty_database_url, "head")
    check(empty_database_url)


def test_every_direction_table_and_column_exists(database_url_str: str) -> None:
    tables, unique = asyncio.run(_introspect(database_url_str))
    missing_tables = sorted(set(DIRECTION_SCHEMA) - set(tables))
    assert not missing_tables, f"tables missing: {missing_tables}"
    missing_columns = {
        table: sorted(columns - set(tables[table]))
        for table, columns in DIRECTION_SCHEMA.items()
        if columns - set(tables[table])
    }
    assert not missing_columns, f"columns missing: {missing_columns}"
    nullable = {
        table: sorted(column for column in columns if not tables[table][column])
        for table, columns in DIRECTION_NOT_NULL.items()
        if any(not tables[table][column] for column in columns)
    }
    assert not nullable, f"columns DIRECTION marks NN are nullable: {nullable}"
    missing_unique = {
        table: keys - unique.get(table, set())
        for table, keys in DIRECTION_UNIQUE.items()
        if keys - unique.get(table, set())
    }
    assert not missing_unique, f"unique keys missing: {missing_unique}"


def _alembic(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        (None, "DATABASE_URL is not set"),
        ("mysql://root@127.0.0.1/x", "must be a PostgreSQL URL"),
        ("postgresql://user:s3cret@127.0.0.1:1/nowhere", "does not answer"),
    ],
)
def test_operator_errors_are_one_line(database_url: str | None, expected: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    result = _alembic(env)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_the_worker_reads_the_revision_graph_as_alembic_does() -> None:
    """app.schema reads the scripts' revision assignments itself (Alembic's imports cost the worker
    memory); it must find the same revisions and heads as Alembic's ScriptDirectory."""
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    assert revisions().heads == frozenset(scripts.get_heads())
    assert revisions().known == frozenset(script.revision for script in scripts.walk_revisions())
