"""The shard scheduler on its own (app.indexing.shards): which parts share a transaction, and what
each submitter learns when a transaction fails or is cancelled. The transactions here are plain
coroutines that record what they were given; the database side is covered by the indexing tests,
which run every batch through the shards."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from app.broker.retry import is_transient
from app.indexing.batch import purge_bucket
from app.indexing.shards import Shard, ShardInterrupted, Shards


class Transactions:
    """Records each call's parts; the calls numbered in `held` wait until released; parts named in
    `failing` make a call raise ValueError, and `transient` a ConnectionError."""

    def __init__(self, *held: int) -> None:
        self.calls: list[list[str]] = []
        self.gates = {number: asyncio.Event() for number in held}
        self.started = {number: asyncio.Event() for number in held}
        self.failing: set[str] = set()
        self.transient = False
        self.running = 0
        self.most_running = 0

    def release(self, *numbers: int) -> None:
        for number in numbers or tuple(self.gates):
            self.gates[number].set()

    async def __call__(self, parts: Sequence[str]) -> None:
        number = len(self.calls)
        self.calls.append(list(parts))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if number in self.gates:
                self.started[number].set()
                await self.gates[number].wait()
            if self.transient:
                raise ConnectionError("database went away")
            if self.failing & set(parts):
                raise ValueError(f"cannot apply {sorted(self.failing & set(parts))}")
        finally:
            self.running -= 1


async def started_while_held(transactions: Transactions, shard: Shard[str], part: str) -> asyncio.Task[None]:
    """Submit `part` as the shard's first transaction, which the test holds open."""
    task = asyncio.create_task(shard.submit(part))
    await transactions.started[0].wait()
    return task


async def queued(shard: Shard[str], *parts: str) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(shard.submit(part)) for part in parts]
    await asyncio.sleep(0)  # each reaches the queue and waits for the shard's lock
    return tasks


async def test_parts_queued_meanwhile_share_the_next_transaction() -> None:
    transactions = Transactions(0)
    shard = Shard(transactions)
    first = await started_while_held(transactions, shard, "a")
    later = await queued(shard, "b", "c")
    transactions.release()
    await asyncio.gather(first, *later)
    assert transactions.calls == [["a"], ["b", "c"]]


async def test_a_failing_part_fails_alone_and_its_companions_commit() -> None:
    transactions = Transactions(0)
    shard = Shard(transactions)
    first = await started_while_held(transactions, shard, "a")
    bad, good = await queued(shard, "bad", "good")
    transactions.failing = {"bad"}
    transactions.release()
    await first
    with pytest.raises(ValueError, match="bad"):
        await bad
    await good
    assert transactions.calls == [["a"], ["bad", "good"], ["bad"], ["good"]]


async def test_a_transient_failure_reaches_every_part_without_applying_them_alone() -> None:
    transactions = Transactions(0)
    shard = Shard(transactions)
    first = await started_while_held(transactions, shard, "a")
    later = await queued(shard, "b", "c")
    transactions.transient = True
    transactions.release()
    outcomes = await asyncio.gather(first, *later, return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [ConnectionError] * 3
    assert transactions.calls == [["a"], ["b", "c"]]


async def test_a_cancelled_transaction_tells_its_companions_to_retry() -> None:
    transactions = Transactions(0, 1)
    shard = Shard(transactions)
    first = await started_while_held(transactions, shard, "a")
    holder, companion = await queued(shard, "b", "c")
    transactions.release(0)
    await first
    await transactions.started[1].wait()  # "b" took the lock and runs ["b", "c"]
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    with pytest.raises(ShardInterrupted) as interrupted:
        await companion
    assert is_transient(interrupted.value), "the batch must keep its entries and retry"
    transactions.release()
    await shard.submit("d")  # the shard is free again
    assert transactions.calls == [["a"], ["b", "c"], ["d"]]


async def test_a_part_cancelled_while_queued_is_never_applied() -> None:
    transactions = Transactions(0)
    shard = Shard(transactions)
    first = await started_while_held(transactions, shard, "a")
    (withdrawn,) = await queued(shard, "b")
    withdrawn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await withdrawn
    transactions.release()
    await first
    await shard.submit("c")
    assert transactions.calls == [["a"], ["c"]]


async def test_shards_run_side_by_side_and_report_the_first_error_once_all_finished() -> None:
    transactions = Transactions(0, 1)
    shards = Shards(3, transactions, purge_bucket)
    submitted = asyncio.create_task(shards.submit(["x", None, "bad"]))
    await asyncio.sleep(0.01)
    assert transactions.most_running == 2, "the parts of different shards must not wait for each other"
    transactions.failing = {"bad"}
    transactions.release()
    with pytest.raises(ValueError, match="bad"):
        await submitted
    assert sorted(map(tuple, transactions.calls)) == [("bad",), ("x",)]


def test_a_repository_always_maps_to_the_same_shard() -> None:
    shards = Shards(5, Transactions(), purge_bucket)
    dids = [f"did:plc:{index:024d}" for index in range(1_000)]
    assert [shards.of(did) for did in dids] == [
        Shards(5, Transactions(), purge_bucket).of(did) for did in dids
    ]
    assert set(shards.of(did) for did in dids) == set(range(5)), "some shard never gets work"
    # A purge holds off the repositories of its bucket: they must all be in one shard.
    by_bucket: dict[int, set[int]] = {}
    for did in dids:
        by_bucket.setdefault(purge_bucket(did), set()).add(shards.of(did))
    assert all(len(used) == 1 for used in by_bucket.values())
