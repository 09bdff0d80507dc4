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
import time
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


def summary(exc: BaseException) -> str:
    """`describe` cut to its first line, for log lines (SQLAlchemy appends SQL and a help link)."""
    return describe(exc).split("\n", 1)[0]


class ServerState:
    """Whether one server (PostgreSQL, Redis) answers, as every operation against it sees it.

    An outage is logged when it starts and when it ends, once for the whole process: every batch
    and pipeline holding work during it reports here instead of logging for itself, so an hour-long
    outage is two lines, not a line per batch. A failure of an attempt that began before the last
    recovery, or within `grace_s` of it (a pooled connection that died in the outage and is only
    now found dead), is counted but does not open a new outage.
    """

    def __init__(self, name: str, grace_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.grace_s = grace_s
        self.clock = clock
        self.down_since: float | None = None
        self.failures = 0
        self._recovered_at = -float("inf")

    @property
    def up(self) -> bool:
        return self.down_since is None

    def failed(self, exc: BaseException, what: str, started_at: float) -> None:
        """An attempt begun at `started_at` (this state's clock) failed with a transient error."""
        if self.down_since is None:
            if started_at < self._recovered_at + self.grace_s:
                return
            self.down_since = self.clock()
            self.failures = 0
            logger.warning(
                "%s unavailable: transient failure (%s) in %s; holding work and retrying with backoff",
                self.name,
                summary(exc),
                what,
            )
        self.failures += 1

    def answered(self) -> None:
        """An operation succeeded."""
        if self.down_since is not None:
            now = self.clock()
            logger.warning(
                "%s available again after %.1f s: recovered after %d failed attempts",
                self.name,
                now - self.down_since,
                self.failures,
            )
            self.down_since = None
            self._recovered_at = now


# One per process: a worker process talks to one PostgreSQL and one Redis.
POSTGRESQL = ServerState("PostgreSQL")
REDIS = ServerState("Redis")


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
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    server: ServerState,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> T:
    """Await `operation()` until it succeeds or fails with a non-transient error (re-raised).

    Failures and the recovery are reported to `server`, which logs each change of state once for
    the process, never per attempt nor per batch.
    """
    delays = backoff.delays()
    while True:
        started = server.clock()
        try:
            result = await operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            server.failed(exc, what, started)
            await asyncio.sleep(next(delays))
            continue
        server.answered()
        return result


async def apply_batch(
    handle: Callable[[list[E]], Awaitable[Sequence[DeadLetter]]],
    events: list[E],
    *,
    kind: str,
    server: ServerState = POSTGRESQL,
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
                lambda: handle(events), what=f"{kind} batch of {len(events)}", server=server, backoff=backoff
            )
        )
    except Exception as exc:
        if len(events) == 1:
            event = events[0]
            logger.error("%s entry %s dead-lettered: %s", kind, event.entry_id, summary(exc))
            return [DeadLetter.of(event, kind, describe(exc))]
        middle = len(events) // 2
        first = await apply_batch(handle, events[:middle], kind=kind, server=server, backoff=backoff)
        return first + await apply_batch(handle, events[middle:], kind=kind, server=server, backoff=backoff)
