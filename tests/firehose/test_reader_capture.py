"""The real reader process against a fake relay serving the real capture (frames.bin.zst), and a fake
Jetstream serving Jetstream's own view of it (expected_v1.jsonl): the stream ends with the same
commit ops (repo, action, path, cid, record JSON) as Jetstream served, the identity and account
events, and nothing else; the cursor is stored; metrics and health say so."""

from __future__ import annotations

from pathlib import Path

import orjson
import redis.asyncio as aioredis

from tests.operating.web import metric_values
from tests.servers import Servers
from tests.support.capture import expected_events, manifest
from tests.support.fake_relay import FakeRelay
from tests.support.reader import (
    ReaderKeys,
    ReaderProcess,
    expected_ops,
    jetstream_messages,
    relay_messages,
    status_events,
    stream_entries,
    stream_ops,
    wait_for,
)


def expected_status(fixtures_dir: Path) -> list[tuple[str, dict]]:
    found = []
    for event in expected_events(fixtures_dir):
        kind = event["kind"]
        if kind in ("identity", "account"):
            inner = dict(event[kind])
            if kind == "identity":
                inner.setdefault("handle", None)
            found.append((kind, inner))
    return found


async def test_relay_mode_gives_what_jetstream_served(
    fixtures_dir: Path, servers: Servers, redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    keys = ReaderKeys(redis_prefix)
    messages = relay_messages(fixtures_dir)
    counts = manifest(fixtures_dir)
    with FakeRelay() as relay:
        relay.add(messages)
        reader = ReaderProcess(
            keys, servers.redis_url, relay.url, tmp_path / "reader.log", cursor=messages[0][0] - 1
        )
        reader.start()
        try:

            async def all_written() -> bool:
                return await redis_client.get(keys.cursor) == str(counts["seq_last"]).encode()

            await wait_for(all_written, what="the cursor to reach the capture's last seq")
            status, text = await reader.get("/metrics")
            assert status == 200
            values = metric_values(text)
            ready, _ = await reader.get("/health/ready")
            live, _ = await reader.get("/health/live")
        finally:
            assert reader.stop() == 0, reader.log()

    entries = await stream_entries(redis_client, keys.stream)
    assert stream_ops(entries) == expected_ops(fixtures_dir)
    assert sorted(status_events(entries), key=repr) == sorted(expected_status(fixtures_dir), key=repr)
    assert len(entries) == counts["frames"]  # one entry per frame: 148 commits, identity, account
    assert [int(entry["seq"]) for entry in entries] == [seq for seq, _ in messages]
    for entry in entries:
        if entry["type"] == "commit":
            data = orjson.loads(entry["data"])
            assert {"repo", "rev", "since", "time", "ops"} <= set(data)
    assert await redis_client.xlen(keys.dead_letters) == 0
    assert relay.cursors == [messages[0][0] - 1]

    assert values[("appview_reader_events_total", (("type", "commit"),))] == counts["commit_frames"]
    assert values[("appview_reader_events_total", (("type", "identity"),))] == 1
    assert values[("appview_reader_events_total", (("type", "account"),))] == 1
    assert values[("appview_reader_cursor", ())] == counts["seq_last"]
    assert values[("appview_reader_relay_seq", ())] == counts["seq_last"]
    assert values[("appview_reader_connected", ())] == 1
    assert ("appview_reader_last_event_age_seconds", ()) in values
    assert (ready, live) == (200, 200)


async def test_jetstream_mode_gives_the_same_entries(
    fixtures_dir: Path, servers: Servers, redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    keys = ReaderKeys(redis_prefix)
    messages = jetstream_messages(fixtures_dir)
    with FakeRelay(kind="jetstream") as jetstream:
        jetstream.add(messages)
        start = min(time_us for time_us, _ in messages)
        reader = ReaderProcess(keys, servers.redis_url, jetstream.url, tmp_path / "reader.log", cursor=start)
        reader.start()
        try:

            async def all_written() -> bool:
                return await redis_client.xlen(keys.stream) >= len(messages)

            await wait_for(all_written, what="every Jetstream event in the stream")
            await wait_for(
                lambda: _cursor_is(redis_client, f"{keys.cursor}:jetstream", messages[-1][0]),
                what="the Jetstream cursor under its own key",
            )
        finally:
            assert reader.stop() == 0, reader.log()

    entries = await stream_entries(redis_client, keys.stream)
    assert stream_ops(entries) == expected_ops(fixtures_dir)
    assert sorted(status_events(entries), key=repr) == sorted(expected_status(fixtures_dir), key=repr)
    assert len(entries) == len(messages)
    assert {entry["seq"] for entry in entries} == {""}  # Jetstream commits have no seq: none has
    assert await redis_client.get(keys.cursor) is None  # the relay's key is left alone
    assert "jetstream mode" in reader.log()


async def _cursor_is(client: aioredis.Redis, key: str, value: int) -> bool:
    return await client.get(key) == str(value).encode()
