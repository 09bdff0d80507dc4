"""Throughput of the firehose reader: the real capture replayed in a loop by a fake relay.

    .venv/bin/python -m bench.reader_throughput [--seconds 30] [--fixtures ../shared/fixtures]

Three processes on this machine:
1. a fake relay (this module with `--relay PORT`) serving the 150 frames of
   `jetstream/internal/corpus/testdata/frames.bin.zst` over and over, seqs renumbered so they keep
   rising (the 8-byte seq of each frame is patched in place), honouring `cursor`;
2. the real reader, `python -m app firehose`, writing to a fresh stream of the local Redis;
3. this process: a consumer group that reads and acknowledges everything (so the reader trims and
   never reaches its cap), and the measurement.

After a warm-up of a few seconds it measures for `--seconds`: events/s (the reader's stored cursor:
one entry per frame), the reader's CPU and peak RSS (VmHWM), and the fake relay's own CPU. Not a
test: the figures depend on the machine, and the three processes share its cores with Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
import zstandard

REPO_ROOT = Path(__file__).resolve().parent.parent
CAPTURE = Path("jetstream/internal/corpus/testdata/frames.bin.zst")
SEQ_KEY = b"cseq\x1b"  # the map key "seq" followed by the head of an 8-byte unsigned integer
WARM_UP_S = 4.0


def capture_frames(fixtures: Path) -> list[bytes]:
    raw = zstandard.ZstdDecompressor().stream_reader((fixtures / CAPTURE).read_bytes()).read()
    frames, pos = [], 0
    while pos < len(raw):
        (length,) = struct.unpack_from("<I", raw, pos)
        frames.append(raw[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return frames


class Renumbered:
    """Frame k of the endless replay: capture frame k % 150 with seq `base + k`."""

    def __init__(self, frames: list[bytes]) -> None:
        self.parts = []
        for frame in frames:
            at = frame.index(SEQ_KEY) + len(SEQ_KEY)
            self.parts.append((frame[:at], frame[at + 8 :]))
        self.base = int.from_bytes(frames[0][frames[0].index(SEQ_KEY) + len(SEQ_KEY) :][:8], "big")

    def frame(self, k: int) -> bytes:
        head, tail = self.parts[k % len(self.parts)]
        return head + (self.base + k).to_bytes(8, "big") + tail


def serve_relay(port: int, fixtures: Path) -> None:
    from urllib.parse import parse_qs, urlsplit

    from websockets.asyncio.server import ServerConnection, serve

    replay = Renumbered(capture_frames(fixtures))

    async def handler(connection: ServerConnection) -> None:
        query = parse_qs(urlsplit(connection.request.path).query if connection.request else "")
        k = int(query["cursor"][0]) - replay.base + 1 if "cursor" in query else 0
        try:
            while True:
                await connection.send(replay.frame(k))
                k += 1
        except Exception:
            return

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None, max_size=None):
            print("ready", flush=True)
            await asyncio.Future()

    asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--fixtures", type=Path, default=Path(os.environ.get("FIXTURES_DIR", "../shared/fixtures"))
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--relay", type=int, help=argparse.SUPPRESS)  # internal: run the fake relay
    args = parser.parse_args()
    if args.relay is not None:
        serve_relay(args.relay, args.fixtures)
        return

    prefix = f"bench:reader:{uuid.uuid4().hex[:8]}:"
    stream, group, cursor_key = f"{prefix}events", f"{prefix}group", f"{prefix}cursor"
    client = redis.Redis.from_url(args.redis_url)
    client.xgroup_create(stream, group, id="0", mkstream=True)
    relay_port, web_port = free_port(), free_port()
    relay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.reader_throughput",
            "--relay",
            str(relay_port),
            "--fixtures",
            str(args.fixtures),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert relay.stdout is not None and relay.stdout.readline().strip() == "ready"
    base = Renumbered(capture_frames(args.fixtures)).base
    env = {
        **os.environ,
        "REDIS_URL": args.redis_url,
        "RELAY_URL": f"ws://127.0.0.1:{relay_port}",
        "REDIS_STREAM_KEY": stream,
        "REDIS_CONSUMER_GROUP": group,
        "REDIS_CURSOR_KEY": cursor_key,
        "READER_DEAD_LETTER_STREAM": f"{prefix}dead-letters",
        "READER_WEB_PORT": str(web_port),
        "LOG_LEVEL": "WARNING",
    }
    reader = subprocess.Popen(
        [sys.executable, "-m", "app", "firehose", "--cursor", str(base - 1)], cwd=REPO_ROOT, env=env
    )
    try:

        def consume_until(deadline: float) -> int:
            consumed = 0
            while time.monotonic() < deadline:
                reply = client.xreadgroup(group, "bench", {stream: ">"}, count=5000, block=100)
                if reply:
                    ids = [entry_id for entry_id, _ in reply[0][1]]
                    client.xack(stream, group, *ids)
                    consumed += len(ids)
            return consumed

        def cursor() -> int:
            raw = client.get(cursor_key)
            return int(raw) if raw else base - 1

        consume_until(time.monotonic() + WARM_UP_S)
        start_cursor, start = cursor(), time.monotonic()
        reader_cpu, relay_cpu = cpu_seconds(reader.pid), cpu_seconds(relay.pid)
        consumed = consume_until(start + args.seconds)
        elapsed = time.monotonic() - start
        events = cursor() - start_cursor
        reader_cpu, relay_cpu = cpu_seconds(reader.pid) - reader_cpu, cpu_seconds(relay.pid) - relay_cpu
        rss = peak_rss_mb(reader.pid)
        dead = client.xlen(f"{prefix}dead-letters")
        length = client.xlen(stream)
    finally:
        reader.terminate()
        reader.wait(30)
        relay.terminate()
        relay.wait(10)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)

    rate = events / elapsed
    print(f"reader:  {rate:,.0f} events/s over {elapsed:.1f} s ({events:,} events, capture frames in a loop)")
    print(f"         CPU {reader_cpu / elapsed:.0%} of a core, peak RSS {rss:.0f} MB")
    print(f"relay:   CPU {relay_cpu / elapsed:.0%} of a core (the fake relay's own cost)")
    print(f"consumer acknowledged {consumed / elapsed:,.0f} entries/s; stream length at the end {length:,}")
    print(f"dead letters {dead}")


if __name__ == "__main__":
    main()
