"""Per-repository shards: the ops of one repository are written by one transaction at a time.

Concurrent batches of the firehose touch the same records within seconds (a like and its undo, a
post and its quick delete, an entry delivered twice). When two open transactions write the same
record, the second one's version gate waits on the first's uncommitted row for the whole rest of
that transaction, and the pipelines end up taking turns: in the benchmark three quarters of the
database sessions' time went to such waits. Routing every op by its repository to one of N shards,
each applying its queue one transaction at a time, leaves concurrent transactions without a record
in common, while N of them still overlap the worker's Python with the database (rsky does the same).

A shard applies what several batches queued for it meanwhile in one transaction, so transactions
stay as large as the batches. When that transaction fails for a reason other than a transient one,
each batch's part is applied again on its own, so the error reaches only the batch that caused it
(whose runner then bisects it, app.broker.retry). A transient failure or a database fault reaches
every batch of the transaction, and each retries its own part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from app.broker.retry import is_database_fault, is_transient

P = TypeVar("P")


class ShardInterrupted(ConnectionError):
    """The transaction holding this part was cancelled (the worker is stopping): nothing of it was
    committed. A ConnectionError, so the batch counts it as transient and keeps its entries."""


@dataclass(eq=False)
class _Queued(Generic[P]):
    part: P
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Shard(Generic[P]):
    """One queue of parts and the lock that lets one transaction at a time apply it."""

    def __init__(self, apply: Callable[[Sequence[P]], Awaitable[None]]) -> None:
        self._apply = apply
        self._queue: list[_Queued[P]] = []
        self._lock = asyncio.Lock()

    async def submit(self, part: P) -> None:
        """Returns once `part` is committed; raises what its transaction raised."""
        queued = _Queued(part)
        self._queue.append(queued)
        try:
            async with self._lock:
                # Whoever held the lock before may have applied this part together with its own.
                if not queued.done.done():
                    taken, self._queue = self._queue, []
                    await self._apply_together(taken)
        except BaseException:
            # Cancelled: a part still queued is withdrawn; one already settled is reported by the
            # cancellation itself, so its outcome is marked as seen.
            if queued in self._queue:
                self._queue.remove(queued)
            if queued.done.done():
                queued.done.exception()
            raise
        await queued.done

    async def _apply_together(self, taken: list[_Queued[P]]) -> None:
        try:
            await self._apply([queued.part for queued in taken])
        except Exception as exc:
            if len(taken) == 1 or is_transient(exc) or is_database_fault(exc):
                _settle(taken, exc)
                return
            for queued in taken:
                try:
                    await self._apply([queued.part])
                except Exception as alone:
                    _settle([queued], alone)
                else:
                    _settle([queued], None)
        except BaseException:
            _settle(taken, ShardInterrupted("the transaction was cancelled before it committed"))
            raise
        else:
            _settle(taken, None)


def _settle(taken: list[_Queued[P]], error: BaseException | None) -> None:
    for queued in taken:
        if queued.done.done():
            continue
        if error is None:
            queued.done.set_result(None)
        else:
            queued.done.set_exception(error)


class Shards(Generic[P]):
    """`count` shards and the stable mapping of a repository (DID) to one of them, through a bucket
    of accounts (`bucket_of`): all the repositories of a bucket share a shard."""

    def __init__(
        self, count: int, apply: Callable[[Sequence[P]], Awaitable[None]], bucket_of: Callable[[str], int]
    ) -> None:
        self.count = count
        self._shards = [Shard(apply) for _ in range(count)]
        self._bucket_of = bucket_of

    def of(self, did: str) -> int:
        return self._bucket_of(did) % self.count

    async def submit(self, parts: Sequence[P | None]) -> None:
        """Part i goes to shard i (None: nothing for it); returns once all are committed, raising
        the first error among them after every part has finished."""
        submitted = [shard.submit(part) for shard, part in zip(self._shards, parts, strict=True) if part]
        results = await asyncio.gather(*submitted, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
