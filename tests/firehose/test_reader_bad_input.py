"""Untrusted frames never stop the reader: undecodable bytes, a text message on a relay, unknown frame
types, error and info frames, a frame of 5 MB (valid and garbage), a commit of 10,000 ops, `#sync`,
a legacy `tooBig` commit, a commit whose blocks do not match its CIDs. Each is turned into what it
stands for, skipped with a log line, or dead-lettered with its bytes; the next frame is read."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import redis.asyncio as aioredis

from tests.operating.web import metric_values
from tests.servers import Servers
from tests.support.fake_relay import FakeRelay, commit_frame, error_frame, relay_frame
from tests.support.reader import ReaderKeys, ReaderProcess, relay_messages, stream_entries, wait_for

REPO = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
FIVE_MB = 5 * 1024 * 1024


def like(index: int) -> dict:
    return {
        "$type": "app.bsky.feed.like",
        "createdAt": "2026-07-04T14:40:00.000Z",
        "subject": {
            "uri": f"at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3mpt{index:09d}",
            "cid": "bafyreiftot7eltsc3f6g4qktykmbv6jcmdmhcx5osscan6jpdxkpqcmcza",
        },
    }


async def test_bad_and_odd_frames_are_skipped_or_dead_lettered_and_reading_goes_on(
    fixtures_dir: Path, servers: Servers, redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    keys = ReaderKeys(redis_prefix)
    capture = relay_messages(fixtures_dir)
    (first_seq, first_frame), (last_seq, last_frame) = capture[0], capture[-1]
    seq = iter(range(first_seq + 1, last_seq))
    garbage = b"\xff\x00 not a frame"
    big_garbage = b"\x00" * FIVE_MB
    big_record = {"$type": "com.example.blob", "text": "x" * FIVE_MB}
    many_ops = [("create", f"app.bsky.feed.like/3mpt{index:09d}", like(index)) for index in range(10_000)]
    served: list[tuple[int, bytes | str]] = [
        (first_seq, first_frame),
        (0, garbage),
        (0, "a text message on a relay"),
        (s := next(seq), relay_frame("#fancy", {"seq": s, "did": REPO})),
        (0, error_frame("FutureCursor", "cursor in the future")),
        (0, relay_frame("#info", {"name": "Hello", "message": "hi"})),
        (0, big_garbage),
        (
            s := next(seq),
            commit_frame(s, REPO, "3mptbzzzzzz2a", [("create", "com.example.blob/big", big_record)]),
        ),
        (s := next(seq), commit_frame(s, REPO, "3mptbzzzzzz2b", many_ops)),
        (
            s := next(seq),
            relay_frame("#sync", {"seq": s, "did": REPO, "rev": "3mptbzzzzzz2c", "blocks": b""}),
        ),
        (s := next(seq), commit_frame(s, REPO, "3mptbzzzzzz2d", [], too_big=True)),
        (s := next(seq), commit_frame(s, REPO, "3mptbzzzzzz2e", many_ops[:3], corrupt_blocks=True)),
        (last_seq, last_frame),
    ]
    with FakeRelay() as relay:
        relay.add(served)
        reader = ReaderProcess(
            keys, servers.redis_url, relay.url, tmp_path / "reader.log", cursor=first_seq - 1
        )
        reader.start()
        try:

            async def all_read() -> bool:
                return await redis_client.get(keys.cursor) == str(last_seq).encode()

            await wait_for(all_read, timeout=60, what="the reader to reach the last frame")
        finally:
            assert reader.stop() == 0, reader.log()

    entries = await stream_entries(redis_client, keys.stream)
    assert [(entry["type"], entry["seq"]) for entry in entries] == [
        ("commit", str(first_seq)),
        ("commit", str(first_seq + 2)),  # the 5 MB record
        ("commit", str(first_seq + 3)),  # 10,000 ops
        ("sync", str(first_seq + 4)),
        ("sync", str(first_seq + 5)),  # tooBig
        ("sync", str(first_seq + 6)),  # blocks that do not match: resync the repository
        ("account", str(last_seq)),  # the capture's last frame
    ]
    big = orjson.loads(entries[1]["data"])
    assert big["ops"][0]["record"] == big_record
    many = orjson.loads(entries[2]["data"])
    assert [op["record"] for op in many["ops"]] == [record for _, _, record in many_ops]
    assert orjson.loads(entries[3]["data"]) == {"did": REPO, "rev": "3mptbzzzzzz2c"}
    assert orjson.loads(entries[4]["data"]) == {"did": REPO, "rev": "3mptbzzzzzz2d"}
    assert orjson.loads(entries[5]["data"]) == {"did": REPO, "rev": "3mptbzzzzzz2e"}

    letters = [
        {key.decode(): value.decode() for key, value in fields.items()}
        for _, fields in await redis_client.xrange(keys.dead_letters)
    ]
    frames = [base64.b64decode(letter["frame"]) for letter in letters]
    assert frames[:3] == [garbage, b"a text message on a relay", big_garbage]
    assert letters[3]["cursor"] == str(first_seq + 6)
    assert "does not hash to" in letters[3]["reason"]
    assert all(letter["reason"] and letter["source"] == relay.url for letter in letters)
    assert len(letters) == 4

    log = reader.log()
    assert "frame type #fancy" in log
    assert "relay error FutureCursor: cursor in the future" in log
    assert "relay info Hello: hi" in log
    assert log.count("dead-lettered a message") == 4
    assert f"dead-lettered a message of {FIVE_MB} bytes" in log


async def test_outdated_cursor_is_logged_with_the_gap_and_counted(
    fixtures_dir: Path, servers: Servers, redis_client: aioredis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    keys = ReaderKeys(redis_prefix)
    capture = relay_messages(fixtures_dir)
    first_seq, last_seq = capture[0][0], capture[-1][0]
    stale = first_seq - 1_000
    notice = relay_frame("#info", {"name": "OutdatedCursor", "message": "Requested cursor exceeded limit"})
    with FakeRelay() as relay:
        relay.add([(stale + 1, notice), *capture])  # keyed so that the notice is served first
        reader = ReaderProcess(keys, servers.redis_url, relay.url, tmp_path / "reader.log", cursor=stale)
        reader.start()
        try:

            async def all_read() -> bool:
                return await redis_client.get(keys.cursor) == str(last_seq).encode()

            await wait_for(all_read, what="the reader to read the capture after the notice")
            _, text = await reader.get("/metrics")
        finally:
            assert reader.stop() == 0, reader.log()

    values = metric_values(text)
    assert values[("appview_reader_outdated_cursor_total", ())] == 1
    assert values[("appview_reader_outdated_cursor_gap_events_total", ())] == 999
    assert f"resumed at seq {first_seq} after cursor {stale}: 999 events missed" in reader.log()
    assert await redis_client.xlen(keys.stream) == len(capture)
