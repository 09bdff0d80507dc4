"""The totals a workload expects (bench/model.py), read back from the tables, and the comparison.

Collections without a module of their own are indexed into `generic_records`; when a colleague
gives one its own table (lists, gates, starter packs…), its records move there. A collection's live
records are therefore counted as its `generic_records` rows plus the rows of its own table, so the
check holds whichever way the indexer stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from bench.model import Model

TABLE_QUERIES: dict[str, str] = {
    "posts": "SELECT count(*) FROM posts",
    "likes": "SELECT count(*) FROM likes",
    "reposts": "SELECT count(*) FROM reposts",
    "follows": "SELECT count(*) FROM follows",
    "blocks": "SELECT count(*) FROM blocks",
    "feed_items": "SELECT count(*) FROM feed_items",
    "quotes": "SELECT count(*) FROM quotes",
    "notifications": "SELECT count(*) FROM notifications",
    # A deleted profile leaves the `users` row; the indexer clears `profile_record` to a JSON null
    # (not SQL NULL) today, so a live profile is one whose record is an object.
    "profiles": "SELECT count(*) FROM users WHERE jsonb_typeof(profile_record) = 'object'",
}

# The collection's own table, where DIRECTION §3 gives it one.
OWN_TABLE: dict[str, str] = {
    "app.bsky.feed.post": "posts",
    "app.bsky.feed.like": "likes",
    "app.bsky.feed.repost": "reposts",
    "app.bsky.graph.follow": "follows",
    "app.bsky.graph.block": "blocks",
    "app.bsky.graph.list": "lists",
    "app.bsky.graph.listitem": "list_items",
    "app.bsky.graph.listblock": "list_blocks",
    "app.bsky.graph.starterpack": "starter_packs",
    "app.bsky.graph.verification": "verifications",
    "app.bsky.feed.generator": "feed_generators",
    "app.bsky.feed.threadgate": "thread_gates",
    "app.bsky.feed.postgate": "post_gates",
    "app.bsky.labeler.service": "labeler_services",
}
PROFILE = "app.bsky.actor.profile"


# Tables unique per (author, subject): (collection, table, author column, subject column).
PAIR_TABLES = (
    ("app.bsky.feed.like", "likes", "user_did", "post_uri"),
    ("app.bsky.feed.repost", "reposts", "user_did", "post_uri"),
    ("app.bsky.graph.follow", "follows", "follower_did", "following_did"),
    ("app.bsky.graph.block", "blocks", "blocker_did", "blocked_did"),
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    expected: int
    actual: int

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


async def _count(conn: asyncpg.Connection, query: str) -> int:
    value = await conn.fetchval(query)
    return int(value or 0)


async def table_checks(conn: asyncpg.Connection, expected: dict[str, Any]) -> list[Check]:
    """Every table total of `expected` (bench/model.py `Model.expected`) against the database."""
    checks = [
        Check(f"rows {name}", want, await _count(conn, TABLE_QUERIES[name]))
        for name, want in expected["tables"].items()
    ]
    for column, want in expected["post_aggregations"].items():
        if column.endswith("_sq"):
            base = column.removesuffix("_sq")
            query = f"SELECT sum({base}::bigint * {base}) FROM post_aggregations"
        else:
            query = f"SELECT sum({column}) FROM post_aggregations"
        checks.append(Check(f"post_aggregations {column}", want, await _count(conn, query)))
    generic = {
        row["record_type"]: int(row["n"])
        for row in await conn.fetch("SELECT record_type, count(*) AS n FROM generic_records GROUP BY 1")
    }
    for collection, want in expected["records"].items():
        actual = generic.get(collection, 0)
        if collection == PROFILE:
            actual += await _count(conn, TABLE_QUERIES["profiles"])
        elif collection in OWN_TABLE:
            actual += await _count(conn, f"SELECT count(*) FROM {OWN_TABLE[collection]}")
        checks.append(Check(f"records {collection}", want, actual))
    return checks


async def pair_differences(conn: asyncpg.Connection, model: Model, limit: int = 5) -> list[str]:
    """When a pair table is off: which relationships are missing or extra, and whether a missing one
    is stranded in `aside_records` (a second record that was never promoted)."""
    lines = []
    for collection, table, author, subject in PAIR_TABLES:
        rows = await conn.fetch(f"SELECT {author} AS a, {subject} AS s FROM {table}")
        actual = {(row["a"], row["s"]) for row in rows}
        expected = model.live_pairs(collection)
        for label, pairs in (("missing", expected - actual), ("extra", actual - expected)):
            for pair_author, pair_subject in sorted(pairs)[:limit]:
                aside = await conn.fetchval(
                    "SELECT count(*) FROM indexer.aside_records"
                    " WHERE collection = $1 AND author_did = $2 AND subject = $3",
                    collection,
                    pair_author,
                    pair_subject,
                )
                lines.append(f"{table} {label}: {pair_author} -> {pair_subject} ({aside} aside)")
    return lines
