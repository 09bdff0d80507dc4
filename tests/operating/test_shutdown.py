"""SIGTERM in mid-run: the worker finishes, commits and acknowledges the batches in flight and exits
0 within SHUTDOWN_TIMEOUT_S; a restart completes the run, and the database holds exactly what the
workload makes (the totals an uninterrupted run gives, asserted). Also when PostgreSQL is away at
the signal: the batches it holds cannot commit, so they stay pending for the next start."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.broker.harness import Keys, pending_ids, push, wait_for
from tests.indexing.running import drained, indexer, read_at_least
from tests.operating.test_outages import terminate
from tests.operating.workload import Workload, assert_indexed, build
from tests.servers import Servers
from tests.support.proxy import proxy_to

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT_S = 8


def workload() -> Workload:
    # 30 posts + 30 x 200 likes + 1,940 follows + 15 identity + 15 account events = 8,000 entries.
    return build(posts=30, likes_per_post=200, follows=1_940, identities=15, accounts=15)


async def test_sigterm_mid_run_then_a_restart_completes_the_run(
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    work = workload()
    total = len(work.entries)
    await push(redis_client, keys.stream, work.entries)
    env = {"SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S)}
    async with indexer(redis_client, keys, servers.redis_url, database_url_str, tmp_path, env) as first:
        await wait_for(lambda: read_at_least(redis_client, keys, total // 3), "a third read", 60, [first])
        signalled = time.monotonic()
        assert await terminate(first, timeout=SHUTDOWN_TIMEOUT_S + 5) == 0, first.log[-3000:]
        took = time.monotonic() - signalled
    print(f"\nSIGTERM mid-run: exited 0 after {took:.1f} s")
    assert took < SHUTDOWN_TIMEOUT_S
    assert not await drained(redis_client, keys, total), "the run finished before the signal"
    assert "stay pending" not in first.log, "batches were left in flight"
    # Only reads that returned after the signal stay pending (never handed to an agent, taken back
    # at once by the restart): nothing committed is left unacknowledged.
    pending = await pending_ids(redis_client, keys)
    assert len(pending) <= 3 * 100, "more than one read per pipeline left pending"
    assert not await committed(engine, redis_client, keys, pending), "committed but not acknowledged"

    async with indexer(redis_client, keys, servers.redis_url, database_url_str, tmp_path, env) as second:
        await wait_for(lambda: drained(redis_client, keys, total), "the run completed", 90, [second])
        assert await terminate(second) == 0
    await assert_indexed(engine, work)
    assert await redis_client.xlen(keys.dead_letters) == 0


@pytest.mark.parametrize("server", ["PostgreSQL", "Redis"])
async def test_sigterm_during_an_outage_exits_in_time_and_leaves_the_rest_pending(
    server: str,
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    """PostgreSQL away: the batches it holds never commit; Redis away: committed batches cannot be
    acknowledged. Either way the worker exits 0 within the bound, and what it could not finish
    stays pending: the restart indexes it (again, to the same effect) and the totals are exact."""
    work = workload()
    total = len(work.entries)
    await push(redis_client, keys.stream, work.entries)
    env = {"SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S)}
    target = make_url(database_url_str if server == "PostgreSQL" else _as_url(servers.redis_url))
    async with proxy_to(target.host or "127.0.0.1", target.port or 0) as proxy:
        if server == "PostgreSQL":
            database_url = target.set(port=proxy.port).render_as_string(hide_password=False)
            redis_url = servers.redis_url
        else:
            database_url = database_url_str
            redis_url = f"redis://127.0.0.1:{proxy.port}/{target.database or 0}"
        async with indexer(redis_client, keys, redis_url, database_url, tmp_path, env) as first:
            await wait_for(lambda: read_at_least(redis_client, keys, total // 3), "a third read", 60, [first])
            await proxy.cut()
            await wait_for(
                lambda: _logged(first.log, f"{server} unavailable"), "the outage seen", 30, [first]
            )
            signalled = time.monotonic()
            assert await terminate(first, timeout=SHUTDOWN_TIMEOUT_S + 10) == 0, first.log[-3000:]
            took = time.monotonic() - signalled
        print(f"\nSIGTERM during a {server} outage: exited 0 after {took:.1f} s")
        assert took < SHUTDOWN_TIMEOUT_S
        assert await pending_ids(redis_client, keys), "nothing was left pending"
        assert "they stay pending" in first.log
        await proxy.restore()
        async with indexer(redis_client, keys, redis_url, database_url, tmp_path, env) as second:
            await wait_for(lambda: drained(redis_client, keys, total), "the run completed", 90, [second])
            assert await terminate(second) == 0
    await assert_indexed(engine, work)
    assert await redis_client.xlen(keys.dead_letters) == 0


async def committed(engine: AsyncEngine, client: aioredis.Redis, keys: Keys, ids: set[str]) -> list[str]:
    """Those of `ids` (commit entries) whose record the database holds."""
    uris = {}
    for entry_id in ids:
        for _, fields in await client.xrange(keys.stream, entry_id, entry_id):
            if fields[b"type"] == b"commit":
                data = json.loads(fields[b"data"])
                uris[f"at://{data['repo']}/{data['ops'][0]['path']}"] = entry_id
    async with engine.connect() as conn:
        found = await conn.scalars(
            text("SELECT uri FROM indexer.record_versions WHERE uri = ANY(:uris)"), {"uris": list(uris)}
        )
        return [uris[uri] for uri in found]


def _as_url(redis_url: str) -> str:
    """A Redis URL spelled so that SQLAlchemy's URL parser reads its host, port and database."""
    return redis_url.replace("redis://", "postgresql://", 1)


async def _logged(log: str, text: str) -> bool:
    return text in log
