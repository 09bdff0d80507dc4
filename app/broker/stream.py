"""The Redis commands the source adapter needs, and nothing else (DIRECTION §1, §4).

Everything is read as bytes (`decode_responses=False`): decoding is done entry by entry by
`app.broker.envelope`, so one invalid entry cannot make a whole reply undecodable.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable, Mapping, Sequence

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from app.events import DeadLetter
from app.settings import Settings

logger = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes]]
Fields = Mapping[str | bytes, str | bytes]

# XACK and XCLAIM take ids as arguments; a bounded chunk keeps one command (and Redis' time on it)
# small even when thousands of ids are released at once.
_ID_CHUNK = 1_000


def is_missing_group(exc: ResponseError) -> bool:
    """The group or the stream is gone: Redis restarted without persistence, or someone deleted it.

    `NOGROUP` is the plain case; a read blocked while the stream key was deleted is woken with
    `UNBLOCKED the stream key no longer exists`.
    """
    message = str(exc)
    return message.startswith("NOGROUP") or "no longer exists" in message


def dead_letter_fields(letter: DeadLetter) -> dict[str | bytes, str | bytes]:
    """The dead-letter stream's fields (DIRECTION §4): the original fields, the error, the count."""
    fields: dict[str | bytes, str | bytes] = {
        "type": letter.type,
        "data": letter.data,
        "seq": letter.seq,
        "origId": letter.entry_id,
        "deliveries": str(letter.deliveries),
        "error": letter.error,
    }
    if letter.op_index is not None:
        fields["opIndex"] = str(letter.op_index)
    return fields


def raw_dead_letter(
    entry_id: bytes, fields: Mapping[bytes, bytes], deliveries: int, error: str
) -> dict[str | bytes, str | bytes]:
    """A dead letter for an entry that never decoded: its fields are kept byte for byte."""
    return {
        "type": fields.get(b"type", b""),
        "data": fields.get(b"data", b""),
        "seq": fields.get(b"seq", b""),
        "origId": entry_id,
        "deliveries": str(deliveries),
        "error": error,
    }


_HELD_DELIVERIES_TTL_S = 7 * 24 * 3600


class RedisStream:
    """One stream and its consumer group, seen by every pipeline of one worker process."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.key = settings.stream_key
        self.group = settings.consumer_group
        self.dead_letter_key = settings.dead_letter_stream
        self.dead_letter_maxlen = settings.dead_letter_maxlen
        # Deliveries that met an outage, per entry id: they do not count toward MAX_DELIVERIES.
        self.held_deliveries_key = f"{settings.stream_key}:held-deliveries:{settings.consumer_group}"

    async def ensure_group(self) -> None:
        """Create the group at `0` (and the stream) when missing (DIRECTION §1)."""
        try:
            await self.client.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        else:
            logger.warning("Created consumer group %s of %s at 0", self.group, self.key)

    async def _recreate_group(self, exc: ResponseError) -> None:
        logger.warning("Consumer group lost (%s): recreating it", str(exc).split(" ", 1)[0])
        await self.ensure_group()

    async def read(self, consumer: str, after: bytes | None, count: int, block_ms: int) -> list[Entry]:
        """XREADGROUP: new entries when `after` is None, else this consumer's own pending ones.

        Reading its own pending entries (from `after`, starting at `0`) is how a restarted worker
        takes back at once what it held when it stopped; those reads never block.
        """
        try:
            reply = await self.client.xreadgroup(
                self.group,
                consumer,
                {self.key: b">" if after is None else after},
                count=count,
                block=block_ms if after is None else None,
            )
        except ResponseError as exc:
            if not is_missing_group(exc):
                raise
            await self._recreate_group(exc)
            return []
        if not reply:
            return []
        return reply[0][1]

    async def claim(
        self, consumer: str, cursor: bytes, min_idle_ms: int, count: int
    ) -> tuple[bytes, list[Entry]]:
        """XAUTOCLAIM entries idle for `min_idle_ms` (their consumer is gone) into `consumer`.

        Returns the next cursor (`0-0` when the scan is complete). Entries deleted from the stream
        while pending are dropped from the pending list by Redis itself.
        """
        try:
            reply = await self.client.xautoclaim(
                self.key, self.group, consumer, min_idle_ms, start_id=cursor, count=count
            )
        except ResponseError as exc:
            if not is_missing_group(exc):
                raise
            await self._recreate_group(exc)
            return b"0-0", []
        return reply[0], reply[1]

    async def take_back_unseen(self, consumer: str, held: Container[bytes], count: int) -> list[Entry]:
        """Up to `count` entries pending under `consumer` that the process does not hold, claimed
        again by `consumer` (their delivery count goes up by one) with their fields.

        A read whose connection dropped before its reply arrived may still have been carried out by
        Redis: its entries are then pending under the reader's name and nobody knows them. The
        pipeline calls this after a failed read instead of waiting for their idle time to expire.
        """
        unseen: list[bytes] = []
        start: bytes = b"-"
        while len(unseen) < count:
            try:
                pending = await self.client.xpending_range(
                    self.key, self.group, start, "+", _ID_CHUNK, consumername=consumer
                )
            except ResponseError as exc:
                if is_missing_group(exc):
                    return []
                raise
            unseen += [item["message_id"] for item in pending if item["message_id"] not in held]
            if len(pending) < _ID_CHUNK:
                break
            start = b"(" + pending[-1]["message_id"]
        if not unseen:
            return []
        claimed = await self.client.xclaim(self.key, self.group, consumer, 0, unseen[:count])
        return [(entry_id, fields) for entry_id, fields in claimed if fields is not None]

    async def delivery_counts(self, ids: Sequence[bytes]) -> dict[bytes, int]:
        """How many times the group delivered each entry (counting the current delivery)."""
        async with self.client.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.xpending_range(self.key, self.group, entry_id, entry_id, 1)
            replies = await pipe.execute(raise_on_error=False)
        counts: dict[bytes, int] = {}
        for entry_id, reply in zip(ids, replies, strict=True):
            if isinstance(reply, list) and reply:
                counts[entry_id] = int(reply[0]["times_delivered"])
        return counts

    async def note_held(self, ids: Sequence[bytes]) -> None:
        """Note that the current delivery of these entries met an outage (the worker was not ready).

        Kept for `_HELD_DELIVERIES_TTL_S` after the last note: an entry is redelivered within the
        claim idle time, or not at all once acknowledged."""
        async with self.client.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.hincrby(self.held_deliveries_key, entry_id, 1)
            pipe.expire(self.held_deliveries_key, _HELD_DELIVERIES_TTL_S)
            await pipe.execute()

    async def held_deliveries(self, ids: Sequence[bytes]) -> dict[bytes, int]:
        """How many deliveries of each entry met an outage."""
        counts = await self.client.hmget(self.held_deliveries_key, list(ids))
        return {
            entry_id: int(count) for entry_id, count in zip(ids, counts, strict=True) if count is not None
        }

    async def ack(self, ids: Sequence[bytes]) -> None:
        for start in range(0, len(ids), _ID_CHUNK):
            await self.client.xack(self.key, self.group, *ids[start : start + _ID_CHUNK])

    async def dead_letter(self, letters: Iterable[Fields], ack_ids: Sequence[bytes] = ()) -> None:
        """Append dead letters, and acknowledge `ack_ids`, in one MULTI/EXEC.

        Atomic so that an entry is never acknowledged without its dead letter; a crash before EXEC
        leaves both undone and the entry pending.
        """
        async with self.client.pipeline(transaction=True) as pipe:
            for fields in letters:
                pipe.xadd(
                    self.dead_letter_key,
                    dict(fields),
                    maxlen=self.dead_letter_maxlen,
                    approximate=True,
                )
            if ack_ids:
                pipe.xack(self.key, self.group, *ack_ids)
            await pipe.execute()

    async def keep_alive(self, consumer: str, min_idle_ms: int, held: Container[bytes]) -> int:
        """Reset the idle time of `consumer`'s entries that the process `held` and that are idle for
        `min_idle_ms`, so no one claims them. Returns how many entries were refreshed.

        Entries pending under `consumer` that the process does not hold are left to go idle: a read
        whose reply was lost with its connection (Redis delivered, the worker never saw the entries)
        leaves exactly those, and XAUTOCLAIM (this worker's or another's) takes them back once idle
        for the claim idle time; refreshing them would keep them pending for as long as the process
        lives. XCLAIM with JUSTID neither changes the delivery count nor returns the entries; its
        own min-idle-time means an entry another consumer claimed a moment ago (idle time reset by
        that claim) is left with it.
        """
        refreshed = 0
        start: bytes = b"-"
        while True:
            try:
                pending = await self.client.xpending_range(
                    self.key, self.group, start, "+", _ID_CHUNK, consumername=consumer, idle=min_idle_ms
                )
            except ResponseError as exc:
                if is_missing_group(exc):
                    return refreshed
                raise
            ids = [item["message_id"] for item in pending if item["message_id"] in held]
            if ids:
                claimed = await self.client.xclaim(
                    self.key, self.group, consumer, min_idle_ms, ids, justid=True
                )
                refreshed += len(claimed)
            if len(pending) < _ID_CHUNK:
                return refreshed
            start = b"(" + pending[-1]["message_id"]  # exclusive: the page after the last one
