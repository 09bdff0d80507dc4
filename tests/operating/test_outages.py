"""PostgreSQL, then Redis, cut away from the running worker for 20 s in the middle of a 20,000-entry
run, through a proxy the test controls (tests/support/proxy.py). Afterwards the database holds the
workload's exact totals, nothing was dead-lettered, nothing is pending, and the log says each change
of state once."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.broker.harness import Keys, Worker, commit, free_port, handled, pending_ids, push, wait_for
from tests.indexing.running import drained, indexer, read_at_least
from tests.operating.web import get, metric_values
from tests.operating.workload import Workload, assert_indexed, build
from tests.servers import Servers
from tests.support.proxy import Proxy, proxy_to

pytestmark = pytest.mark.slow

OUTAGE_S = 20.0

WorkerFactory = Callable[[dict[str, str]], AbstractAsyncContextManager[Worker]]


def workload() -> Workload:
    # 40 posts + 40 x 375 likes + 4,900 follows + 30 identity + 30 account events = 20,000 entries.
    return build(posts=40, likes_per_post=375, follows=4_900, identities=30, accounts=30)


async def run_with_outage(
    client: aioredis.Redis, keys: Keys, proxy: Proxy, start: WorkerFactory, total: int, server: str
) -> tuple[Worker, float]:
    """Cut the proxy once a quarter of the entries were read, restore it 20 s later; return the
    worker and the seconds from the restore to the stream drained. During the outage the worker
    is live but not ready, and its metrics say which server is down."""
    port = free_port()
    async with start({"WEB_PORT": str(port)}) as worker:
        await wait_for(lambda: read_at_least(client, keys, total // 4), "a quarter read", 60, [worker])
        await proxy.cut()
        deadline = time.monotonic() + OUTAGE_S
        await asyncio.sleep(3.0)
        assert (await get(port, "/health/live"))[0] == 200
        status, body = await get(port, "/health/ready")
        assert status == 503 and not json.loads(body)[server.lower()].startswith("ok"), body
        up = metric_values((await get(port, "/metrics"))[1])
        assert up[("appview_indexer_server_up", (("server", server.lower()),))] == 0
        while time.monotonic() < deadline:
            assert worker.alive(), worker.log[-3000:]
            assert await client.xlen(keys.dead_letters) == 0, "dead-lettered during the outage"
            await asyncio.sleep(0.5)
        assert not await drained(client, keys, total), "the run finished despite the outage"
        await proxy.restore()
        restored = time.monotonic()
        await wait_for(lambda: drained(client, keys, total), "the stream drained", 90, [worker])
        recovery = time.monotonic() - restored
        assert (await get(port, "/health/ready"))[0] == 200
        assert await terminate(worker) == 0, worker.log[-3000:]
    return worker, recovery


def assert_one_line_per_change(worker: Worker, server: str) -> None:
    """The outage is two lines, its start and its end, whatever the number of batches held; no
    other warning or error is logged."""
    noisy = [line for line in worker.log.splitlines() if re.search(r"\] \[(WARNING|ERROR|CRITICAL)\]", line)]
    noisy = [line for line in noisy if "Created consumer group" not in line]
    assert len(noisy) == 2, "\n".join(noisy)
    assert f"{server} unavailable: transient failure" in noisy[0]
    assert f"{server} available again after" in noisy[1]


async def terminate(worker: Worker, timeout: float = 30.0) -> int:
    """SIGTERM and wait without blocking the event loop, which runs the proxy the worker's last
    statements and acknowledgements go through."""
    assert worker.process is not None
    worker.process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(worker.process.wait, timeout)


async def assert_recovered(
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    keys: Keys,
    work: Workload,
    worker: Worker,
    server: str,
    recovery: float,
) -> None:
    """After an outage of `server`: every row indexed, nothing dead-lettered, one log line each for
    the outage and the recovery; the recovery time is printed (a figure, not a check)."""
    print(f"\n{server} outage: drained {recovery:.1f} s after the restore")
    await assert_indexed(engine, work)
    assert await redis_client.xlen(keys.dead_letters) == 0
    assert_one_line_per_change(worker, server)


async def test_postgresql_cut_away_mid_run(
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    work = workload()
    await push(redis_client, keys.stream, work.entries)
    url = make_url(database_url_str)
    async with proxy_to(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        worker, recovery = await run_with_outage(
            redis_client,
            keys,
            proxy,
            lambda env: indexer(redis_client, keys, servers.redis_url, proxied, tmp_path, env),
            len(work.entries),
            "PostgreSQL",
        )
    await assert_recovered(engine, redis_client, keys, work, worker, "PostgreSQL", recovery)


async def test_redis_cut_away_mid_run(
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    work = workload()
    await push(redis_client, keys.stream, work.entries)
    redis_url = make_url(servers.redis_url.replace("redis://", "postgresql://"))
    async with proxy_to(redis_url.host or "127.0.0.1", redis_url.port or 6379) as proxy:
        proxied = f"redis://127.0.0.1:{proxy.port}/{redis_url.database or 0}"
        worker, recovery = await run_with_outage(
            redis_client,
            keys,
            proxy,
            lambda env: indexer(redis_client, keys, proxied, database_url_str, tmp_path, env),
            len(work.entries),
            "Redis",
        )
    await assert_recovered(engine, redis_client, keys, work, worker, "Redis", recovery)


async def test_entries_whose_read_reply_was_lost_are_claimed_back(
    servers: Servers, redis_client: aioredis.Redis, keys: Keys, tmp_path: Path
) -> None:
    """Redis delivered entries to a pipeline but the reply never arrived (the connection dropped on
    the way back): they are pending under the worker's own consumer name, unknown to the worker. It
    must not keep them alive as if it held them; once idle for CLAIM_IDLE_MS they are claimed and
    handled. The test makes that state exactly, by reading as the worker's consumer itself."""
    env = {"PARALLEL_CONSUMERS": "1", "CLAIM_IDLE_MS": "1500", "CLAIM_INTERVAL_S": "0.3"}
    worker = Worker(keys, servers.redis_url, "probe-l", tmp_path / "probe.log", env=env).start()
    try:
        first = await push(redis_client, keys.stream, [commit(f"did:plc:c{n}", n) for n in range(3)])
        await wait_for(lambda: _handled(redis_client, keys, first), "the worker reading", 60, [worker])
        # XADD and the read in one transaction: the worker's blocked read cannot take them first.
        async with redis_client.pipeline(transaction=True) as pipe:
            for n in range(3, 8):
                pipe.xadd(keys.stream, commit(f"did:plc:c{n}", n))
            pipe.xreadgroup(keys.group, "probe-l-0", {keys.stream: ">"}, count=5)
            *added, _ = await pipe.execute()
        lost = [entry_id.decode() for entry_id in added]
        await wait_for(lambda: _handled(redis_client, keys, lost), "the lost entries handled", 30, [worker])
        await wait_for(lambda: _none_pending(redis_client, keys), "nothing pending", 10, [worker])
        assert worker.terminate() == 0
    finally:
        worker.ensure_stopped()


async def _handled(client: aioredis.Redis, keys: Keys, ids: list[str]) -> bool:
    return set(ids) <= set(await handled(client, keys))


async def _none_pending(client: aioredis.Redis, keys: Keys) -> bool:
    return not await pending_ids(client, keys)
