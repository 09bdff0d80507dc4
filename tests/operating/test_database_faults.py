"""A broken database is an outage, not bad input: a trigger that raises on every insert into `likes`,
installed while the worker runs, holds the batches it breaks. The worker is not ready and says why,
dead-letters nothing (also across kill -9 restarts, which redeliver the held entries more often than
MAX_DELIVERIES), and indexes everything exactly once the trigger is dropped."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.broker.harness import Keys, Worker, free_port, push, wait_for
from tests.indexing.running import drained, indexer, read_at_least
from tests.operating.web import get
from tests.operating.workload import assert_indexed, build
from tests.servers import Servers

pytestmark = pytest.mark.slow

INSTALL_TRIGGER = [
    """CREATE FUNCTION refuse_likes() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'likes are refused by a broken trigger'; END $$""",
    "CREATE TRIGGER refuse_likes BEFORE INSERT ON likes FOR EACH ROW EXECUTE FUNCTION refuse_likes()",
]
DROP_TRIGGER = ["DROP TRIGGER IF EXISTS refuse_likes ON likes", "DROP FUNCTION IF EXISTS refuse_likes()"]
RESTARTS = 3


async def execute(engine: AsyncEngine, statements: list[str]) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def readiness(port: int) -> tuple[int, dict[str, str]]:
    try:
        status, body = await get(port, "/health/ready")
    except OSError:
        return 0, {}
    return status, json.loads(body)


async def until_held(worker: Worker, port: int) -> dict[str, str]:
    """Wait until the worker says it is not ready because its indexing is held."""

    async def held() -> bool:
        status, body = await readiness(port)
        return status == 503 and "indexing held" in body.get("postgresql", "")

    await wait_for(held, "the worker holding its batches", 60, [worker])
    return (await readiness(port))[1]


async def test_a_trigger_that_raises_holds_the_worker_until_it_is_dropped(
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    work = build(posts=10, likes_per_post=60, follows=300, identities=10, accounts=10)
    await push(redis_client, keys.stream, work.entries)
    env = {"MAX_DELIVERIES": "2", "BATCH_SIZE": "50"}
    port = free_port()
    try:
        async with indexer(
            redis_client, keys, servers.redis_url, database_url_str, tmp_path, {**env, "WEB_PORT": str(port)}
        ) as worker:
            await wait_for(
                lambda: read_at_least(redis_client, keys, 100), "the first entries read", 60, [worker]
            )
            await execute(engine, INSTALL_TRIGGER)
            body = await until_held(worker, port)
            assert "likes are refused by a broken trigger" in body["postgresql"], body
            worker.kill()
        # Each restart redelivers the held entries; those deliveries do not count toward the limit.
        for _ in range(RESTARTS):
            port = free_port()
            async with indexer(
                redis_client,
                keys,
                servers.redis_url,
                database_url_str,
                tmp_path,
                {**env, "WEB_PORT": str(port)},
            ) as worker:
                await until_held(worker, port)
                await asyncio.sleep(1.0)
                assert await redis_client.xlen(keys.dead_letters) == 0
                worker.kill()
    finally:
        await execute(engine, DROP_TRIGGER)
    async with indexer(redis_client, keys, servers.redis_url, database_url_str, tmp_path, env) as worker:
        await wait_for(
            lambda: drained(redis_client, keys, len(work.entries)), "the stream drained", 120, [worker]
        )
        assert worker.terminate() == 0, worker.log[-3000:]
    await assert_indexed(engine, work)
    assert await redis_client.xlen(keys.dead_letters) == 0
