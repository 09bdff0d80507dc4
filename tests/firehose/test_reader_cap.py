"""The stream's end: the reader trims only what the consumer group acknowledged, and at
REDIS_MAX_STREAM_LEN it stops reading the relay instead of dropping entries. A consumer that stops
acknowledging makes it pause; once the consumer catches up it reads on from its cursor, and the
consumer has received every event."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from app.firehose.stream import acknowledged_floor, trim_acknowledged
from tests.operating.web import metric_values
from tests.servers import Servers
from tests.support.fake_relay import FakeRelay
from tests.support.reader import ReaderKeys, ReaderProcess, relay_messages, wait_for

CAP = 40


async def read_group(client: aioredis.Redis, keys: ReaderKeys, count: int, ack: bool) -> list[int]:
    """Up to `count` new entries for consumer `c`; their seqs. Acknowledged when `ack`."""
    reply = await client.xreadgroup(keys.group, "c", {keys.stream: ">"}, count=count)
    if not reply:
        return []
    ids = [entry_id for entry_id, _ in reply[0][1]]
    if ack and ids:
        await client.xack(keys.stream, keys.group, *ids)
    return [int(fields[b"seq"]) for _, fields in reply[0][1]]


async def test_a_consumer_that_stops_acknowledging_pauses_the_reader_and_loses_nothing(
    fixtures_dir: Path, servers: Servers, redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    keys = ReaderKeys(redis_prefix)
    messages = relay_messages(fixtures_dir)
    await redis_client.xgroup_create(keys.stream, keys.group, id="0", mkstream=True)
    settings = {"REDIS_MAX_STREAM_LEN": str(CAP), "READER_BATCH_SIZE": "5"}
    received: list[int] = []
    with FakeRelay() as relay:
        relay.add(messages)
        reader = ReaderProcess(
            keys, servers.redis_url, relay.url, tmp_path / "reader.log", cursor=messages[0][0] - 1, **settings
        )
        reader.start()
        try:

            async def paused() -> bool:
                _, text = await reader.get("/metrics")
                return metric_values(text).get(("appview_reader_paused_at_cap", ())) == 1

            # Nobody has read anything: the reader fills the stream to the cap and stops there.
            await wait_for(paused, what="the reader to pause at the cap")
            assert CAP <= await redis_client.xlen(keys.stream) <= CAP + 5
            assert len(relay.cursors) == 1

            received += await read_group(redis_client, keys, 10, ack=True)
            received += await read_group(redis_client, keys, 10, ack=False)  # delivered, never acked

            async def paused_again() -> bool:
                return (
                    len(relay.cursors) >= 2 and await paused() and await redis_client.xlen(keys.stream) >= CAP
                )

            # The 10 acknowledged entries are trimmed, the reader reads on from its cursor, up to the cap.
            await wait_for(paused_again, what="the reader to resume, then pause at the cap again")
            remaining = [int(fields[b"seq"]) for _, fields in await redis_client.xrange(keys.stream)]
            assert remaining[:10] == received[10:], "an entry pending in the group was trimmed"
            assert set(received[:10]).isdisjoint(remaining), "acknowledged entries were not trimmed"
            assert CAP <= len(remaining) <= CAP + 5
            status, body = await reader.get("/health/ready")
            assert status == 200, body  # paused on purpose is ready

            # The consumer catches up, acknowledging everything (its pending ones included).
            pending = await redis_client.xpending_range(keys.stream, keys.group, "-", "+", 100)
            await redis_client.xack(keys.stream, keys.group, *[item["message_id"] for item in pending])

            async def consumed_everything() -> bool:
                received.extend(await read_group(redis_client, keys, 50, ack=True))
                return len(set(received)) >= len(messages)

            await wait_for(consumed_everything, timeout=60, what="the consumer to receive every event")
            _, text = await reader.get("/metrics")
        finally:
            assert reader.stop() == 0, reader.log()

    assert sorted(set(received)) == [seq for seq, _ in messages]
    assert len(relay.cursors) >= 3  # it closed the socket at the cap and came back from its cursor
    values = metric_values(text)
    assert values[("appview_reader_paused_at_cap_seconds_total", ())] > 0
    log = reader.log()
    assert log.count("stopped reading the source") >= 2
    assert "reading again from cursor" in log


async def test_floor_is_the_oldest_unacknowledged_entry(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    keys = ReaderKeys(redis_prefix)
    assert await acknowledged_floor(redis_client, keys.stream, keys.group) is None  # no stream
    ids = [await redis_client.xadd(keys.stream, {"n": str(n)}) for n in range(6)]
    assert await trim_acknowledged(redis_client, keys.stream, keys.group) == 0  # no group: trim nothing
    await redis_client.xgroup_create(keys.stream, keys.group, id="0")
    assert await trim_acknowledged(redis_client, keys.stream, keys.group) == 0  # nothing delivered
    reply = await redis_client.xreadgroup(keys.group, "c", {keys.stream: ">"}, count=4)
    delivered = [entry_id for entry_id, _ in reply[0][1]]
    await redis_client.xack(keys.stream, keys.group, delivered[0], delivered[2])  # 1 and 3 pending
    assert await trim_acknowledged(redis_client, keys.stream, keys.group) == 1  # only the first
    assert [entry_id for entry_id, _ in await redis_client.xrange(keys.stream)] == ids[1:]
    await redis_client.xack(keys.stream, keys.group, delivered[1], delivered[3])
    assert await trim_acknowledged(redis_client, keys.stream, keys.group) == 3  # up to the undelivered
    assert [entry_id for entry_id, _ in await redis_client.xrange(keys.stream)] == ids[4:]
