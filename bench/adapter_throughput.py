"""Throughput of the source adapter against a plain redis-py loop, on the same entries in one run.

    .venv/bin/python -m bench.adapter_throughput [--entries 200000] [--batch-size 500] [--parallel 5]

Pushes a realistic workload (bench/workload.py, lexicon dialect) to a fresh stream, then consumes
it twice, through two consumer groups of that stream:

1. plain: one redis-py XREADGROUP of `--batch-size`, decode every entry (`type`, JSON `data`),
   XACK the batch, until the stream is drained;
2. adapter: the real `faust -A bench.adapter_throughput worker` (the production app's shape, with
   handlers that do nothing) reading the stream through app.broker; timed from its first read to
   the moment every entry is read and none is pending.

and prints entries/s of both and their ratio (issue 3 asks the adapter for at least 25 %). Not a
test: numbers depend on the machine, and the two loops share its cores with Redis.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import redis

from app.application import tune_garbage_collector
from app.events import AccountEvent, CommitEvent, DeadLetter, IdentityEvent

REPO_ROOT = Path(__file__).resolve().parent.parent


class NoopHandlers:
    """Typed agents that do nothing: what remains is the adapter's and Faust's own cost."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def commits(self, events: list[CommitEvent]) -> Sequence[DeadLetter]:
        return ()

    async def identities(self, events: list[IdentityEvent]) -> Sequence[DeadLetter]:
        return ()

    async def accounts(self, events: list[AccountEvent]) -> Sequence[DeadLetter]:
        return ()


def __getattr__(name: str) -> Any:
    """`faust -A bench.adapter_throughput` finds the app here; importing the module builds none."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from app.application import build_app
    from app.settings import Settings

    built = build_app(Settings.from_env(), NoopHandlers())
    globals()["app"] = built
    return built


def plain_loop(client: redis.Redis, stream: str, batch_size: int) -> tuple[int, float]:
    """XREADGROUP + per-entry decode + XACK, one consumer: the baseline. Returns (entries, seconds)."""
    group = "plain"
    client.xgroup_create(stream, group, id="0")
    entries = 0
    started = time.perf_counter()
    while True:
        reply = client.xreadgroup(group, "plain-0", {stream: ">"}, count=batch_size)
        if not reply:
            break
        batch = reply[0][1]
        for _, fields in batch:
            try:
                fields[b"type"].decode()
                orjson.loads(fields[b"data"])
            except (KeyError, UnicodeDecodeError, orjson.JSONDecodeError):
                pass
        client.xack(stream, group, *[entry_id for entry_id, _ in batch])
        entries += len(batch)
    return entries, time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _group(client: redis.Redis, stream: str, name: str) -> dict[str, Any] | None:
    for group in client.xinfo_groups(stream):
        if group["name"].decode() == name:
            return group
    return None


def adapter_run(
    client: redis.Redis, redis_url: str, stream: str, total: int, batch_size: int, parallel: int
) -> tuple[int, float]:
    """The real worker with no-op handlers; timed from its first read to nothing pending."""
    group = "adapter"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "REDIS_STREAM_KEY": stream,
        "REDIS_CONSUMER_GROUP": group,
        "DEAD_LETTER_STREAM": f"{stream}:dead-letters",
        "CONSUMER_ID": "bench-adapter",
        "WEB_PORT": str(_free_port()),
        "BATCH_SIZE": str(batch_size),
        "PARALLEL_CONSUMERS": str(parallel),
    }
    worker = subprocess.Popen(
        [
            str(REPO_ROOT / ".venv" / "bin" / "faust"),
            "-A",
            "bench.adapter_throughput",
            "worker",
            "-l",
            "warn",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        started: float | None = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.returncode}")
            info = _group(client, stream, group)
            now = time.perf_counter()
            read = int(info["entries-read"] or 0) if info else 0
            if started is None and read:
                started = now
            if info and read >= total and info["pending"] == 0:
                assert started is not None
                return read, now - started
            time.sleep(0.005)
        raise RuntimeError("the worker did not drain the stream within 10 minutes")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.adapter_throughput", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=500, help="entries per XREADGROUP (BATCH_SIZE)")
    parser.add_argument("--parallel", type=int, default=5, help="adapter pipelines (PARALLEL_CONSUMERS)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)

    from bench.workload import Workload, push

    client = redis.Redis.from_url(args.redis_url)
    stream = f"bench:adapter:{uuid.uuid4().hex[:8]}:events"
    try:
        report = push(client, stream, Workload(args.entries, "lexicon", args.seed).entries())
        print(report.line())
        total = client.xlen(stream)
        # The same collector settings as the worker (the workload's model is garbage by now).
        tune_garbage_collector()
        plain, plain_s = plain_loop(client, stream, args.batch_size)
        adapted, adapter_s = adapter_run(
            client, args.redis_url, stream, total, args.batch_size, args.parallel
        )
    finally:
        client.delete(stream, f"{stream}:dead-letters")
    plain_rate, adapter_rate = plain / plain_s, adapted / adapter_s
    print(f"plain XREADGROUP+decode+XACK loop: {plain:,} entries in {plain_s:.2f} s = {plain_rate:,.0f}/s")
    print(
        f"adapter (faust worker, no-op agents, {args.parallel} pipelines): "
        f"{adapted:,} entries in {adapter_s:.2f} s = {adapter_rate:,.0f}/s"
    )
    print(f"adapter / plain: {adapter_rate / plain_rate:.0%} (target: at least 25 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
