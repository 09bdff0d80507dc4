"""The reader's Redis side: a batch of entries and its cursor in one transaction, trimming below what
the consumer group has acknowledged, and the stored cursor.

- `write_batch`: one MULTI/EXEC holding the XADD of every entry of the batch, the XADD of its dead
  letters and the SET of the cursor the batch reaches, then XLEN. Redis runs a transaction whole
  or not at all, so the stored cursor never runs ahead of the stream (a crash loses the batch and
  its cursor together: the next start reads the batch again) and never lags more than the batch
  being written.
- `trim_acknowledged`: XTRIM MINID below the oldest entry the consumer group has not acknowledged —
  the smallest id in its pending list or, with nothing pending, the entry after its
  last-delivered-id. Both are read in one MULTI/EXEC (one snapshot of the group); entries below
  them have been delivered and acknowledged, which is final, so trimming them later is safe.
  No group, no trimming: nothing has been read yet.
"""

from __future__ import annotations

import base64
import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from app.firehose.translate import Entry

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadFrame:
    """A message the reader could not turn into entries, kept with its bytes."""

    reason: str
    message: bytes
    cursor: int | None


@dataclass(slots=True)
class Batch:
    entries: list[Entry] = field(default_factory=list)
    dead: list[DeadFrame] = field(default_factory=list)
    #: The position the batch reaches (the last message's cursor), stored with it.
    cursor: int | None = None
    messages: int = 0

    def __len__(self) -> int:
        return self.messages


def dead_letter_fields(dead: DeadFrame, source: str) -> dict[str, str]:
    return {
        "reason": dead.reason,
        "frame": base64.b64encode(dead.message).decode("ascii"),
        "cursor": "" if dead.cursor is None else str(dead.cursor),
        "source": source,
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
    }


@dataclass(frozen=True)
class StreamKeys:
    stream: str
    group: str
    cursor: str
    dead_letters: str
    dead_letter_maxlen: int
    source: str


async def write_batch(client: aioredis.Redis, keys: StreamKeys, batch: Batch) -> int:
    """XADD the batch, its dead letters and its cursor atomically; return the stream's length."""
    async with client.pipeline(transaction=True) as pipe:
        stream = keys.stream
        for entry in batch.entries:  # XADD as a raw command: the per-entry cost is in this loop
            pipe.execute_command(
                "XADD", stream, "*", "type", entry.type, "data", entry.data, "seq", entry.seq
            )
        for dead in batch.dead:
            pipe.xadd(
                keys.dead_letters,
                dead_letter_fields(dead, keys.source),  # type: ignore[arg-type]
                maxlen=keys.dead_letter_maxlen,
                approximate=True,
            )
        if batch.cursor is not None:
            pipe.set(keys.cursor, str(batch.cursor))
        pipe.xlen(keys.stream)
        results: Sequence[object] = await pipe.execute()
    return int(results[-1])  # type: ignore[call-overload]


async def stored_cursor(client: aioredis.Redis, key: str) -> int | None:
    """The cursor under `key`, or None when there is none; a value that is not a number is reported
    and ignored (the reader then starts as without one)."""
    raw = await client.get(key)
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        value = int(text)
    except ValueError:
        logger.error("cursor key %s holds %r, not a number: ignored", key, text[:64])
        return None
    return value if value >= 0 else None


def _id(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _after(entry_id: str) -> str:
    """The smallest stream id greater than `entry_id`."""
    millis, _, sequence = entry_id.partition("-")
    return f"{millis}-{int(sequence or 0) + 1}"


def _older(first: str, second: str) -> str:
    a, b = (tuple(int(part) for part in value.split("-")) for value in (first, second))
    return first if a <= b else second


async def acknowledged_floor(client: aioredis.Redis, stream: str, group: str) -> str | None:
    """The id of the oldest entry `group` has not acknowledged (every entry below it is done), or
    None when the stream or the group does not exist."""
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.xinfo_groups(stream)
            pipe.xpending(stream, group)
            groups, pending = await pipe.execute()
    except ResponseError as exc:  # no such key, or NOGROUP
        logger.debug("nothing to trim in %s: %s", stream, exc)
        return None
    mine = next((info for info in groups if _id(info.get("name")) == group), None)
    if mine is None:
        return None
    floor = _after(_id(mine.get("last-delivered-id", "0-0")))
    if pending and int(pending.get("pending", 0)) > 0 and pending.get("min") is not None:
        floor = _older(_id(pending["min"]), floor)
    return floor


async def trim_acknowledged(client: aioredis.Redis, stream: str, group: str) -> int:
    """XTRIM MINID below the group's acknowledged floor; the number of entries removed.

    Exact, not `~`: an approximate trim removes whole internal nodes only (100 entries by default),
    so a small cap could stay full of acknowledged entries and the reader paused for ever."""
    floor = await acknowledged_floor(client, stream, group)
    if floor is None:
        return 0
    return int(await client.xtrim(stream, minid=floor, approximate=False))
