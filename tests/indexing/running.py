"""The real `faust -A app worker` against the test database and a test's own stream keys."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis

from tests.broker.harness import Fields, Keys, Worker, push, wait_for


async def drained(client: aioredis.Redis, keys: Keys, expected_reads: int) -> bool:
    """Every entry read by the group and none pending: the worker has finished with all of them."""
    try:
        groups = await client.xinfo_groups(keys.stream)
    except aioredis.ResponseError:
        return False
    group = next((g for g in groups if g["name"].decode() == keys.group), None)
    # entries-read is nil until the group has a known position in the stream.
    return group is not None and (group["entries-read"] or 0) >= expected_reads and group["pending"] == 0


async def entries_read(client: aioredis.Redis, keys: Keys) -> int:
    groups = await client.xinfo_groups(keys.stream)
    group = next((g for g in groups if g["name"].decode() == keys.group), None)
    return int(group["entries-read"] or 0) if group else 0


async def read_at_least(client: aioredis.Redis, keys: Keys, n: int) -> bool:
    """The group has read `n` entries (a point mid-run at which a test interrupts something)."""
    try:
        return await entries_read(client, keys) >= n
    except aioredis.ResponseError:
        return False


@asynccontextmanager
async def indexer(
    client: aioredis.Redis,
    keys: Keys,
    redis_url: str,
    database_url: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Worker]:
    worker = Worker(
        keys,
        redis_url,
        consumer_id=f"{keys.prefix}indexer",
        log_path=log_dir / f"indexer-{time.monotonic_ns()}.log",
        app_module="app",
        env={"DATABASE_URL": database_url, "DB_POOL_SIZE": "4", "BATCH_SIZE": "100", **(env or {})},
    ).start()
    try:
        yield worker
    finally:
        worker.ensure_stopped()


async def index_entries(
    client: aioredis.Redis,
    keys: Keys,
    redis_url: str,
    database_url: str,
    log_dir: Path,
    entries: Iterable[Fields],
    timeout: float = 120.0,
) -> Worker:
    """Push the entries, run the worker until it has finished with all of them, stop it (SIGTERM)."""
    ids = await push(client, keys.stream, entries)
    async with indexer(client, keys, redis_url, database_url, log_dir) as worker:
        await wait_for(lambda: drained(client, keys, len(ids)), "the stream drained", timeout, [worker])
        assert worker.terminate() == 0, worker.log[-3000:]
    return worker
