"""A reader that dies (kill -9) or loses its relay mid-stream resumes from the cursor stored with its
last batch: every event of the capture is in the stream at least once, none is missing, and the
stored cursor never runs ahead of what the stream holds. A Redis outage holds the batch being
written and retries it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis

from tests.servers import Servers
from tests.support.fake_relay import FakeRelay
from tests.support.proxy import proxy_to
from tests.support.reader import (
    ReaderKeys,
    ReaderProcess,
    expected_ops,
    relay_messages,
    stream_entries,
    stream_ops,
    wait_for,
)


def assert_every_event_at_least_once(
    entries: list[dict[str, str]], messages: list, fixtures_dir: Path
) -> None:
    seqs = {int(entry["seq"]) for entry in entries}
    assert seqs == {seq for seq, _ in messages}, "a seq is missing (or one appeared that was never sent)"
    ops = stream_ops(entries)
    expected = expected_ops(fixtures_dir)
    assert set(ops) == set(expected)
    assert all(ops[key] >= count for key, count in expected.items())


async def test_kill_9_mid_stream_then_restart(
    fixtures_dir: Path, servers: Servers, redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    keys = ReaderKeys(redis_prefix)
    messages = relay_messages(fixtures_dir)
    first_seq, last_seq = messages[0][0], messages[-1][0]
    # A slow relay and small batches, so that the kill lands between batches of a live stream.
    settings = {"READER_BATCH_SIZE": "7", "READER_FLUSH_INTERVAL_MS": "20"}
    with FakeRelay(delay_s=0.02) as relay:
        relay.add(messages)
        log = tmp_path / "reader.log"
        reader = ReaderProcess(keys, servers.redis_url, relay.url, log, cursor=first_seq - 1, **settings)
        reader.start()

        async def partly_written() -> bool:
            raw = await redis_client.get(keys.cursor)
            return raw is not None and int(raw) >= first_seq + 40

        await wait_for(partly_written, what="a third of the capture written")
        reader.kill()
        stored = int(await redis_client.get(keys.cursor))
        assert stored < last_seq, "the kill came too late to test anything"
        entries = await stream_entries(redis_client, keys.stream)
        # The cursor never runs ahead of the stream: every seq up to it is there.
        assert {seq for seq, _ in messages if seq <= stored} <= {int(entry["seq"]) for entry in entries}

        restarted = ReaderProcess(keys, servers.redis_url, relay.url, log, **settings)  # no --cursor
        restarted.start()
        try:

            async def all_written() -> bool:
                return await redis_client.get(keys.cursor) == str(last_seq).encode()

            await wait_for(all_written, what="the restarted reader to reach the last seq")
        finally:
            assert restarted.stop() == 0, restarted.log()
        assert relay.cursors == [first_seq - 1, stored]

    assert_every_event_at_least_once(await stream_entries(redis_client, keys.stream), messages, fixtures_dir)
    assert f"resuming from cursor {stored}" in restarted.log()


async def test_relay_dropping_the_connection(
    fixtures_dir: Path, servers: Servers, redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    keys = ReaderKeys(redis_prefix)
    messages = relay_messages(fixtures_dir)
    first_seq, last_seq = messages[0][0], messages[-1][0]
    # The relay aborts the TCP connection after every 40 frames it sends.
    with FakeRelay(drop_after=40) as relay:
        relay.add(messages)
        reader = ReaderProcess(
            keys, servers.redis_url, relay.url, tmp_path / "reader.log", cursor=first_seq - 1
        )
        reader.start()
        try:

            async def all_written() -> bool:
                return await redis_client.get(keys.cursor) == str(last_seq).encode()

            await wait_for(all_written, what="the reader to reach the last seq across reconnects")
            _, metrics = await reader.get("/metrics")
        finally:
            assert reader.stop() == 0, reader.log()

    assert len(relay.cursors) >= 4  # 150 frames, 40 per connection
    assert relay.cursors[0] == first_seq - 1
    assert relay.cursors == sorted(relay.cursors), "a reconnect went back before a written batch"
    assert_every_event_at_least_once(await stream_entries(redis_client, keys.stream), messages, fixtures_dir)
    assert "reconnecting in" in reader.log()
    reconnects = next(
        line for line in metrics.splitlines() if line.startswith("appview_reader_reconnects_total")
    )
    assert float(reconnects.split()[-1]) >= 3


async def test_redis_outage_holds_the_batch_and_loses_nothing(
    fixtures_dir: Path, servers: Servers, redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    keys = ReaderKeys(redis_prefix)
    messages = relay_messages(fixtures_dir)
    first_seq, last_seq = messages[0][0], messages[-1][0]
    target = urlsplit(servers.redis_url)
    async with proxy_to(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        userinfo, at, _ = target.netloc.rpartition("@")
        through_proxy = urlunsplit(target._replace(netloc=f"{userinfo}{at}127.0.0.1:{proxy.port}"))
        with FakeRelay(delay_s=0.01) as relay:
            relay.add(messages)
            settings = {"READER_BATCH_SIZE": "5"}
            reader = ReaderProcess(
                keys, through_proxy, relay.url, tmp_path / "reader.log", cursor=first_seq - 1, **settings
            )
            reader.start()
            try:

                async def some_written() -> bool:
                    raw = await redis_client.get(keys.cursor)
                    return raw is not None and int(raw) >= first_seq + 20

                await wait_for(some_written, what="the first batches")
                await proxy.cut()

                async def not_ready() -> bool:
                    return (await reader.get("/health/ready"))[0] == 503

                await wait_for(not_ready, what="readiness to drop during the outage")
                stored = int(await redis_client.get(keys.cursor))
                entries = await stream_entries(redis_client, keys.stream)
                assert {seq for seq, _ in messages if seq <= stored} <= {
                    int(entry["seq"]) for entry in entries
                }
                await proxy.restore()

                async def all_written() -> bool:
                    return await redis_client.get(keys.cursor) == str(last_seq).encode()

                await wait_for(all_written, timeout=60, what="the reader to finish after the outage")
            finally:
                assert reader.stop() == 0, reader.log()

    assert_every_event_at_least_once(await stream_entries(redis_client, keys.stream), messages, fixtures_dir)
    assert "failed" in reader.log()
