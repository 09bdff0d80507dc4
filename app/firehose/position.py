"""Where the reader starts: one small pluggable function, asked once at start.

In order: the `--cursor` override (a replay), else the cursor stored in Redis with the last batch
written, else `fallback` — the place for "the newest relay position the worker committed in the
database" once the worker keeps one (it does not yet: the default fallback has nothing) — else
None, which means the source's live tail.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from app.firehose.stream import stored_cursor

logger = logging.getLogger(__name__)

StartPosition = Callable[[], Awaitable[int | None]]


async def no_fallback() -> int | None:
    return None


def start_position(
    client: aioredis.Redis, cursor_key: str, override: int | None, fallback: StartPosition = no_fallback
) -> StartPosition:
    async def resolve() -> int | None:
        if override is not None:
            logger.warning("starting from cursor %d given on the command line (a replay)", override)
            return override
        stored = await stored_cursor(client, cursor_key)
        if stored is not None:
            logger.info("resuming from cursor %d stored in %s", stored, cursor_key)
            return stored
        found = await fallback()
        if found is not None:
            logger.warning("no cursor in %s: resuming from %d (fallback position)", cursor_key, found)
            return found
        logger.warning("no cursor in %s: starting at the live tail of the source", cursor_key)
        return None

    return resolve
