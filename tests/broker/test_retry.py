"""Transient failures hold the batch; permanent ones are bisected down to the offending entry."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg
import pytest
import redis.exceptions
import sqlalchemy.exc

from app.broker.retry import (
    Backoff,
    ServerState,
    apply_batch,
    describe,
    is_database_fault,
    is_transient,
    retry_transient,
    summary,
)
from app.events import DeadLetter, IdentityEvent

NO_WAIT = Backoff(initial_s=0.0, factor=2.0, max_s=0.0)


def event(n: int) -> IdentityEvent:
    return IdentityEvent(
        entry_id=f"1-{n}", version=n, seq="", data=f'{{"n": {n}}}', deliveries=1, did=f"d{n}"
    )


def wrapped(orig: BaseException, wrapper: type[sqlalchemy.exc.DBAPIError]) -> sqlalchemy.exc.DBAPIError:
    """An exception as SQLAlchemy raises it over asyncpg: the driver error in `.orig` and as cause."""
    try:
        try:
            raise orig
        except BaseException as inner:
            raise wrapper("INSERT ...", {}, inner) from inner
    except sqlalchemy.exc.DBAPIError as outer:
        return outer


class SqlState(Exception):
    """A driver error carrying only a SQLSTATE, like SQLAlchemy's adapted asyncpg errors."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        OSError("network unreachable"),
        redis.exceptions.ConnectionError("redis down"),
        redis.exceptions.TimeoutError("slow"),
        redis.exceptions.BusyLoadingError("loading"),
        asyncpg.exceptions.ConnectionDoesNotExistError("gone"),
        asyncpg.InterfaceError("connection is closed"),
        sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
        wrapped(asyncpg.exceptions.SerializationError("could not serialize"), sqlalchemy.exc.DBAPIError),
        wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock"), sqlalchemy.exc.DBAPIError),
        wrapped(asyncpg.exceptions.AdminShutdownError("shutdown"), sqlalchemy.exc.DBAPIError),
        wrapped(SqlState("40001"), sqlalchemy.exc.DBAPIError),
        wrapped(SqlState("40P01"), sqlalchemy.exc.DBAPIError),
        wrapped(SqlState("08006"), sqlalchemy.exc.DBAPIError),
        wrapped(ValueError("anything"), sqlalchemy.exc.OperationalError),
        wrapped(ValueError("anything"), sqlalchemy.exc.InterfaceError),
    ],
    ids=repr,
)
def test_transient_errors(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad record"),
        KeyError("field"),
        redis.exceptions.ResponseError("WRONGTYPE"),
        wrapped(asyncpg.exceptions.UniqueViolationError("duplicate"), sqlalchemy.exc.IntegrityError),
        wrapped(asyncpg.exceptions.StringDataRightTruncationError("too long"), sqlalchemy.exc.DBAPIError),
        wrapped(SqlState("22P02"), sqlalchemy.exc.DBAPIError),
        # asyncpg's client-side DataError is an InterfaceError that SQLAlchemy wraps as one: no
        # retry can fix an argument of the wrong type.
        wrapped(
            asyncpg.exceptions._base.DataError("invalid input for query argument $1"),
            sqlalchemy.exc.InterfaceError,
        ),
    ],
    ids=repr,
)
def test_permanent_errors(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_an_error_raised_while_handling_a_transient_one_is_not_transient() -> None:
    try:
        try:
            raise ConnectionError("down")
        except ConnectionError:
            raise ValueError("bug in the except block")  # noqa: B904
    except ValueError as exc:
        assert not is_transient(exc)


def test_backoff_is_exponential_and_capped() -> None:
    delays = Backoff(initial_s=0.1, factor=2.0, max_s=0.5).delays()
    assert [round(next(delays), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


def test_describe_bounds_the_error_text() -> None:
    assert describe(ValueError("x")) == "ValueError: x"
    assert len(describe(ValueError("x" * 10_000))) == 2_000


class Handler:
    """Records every call; fails transiently first, then on calls containing a poison entry."""

    def __init__(
        self,
        poison: frozenset[str] = frozenset(),
        transient_failures: int = 0,
        rejects: frozenset[str] = frozenset(),
    ) -> None:
        self.poison = poison
        self.transient_failures = transient_failures
        self.rejects = rejects
        self.calls: list[list[str]] = []
        self.applied: list[str] = []

    async def __call__(self, events: list[IdentityEvent]) -> Sequence[DeadLetter]:
        ids = [e.entry_id for e in events]
        self.calls.append(ids)
        if self.transient_failures:
            self.transient_failures -= 1
            raise ConnectionError("database unreachable")
        bad = [i for i in ids if i in self.poison]
        if bad:
            raise ValueError(f"cannot apply {bad[0]}")
        self.applied.extend(ids)
        return [
            DeadLetter.of(e, "identity", "rejected by handler") for e in events if e.entry_id in self.rejects
        ]


async def test_a_good_batch_is_applied_in_one_call() -> None:
    handler = Handler(rejects=frozenset({"1-2"}))
    events = [event(n) for n in range(5)]
    letters = await apply_batch(handler, events, kind="identity", backoff=NO_WAIT)
    assert handler.calls == [[e.entry_id for e in events]]
    assert [(letter.entry_id, letter.error) for letter in letters] == [("1-2", "rejected by handler")]


async def test_transient_failures_retry_the_same_batch_and_log_once_per_state_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Handler(transient_failures=4)
    events = [event(n) for n in range(3)]
    with caplog.at_level(logging.WARNING, logger="app.broker.retry"):
        letters = await apply_batch(handler, events, kind="identity", backoff=NO_WAIT)
    assert letters == []
    assert handler.calls == [[e.entry_id for e in events]] * 5
    assert handler.applied == [e.entry_id for e in events]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "transient failure (ConnectionError: database unreachable)" in messages[0]
    assert "recovered after 4 failed attempts" in messages[1]


async def test_a_poison_entry_is_isolated_by_bisection_and_the_rest_applied() -> None:
    handler = Handler(poison=frozenset({"1-5"}), rejects=frozenset({"1-1"}))
    events = [event(n) for n in range(8)]
    letters = await apply_batch(handler, events, kind="identity", backoff=NO_WAIT)
    assert sorted(handler.applied) == sorted(e.entry_id for e in events if e.entry_id != "1-5")
    assert [(letter.entry_id, letter.type, letter.error) for letter in letters] == [
        ("1-1", "identity", "rejected by handler"),
        ("1-5", "identity", "ValueError: cannot apply 1-5"),
    ]
    poison_letter = letters[1]
    assert (poison_letter.data, poison_letter.seq, poison_letter.deliveries) == ('{"n": 5}', "", 1)
    # 8 → 4+4 → (4 ok) 2+2 → (2 ok) 1+1: about 2*log2(n) calls, not n.
    assert len(handler.calls) == 7


async def test_several_poison_entries_are_each_dead_lettered() -> None:
    handler = Handler(poison=frozenset({"1-0", "1-6", "1-7"}))
    events = [event(n) for n in range(9)]
    letters = await apply_batch(handler, events, kind="identity", backoff=NO_WAIT)
    assert [letter.entry_id for letter in letters] == ["1-0", "1-6", "1-7"]
    assert sorted(handler.applied) == sorted(f"1-{n}" for n in (1, 2, 3, 4, 5, 8))


async def test_a_transient_failure_during_bisection_holds_the_half() -> None:
    handler = Handler(poison=frozenset({"1-3"}))
    events = [event(n) for n in range(4)]
    calls = 0

    async def flaky(batch: list[IdentityEvent]) -> Sequence[DeadLetter]:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first half, right after the whole batch failed
            raise redis.exceptions.ConnectionError("blip")
        return await handler(batch)

    letters = await apply_batch(flaky, events, kind="identity", backoff=NO_WAIT)
    assert [letter.entry_id for letter in letters] == ["1-3"]
    assert sorted(handler.applied) == ["1-0", "1-1", "1-2"]


async def test_retry_transient_reraises_permanent_errors() -> None:
    async def broken() -> None:
        raise KeyError("no")

    with pytest.raises(KeyError):
        await retry_transient(broken, what="op", server=ServerState("test"), backoff=NO_WAIT)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_logged_when_it_starts_and_ends_whatever_the_number_of_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    state = ServerState("PostgreSQL", grace_s=2.0, clock=clock)
    caplog.set_level(logging.WARNING, logger="app.broker.retry")
    for _ in range(5):  # five batches fail at once, then keep failing
        state.failed(ConnectionRefusedError(111, "refused"), "commit batch of 10", clock.now)
        clock.now += 1
    assert not state.up
    state.answered()
    state.answered()
    assert state.up
    assert [record.getMessage() for record in caplog.records] == [
        "PostgreSQL unavailable: transient failure (ConnectionRefusedError: [Errno 111] refused) in "
        "commit batch of 10; holding work and retrying with backoff",
        "PostgreSQL available again after 5.0 s: recovered after 5 failed attempts",
    ]


def test_stragglers_of_an_outage_do_not_open_another(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    state = ServerState("Redis", grace_s=2.0, clock=clock)
    caplog.set_level(logging.WARNING, logger="app.broker.retry")
    begun_during_outage = clock.now
    state.failed(ConnectionError("down"), "XACK", clock.now)
    clock.now += 10
    state.answered()
    state.failed(ConnectionError("late"), "XACK", begun_during_outage)  # began before the recovery
    clock.now += 1
    state.failed(ConnectionError("stale pooled connection"), "read", clock.now)  # within the grace
    assert state.up
    clock.now += 5
    state.failed(ConnectionError("down again"), "read", clock.now)
    assert not state.up
    assert len(caplog.records) == 3
    assert "down again" in caplog.records[-1].getMessage()


def test_log_lines_carry_the_first_line_of_an_error() -> None:
    error = wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("gone"), sqlalchemy.exc.DBAPIError)
    assert "\n" in describe(error)
    assert "\n" not in summary(error)
    assert summary(error).startswith("DBAPIError: ")


@pytest.mark.parametrize(
    "sqlstate",
    ["42P01", "42703", "42883", "42501", "3F000", "25006", "53100", "58030", "P0001", "09000", "XX001"],
)
def test_errors_about_the_database_are_faults(sqlstate: str) -> None:
    assert is_database_fault(wrapped(SqlState(sqlstate), sqlalchemy.exc.ProgrammingError))


@pytest.mark.parametrize("sqlstate", ["22001", "22021", "22P02", "23505", "23503", "54000"])
def test_errors_an_entry_can_cause_are_not_faults(sqlstate: str) -> None:
    assert not is_database_fault(wrapped(SqlState(sqlstate), sqlalchemy.exc.DataError))


async def test_a_database_fault_holds_the_batch_without_bisecting(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    holds: list[bool] = []

    async def trigger_raises(batch: list[IdentityEvent]) -> Sequence[DeadLetter]:
        calls.append(len(batch))
        if len(calls) <= 3:
            raise wrapped(SqlState("P0001"), sqlalchemy.exc.InternalError)
        return []

    state = ServerState("PostgreSQL")
    with caplog.at_level(logging.WARNING, logger="app.broker.retry"):
        letters = await apply_batch(
            trigger_raises,
            [event(n) for n in range(4)],
            kind="identity",
            server=state,
            backoff=NO_WAIT,
            on_hold=lambda: holds.append(True),
        )
    assert letters == [] and calls == [4, 4, 4, 4] and holds == [True]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2 and "database fault, not the entries'" in messages[0], messages


async def test_an_error_every_entry_meets_alone_holds_the_batch() -> None:
    """Not one entry of the batch applies alone: the error is not theirs, nothing is dead-lettered,
    and the batch is tried again whole."""
    calls: list[list[str]] = []

    async def broken_for_a_round(batch: list[IdentityEvent]) -> Sequence[DeadLetter]:
        calls.append([e.entry_id for e in batch])
        if len(calls) <= 5:  # the whole batch of 3, then 1 + (2 → 1 + 1): one round of bisection
            raise ValueError("no entry can be applied")
        return []

    holds: list[bool] = []
    events = [event(n) for n in range(3)]
    letters = await apply_batch(
        broken_for_a_round,
        events,
        kind="identity",
        server=ServerState("PostgreSQL"),
        backoff=NO_WAIT,
        on_hold=lambda: holds.append(True),
    )
    assert letters == [] and holds == [True]
    assert calls[-1] == [e.entry_id for e in events] and len(calls) == 6


async def test_an_error_of_a_single_entry_is_still_its_own() -> None:
    handler = Handler(poison=frozenset({"1-0"}))
    letters = await apply_batch(
        handler, [event(0)], kind="identity", server=ServerState("t"), backoff=NO_WAIT
    )
    assert [letter.entry_id for letter in letters] == ["1-0"]
