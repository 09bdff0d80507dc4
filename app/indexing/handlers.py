"""The indexing side of the agents: each batch of events becomes one committed transaction.

Transient failures (database unreachable, deadlock, serialization failure) propagate to the agent,
which retries the whole batch; nothing here acknowledges anything.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db import create_engine
from app.events import AccountEvent, CommitEvent, DeadLetter, IdentityEvent
from app.indexing.accounts import apply_accounts, apply_identities
from app.indexing.batch import BatchStats, apply_commit_plan, purge_bucket, utc_now
from app.indexing.expiry import Expired, expire_tombstones
from app.indexing.plan import CommitPlan, merge, plan_commits, split_by_repo
from app.indexing.registry import registry
from app.indexing.shards import Shards
from app.schema import require_schema_at_head
from app.settings import Settings

log = logging.getLogger(__name__)


class KnownDids:
    """DIDs whose `users` row exists, so most batches skip re-inserting them.

    Rows of `users` are never deleted by the indexer, so a DID stays known; the set is emptied when
    it reaches `capacity`, which bounds memory (about 5 MB at 50,000) without the cost of an LRU on
    every lookup."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._dids: set[str] = set()

    def unknown(self, dids: Iterable[str]) -> list[str]:
        return [did for did in dids if did not in self._dids]

    def remember(self, dids: Iterable[str]) -> None:
        if len(self._dids) >= self.capacity:
            self._dids.clear()
        self._dids.update(dids)

    def forget(self) -> None:
        self._dids.clear()


class IndexingHandlers:
    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = registry()
        self.totals = BatchStats()
        self.known_dids = KnownDids()
        #: Wall seconds planning batches and inside their transactions (statements built, sent and
        #: waited for, commit included), summed over concurrent batches: where a batch's time goes.
        self.stage_seconds: Counter[str] = Counter()
        #: One shard per pipeline: as many transactions of commits at once as batches in flight.
        self.shards = Shards(settings.parallel_consumers, self._apply_commits, purge_bucket)

    async def start(self) -> None:
        """Open the pool, then wait for PostgreSQL and insist on a schema at Alembic head (raises
        SchemaNotAtHead, a ConfigurationError, when it is missing or behind)."""
        if self.engine is None:
            self.engine = create_engine(self.settings.database_url, self.settings.db_pool_size)
        await require_schema_at_head(self.engine)

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()

    def _engine(self) -> AsyncEngine:
        if self.engine is None:
            raise RuntimeError("IndexingHandlers.start() was not awaited")
        return self.engine

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        started = time.perf_counter()
        try:
            async with self._engine().begin() as conn:
                yield conn
        finally:
            self.stage_seconds["database"] += time.perf_counter() - started

    async def commits(self, events: list[CommitEvent]) -> Sequence[DeadLetter]:
        started = time.perf_counter()
        plan = plan_commits(events, self.registry.lookup)
        parts = split_by_repo(plan, self.shards.count, self.shards.of)
        self.stage_seconds["plan"] += time.perf_counter() - started
        await self.shards.submit([part if part.ops else None for part in parts])
        self.totals.stale += plan.superseded
        self.totals.truncated += plan.truncated
        return plan.dead_letters

    async def _apply_commits(self, parts: Sequence[CommitPlan]) -> None:
        """One shard's transaction: the parts several batches queued for it, as one plan."""
        plan = merge(parts)
        new_dids = self.known_dids.unknown(plan.dids)
        async with self._transaction() as conn:
            stats = await apply_commit_plan(conn, plan, utc_now(), new_dids)
        self.known_dids.remember(new_dids)
        stats.stale += plan.superseded
        self._add(stats)

    async def identities(self, events: list[IdentityEvent]) -> Sequence[DeadLetter]:
        async with self._transaction() as conn:
            return await apply_identities(conn, events)

    async def accounts(self, events: list[AccountEvent]) -> Sequence[DeadLetter]:
        async with self._transaction() as conn:
            dead, stats = await apply_accounts(conn, events, self.registry, utc_now())
        self._add(stats)
        return dead

    async def expire(self) -> Expired:
        async with self._engine().begin() as conn:
            expired = await expire_tombstones(conn, timedelta(days=self.settings.tombstone_horizon_days))
        log.info(
            "expired %d record tombstones and %d account tombstones",
            expired.record_tombstones,
            expired.account_tombstones,
        )
        return expired

    def _add(self, stats: BatchStats) -> None:
        for name, value in vars(stats).items():
            setattr(self.totals, name, getattr(self.totals, name) + value)
