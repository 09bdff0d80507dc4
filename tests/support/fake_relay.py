"""A local fake relay (or Jetstream): a websocket server on a free port that honours `cursor`.

It serves a list of messages keyed by position — relay seq (frames with seq > cursor are sent, as
a relay replays after the cursor) or Jetstream time_us (events with time_us >= cursor, Jetstream's
inclusive replay) — and then, like a live source, waits for more (`add`). Without a cursor it sends
only what is added after the connection opened (the live tail). It runs its own event loop in a
thread, so both sync and async tests can use it, and records every cursor it was asked for.

Knobs for failure tests: `delay_s` between messages (a slow stream, to kill a reader mid-way),
`drop_after` (abort the TCP connection after that many messages, once per connection), and
`frames_with_seq` to build relay frames (header + body) from plain dicts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import cbrrr
from websockets.asyncio.server import ServerConnection, serve

Kind = Literal["relay", "jetstream"]


@dataclass
class FakeRelay:
    kind: Kind = "relay"
    delay_s: float = 0.0
    drop_after: int | None = None
    messages: list[tuple[int, bytes | str]] = field(default_factory=list)
    cursors: list[int | None] = field(default_factory=list)
    sent: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-relay", daemon=True)
        self._more: asyncio.Condition | None = None
        self._stop: asyncio.Event | None = None
        self._closing = False
        self.port = 0

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> FakeRelay:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake relay did not start")
        return self

    def close(self) -> None:
        async def stop() -> None:
            assert self._more is not None and self._stop is not None
            async with self._more:
                self._closing = True
                self._more.notify_all()
            self._abort_all()
            self._stop.set()

        if self._stop is not None:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._thread.join(10)

    def __enter__(self) -> FakeRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        path = "/subscribe" if self.kind == "jetstream" else "/xrpc/com.atproto.sync.subscribeRepos"
        return f"ws://127.0.0.1:{self.port}{path}"

    def add(self, messages: Iterable[tuple[int, bytes | str]]) -> None:
        """Append messages (key, payload) and wake the connections waiting at the tail."""
        batch = list(messages)

        async def append() -> None:
            assert self._more is not None
            async with self._more:
                self.messages.extend(batch)
                self._more.notify_all()

        asyncio.run_coroutine_threadsafe(append(), self._loop).result(10)

    def drop_connections(self) -> None:
        """Abort every open connection (as a relay that restarts)."""
        self._loop.call_soon_threadsafe(self._abort_all)

    # --- the server ---------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._more = asyncio.Condition()
        self._stop = asyncio.Event()
        self._connections: set[ServerConnection] = set()
        async with serve(self._handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def _abort_all(self) -> None:
        for connection in list(self._connections):
            connection.transport.abort()

    def _start_index(self, cursor: int | None) -> int:
        if cursor is None:
            return len(self.messages)
        for index, (key, _) in enumerate(self.messages):
            if (key > cursor) if self.kind == "relay" else (key >= cursor):
                return index
        return len(self.messages)

    async def _handler(self, connection: ServerConnection) -> None:
        query = parse_qs(urlsplit(connection.request.path).query if connection.request else "")
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        self.cursors.append(cursor)
        self._connections.add(connection)
        assert self._more is not None
        try:
            index = self._start_index(cursor)
            sent_here = 0
            while True:
                async with self._more:
                    while index >= len(self.messages) and not self._closing:
                        await self._more.wait()
                    if self._closing:
                        return
                    pending = self.messages[index:]
                for _, payload in pending:
                    await connection.send(payload)
                    index += 1
                    sent_here += 1
                    self.sent += 1
                    if self.drop_after is not None and sent_here >= self.drop_after:
                        connection.transport.abort()
                        return
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
        except Exception:
            return  # the client went away
        finally:
            self._connections.discard(connection)


def relay_frame(kind: str, body: dict[str, Any]) -> bytes:
    """A subscribeRepos frame: header `{op: 1, t: kind}` followed by `body`, both DAG-CBOR."""
    return cbrrr.encode_dag_cbor({"op": 1, "t": kind}) + cbrrr.encode_dag_cbor(body)


def error_frame(error: str, message: str) -> bytes:
    return cbrrr.encode_dag_cbor({"op": -1}) + cbrrr.encode_dag_cbor({"error": error, "message": message})


def _cid(block: bytes) -> cbrrr.CID:
    return cbrrr.CID.cidv1_dag_cbor_sha256_32_from(block)


def car_file(root: cbrrr.CID, blocks: Iterable[bytes]) -> bytes:
    """A CARv1 holding `blocks` (dag-cbor, sha2-256 CIDs) under `root`."""
    header = cbrrr.encode_dag_cbor({"version": 1, "roots": [root]})
    out = bytearray(_varint(len(header)) + header)
    for block in blocks:
        section = bytes(_cid(block)) + block
        out += _varint(len(section)) + section
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def commit_frame(
    seq: int,
    repo: str,
    rev: str,
    ops: list[tuple[str, str, dict[str, Any] | None]],
    *,
    too_big: bool = False,
    corrupt_blocks: bool = False,
) -> bytes:
    """A `#commit` frame: ops (action, path, record or None) with their records as CAR blocks.

    `corrupt_blocks` puts bytes in the CAR that do not hash to the CIDs the ops name."""
    blocks: list[bytes] = []
    frame_ops: list[dict[str, Any]] = []
    for action, path, record in ops:
        op: dict[str, Any] = {"action": action, "path": path, "cid": None}
        if record is not None:
            block = cbrrr.encode_dag_cbor(record)
            op["cid"] = _cid(block)
            blocks.append(block)
        frame_ops.append(op)
    commit_block = cbrrr.encode_dag_cbor({"did": repo, "rev": rev, "version": 3})
    if corrupt_blocks:
        car = bytearray(car_file(_cid(commit_block), [commit_block, *blocks]))
        car[-1] ^= 0xFF  # the last record's last byte
        car_bytes = bytes(car)
    else:
        car_bytes = car_file(_cid(commit_block), [commit_block, *blocks])
    body = {
        "seq": seq,
        "repo": repo,
        "rev": rev,
        "since": None,
        "time": "2026-07-04T14:40:00.000Z",
        "commit": _cid(commit_block),
        "blocks": b"" if too_big else car_bytes,
        "ops": [] if too_big else frame_ops,
        "blobs": [],
        "rebase": False,
        "tooBig": too_big,
    }
    return relay_frame("#commit", body)
