"""Operator commands: `python -m app recount` repairs counters a test corrupted on purpose;
`python -m app redrive-dead-letters` puts dead letters back once their cause is fixed, and the
worker indexes them; the dead-letter stream is capped at about DEAD_LETTER_MAXLEN."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.broker.stream import RedisStream
from app.events import version_of
from app.indexing.handlers import IndexingHandlers
from app.indexing.recount import counter_drift
from app.settings import Settings
from tests.broker.harness import REPO_ROOT, Keys, push, wait_for
from tests.indexing.running import drained, indexer
from tests.indexing.test_collections import one
from tests.operating.workload import POST, commit, did
from tests.servers import Servers
from tests.support.events import DID_A, DID_B, DID_C, like_record, op, post_record, uri
from tests.support.events import commit as commit_event


def run_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def aggregates(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT post_uri, like_count FROM post_aggregations"))
        return {post_uri: like_count for post_uri, like_count in rows}


async def test_recount_repairs_counters_corrupted_on_purpose(
    database_url_str: str, engine: AsyncEngine, keys: Keys
) -> None:
    handlers = IndexingHandlers(Settings(), engine=engine)
    await handlers.start()
    first, second = uri(DID_A, POST, "3lfirst000000"), uri(DID_A, POST, "3lsecond00000")
    events = [
        commit_event(DID_A, [op("create", POST, "3lfirst000000", post_record("one"))], 1),
        commit_event(DID_A, [op("create", POST, "3lsecond00000", post_record("two"))], 2),
        commit_event(DID_B, [op("create", "app.bsky.feed.like", "3llike1", like_record(first))], 3),
        commit_event(DID_C, [op("create", "app.bsky.feed.like", "3llike2", like_record(first))], 4),
        commit_event(DID_C, [op("create", "app.bsky.feed.like", "3llike3", like_record(second))], 5),
    ]
    assert not await handlers.commits(events)
    healthy = await aggregates(engine)
    assert (healthy[first], healthy[second]) == (2, 1)
    nobody = uri(DID_B, POST, "3lnobody00000")
    async with engine.begin() as conn:  # what the old workers left: counts off, rows missing or stray
        await conn.execute(
            text("UPDATE post_aggregations SET like_count = 42 WHERE post_uri = :u"), {"u": first}
        )
        await conn.execute(text("DELETE FROM post_aggregations WHERE post_uri = :u"), {"u": second})
        await conn.execute(
            text("INSERT INTO post_aggregations (post_uri, like_count) VALUES (:u, 7)"), {"u": nobody}
        )

    repaired = run_command("recount", env={"DATABASE_URL": database_url_str})
    assert repaired.returncode == 0, repaired.stderr
    assert "recount: 3 counter rows" in repaired.stdout
    assert (
        f"post_aggregations.like_count: 3 rows set to their live count ({first}: 42 -> 2" in repaired.stdout
    )
    assert await aggregates(engine) == {**healthy, nobody: 0}
    async with engine.connect() as conn:
        assert await counter_drift(conn) == []

    again = run_command("recount", env={"DATABASE_URL": database_url_str})
    assert again.returncode == 0 and "nothing changed" in again.stdout


def test_commands_fail_with_one_line_when_a_server_does_not_answer() -> None:
    unreachable = {
        "DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1",
    }
    for command in ("recount", "redrive-dead-letters"):
        result = run_command(command, env=unreachable)
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "does not answer" in result.stderr and "hunter2" not in result.stderr


@pytest.mark.slow
async def test_dead_letters_redriven_once_their_cause_is_fixed_are_indexed(
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    """A check constraint makes PostgreSQL refuse two posts (an error of those entries' values: each is
    dead-lettered alone, its batch-mates indexed; a raising trigger would be a database fault that
    holds the batch instead, tests/operating/test_database_faults.py); the constraint is dropped (the
    cause fixed); re-driving one, then the rest, gets them indexed at their original versions."""
    author = did("author", 1)
    entries = [
        commit(author, POST, "3lgood0000000", post_record("fine"), 1),
        commit(author, POST, "3lpoisona0000", post_record("poison a"), 2),
        {**commit(author, POST, "3lpoisonb0000", post_record("poison b"), 3), "seq": ""},  # no seq
    ]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "ALTER TABLE posts ADD CONSTRAINT refused_by_the_test "
                "CHECK (text NOT LIKE 'poison%') NOT VALID"
            )
        )
    try:
        ids = await push(redis_client, keys.stream, entries)
        async with indexer(redis_client, keys, servers.redis_url, database_url_str, tmp_path) as worker:
            await wait_for(lambda: drained(redis_client, keys, 3), "the first run", 60, [worker])
            letters = await redis_client.xrange(keys.dead_letters)
            assert [fields[b"origId"].decode() for _, fields in letters] == ids[1:]
            assert all(b"refused_by_the_test" in fields[b"error"] for _, fields in letters)
            assert await one(engine, "SELECT count(*) FROM posts") == 1
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TABLE posts DROP CONSTRAINT refused_by_the_test"))

            env = {
                "REDIS_URL": servers.redis_url,
                "REDIS_STREAM_KEY": keys.stream,
                "DEAD_LETTER_STREAM": keys.dead_letters,
            }
            first = run_command("redrive-dead-letters", "--count", "1", env=env)
            assert first.returncode == 0, first.stderr
            assert "1 dead letters removed" in first.stdout and "1 entries added" in first.stdout
            await wait_for(lambda: drained(redis_client, keys, 4), "the first re-driven entry", 60, [worker])
            assert await redis_client.xlen(keys.dead_letters) == 1
            rest = run_command("redrive-dead-letters", env=env)
            assert rest.returncode == 0, rest.stderr
            await wait_for(lambda: drained(redis_client, keys, 5), "the second re-driven entry", 60, [worker])
            assert worker.terminate() == 0
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE posts DROP CONSTRAINT IF EXISTS refused_by_the_test"))
    assert await redis_client.xlen(keys.dead_letters) == 0
    texts = await one(engine, "SELECT string_agg(text, ',' ORDER BY text) FROM posts")
    assert texts == "fine,poison a,poison b"
    async with engine.connect() as conn:
        versions = dict((await conn.execute(text("SELECT uri, version FROM indexer.record_versions"))).all())
    assert versions[f"at://{author}/{POST}/3lpoisona0000"] == 2
    assert versions[f"at://{author}/{POST}/3lpoisonb0000"] == version_of(ids[2], "")


async def test_the_dead_letter_stream_is_capped(
    servers: Servers, keys: Keys, redis_client: aioredis.Redis
) -> None:
    """`MAXLEN ~ DEAD_LETTER_MAXLEN`: Redis trims whole nodes of the stream (100 entries each by
    default), so the length stays within one node of the cap."""
    settings = Settings(
        redis_url=servers.redis_url, dead_letter_stream=keys.dead_letters, dead_letter_maxlen=50
    )
    stream = RedisStream(redis_client, settings)
    letter = {"type": "commit", "data": "{}", "seq": "", "origId": "1-0", "deliveries": "1", "error": "e"}
    for _ in range(20):
        await stream.dead_letter([letter] * 50)
    assert 50 <= await redis_client.xlen(keys.dead_letters) <= 50 + 100
