"""Counters recomputed from the live rows they count.

Tests use `counter_drift` after every test to prove the counters exact; operators use `recount` to
repair a database that other workers left wrong. Both read the same definitions, so what the tests
prove is what the repair restores.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class CounterDefinition:
    """`table.column` keyed by `table.key` counts rows of `source` whose `source_key` equals the key."""

    table: str
    key: str
    column: str
    source: str
    source_key: str
    source_filter: str = "TRUE"
    upsert: bool = False  # counter rows exist for any subject (post_aggregations) or only indexed ones

    def live_counts(self) -> str:
        return (
            f"SELECT {self.source_key} AS key, count(*)::int AS n FROM {self.source} "
            f"WHERE {self.source_key} IS NOT NULL AND {self.source_filter} GROUP BY {self.source_key}"
        )


_GENERATOR = "split_part(post_uri, '/', 4) = 'app.bsky.feed.generator'"
_LABELER = "split_part(post_uri, '/', 4) = 'app.bsky.labeler.service'"

COUNTERS = (
    CounterDefinition("post_aggregations", "post_uri", "like_count", "likes", "post_uri", upsert=True),
    CounterDefinition("post_aggregations", "post_uri", "repost_count", "reposts", "post_uri", upsert=True),
    CounterDefinition("post_aggregations", "post_uri", "reply_count", "posts", "parent_uri", upsert=True),
    CounterDefinition("post_aggregations", "post_uri", "quote_count", "quotes", "quoted_uri", upsert=True),
    CounterDefinition("feed_generators", "uri", "like_count", "likes", "post_uri", _GENERATOR),
    CounterDefinition("labeler_services", "uri", "like_count", "likes", "post_uri", _LABELER),
)


@dataclass(frozen=True)
class Drift:
    table: str
    column: str
    key: str
    stored: int
    live: int


async def counter_drift(conn: AsyncConnection) -> list[Drift]:
    """Every counter that differs from the count of live rows it counts."""
    drifts: list[Drift] = []
    for counter in COUNTERS:
        join = "FULL JOIN" if counter.upsert else "LEFT JOIN"
        result = await conn.execute(
            text(
                f"SELECT coalesce(t.{counter.key}, live.key), coalesce(t.{counter.column}, 0), "
                f"coalesce(live.n, 0) FROM {counter.table} t {join} ({counter.live_counts()}) live "
                f"ON t.{counter.key} = live.key "
                f"WHERE coalesce(t.{counter.column}, 0) <> coalesce(live.n, 0) "
                "ORDER BY 1"  # reports list the rows in key order, whatever plan the join takes
            )
        )
        drifts.extend(Drift(counter.table, counter.column, key, stored, live) for key, stored, live in result)
    return drifts


async def recount(conn: AsyncConnection) -> list[Drift]:
    """Set every drifted counter to its live count; returns what was changed."""
    drifts = await counter_drift(conn)
    for counter in COUNTERS:
        live = counter.live_counts()
        if counter.upsert:
            await conn.execute(
                text(
                    f"INSERT INTO {counter.table} ({counter.key}, {counter.column}) "
                    f"SELECT live.key, live.n FROM ({live}) live "
                    f"ON CONFLICT ({counter.key}) DO UPDATE SET {counter.column} = excluded.{counter.column} "
                    f"WHERE {counter.table}.{counter.column} <> excluded.{counter.column}"
                )
            )
        await conn.execute(
            text(
                f"UPDATE {counter.table} t SET {counter.column} = coalesce(live.n, 0) "
                f"FROM {counter.table} t2 LEFT JOIN ({live}) live ON t2.{counter.key} = live.key "
                f"WHERE t.{counter.key} = t2.{counter.key} AND t.{counter.column} <> coalesce(live.n, 0)"
            )
        )
    return drifts
