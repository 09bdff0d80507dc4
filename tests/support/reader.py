"""Running the real firehose reader (`python -m app firehose`) as a process against a fake relay, and
reading what it wrote: stream entries, the cursor, dead letters, its log, its web server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from app.codec.dagcbor import decode_frame
from tests.support.capture import CORPUS, expected_events, frames

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class ReaderKeys:
    """Every Redis key a reader run touches, under the test's prefix."""

    prefix: str

    @property
    def stream(self) -> str:
        return f"{self.prefix}events"

    @property
    def group(self) -> str:
        return f"{self.prefix}group"

    @property
    def cursor(self) -> str:
        return f"{self.prefix}cursor"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}reader-dead-letters"


def reader_env(keys: ReaderKeys, redis_url: str, relay_url: str, **settings: str) -> dict[str, str]:
    """The environment of a reader under the test's keys, quick to trim and to reconnect."""
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "RELAY_URL": relay_url,
        "REDIS_STREAM_KEY": keys.stream,
        "REDIS_CONSUMER_GROUP": keys.group,
        "REDIS_CURSOR_KEY": keys.cursor,
        "READER_DEAD_LETTER_STREAM": keys.dead_letters,
        "READER_WEB_PORT": str(free_port()),
        "READER_TRIM_INTERVAL_S": "0.1",
        "READER_RECONNECT_MAX_S": "0.5",
        "LOG_LEVEL": "INFO",
        **settings,
    }


class ReaderProcess:
    """One `python -m app firehose` process; its stderr goes to a file read by `log()`."""

    def __init__(
        self,
        keys: ReaderKeys,
        redis_url: str,
        relay_url: str,
        log_path: Path,
        cursor: int | None = None,
        **settings: str,
    ) -> None:
        self.web_port = free_port()
        self.env = reader_env(keys, redis_url, relay_url, READER_WEB_PORT=str(self.web_port), **settings)
        self.log_path = log_path
        self.args = [sys.executable, "-m", "app", "firehose"]
        if cursor is not None:
            self.args += ["--cursor", str(cursor)]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ReaderProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.args, cwd=REPO_ROOT, env=self.env, stderr=log, stdout=log)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self, timeout: float = 20) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def get(self, path: str) -> tuple[int, str]:
        """(status, body) of a route of the reader's web server; (0, "") while it does not listen."""
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{self.web_port}{path}") as reply,
            ):
                return reply.status, await reply.text()
        except aiohttp.ClientConnectorError:
            return 0, ""


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout: float = 30, what: str = "the condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def stream_entries(client: aioredis.Redis, stream: str) -> list[dict[str, str]]:
    return [
        {key.decode(): value.decode() for key, value in fields.items()}
        for _, fields in await client.xrange(stream)
    ]


# --- the capture as the fake relay serves it, and what the reader must make of it -------------


def relay_messages(fixtures_dir: Path) -> list[tuple[int, bytes | str]]:
    """The capture's frames keyed by their seq."""
    return [(decode_frame(frame)[1]["seq"], frame) for frame in frames(fixtures_dir)]


def jetstream_messages(fixtures_dir: Path) -> list[tuple[int, bytes | str]]:
    """`expected_v1.jsonl` line by line, keyed by time_us, as Jetstream served it."""
    lines = (fixtures_dir / CORPUS / "expected_v1.jsonl").read_text(encoding="utf-8").splitlines()
    return [(orjson.loads(line)["time_us"], line) for line in lines]


OpKey = tuple[str, str, str, str | None, str]  # repo, action, path, cid, record JSON


def stream_ops(entries: list[dict[str, str]]) -> Counter[OpKey]:
    """Every commit op in the entries, with its record as canonical JSON."""
    found: Counter[OpKey] = Counter()
    for entry in entries:
        if entry["type"] != "commit":
            continue
        data = orjson.loads(entry["data"])
        for op in data["ops"]:
            record = op.get("record")
            found[(data["repo"], op["action"], op["path"], op.get("cid"), _canonical(record))] += 1
    return found


def expected_ops(fixtures_dir: Path) -> Counter[OpKey]:
    found: Counter[OpKey] = Counter()
    for event in expected_events(fixtures_dir):
        if event["kind"] != "commit":
            continue
        commit = event["commit"]
        key = (
            event["did"],
            commit["operation"],
            f"{commit['collection']}/{commit['rkey']}",
            commit.get("cid"),
            _canonical(commit.get("record")),
        )
        found[key] += 1
    return found


def _canonical(record: Any) -> str:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode()


def status_events(entries: list[dict[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of the identity and account entries."""
    return [
        (entry["type"], orjson.loads(entry["data"]))
        for entry in entries
        if entry["type"] in ("identity", "account")
    ]
