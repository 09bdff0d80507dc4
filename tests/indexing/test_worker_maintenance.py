"""The running worker expires tombstones past the horizon by itself (TOMBSTONE_* settings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.broker.harness import Keys, push, wait_for
from tests.indexing.conftest import truncate_all
from tests.indexing.running import drained, indexer
from tests.indexing.test_collections import rows
from tests.servers import Servers
from tests.support.events import DID_A


@pytest.mark.slow
async def test_worker_expires_tombstones(
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    await truncate_all(engine)
    keys = Keys(redis_prefix)
    delete = {"repo": DID_A, "ops": [{"action": "delete", "path": "app.bsky.feed.post/3kgone0000000"}]}
    await push(redis_client, keys.stream, [{"type": "commit", "data": json.dumps(delete), "seq": "1"}])
    env = {"TOMBSTONE_HORIZON_DAYS": "0", "TOMBSTONE_SWEEP_INTERVAL_S": "1"}
    async with indexer(redis_client, keys, servers.redis_url, database_url_str, tmp_path, env) as worker:
        await wait_for(lambda: drained(redis_client, keys, 1), "the delete indexed", 60, [worker])

        async def swept() -> bool:
            return await rows(engine, "SELECT uri FROM indexer.record_versions") == []

        await wait_for(swept, "the tombstone expired", 30, [worker])
        assert "expired 1 record tombstones" in worker.log
