"""The real relay capture of 2026-07-04, as stream entries in both dialects, through the running worker.

`expected_v1.jsonl` (production Jetstream's view of the same window) is only the oracle: after the
run the database holds exactly the posts (text, `created_at`), likes, reposts, follows and blocks it
lists, with its deletes applied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.broker.harness import Keys, dead_letters
from tests.indexing.conftest import truncate_all
from tests.indexing.running import index_entries
from tests.indexing.test_collections import rows
from tests.servers import Servers
from tests.support.capture import capture_entries, expected_records

RELATIONSHIPS = {
    "app.bsky.feed.like": "likes",
    "app.bsky.feed.repost": "reposts",
    "app.bsky.graph.follow": "follows",
    "app.bsky.graph.block": "blocks",
}


def oracle(fixtures_dir: Path) -> dict[str, dict[str, dict]]:
    """Live records per collection after Jetstream's ops, in order: uri → record."""
    live: dict[str, dict[str, dict]] = {}
    for op in expected_records(fixtures_dir):
        uri = f"at://{op.did}/{op.collection}/{op.rkey}"
        records = live.setdefault(op.collection, {})
        if op.operation == "delete":
            records.pop(uri, None)
        else:
            assert op.record is not None
            records[uri] = op.record
    return live


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["lexicon", "sdk"])
async def test_relay_capture_through_the_worker(
    dialect: str,
    fixtures_dir: Path,
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    await truncate_all(engine)
    keys = Keys(redis_prefix)
    entries = capture_entries(fixtures_dir, dialect)  # type: ignore[arg-type]
    await index_entries(redis_client, keys, servers.redis_url, database_url_str, tmp_path, entries)
    assert await dead_letters(redis_client, keys) == {}

    live = oracle(fixtures_dir)
    posts = {row["uri"]: row for row in await rows(engine, "SELECT uri, text, created_at FROM posts")}
    expected_posts = live["app.bsky.feed.post"]
    assert expected_posts, "the capture holds posts"
    assert set(posts) == set(expected_posts)
    for uri, record in expected_posts.items():
        assert posts[uri]["text"] == record["text"].replace("\x00", "")
        assert posts[uri]["created_at"] == utc(record["createdAt"])
    for collection, table in RELATIONSHIPS.items():
        stored = {row["uri"] for row in await rows(engine, f"SELECT uri FROM {table}")}
        aside = {
            row["uri"]
            for row in await rows(
                engine, "SELECT uri FROM indexer.aside_records WHERE collection = :c", c=collection
            )
        }
        assert stored | aside == set(live.get(collection, {})), collection
    assert len(await rows(engine, "SELECT 1 FROM likes")) > 50
