"""The Redis side of the adapter, in process, against the real Redis (keys under the test prefix)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from app.application import build_app
from app.broker.stream import RedisStream, dead_letter_fields
from app.broker.transport import RedisConsumer
from app.events import DeadLetter
from app.settings import Settings
from tests.broker.harness import IdleHandlers, Keys, commit, identity, push
from tests.servers import Servers


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


@pytest.fixture
def settings(servers: Servers, keys: Keys) -> Settings:
    return Settings(
        redis_url=servers.redis_url,
        stream_key=keys.stream,
        consumer_group=keys.group,
        dead_letter_stream=keys.dead_letters,
        consumer_id="inproc",
        max_deliveries=2,
    )


@pytest.fixture
async def stream(settings: Settings) -> AsyncIterator[RedisStream]:
    client = aioredis.from_url(settings.redis_url)
    yield RedisStream(client, settings)
    await client.aclose()


async def test_a_missing_group_is_created_by_the_read_that_finds_it_missing(
    stream: RedisStream, redis_client: aioredis.Redis, keys: Keys
) -> None:
    await push(redis_client, keys.stream, [commit("did:plc:a", 1)])
    assert await stream.read("c-0", None, 10, 10) == []
    assert [g["name"].decode() for g in await redis_client.xinfo_groups(keys.stream)] == [keys.group]
    await stream.ensure_group()  # idempotent
    assert len(await stream.read("c-0", None, 10, 10)) == 1


async def test_own_pending_entries_are_read_back_with_their_delivery_counts(
    stream: RedisStream, redis_client: aioredis.Redis, keys: Keys
) -> None:
    ids = [
        i.encode() for i in await push(redis_client, keys.stream, [commit("did:plc:a", n) for n in range(3)])
    ]
    await stream.ensure_group()
    assert [entry_id for entry_id, _ in await stream.read("c-0", None, 10, 10)] == ids
    again = await stream.read("c-0", b"0", 2, 0)
    assert [entry_id for entry_id, _ in again] == ids[:2]
    assert [entry_id for entry_id, _ in await stream.read("c-0", again[-1][0], 2, 0)] == ids[2:]
    assert await stream.read("c-1", b"0", 10, 0) == [], "another consumer's pending entries"
    assert await stream.delivery_counts(ids) == {ids[0]: 2, ids[1]: 2, ids[2]: 2}


async def test_dead_letters_and_their_acknowledgement_are_written_together(
    stream: RedisStream, redis_client: aioredis.Redis, keys: Keys
) -> None:
    ids = [i.encode() for i in await push(redis_client, keys.stream, [identity("did:plc:a", 9)])]
    await stream.ensure_group()
    await stream.read("c-0", None, 10, 10)
    letter = DeadLetter("1-1", "commit", '{"x": 1}', "7", 3, "bad op", op_index=2)
    await stream.dead_letter([dead_letter_fields(letter)], ids)
    assert await redis_client.xpending(keys.stream, keys.group) == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }
    [(_, fields)] = await redis_client.xrange(keys.dead_letters)
    assert fields == {
        b"type": b"commit",
        b"data": b'{"x": 1}',
        b"seq": b"7",
        b"origId": b"1-1",
        b"deliveries": b"3",
        b"error": b"bad op",
        b"opIndex": b"2",
    }


async def test_keep_alive_refreshes_own_idle_entries_and_leaves_others_alone(
    stream: RedisStream, redis_client: aioredis.Redis, keys: Keys
) -> None:
    await push(redis_client, keys.stream, [commit("did:plc:a", n) for n in range(4)])
    await stream.ensure_group()
    mine = [entry_id for entry_id, _ in await stream.read("mine-0", None, 2, 10)]
    await stream.read("theirs-0", None, 2, 10)
    await asyncio.sleep(0.3)
    assert await stream.keep_alive("mine-0", 200, set(mine)) == 2
    pending = await redis_client.xpending_range(keys.stream, keys.group, "-", "+", 10)
    idle = {p["consumer"].decode(): p["time_since_delivered"] for p in pending}
    assert idle["mine-0"] < 200 <= idle["theirs-0"]
    assert {p["consumer"].decode() for p in pending} == {"mine-0", "theirs-0"}
    assert {p["times_delivered"] for p in pending} == {1}
    assert await stream.keep_alive("mine-0", 200, set(mine)) == 0, "nothing idle long enough"


async def test_keep_alive_leaves_entries_the_process_does_not_hold_to_go_idle(
    stream: RedisStream, redis_client: aioredis.Redis, keys: Keys
) -> None:
    """A read whose reply was lost leaves entries pending under the worker's name that it never
    saw; they must go idle so that XAUTOCLAIM takes them back. Pages are walked by id."""
    await push(redis_client, keys.stream, [commit("did:plc:a", n) for n in range(5)])
    await stream.ensure_group()
    ids = [entry_id for entry_id, _ in await stream.read("mine-0", None, 5, 10)]
    held = {ids[0], ids[4]}
    await asyncio.sleep(0.3)
    assert await stream.keep_alive("mine-0", 200, held) == 2
    pending = await redis_client.xpending_range(keys.stream, keys.group, "-", "+", 10)
    idle = {p["message_id"]: p["time_since_delivered"] for p in pending}
    assert all(idle[entry_id] < 200 for entry_id in held)
    assert all(idle[entry_id] >= 200 for entry_id in set(ids) - held)


async def test_claim_takes_idle_entries_of_other_consumers(
    stream: RedisStream, redis_client: aioredis.Redis, keys: Keys
) -> None:
    ids = [
        i.encode() for i in await push(redis_client, keys.stream, [commit("did:plc:a", n) for n in range(3)])
    ]
    await stream.ensure_group()
    await stream.read("gone-0", None, 10, 10)
    await redis_client.xdel(keys.stream, ids[1])
    cursor, entries = await stream.claim("alive-0", b"0-0", 0, 10)
    assert cursor == b"0-0"
    assert [entry_id for entry_id, _ in entries] == [ids[0], ids[2]]
    assert await stream.delivery_counts([ids[0], ids[2]]) == {ids[0]: 2, ids[2]: 2}
    assert await stream.delivery_counts([ids[1]]) == {}, "a deleted entry left the pending list"


async def test_the_adapter_settles_bad_and_unknown_entries_and_delivers_the_rest_by_kind(
    settings: Settings, redis_client: aioredis.Redis, keys: Keys
) -> None:
    """In process: one read's entries through `RedisConsumer._accept`, the adapter's counters."""
    app = build_app(settings, IdleHandlers())
    consumer = app.consumer
    assert isinstance(consumer, RedisConsumer)
    await consumer.on_start()
    try:
        entries = [
            commit("did:plc:a", 1),
            {"type": "labels", "data": "{}"},
            {"type": "commit", "data": b"\xff", "seq": "3"},
            identity("did:plc:b", 4),
            commit("did:plc:c", 5),
            {"type": "sync", "data": "{}"},
            {"type": "labels", "data": "{}"},
            commit("did:plc:over", 8),
        ]
        ids = [i.encode() for i in await push(redis_client, keys.stream, entries)]
        await consumer.stream.ensure_group()
        read = await consumer.stream.read("inproc-0", None, 10, 10)
        pipeline = consumer._pipelines[0]
        await consumer._accept(pipeline, read, {entry_id: 1 for entry_id in ids} | {ids[7]: 3})
        assert consumer.counters.unknown_types == {"labels": 2, "sync": 1}
        assert consumer.counters.dead_letters == 2
        letters = {f[b"origId"]: f[b"error"] for _, f in await redis_client.xrange(keys.dead_letters)}
        assert letters[ids[2]].startswith(b"data is not valid UTF-8")
        assert letters[ids[7]] == b"delivered 2 times without completing"
        pending = {
            p["message_id"] for p in await redis_client.xpending_range(keys.stream, keys.group, "-", "+", 10)
        }
        assert pending == {ids[0], ids[3], ids[4]}, "bad and unknown entries are acknowledged at once"
        by_topic = {d.tp.topic: d for d in consumer._ready}
        assert set(by_topic) == {"stream.commit", "stream.identity"}
        commits = by_topic["stream.commit"]
        assert commits.entry_ids == [ids[0], ids[4]]
        assert [e.repo for e in commits.batch.events] == ["did:plc:a", "did:plc:c"]
        assert by_topic["stream.identity"].entry_ids == [ids[3]]
        assert pipeline.in_flight == 2
    finally:
        await consumer.on_shutdown()


async def test_take_back_unseen_claims_only_what_the_process_does_not_hold(
    stream: RedisStream, redis_client: aioredis.Redis, keys: Keys
) -> None:
    """After a failed read, a pipeline takes back at once the entries Redis delivered to it but
    whose reply was lost, leaving alone what it holds and what other consumers hold."""
    await push(redis_client, keys.stream, [commit("did:plc:a", n) for n in range(6)])
    await stream.ensure_group()
    mine = [entry_id for entry_id, _ in await stream.read("mine-0", None, 4, 10)]
    await stream.read("theirs-0", None, 2, 10)
    held = {mine[0], mine[2]}
    taken = await stream.take_back_unseen("mine-0", held, 10)
    assert [entry_id for entry_id, _ in taken] == [mine[1], mine[3]]
    assert all(fields[b"type"] == b"commit" for _, fields in taken)
    counts = await stream.delivery_counts(mine)
    assert counts == {mine[0]: 1, mine[1]: 2, mine[2]: 1, mine[3]: 2}
    assert len(await stream.take_back_unseen("mine-0", held, 1)) == 1, "at most `count`"
