"""What the convergence tests share: generated histories turned into events, and applied in batches."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from app.broker.retry import is_transient
from app.events import AccountEvent, CommitEvent, IdentityEvent
from app.indexing.handlers import IndexingHandlers
from tests.indexing.conftest import empty_database
from tests.support.events import account, commit, identity, op

T = TypeVar("T")


class HistoryOp(Protocol):
    """One op of a generated true history; `version` is its position in it. `collection` "account"
    stands for an account event whose status word is `action` (`active` for an active account),
    "identity" for an identity event naming `handle` (None: an event without one)."""

    version: int
    did: str
    collection: str
    rkey: str
    action: str
    handle: str | None

    def record(self) -> dict[str, Any]: ...


Event = CommitEvent | AccountEvent | IdentityEvent


def to_events(history: Sequence[HistoryOp]) -> list[Event]:
    events: list[Event] = []
    for item in history:
        if item.collection == "account":
            active = item.action == "active"
            events.append(account(item.did, active, None if active else item.action, item.version))
        elif item.collection == "identity":
            events.append(identity(item.did, item.handle, item.version))
        elif item.action == "delete":
            events.append(commit(item.did, [op("delete", item.collection, item.rkey)], item.version))
        else:
            events.append(
                commit(item.did, [op(item.action, item.collection, item.rkey, item.record())], item.version)
            )
    return events


async def as_the_runner_does(call: Callable[[], Awaitable[T]]) -> T:
    """Retry transient failures as the agents' runner does: batches applied side by side may meet in
    a deadlock, which PostgreSQL breaks by failing one of them (app/broker/retry.py)."""
    for attempt in range(1, 6):
        try:
            return await call()
        except Exception as exc:
            if attempt == 5 or not is_transient(exc):
                raise
    raise AssertionError("unreachable")


async def apply(handlers: IndexingHandlers, events: list[Event], batch_size: int) -> None:
    """In the given order: each run of events of one kind in batches of up to `batch_size`."""
    index = 0
    while index < len(events):
        kind = type(events[index])
        batch: list[Any] = []
        while index < len(events) and len(batch) < batch_size and type(events[index]) is kind:
            batch.append(events[index])
            index += 1
        handle = {
            CommitEvent: handlers.commits,
            AccountEvent: handlers.accounts,
            IdentityEvent: handlers.identities,
        }[kind]
        dead = await as_the_runner_does(lambda batch=batch, handle=handle: handle(batch))
        assert dead == [], [letter.error for letter in dead]


Events = list[Event]


async def in_any_order(
    handlers: IndexingHandlers,
    engine: AsyncEngine,
    events: Events,
    seed: int,
    check: Callable[[], Awaitable[None]],
    batch_size: int,
) -> None:
    """The log in order in batches of `batch_size`, then shuffled with half of it repeated, in
    batches of a random size; each from an empty database, `check`ed after."""
    rng = random.Random(seed)
    await empty_database(handlers, engine)
    await apply(handlers, events, batch_size)
    await check()
    await empty_database(handlers, engine)
    shuffled = events + rng.sample(events, k=len(events) // 2)
    rng.shuffle(shuffled)
    await apply(handlers, shuffled, batch_size=rng.randint(1, 8))
    await check()


async def in_overlapping_batches(
    handlers: IndexingHandlers,
    engine: AsyncEngine,
    events: Events,
    seed: int,
    check: Callable[[], Awaitable[None]],
    batch_sizes: tuple[int, int],
) -> None:
    """Two halves of a shuffled log applied at the same time (as parallel pipelines do), `check`ed,
    then both again the other way round in batches of the second size, `check`ed again."""
    rng = random.Random(seed)
    await empty_database(handlers, engine)
    shuffled = rng.sample(events, k=len(events))
    half = len(shuffled) // 2
    first, second = batch_sizes
    await asyncio.gather(apply(handlers, shuffled[:half], first), apply(handlers, shuffled[half:], first))
    await check()
    await asyncio.gather(apply(handlers, shuffled[half:], second), apply(handlers, shuffled[:half], second))
    await check()
