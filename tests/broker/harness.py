"""Worker processes and stream fixtures for the transport tests (real `faust` worker, real Redis)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis.asyncio as aioredis

from app.events import AccountEvent, CommitEvent, DeadLetter, IdentityEvent

REPO_ROOT = Path(__file__).resolve().parents[2]
FAUST = REPO_ROOT / ".venv" / "bin" / "faust"

Fields = Mapping[str | bytes, str | bytes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Keys:
    """Every key a test touches, under its `redis_prefix`."""

    prefix: str

    @property
    def stream(self) -> str:
        return f"{self.prefix}firehose:events"

    @property
    def group(self) -> str:
        return f"{self.prefix}processors"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}dead-letters"

    def probe(self, name: str) -> str:
        return f"{self.prefix}{name}"


@dataclass
class Worker:
    """`faust -A <app_module> worker` as a child process, its log in a file (the probe app by default,
    the production `app` for the indexing tests)."""

    keys: Keys
    redis_url: str
    consumer_id: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    app_module: str = "tests.broker.probe_app"
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        environment = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "REDIS_STREAM_KEY": self.keys.stream,
            "REDIS_CONSUMER_GROUP": self.keys.group,
            "DEAD_LETTER_STREAM": self.keys.dead_letters,
            "CONSUMER_ID": self.consumer_id,
            "WEB_PORT": str(free_port()),
            "PROBE_PREFIX": self.keys.prefix,
            "BATCH_SIZE": "50",
            "PARALLEL_CONSUMERS": "3",
            "READ_BLOCK_MS": "200",
            **self.env,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(FAUST), "-A", self.app_module, "worker", "-l", "info"],
                cwd=REPO_ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the graceful stop."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def ensure_stopped(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)


async def wait_for(
    condition: Callable[[], Awaitable[bool]],
    what: str,
    timeout: float = 60.0,
    workers: Iterable[Worker] = (),
) -> None:
    """Poll `condition` until true; fail with `what` (and the workers' log tails) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        for worker in workers:
            if not worker.alive():
                raise AssertionError(
                    f"worker {worker.consumer_id} died while waiting for {what}:\n{worker.log[-4000:]}"
                )
        await asyncio.sleep(0.05)
    tails = "\n".join(f"--- {w.consumer_id}\n{w.log[-3000:]}" for w in workers)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails}")


def commit(repo: str, seq: int, ops: int = 1) -> dict[str, str]:
    data = {
        "repo": repo,
        "rev": f"rev{seq}",
        "ops": [
            {
                "action": "create",
                "path": f"app.bsky.feed.post/k{seq}x{n}",
                "cid": "bafy",
                "record": {"text": "hi"},
            }
            for n in range(ops)
        ],
    }
    return {"type": "commit", "data": orjson.dumps(data).decode(), "seq": str(seq)}


def identity(did: str, seq: int) -> dict[str, str]:
    return {
        "type": "identity",
        "data": orjson.dumps({"did": did, "handle": "a.test"}).decode(),
        "seq": str(seq),
    }


def account(did: str, seq: int) -> dict[str, str]:
    return {"type": "account", "data": orjson.dumps({"did": did, "active": True}).decode(), "seq": str(seq)}


def mixed(count: int, start_seq: int = 1) -> list[dict[str, str]]:
    """Commits, identities and accounts interleaved, most of them commits, as the firehose."""
    entries = []
    for n in range(count):
        seq = start_seq + n
        if n % 10 == 3:
            entries.append(identity(f"did:plc:i{n}", seq))
        elif n % 10 == 7:
            entries.append(account(f"did:plc:a{n}", seq))
        else:
            entries.append(commit(f"did:plc:c{n % 97}", seq, ops=1 + n % 3))
    return entries


async def push(client: aioredis.Redis, stream: str, entries: Iterable[Fields]) -> list[str]:
    ids: list[str] = []
    batch: list[Fields] = []

    async def flush() -> None:
        async with client.pipeline(transaction=False) as pipe:
            for fields in batch:
                pipe.xadd(stream, dict(fields))
            ids.extend(entry_id.decode() for entry_id in await pipe.execute())
        batch.clear()

    for fields in entries:
        batch.append(fields)
        if len(batch) == 1000:
            await flush()
    if batch:
        await flush()
    return ids


async def handled(client: aioredis.Redis, keys: Keys) -> dict[str, int]:
    raw = await client.hgetall(keys.probe("handled"))
    return {key.decode(): int(value) for key, value in raw.items()}


async def pending_ids(client: aioredis.Redis, keys: Keys) -> set[str]:
    try:
        pending = await client.xpending_range(keys.stream, keys.group, "-", "+", 100_000)
    except aioredis.ResponseError:
        return set()
    return {item["message_id"].decode() for item in pending}


async def delivery_counts(client: aioredis.Redis, keys: Keys) -> dict[str, int]:
    pending = await client.xpending_range(keys.stream, keys.group, "-", "+", 100_000)
    return {item["message_id"].decode(): int(item["times_delivered"]) for item in pending}


async def dead_letters(client: aioredis.Redis, keys: Keys) -> dict[str, dict[bytes, bytes]]:
    """Dead letters by original entry id."""
    return {fields[b"origId"].decode(): fields for _, fields in await client.xrange(keys.dead_letters)}


async def acknowledged_ids(client: aioredis.Redis, keys: Keys) -> set[str]:
    """Entries the group delivered and no longer has pending."""
    groups = await client.xinfo_groups(keys.stream)
    group = next(g for g in groups if g["name"].decode() == keys.group)
    last = group["last-delivered-id"]
    delivered = {entry_id.decode() for entry_id, _ in await client.xrange(keys.stream, "-", last)}
    return delivered - await pending_ids(client, keys)


async def assert_acknowledged_only_when_done(
    client: aioredis.Redis, keys: Keys, skipped: Iterable[str] = ()
) -> None:
    """The rule of DIRECTION §4: nothing is acknowledged that was not handled or dead-lettered."""
    done = set(await handled(client, keys)) | set(await dead_letters(client, keys)) | set(skipped)
    early = await acknowledged_ids(client, keys) - done
    assert not early, f"{len(early)} entries acknowledged without being handled, e.g. {sorted(early)[:5]}"


@dataclass
class PrivateRedis:
    """A `redis-server` of the test's own, without persistence, that the test may kill and restart.

    Never the machine's shared Redis: that one is only ever used through key prefixes.
    """

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class IdleHandlers:
    """Handlers for in-process tests that drive the transport's machinery, never the agents."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def commits(self, events: list[CommitEvent]) -> Sequence[DeadLetter]:
        raise AssertionError("no batch expected")

    async def identities(self, events: list[IdentityEvent]) -> Sequence[DeadLetter]:
        raise AssertionError("no batch expected")

    async def accounts(self, events: list[AccountEvent]) -> Sequence[DeadLetter]:
        raise AssertionError("no batch expected")
