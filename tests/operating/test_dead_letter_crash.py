"""A dead letter exists once per entry and op, whatever crashes.

The worker is killed after the transaction of a batch committed and its dead letter reached Redis,
but before anything else of that batch reached Redis (a proxy the test controls holds every byte
once the client sent the dead-letter stream's key). After a restart the entry is redelivered and
indexed again (an idempotent replay); it must not be dead-lettered a second time."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.broker.harness import Keys, free_port, push, wait_for
from tests.indexing.running import drained, indexer
from tests.operating.web import get
from tests.servers import Servers
from tests.support.events import CID_1, DID_A, post_record
from tests.support.proxy import proxy_to

pytestmark = pytest.mark.slow

POST = "app.bsky.feed.post"


def commit_with_one_bad_op() -> dict[str, str]:
    good = {"action": "create", "path": f"{POST}/3kgood0000000", "cid": CID_1, "record": post_record("ok")}
    bad_record = {**post_record("bad"), "createdAt": "not a datetime"}
    bad = {"action": "create", "path": f"{POST}/3kbad00000000", "cid": CID_1, "record": bad_record}
    return {"type": "commit", "data": json.dumps({"repo": DID_A, "ops": [good, bad]}), "seq": "7"}


async def test_kill_between_commit_and_acknowledgement_writes_one_dead_letter(
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    await push(redis_client, keys.stream, [commit_with_one_bad_op()])
    redis_url = make_url(servers.redis_url.replace("redis://", "postgresql://"))
    async with proxy_to(redis_url.host or "127.0.0.1", redis_url.port or 6379) as proxy:
        proxy.freeze_after(keys.dead_letters.encode())
        proxied = f"redis://127.0.0.1:{proxy.port}/{redis_url.database or 0}"
        async with indexer(redis_client, keys, proxied, database_url_str, tmp_path) as first:
            await wait_for(_frozen(proxy.frozen), "the dead letter sent", 60, [first])
            await asyncio.sleep(1.0)  # whatever was let through is carried out by Redis meanwhile
            first.kill()
    port = free_port()
    env = {"WEB_PORT": str(port)}
    async with indexer(redis_client, keys, servers.redis_url, database_url_str, tmp_path, env) as second:
        await wait_for(lambda: _ready(port), "the restarted worker ready", 60, [second])
        await wait_for(lambda: drained(redis_client, keys, 1), "the stream drained", 60, [second])
        assert second.terminate() == 0, second.log[-3000:]
    letters = [fields for _, fields in await redis_client.xrange(keys.dead_letters)]
    assert [(letter[b"origId"], letter[b"opIndex"]) for letter in letters] == [
        (letters[0][b"origId"], b"1")
    ], letters
    async with engine.connect() as conn:
        good = await conn.scalar(text("SELECT count(*) FROM posts WHERE uri LIKE '%3kgood0000000'"))
    assert good == 1


def _frozen(event: asyncio.Event):
    async def check() -> bool:
        return event.is_set()

    return check


async def _ready(port: int) -> bool:
    try:
        return (await get(port, "/health/ready"))[0] == 200
    except OSError:
        return False
