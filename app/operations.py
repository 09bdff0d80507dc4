"""Operator commands (`python -m app recount`, `python -m app redrive-dead-letters`), as functions.

They use the worker's own settings (the environment) and code: `recount` is the repair whose
definitions the tests prove exact (app/indexing/recount.py); re-driving puts dead letters back into
the source stream, where the worker indexes them like any entry.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine
from app.events import version_of
from app.indexing.recount import COUNTERS, Drift, recount
from app.schema import SchemaNotAtHead, schema_state
from app.settings import Settings

# Every table a counter is read from or written to. Recount holds them in SHARE ROW EXCLUSIVE mode:
# workers' writes wait for it (readers do not), so no like committed while it counts is missed.
_COUNTED_TABLES = sorted({counter.table for counter in COUNTERS} | {counter.source for counter in COUNTERS})

# Dead letters moved back per MULTI/EXEC.
_REDRIVE_CHUNK = 500


async def recount_counters(settings: Settings) -> list[Drift]:
    """Set every counter to the count of the live rows it counts, in one transaction; returns what
    was changed. Refuses a schema that is not at head (the definitions are written for it)."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        return await _recount(engine)
    finally:
        await engine.dispose()


async def _recount(engine: AsyncEngine) -> list[Drift]:
    async with engine.begin() as conn:
        state = await schema_state(conn)
        if not state.at_head:
            raise SchemaNotAtHead(state.problem())
        await conn.execute(text(f"LOCK TABLE {', '.join(_COUNTED_TABLES)} IN SHARE ROW EXCLUSIVE MODE"))
        return await recount(conn)


def describe_drifts(drifts: list[Drift], examples: int = 5) -> list[str]:
    """One line per counter that changed, with a few of its changes."""
    by_counter: dict[tuple[str, str], list[Drift]] = defaultdict(list)
    for drift in drifts:
        by_counter[(drift.table, drift.column)].append(drift)
    lines = []
    for (table, column), changed in sorted(by_counter.items()):
        shown = ", ".join(f"{d.key}: {d.stored} -> {d.live}" for d in changed[:examples])
        more = f", and {len(changed) - examples} more" if len(changed) > examples else ""
        lines.append(f"{table}.{column}: {len(changed)} rows set to their live count ({shown}{more})")
    return lines


@dataclass(frozen=True)
class Redriven:
    letters: int  # dead letters removed from the dead-letter stream
    entries: int  # entries added to the source stream (one per original entry)


async def redrive_dead_letters(settings: Settings, count: int | None = None) -> Redriven:
    """Move up to `count` dead letters (all by default), oldest first, back into the source stream.

    Each goes back as its original `type`, `data` and `seq`, and is removed from the dead-letter
    stream in the same MULTI/EXEC. Several dead letters of one entry (one per bad op) go back as
    one entry; an entry whose ops were partly applied is applied again to the same effect (those
    ops are stale). The version is kept: an entry of a stream without `seq` goes back with `seq`
    set to the version its entry id gave it, so a re-driven old event never overwrites newer data.
    """
    client = aioredis.from_url(settings.redis_url, decode_responses=False)
    letters = entries = 0
    seen: set[bytes] = set()
    after = b"-"
    try:
        while count is None or letters < count:
            page = _REDRIVE_CHUNK if count is None else min(_REDRIVE_CHUNK, count - letters)
            batch = await client.xrange(settings.dead_letter_stream, after, "+", count=page)
            if not batch:
                break
            async with client.pipeline(transaction=True) as pipe:
                for _, fields in batch:
                    original = fields.get(b"origId", b"")
                    if original and original in seen:
                        continue
                    seen.add(original)
                    pipe.xadd(settings.stream_key, _original_fields(fields))
                    entries += 1
                pipe.xdel(settings.dead_letter_stream, *(letter_id for letter_id, _ in batch))
                await pipe.execute()
            letters += len(batch)
            after = b"(" + batch[-1][0]
    finally:
        await client.aclose()
    return Redriven(letters, entries)


def _original_fields(letter: dict[bytes, bytes]) -> dict[bytes, bytes]:
    seq = letter.get(b"seq", b"")
    original = letter.get(b"origId", b"")
    if not seq and original:
        try:
            seq = str(version_of(original.decode(), "")).encode()
        except ValueError:
            seq = b""  # not an entry id: the entry goes back as it was
    return {b"type": letter.get(b"type", b""), b"data": letter.get(b"data", b""), b"seq": seq}
