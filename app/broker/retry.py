"""Transient failures hold a batch; a permanent one is bisected down to the entry that causes it.

DIRECTION §4 "Acknowledge after commit": a transient failure (database or Redis unreachable,
deadlock, serialization failure) is retried in-process with capped backoff, holding the batch: it is
neither acknowledged nor redelivered meanwhile, so an outage cannot push entries over the delivery
limit. Any other exception means some entry can never be applied; rather than wedging the stream,
the batch is split in halves until that entry is alone, and only that entry is dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import redis.exceptions
import sqlalchemy.exc

from app.events import DeadLetter, StreamEvent

logger = logging.getLogger(__name__)

T = TypeVar("T")
E = TypeVar("E", bound=StreamEvent)

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError and TimeoutError (asyncio.TimeoutError is TimeoutError)
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # pool checkout timed out: every connection busy or unreachable
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
)

# SQLSTATEs that say "try again": serialization failure, deadlock, too many connections, the server
# shutting down or starting up. Class 08 is "connection exception".
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "53300", "57P01", "57P02", "57P03"})

_ERROR_TEXT_LIMIT = 2_000


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it explicitly wraps (`raise ... from`, SQLAlchemy's `.orig`).

    `__context__` is not followed: an error raised while handling a transient one is not itself
    transient.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


def _is_client_side_misuse(exc: BaseException) -> bool:
    """asyncpg's own subclasses of InterfaceError (an argument of the wrong type, an unsupported
    feature) reach us as SQLAlchemy InterfaceErrors, yet no retry can ever fix them. Only the base
    class ("connection is closed", "another operation is in progress") is about the connection."""
    return isinstance(exc, asyncpg.InterfaceError) and type(exc) is not asyncpg.InterfaceError


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same work later can succeed without anything else changing."""
    chain = list(_chain(exc))
    if any(_is_client_side_misuse(item) for item in chain):
        return False
    for item in chain:
        if isinstance(item, _TRANSIENT_TYPES):
            return True
        code = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if isinstance(code, str) and (code in _TRANSIENT_SQLSTATES or code.startswith("08")):
            return True
    return False


def describe(exc: BaseException) -> str:
    """The `error` of a dead letter: exception type and message, bounded."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[: _ERROR_TEXT_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Backoff:
    """Capped exponential delays: initial, initial*factor, ... up to `max_s`, then `max_s` for ever."""

    initial_s: float = 0.05
    factor: float = 2.0
    max_s: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * self.factor, self.max_s)


DEFAULT_BACKOFF = Backoff()


async def retry_transient(
    operation: Callable[[], Awaitable[T]], *, what: str, backoff: Backoff = DEFAULT_BACKOFF
) -> T:
    """Await `operation()` until it succeeds or fails with a non-transient error (re-raised).

    Logs once when it starts failing and once when it recovers, never per attempt: an outage of an
    hour must not write a line every five seconds per batch.
    """
    failures = 0
    delays = backoff.delays()
    while True:
        try:
            result = await operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if failures == 0:
                logger.warning(
                    "%s: transient failure (%s), holding and retrying with backoff", what, describe(exc)
                )
            failures += 1
            await asyncio.sleep(next(delays))
            continue
        if failures:
            logger.warning("%s: recovered after %d failed attempts", what, failures)
        return result


async def apply_batch(
    handle: Callable[[list[E]], Awaitable[Sequence[DeadLetter]]],
    events: list[E],
    *,
    kind: str,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> list[DeadLetter]:
    """Run `handle(events)`; return the dead letters it gave back plus those of poison entries.

    Transient errors are retried on the same events for as long as they last. A non-transient
    error splits the events in two halves, each applied on its own (a handler commits what it
    applies, so the good half is not redone), until the failing entry is alone and dead-lettered
    with the exception as its error. A batch of n entries with one poison entry costs about
    2*log2(n) extra handler calls.
    """
    try:
        return list(
            await retry_transient(
                lambda: handle(events), what=f"{kind} batch of {len(events)}", backoff=backoff
            )
        )
    except Exception as exc:
        if len(events) == 1:
            event = events[0]
            logger.error("%s entry %s dead-lettered: %s", kind, event.entry_id, describe(exc))
            return [DeadLetter.of(event, kind, describe(exc))]
        middle = len(events) // 2
        first = await apply_batch(handle, events[:middle], kind=kind, backoff=backoff)
        return first + await apply_batch(handle, events[middle:], kind=kind, backoff=backoff)
