"""The real `faust -A tests.broker.probe_app worker` process against the real Redis (issue 3).

Every key lives under the test's `redis_prefix`. The probe handlers record each handled entry in
Redis before returning (tests/broker/probe_app.py), so "handled" survives a kill -9.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.broker.harness import (
    Keys,
    PrivateRedis,
    Worker,
    assert_acknowledged_only_when_done,
    commit,
    dead_letters,
    delivery_counts,
    handled,
    identity,
    mixed,
    pending_ids,
    push,
    wait_for,
)
from tests.servers import Servers

pytestmark = pytest.mark.slow

WorkerFactory = Callable[..., Worker]


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


@pytest.fixture
def make_worker(servers: Servers, keys: Keys, tmp_path: Path) -> Iterator[WorkerFactory]:
    started: list[Worker] = []

    def make(consumer_id: str = "probe-a", redis_url: str | None = None, **env: str) -> Worker:
        worker = Worker(
            keys=keys,
            redis_url=redis_url or servers.redis_url,
            consumer_id=consumer_id,
            log_path=tmp_path / f"{consumer_id}.log",
            env=env,
        )
        started.append(worker)
        return worker.start()

    yield make
    for worker in started:
        worker.ensure_stopped()


async def test_ten_thousand_mixed_entries_are_each_handled_once(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    entries = mixed(10_000)
    unknown = [{"type": "labels", "data": "{}", "seq": "0"}, {"type": "sync", "data": "{}", "seq": "0"}]
    ids = await push(redis_client, keys.stream, entries[:5_000] + unknown + entries[5_000:])
    unknown_ids = {ids[5_000], ids[5_001]}
    expected = set(ids) - unknown_ids
    worker = make_worker(BATCH_SIZE="200", PARALLEL_CONSUMERS="4")

    async def all_done() -> bool:
        return len(await handled(redis_client, keys)) == len(expected) and not await pending_ids(
            redis_client, keys
        )

    await wait_for(all_done, "10,000 entries handled and acknowledged", timeout=90, workers=[worker])
    counts = await handled(redis_client, keys)
    assert set(counts) == expected
    assert set(counts.values()) == {1}, "an entry was handled twice"
    assert await redis_client.xlen(keys.dead_letters) == 0
    await assert_acknowledged_only_when_done(redis_client, keys, skipped=unknown_ids)
    assert worker.terminate() == 0
    assert await redis_client.get(keys.probe("stopped")) == b"1"


async def test_kill_9_mid_run_then_restart_loses_nothing(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    """A restarted worker takes back its own pending entries at once (not by reclaim: the claim
    idle time is far longer than the test)."""
    ids = await push(redis_client, keys.stream, mixed(3_000))
    env = {"BATCH_SIZE": "20", "PARALLEL_CONSUMERS": "3", "PROBE_DELAY_MS": "20", "CLAIM_IDLE_MS": "600000"}
    first = make_worker("probe-k", **env)

    async def some_handled() -> bool:
        return len(await handled(redis_client, keys)) >= 600

    await wait_for(some_handled, "600 entries handled", workers=[first])
    first.kill()
    assert len(await handled(redis_client, keys)) < len(ids), "the worker finished before it was killed"
    pending_at_kill = await pending_ids(redis_client, keys)
    assert pending_at_kill, "nothing was in flight at the kill"
    await assert_acknowledged_only_when_done(redis_client, keys)

    second = make_worker("probe-k", **env)

    async def all_done() -> bool:
        return len(await handled(redis_client, keys)) == len(ids) and not await pending_ids(
            redis_client, keys
        )

    await wait_for(all_done, "every entry handled after the restart", workers=[second])
    counts = await handled(redis_client, keys)
    assert set(counts) == set(ids)
    twice = {entry for entry, count in counts.items() if count > 1}
    assert twice <= pending_at_kill, "an entry acknowledged before the kill was handled again"
    assert second.terminate() == 0


async def test_an_entry_held_in_flight_is_not_acknowledged_early(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    """One identity is held by its handler. Later identities finish but stay pending (Faust commits
    contiguously); commits, another agent's kind, are acknowledged meanwhile."""
    # The held identity is pushed and taken alone first: pushed together, the other pipeline's read
    # of the next identity may reach Faust first and take the lower offset, legitimately.
    held = (await push(redis_client, keys.stream, [identity("did:plc:hold", 1)]))[0]
    worker = make_worker(BATCH_SIZE="1", PARALLEL_CONSUMERS="2")
    await wait_for(
        lambda: _is(redis_client, keys.probe("holding"), held.encode()), "the entry held", workers=[worker]
    )
    entries = [identity(f"did:plc:i{n}", n) for n in range(2, 5)]
    entries += [commit(f"did:plc:c{n}", n) for n in range(5, 8)]
    ids = [held, *await push(redis_client, keys.stream, entries)]
    later_identities, commits = ids[1:4], ids[4:]

    async def held_and_others_done() -> bool:
        counts = await handled(redis_client, keys)
        return (
            await redis_client.get(keys.probe("holding")) == held.encode()
            and all(entry in counts for entry in later_identities + commits)
            and not set(commits) & await pending_ids(redis_client, keys)
        )

    await wait_for(held_and_others_done, "later entries handled while one is held", workers=[worker])
    pending = await pending_ids(redis_client, keys)
    assert held in pending
    assert held not in await handled(redis_client, keys)
    assert set(later_identities) <= pending, "identities after the held one were acknowledged early"
    await assert_acknowledged_only_when_done(redis_client, keys)

    await redis_client.set(keys.probe("release"), 1)

    async def all_done() -> bool:
        return len(await handled(redis_client, keys)) == len(ids) and not await pending_ids(
            redis_client, keys
        )

    await wait_for(all_done, "everything acknowledged after the release", workers=[worker])
    assert worker.terminate() == 0


async def test_two_batches_are_in_flight_at_once(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    """Each batch waits at a barrier until two batches have arrived: only concurrency passes it."""
    await redis_client.set(keys.probe("barrier"), 2)
    ids = await push(redis_client, keys.stream, [commit(f"did:plc:c{n}", n) for n in range(10)])
    worker = make_worker(BATCH_SIZE="5", PARALLEL_CONSUMERS="2")

    async def all_done() -> bool:
        return len(await handled(redis_client, keys)) == len(ids) and not await pending_ids(
            redis_client, keys
        )

    await wait_for(all_done, "both batches handled and acknowledged", workers=[worker])
    assert await redis_client.get(keys.probe("barrier:passed")) == b"2"
    assert set((await handled(redis_client, keys)).values()) == {1}
    assert worker.terminate() == 0


async def test_a_transient_failure_keeps_the_entries_pending_until_a_retry_succeeds(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    """Six failures in a row (about 3 s of backoff): meanwhile the batch is held, not redelivered,
    not dead-lettered; the outage is logged once, and its end once."""
    await redis_client.set(keys.probe("transient"), 6)
    ids = await push(redis_client, keys.stream, [commit(f"did:plc:c{n}", n) for n in range(5)])
    worker = make_worker(BATCH_SIZE="10", PARALLEL_CONSUMERS="1")

    async def failing_for_a_while() -> bool:
        return int(await redis_client.get(keys.probe("transient")) or 6) <= 2

    await wait_for(failing_for_a_while, "four failed attempts", workers=[worker])
    assert await handled(redis_client, keys) == {}
    assert await delivery_counts(redis_client, keys) == dict.fromkeys(ids, 1)

    async def all_done() -> bool:
        return len(await handled(redis_client, keys)) == len(ids) and not await pending_ids(
            redis_client, keys
        )

    await wait_for(all_done, "the batch handled after the failures", workers=[worker])
    assert await redis_client.xlen(keys.dead_letters) == 0
    assert worker.terminate() == 0
    assert worker.log.count("transient failure (ConnectionError: probe: transient failure)") == 1
    assert worker.log.count("recovered after 6 failed attempts") == 1


async def test_a_poison_entry_is_dead_lettered_with_its_reason_and_the_rest_flows(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    entries = [commit(f"did:plc:c{n}", n) for n in range(10)]
    entries[3] = commit("did:plc:poison", 3)
    entries[6] = commit("did:plc:reject", 6)
    ids = await push(redis_client, keys.stream, entries + [commit(f"did:plc:c{n}", n) for n in range(10, 20)])
    worker = make_worker(BATCH_SIZE="10", PARALLEL_CONSUMERS="1")

    async def all_done() -> bool:
        return len(await handled(redis_client, keys)) == len(ids) - 1 and not await pending_ids(
            redis_client, keys
        )

    await wait_for(all_done, "everything but the poison entry handled", workers=[worker])
    assert ids[3] not in await handled(redis_client, keys)
    letters = await dead_letters(redis_client, keys)
    assert set(letters) == {ids[3], ids[6]}
    poison = letters[ids[3]]
    assert poison[b"error"] == b"ValueError: probe: poison entry"
    assert (poison[b"type"], poison[b"data"], poison[b"seq"]) == (
        b"commit",
        entries[3]["data"].encode(),
        b"3",
    )
    assert poison[b"deliveries"] == b"1"
    assert letters[ids[6]][b"error"] == b"probe: rejected"
    await assert_acknowledged_only_when_done(redis_client, keys)
    assert worker.terminate() == 0


async def test_an_entry_that_is_not_utf8_is_dead_lettered_alone(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    """The worker we replace decoded whole replies: one such entry left its nine batch-mates
    pending for ever. Here it is dead-lettered byte for byte and its batch-mates are handled."""
    bad = {"type": "commit", "data": b'{"repo": "did:plc:\xff\xfe", "ops": []}', "seq": "5"}
    entries: list[dict[str, str | bytes]] = [commit(f"did:plc:c{n}", n) for n in range(10)]
    entries[4] = bad
    entries.append({"type": "identity", "data": b"{not json", "seq": "11"})
    ids = await push(redis_client, keys.stream, entries)
    worker = make_worker(BATCH_SIZE="11", PARALLEL_CONSUMERS="1")

    async def all_done() -> bool:
        return len(await handled(redis_client, keys)) == 9 and not await pending_ids(redis_client, keys)

    await wait_for(all_done, "the nine valid entries handled", workers=[worker])
    letters = await dead_letters(redis_client, keys)
    assert set(letters) == {ids[4], ids[10]}
    letter = letters[ids[4]]
    assert letter[b"data"] == bad["data"]
    assert letter[b"error"].startswith(b"data is not valid UTF-8")
    assert letters[ids[10]][b"error"].startswith(b"data is not JSON")
    assert int(await redis_client.get(keys.probe("batches")) or 0) == 1, "the nine were one batch"
    assert worker.terminate() == 0


async def test_the_group_or_the_stream_deleted_while_running_is_recreated(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    before = await push(redis_client, keys.stream, mixed(30))
    worker = make_worker(BATCH_SIZE="10", PARALLEL_CONSUMERS="2", READ_BLOCK_MS="2000")

    async def done(ids: list[str]) -> bool:
        return set(ids) <= set(await handled(redis_client, keys)) and not await pending_ids(
            redis_client, keys
        )

    await wait_for(lambda: done(before), "the first entries handled", workers=[worker])
    # The pipelines are blocked in XREADGROUP now; destroying the group wakes them with an error.
    assert await redis_client.xgroup_destroy(keys.stream, keys.group) == 1
    after = await push(redis_client, keys.stream, mixed(30, start_seq=31))
    await wait_for(lambda: done(after), "entries added after the group was destroyed", workers=[worker])
    # Recreated at 0, the group replays what the stream holds (idempotent for the indexer).
    assert set(before) | set(after) == set(await handled(redis_client, keys))
    # The stream itself deleted while the pipelines block on it.
    assert await redis_client.delete(keys.stream) == 1
    await asyncio.sleep(0.3)
    last = await push(redis_client, keys.stream, mixed(30, start_seq=61))
    await wait_for(lambda: done(last), "entries added after the stream was deleted", workers=[worker])
    assert worker.terminate() == 0
    assert worker.log.count("Consumer group lost") >= 2


async def test_a_restarted_redis_without_persistence_is_survived(
    servers: Servers, keys: Keys, make_worker: WorkerFactory, redis_client: aioredis.Redis
) -> None:
    """The stream lives on a private redis-server the test kills and restarts (empty, like a Redis
    without persistence); the probe records what it handles on the shared one."""
    private = PrivateRedis().start()
    stream_redis = aioredis.from_url(private.url)
    try:
        before = await push(stream_redis, keys.stream, mixed(40))
        worker = make_worker(
            BATCH_SIZE="10", PARALLEL_CONSUMERS="2", redis_url=private.url, PROBE_REDIS_URL=servers.redis_url
        )

        async def handled_all(ids: list[str]) -> bool:
            return set(ids) <= set(await handled(redis_client, keys))

        await wait_for(lambda: handled_all(before), "entries handled before the restart", workers=[worker])
        private.kill()
        await stream_redis.aclose()
        await asyncio.sleep(1.0)  # the worker sees connection errors and backs off
        assert worker.alive()
        private.start()
        stream_redis = aioredis.from_url(private.url)
        after = await push(stream_redis, keys.stream, mixed(40, start_seq=41))

        async def after_done() -> bool:
            if not await handled_all(after):
                return False
            pending = await stream_redis.xpending(keys.stream, keys.group)
            return pending["pending"] == 0

        await wait_for(
            after_done, "entries added after the restart handled and acknowledged", workers=[worker]
        )
        assert worker.terminate() == 0
        assert "Redis unavailable" in worker.log
    finally:
        await stream_redis.aclose()
        private.kill()


async def consumers_of_group(client: aioredis.Redis, keys: Keys) -> set[str]:
    try:
        return {c["name"].decode() for c in await client.xinfo_consumers(keys.stream, keys.group)}
    except aioredis.ResponseError:
        return set()


async def test_two_workers_sharing_the_group_handle_the_union_exactly_once(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    env = {"BATCH_SIZE": "25", "PARALLEL_CONSUMERS": "2", "PROBE_DELAY_MS": "3"}
    workers = [make_worker("probe-x", **env), make_worker("probe-y", **env)]
    names = {"probe-x-0", "probe-x-1", "probe-y-0", "probe-y-1"}

    async def all_reading() -> bool:
        return await consumers_of_group(redis_client, keys) == names

    await wait_for(all_reading, "both workers reading", workers=workers)
    ids = await push(redis_client, keys.stream, mixed(4_000))

    async def all_done() -> bool:
        return len(await handled(redis_client, keys)) == len(ids) and not await pending_ids(
            redis_client, keys
        )

    await wait_for(all_done, "the union handled", workers=workers)
    counts = await handled(redis_client, keys)
    assert set(counts) == set(ids)
    assert set(counts.values()) == {1}, "an entry was handled by both workers"
    shares = {k.decode(): int(v) for k, v in (await redis_client.hgetall(keys.probe("workers"))).items()}
    assert set(shares) == {"probe-x", "probe-y"}, shares
    assert sum(shares.values()) == len(ids)
    assert [worker.terminate() for worker in workers] == [0, 0]


async def test_sigterm_finishes_the_batches_in_flight_acknowledges_them_and_exits_0(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    ids = await push(redis_client, keys.stream, mixed(200))
    env = {"BATCH_SIZE": "10", "PARALLEL_CONSUMERS": "3", "PROBE_DELAY_MS": "400"}
    worker = make_worker("probe-t", **env)

    async def batches_done(n: int) -> bool:
        return int(await redis_client.get(keys.probe("batches")) or 0) >= n

    async def in_flight() -> bool:
        """Entries delivered and not handled yet: the pipelines' next batches (a moment after three
        batches finished together, there may be none yet, and nothing would be left to finish)."""
        return bool(await pending_ids(redis_client, keys) - set(await handled(redis_client, keys)))

    await wait_for(lambda: batches_done(3), "three batches handled", workers=[worker])
    await wait_for(in_flight, "the next batches delivered", workers=[worker])
    await asyncio.sleep(0.1)  # well inside their handling (PROBE_DELAY_MS)
    handled_at_signal = len(await handled(redis_client, keys))
    assert worker.terminate() == 0
    finished = await handled(redis_client, keys)
    assert len(finished) > handled_at_signal, "the batches in flight at SIGTERM were not finished"
    assert not set(finished) & await pending_ids(redis_client, keys), "a finished batch was left pending"
    await assert_acknowledged_only_when_done(redis_client, keys)
    assert await redis_client.get(keys.probe("stopped")) == b"1"
    assert len(finished) < len(ids)

    restarted = make_worker("probe-t", **{**env, "PROBE_DELAY_MS": "0"})

    async def all_done() -> bool:
        return len(await handled(redis_client, keys)) == len(ids) and not await pending_ids(
            redis_client, keys
        )

    await wait_for(all_done, "the rest handled after the restart", workers=[restarted])
    assert restarted.terminate() == 0


async def test_entries_of_a_gone_consumer_are_claimed_and_an_entry_past_the_delivery_limit_is_dead_lettered(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    ids = await push(redis_client, keys.stream, [commit(f"did:plc:c{n}", n) for n in range(10)])
    await redis_client.xgroup_create(keys.stream, keys.group, id="0")
    assert (
        len((await redis_client.xreadgroup(keys.group, "ghost-0", {keys.stream: ">"}, count=10))[0][1]) == 10
    )
    # Two entries already crashed workers three times: the next delivery is one too many.
    await redis_client.xclaim(keys.stream, keys.group, "ghost-0", 0, [ids[2], ids[7]], retrycount=3)
    worker = make_worker(
        MAX_DELIVERIES="3", CLAIM_IDLE_MS="500", CLAIM_INTERVAL_S="0.2", PARALLEL_CONSUMERS="2"
    )

    async def all_done() -> bool:
        return len(await handled(redis_client, keys)) == 8 and not await pending_ids(redis_client, keys)

    await wait_for(all_done, "the ghost's entries claimed and handled", workers=[worker])
    assert set(await handled(redis_client, keys)) == set(ids) - {ids[2], ids[7]}
    letters = await dead_letters(redis_client, keys)
    assert set(letters) == {ids[2], ids[7]}
    for letter in letters.values():
        assert letter[b"error"] == b"delivered 3 times without completing"
        assert letter[b"deliveries"] == b"4"
        assert letter[b"type"] == b"commit"
    assert "claimed" in worker.log
    assert worker.terminate() == 0


async def test_a_live_worker_keeps_its_slow_entries_from_being_claimed(
    redis_client: aioredis.Redis, keys: Keys, make_worker: WorkerFactory
) -> None:
    """A holds an entry for two claim idle times while B reclaims eagerly: B takes nothing."""
    env = {"CLAIM_IDLE_MS": "1500", "CLAIM_INTERVAL_S": "0.2", "PARALLEL_CONSUMERS": "1"}
    held = (await push(redis_client, keys.stream, [identity("did:plc:hold", 1)]))[0]
    holder = make_worker("probe-a", **env)

    async def holding() -> bool:
        return await redis_client.get(keys.probe("holding")) == held.encode()

    await wait_for(holding, "A holding the entry", workers=[holder])
    claimer = make_worker("probe-b", **env)
    await wait_for(
        lambda: _has_consumer(redis_client, keys, "probe-b-0"), "B reading", workers=[holder, claimer]
    )
    await asyncio.sleep(3.0)
    pending = await redis_client.xpending_range(keys.stream, keys.group, "-", "+", 10)
    assert [(p["message_id"].decode(), p["consumer"].decode()) for p in pending] == [(held, "probe-a-0")]
    assert pending[0]["times_delivered"] == 1
    await redis_client.set(keys.probe("release"), 1)

    async def done() -> bool:
        return held in await handled(redis_client, keys) and not await pending_ids(redis_client, keys)

    await wait_for(done, "the held entry handled by A", workers=[holder, claimer])
    assert await handled(redis_client, keys) == {held: 1}
    assert "claimed" not in claimer.log
    assert [holder.terminate(), claimer.terminate()] == [0, 0]


async def _is(client: aioredis.Redis, key: str, value: bytes) -> bool:
    return await client.get(key) == value


async def _has_consumer(client: aioredis.Redis, keys: Keys, name: str) -> bool:
    return name in await consumers_of_group(client, keys)
