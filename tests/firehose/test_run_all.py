"""What `make run` starts — scripts/supervise.py with the reader and the real worker — against a fake
relay serving the real capture: the database ends with the records Jetstream served (posts with
their text, likes, reposts, follows, blocks, deletes applied), nothing is dead-lettered, and one
SIGTERM stops both processes cleanly."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Base
from tests.conftest import REPO_ROOT
from tests.servers import Servers
from tests.support.capture import expected_records
from tests.support.fake_relay import FakeRelay
from tests.support.reader import ReaderKeys, free_port, reader_env, relay_messages, wait_for

FAUST = Path(sys.executable).parent / "faust"
RELATIONSHIPS = {
    "app.bsky.feed.like": "likes",
    "app.bsky.feed.repost": "reposts",
    "app.bsky.graph.follow": "follows",
    "app.bsky.graph.block": "blocks",
}


async def query(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(text(sql), params)).mappings()]


def live_records(fixtures_dir: Path) -> dict[str, dict[str, dict]]:
    """Jetstream's ops applied in order: collection → uri → record."""
    live: dict[str, dict[str, dict]] = {}
    for op in expected_records(fixtures_dir):
        records = live.setdefault(op.collection, {})
        uri = f"at://{op.did}/{op.collection}/{op.rkey}"
        if op.operation == "delete":
            records.pop(uri, None)
        else:
            assert op.record is not None
            records[uri] = op.record
    return live


@pytest.mark.slow
async def test_supervised_reader_and_worker_index_the_capture(
    fixtures_dir: Path,
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    async with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            await conn.execute(text(f"DELETE FROM {table.fullname}"))
    keys = ReaderKeys(redis_prefix)
    messages = relay_messages(fixtures_dir)
    with FakeRelay() as relay:
        relay.add(messages)
        env = {
            **reader_env(keys, servers.redis_url, relay.url),
            "DATABASE_URL": database_url_str,
            "CONSUMER_ID": f"{redis_prefix}indexer",
            "DEAD_LETTER_STREAM": f"{redis_prefix}dead-letters",
            "METRICS_HASH_KEY": f"{redis_prefix}cluster:metrics",
            "WEB_PORT": str(free_port()),
            "DB_POOL_SIZE": "4",
            "BATCH_SIZE": "100",
            "READ_BLOCK_MS": "200",
        }
        commands = [
            f"{shlex.quote(sys.executable)} -m app firehose --cursor {messages[0][0] - 1}",
            f"{shlex.quote(str(FAUST))} -A app worker -l info",
        ]
        log_path = tmp_path / "run.log"
        with log_path.open("wb") as log:
            supervisor = subprocess.Popen(
                [sys.executable, "scripts/supervise.py", *commands],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:

            async def indexed() -> bool:
                try:
                    groups = await redis_client.xinfo_groups(keys.stream)
                except aioredis.ResponseError:
                    return False
                group = next((g for g in groups if g["name"].decode() == keys.group), None)
                return (
                    group is not None
                    and (group["entries-read"] or 0) >= len(messages)
                    and group["pending"] == 0
                )

            await wait_for(indexed, timeout=180, what="the worker to index every entry the reader added")
        finally:
            started = time.monotonic()
            if supervisor.poll() is None:
                supervisor.send_signal(signal.SIGTERM)
            status = supervisor.wait(90)
        output = log_path.read_text(errors="replace")
        assert status == 0, output[-4000:]
        assert time.monotonic() - started < 60

    assert "SIGTERM: stopping every command" in output
    assert await redis_client.xlen(f"{redis_prefix}dead-letters") == 0
    assert await redis_client.xlen(keys.dead_letters) == 0
    live = live_records(fixtures_dir)
    posts = {row["uri"]: row["text"] for row in await query(engine, "SELECT uri, text FROM posts")}
    assert posts == {
        uri: record["text"].replace("\x00", "") for uri, record in live["app.bsky.feed.post"].items()
    }
    for collection, table in RELATIONSHIPS.items():
        stored = {row["uri"] for row in await query(engine, f"SELECT uri FROM {table}")}
        aside = {
            row["uri"]
            for row in await query(
                engine, "SELECT uri FROM indexer.aside_records WHERE collection = :c", c=collection
            )
        }
        assert stored | aside == set(live.get(collection, {})), collection
