"""Transient failures and database faults hold a batch; an entry's own failure is bisected down to it.

DIRECTION §4 "Acknowledge after commit": a transient failure (database or Redis unreachable,
deadlock, serialization failure) is retried in-process with capped backoff, holding the batch: it is
neither acknowledged nor redelivered meanwhile, so an outage cannot push entries over the delivery
limit. So is a database fault: an error about the database rather than the entry (an undefined
table, column or function, a trigger that raises, permission denied, a read-only database, a full
disk), which no entry can be blamed for; it lasts until an operator mends the database. Any other
exception means some entry may never be applied; rather than wedging the stream, the batch is split
in halves until that entry is alone, and only that entry is dead-lettered while its batch-mates
apply. When every entry of a batch of several fails alone, the error is not theirs either: the
batch is held as in a fault.
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

# SQLSTATE classes of errors about the database, not about the data of an entry: 42 (undefined
# table, column or function; permission denied), 3F (undefined schema), 25 (read-only transaction),
# 28 (authorization), 53 (insufficient resources: disk full, out of memory), 55 (object not in the
# required state), 58 (system error: I/O), XX (internal, data corrupted), F0 (configuration), and
# what a trigger or function raises: 09 (triggered action), 2F, 38, 39 (routine errors), P0 (PL/pgSQL
# RAISE). Class 22 (data exception), 23 (integrity) and 54 (program limit, e.g. an index row too
# large) can be caused by one entry's values: those are bisected.
_DATABASE_FAULT_CLASSES = frozenset(
    {"42", "3F", "25", "28", "53", "55", "58", "XX", "F0", "09", "2F", "38", "39", "P0"}
)

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


def is_database_fault(exc: BaseException) -> bool:
    """True for an error about the database itself (its SQLSTATE class says so), whatever entry ran."""
    for item in _chain(exc):
        code = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if isinstance(code, str) and code[:2] in _DATABASE_FAULT_CLASSES:
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
        self.last_error = ""  # the summary of the failure that opened the outage
        self._recovered_at = -float("inf")

    @property
    def up(self) -> bool:
        return self.down_since is None

    def failed(self, exc: BaseException, what: str, started_at: float, fault: bool = False) -> None:
        """An attempt begun at `started_at` (this state's clock) failed with a transient error, or
        with a database `fault` (which no grace period excuses: it is no dead pooled connection)."""
        if self.down_since is None:
            if not fault and started_at < self._recovered_at + self.grace_s:
                return
            self.down_since = self.clock()
            self.failures = 0
            self.last_error = summary(exc)
            logger.warning(
                "%s unavailable: %s (%s) in %s; holding work and retrying with backoff",
                self.name,
                "database fault, not the entries'" if fault else "transient failure",
                self.last_error,
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
    faults: bool = False,
    on_hold: Callable[[], None] | None = None,
) -> T:
    """Await `operation()` until it succeeds or fails with a non-transient error (re-raised); with
    `faults`, database faults are held and retried too. `on_hold` is called once, at the first
    failure that holds the work.

    Failures and the recovery are reported to `server`, which logs each change of state once for
    the process, never per attempt nor per batch.
    """
    delays = backoff.delays()
    while True:
        started = server.clock()
        try:
            result = await operation()
        except Exception as exc:
            fault = faults and is_database_fault(exc)
            if not fault and not is_transient(exc):
                raise
            server.failed(exc, what, started, fault=fault)
            if on_hold is not None:
                on_hold()
                on_hold = None
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
    on_hold: Callable[[], None] | None = None,
) -> list[DeadLetter]:
    """Run `handle(events)`; return the dead letters it gave back plus those of poison entries.

    Transient errors and database faults are retried on the same events for as long as they last
    (`on_hold` is told once that the batch is held). Any other error splits the events in two halves,
    each applied on its own, until the failing entry is alone and dead-lettered with the exception
    as its error, provided some batch-mate applied: when every entry of a batch of several failed
    alone, nothing is dead-lettered and the whole batch is held and tried again after a delay, as
    in a fault. A batch of n entries with one poison entry costs about 2*log2(n) extra handler calls.
    Applying a part twice is harmless (the version gate makes a replay change nothing).
    """
    held = False

    def hold_once() -> None:
        nonlocal held
        if not held and on_hold is not None:
            held = True
            on_hold()

    delays = backoff.delays()
    while True:
        outcome = await _bisect(handle, events, kind, server, backoff, hold_once)
        if outcome.applied or len(events) == 1:
            for letter in outcome.failed:
                logger.error(
                    "%s entry %s dead-lettered: %s", kind, letter.entry_id, letter.error.split("\n")[0]
                )
            return outcome.letters + outcome.failed
        assert outcome.error is not None
        server.failed(
            outcome.error, f"every entry of a {kind} batch of {len(events)}", server.clock(), fault=True
        )
        if on_hold is not None:
            on_hold()
            on_hold = None
        await asyncio.sleep(next(delays))


@dataclass
class _Outcome:
    letters: list[DeadLetter]  # what the handler gave back
    failed: list[DeadLetter]  # entries that failed alone
    applied: bool  # whether any part was applied
    error: BaseException | None = None  # the last error of an entry that failed alone


async def _bisect(
    handle: Callable[[list[E]], Awaitable[Sequence[DeadLetter]]],
    events: list[E],
    kind: str,
    server: ServerState,
    backoff: Backoff,
    on_hold: Callable[[], None],
) -> _Outcome:
    try:
        letters = await retry_transient(
            lambda: handle(events),
            what=f"{kind} batch of {len(events)}",
            server=server,
            backoff=backoff,
            faults=True,
            on_hold=on_hold,
        )
        return _Outcome(list(letters), [], applied=True)
    except Exception as exc:
        if len(events) == 1:
            return _Outcome([], [DeadLetter.of(events[0], kind, describe(exc))], applied=False, error=exc)
        middle = len(events) // 2
        first = await _bisect(handle, events[:middle], kind, server, backoff, on_hold)
        second = await _bisect(handle, events[middle:], kind, server, backoff, on_hold)
        return _Outcome(
            first.letters + second.letters,
            first.failed + second.failed,
            first.applied or second.applied,
            second.error or first.error,
        )
