"""What an operator sees of a running worker: the old worker's signals, Prometheus metrics, health.

- The log line `Processed N events (~R events/sec)` every 1,000 events, as the worker we replace
  wrote it (N with thousands separators; R here over the events since the previous line).
- The Redis hash `METRICS_HASH_KEY` (`cluster:metrics`) that the PublicAppView dashboard reads:
  `totalEvents`, `#commit`, `#identity`, `#account` count events indexed (settled by their agent
  and not dead-lettered whole), `errors` counts dead letters (whole entries and single ops). The
  counts are kept here and added with HINCRBY in one MULTI/EXEC about twice a second, never per
  entry; what could not be added while Redis was away is added on the next flush.
- Prometheus metrics on Faust's web server (`WEB_PORT`), `GET /metrics`, from a registry of our
  own (not prometheus_client's global one, so that two apps in one process stay apart).
- `GET /health/live` (the process runs and its event loop answers) and `GET /health/ready` (Redis
  and PostgreSQL answer, and the schema is at Alembic head).

The agents' runner reports each settled batch (`batch_settled`); everything else is read when it is
asked for (counters the transport and the indexing handlers keep anyway) or sampled by a task
(the consumer group's lag and pending count, every `GROUP_POLL_INTERVAL_S`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import faust
import redis.asyncio as aioredis
from faust.web import Request, Response, View
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from app.broker.envelope import ACCOUNT, COMMIT, IDENTITY, KINDS
from app.broker.retry import POSTGRESQL, REDIS, is_transient, summary
from app.broker.stream import RedisStream
from app.broker.transport import RedisConsumer
from app.events import CommitEvent, DeadLetter, StreamEvent
from app.schema import schema_state
from app.settings import Settings

if TYPE_CHECKING:
    from app.indexing.handlers import IndexingHandlers

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 1_000
CLUSTER_FLUSH_INTERVAL_S = 0.5
GROUP_POLL_INTERVAL_S = 5.0
HEARTBEAT_INTERVAL_S = 1.0
#: Each readiness check (and the last flush at shutdown) gives up after this long at most.
PROBE_TIMEOUT_S = 3.0
#: The `collection` label of every collection without a module of its own (bounded cardinality).
OTHER_COLLECTION = "other"

CLUSTER_FIELDS = ("totalEvents", "#commit", "#identity", "#account", "errors")

# No `*_created` series beside every counter and histogram: they double the exposition for a
# timestamp Prometheus does not need (process-wide; the worker process is ours).
disable_created_metrics()

_PREFIX = "appview_indexer_"

# The hot path of a batch, in order: XREADGROUP, decoding entries, planning (normalise, validate,
# rows), the transaction. Each part counts its own wall seconds (stage_seconds).
STAGES = ("read", "decode", "plan", "database")
# BatchStats field → (metric name, help): what the indexing handlers count anyway.
_INDEXING_TOTALS = {
    "applied": ("ops_applied", "Operations that won the version gate and were written"),
    "stale": (
        "ops_stale",
        "Operations skipped as stale: no newer than what the database holds, or superseded in their batch",
    ),
    "inserted": ("rows_inserted", "Record rows inserted"),
    "deleted": ("rows_deleted", "Record rows deleted (deletes, updates, account purges)"),
    "aside": ("pairs_put_aside", "Second records of a live pair (like, follow...) put aside"),
    "promoted": ("pairs_promoted", "Records put aside promoted when the live one of their pair went"),
    "notifications": ("notifications", "Notifications inserted"),
    "truncated": (
        "text_truncated",
        "Free-text values (display names, list and pack names) cut at a grapheme boundary to fit "
        "their varchar column",
    ),
}


class Progress:
    """The old worker's progress line, at INFO, each time the count passes a multiple of `every`."""

    def __init__(self, every: int = PROGRESS_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self.total = 0
        self._next_line_at = every
        # When the events of the next line started: for the first line, the worker's start (a batch
        # is counted when it completes, so starting at the first count gave absurd first rates).
        self._since = clock()
        self._since_total = 0

    def add(self, events: int) -> None:
        self.total += events
        if self.total < self._next_line_at:
            return
        now = self.clock()
        rate = (self.total - self._since_total) / max(now - self._since, 1e-6)
        logger.info("Processed %s events (~%d events/sec)", f"{self.total:,}", round(rate))
        self._next_line_at = (self.total // self.every + 1) * self.every
        self._since, self._since_total = now, self.total


class ClusterMetrics:
    """The dashboard's hash: counts kept here, their increase added to Redis on each flush."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.counts = dict.fromkeys(CLUSTER_FIELDS, 0)
        self._flushed = dict.fromkeys(CLUSTER_FIELDS, 0)

    def increments(self) -> dict[str, int]:
        """What the next flush adds: the change of every field since the last successful flush."""
        return {
            name: self.counts[name] - self._flushed[name]
            for name in CLUSTER_FIELDS
            if self.counts[name] != self._flushed[name]
        }

    async def flush(self, client: aioredis.Redis) -> None:
        """HINCRBY what changed since the last successful flush, all fields in one MULTI/EXEC."""
        snapshot = dict(self.counts)
        increments = self.increments()
        if not increments:
            return
        async with client.pipeline(transaction=True) as pipe:
            for name, by in increments.items():
                pipe.hincrby(self.key, name, by)
            await pipe.execute()
        self._flushed = snapshot


class _ReadAtScrape(Collector):
    """Counters other parts of the worker keep anyway, read when /metrics is asked for."""

    def __init__(self, observability: Observability) -> None:
        self.observability = observability

    def describe(self) -> Iterable[Metric]:
        return []  # not known before the app runs; nothing else registers these names

    def collect(self) -> Iterator[Metric]:
        consumer = self.observability.consumer
        if consumer is not None:
            counters = consumer.counters
            yield CounterMetricFamily(
                f"{_PREFIX}dead_letters",
                "Dead letters written (whole entries and single ops)",
                counters.dead_letters,
            )
            yield CounterMetricFamily(
                f"{_PREFIX}unknown_type_entries",
                "Entries of a `type` other than commit, identity and account: acknowledged and skipped",
                sum(counters.unknown_types.values()),
            )
        stages = CounterMetricFamily(
            f"{_PREFIX}stage_seconds",
            "Wall seconds spent per stage of the hot path (read, decode, plan, database), summed over "
            "concurrent pipelines and batches",
            labels=["stage"],
        )
        stage_seconds: collections.Counter[str] = collections.Counter()
        if consumer is not None:
            stage_seconds.update(consumer.counters.stage_seconds)
        if self.observability.indexing is not None:
            stage_seconds.update(self.observability.indexing.stage_seconds)
        for stage in STAGES:
            stages.add_metric([stage], stage_seconds.get(stage, 0.0))
        yield stages
        up = GaugeMetricFamily(
            f"{_PREFIX}server_up",
            "1 while the server answers the worker's own operations, 0 during an outage",
            labels=["server"],
        )
        up.add_metric(["postgresql"], float(POSTGRESQL.up))
        up.add_metric(["redis"], float(REDIS.up))
        yield up
        indexing = self.observability.indexing
        if indexing is None:
            return
        for field, (name, help_text) in _INDEXING_TOTALS.items():
            yield CounterMetricFamily(f"{_PREFIX}{name}", help_text, getattr(indexing.totals, field))
        if indexing.engine is not None:
            yield GaugeMetricFamily(
                f"{_PREFIX}db_pool_in_use",
                "Database connections checked out of the pool now",
                indexing.engine.pool.checkedout(),  # type: ignore[attr-defined]
            )
        yield GaugeMetricFamily(
            f"{_PREFIX}db_pool_size",
            "The pool's bound (DB_POOL_SIZE; no overflow)",
            indexing.settings.db_pool_size,
        )


class Observability:
    """One per worker process; see the module docstring."""

    def __init__(self, settings: Settings, collections: Iterable[str] = ()) -> None:
        self.settings = settings
        self.known_collections = frozenset(collections)
        self.progress = Progress()
        self.cluster = ClusterMetrics(settings.metrics_hash_key)
        self.app: faust.App | None = None
        self.loop_lag_s = 0.0
        self.indexing: IndexingHandlers | None = None
        self.registry = CollectorRegistry()
        registry = self.registry
        self.events = Counter(
            f"{_PREFIX}events",
            "Events indexed: settled by their agent and not dead-lettered whole, by kind",
            ["kind"],
            registry=registry,
        )
        self.ops = Counter(
            f"{_PREFIX}ops",
            "Operations of indexed commits (applied or stale, not dead-lettered), by collection "
            f"(`{OTHER_COLLECTION}` for collections without a module of their own) and action",
            ["collection", "action"],
            registry=registry,
        )
        self.batch_size = Histogram(
            f"{_PREFIX}batch_size",
            "Events per batch handed to an agent",
            ["kind"],
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=registry,
        )
        self.batch_seconds = Histogram(
            f"{_PREFIX}batch_seconds",
            "Seconds from a batch reaching its agent to its completion (dead letters written), "
            "retries during an outage included",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.group_lag = Gauge(
            f"{_PREFIX}group_lag",
            "Entries of the stream the consumer group has not read yet (XINFO GROUPS lag; NaN when "
            "Redis cannot tell). The reader trims the stream: entries past its MAXLEN are lost unread",
            registry=registry,
        )
        self.group_pending = Gauge(
            f"{_PREFIX}group_pending",
            "Entries the consumer group read and did not acknowledge yet, all consumers (XINFO GROUPS)",
            registry=registry,
        )
        self.worker_pending = Gauge(
            f"{_PREFIX}worker_pending",
            "Entries pending under this worker's consumer names (XPENDING)",
            registry=registry,
        )
        self.stream_length = Gauge(
            f"{_PREFIX}stream_length", "Entries in the stream (XLEN)", registry=registry
        )
        self.loop_lag = Gauge(
            f"{_PREFIX}event_loop_lag_seconds",
            "How late the worker's event loop ran a one-second timer, last sample",
            registry=registry,
        )
        registry.register(_ReadAtScrape(self))
        self._events_by_kind = {kind: self.events.labels(kind) for kind in KINDS}
        self._sizes_by_kind = {kind: self.batch_size.labels(kind) for kind in KINDS}
        self._seconds_by_kind = {kind: self.batch_seconds.labels(kind) for kind in KINDS}
        self._cluster_field = {COMMIT: "#commit", IDENTITY: "#identity", ACCOUNT: "#account"}

    # -- wiring ------------------------------------------------------------------------------------

    @property
    def consumer(self) -> RedisConsumer | None:
        consumer = self.app.consumer if self.app is not None else None
        return consumer if isinstance(consumer, RedisConsumer) else None

    @property
    def stream(self) -> RedisStream | None:
        """The consumer's stream and its Redis client, once the consumer has started."""
        consumer = self.consumer
        try:
            return consumer.stream if consumer is not None else None
        except RuntimeError:  # not started yet
            return None

    def watch_indexing(self, handlers: IndexingHandlers) -> None:
        """Read the indexing handlers' totals and pool, and check PostgreSQL for readiness."""
        self.indexing = handlers

    def install(self, app: faust.App) -> None:
        """Routes on the app's web server and the periodic tasks."""
        self.app = app
        observability = self

        @app.page("/metrics")
        async def metrics(view: View, request: Request) -> Response:
            encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
            return view.bytes(encoder(observability.registry), headers={"Content-Type": content_type})

        @app.page("/health/live")
        async def live(view: View, request: Request) -> Response:
            alive, body = observability.liveness()
            return view.json(body, status=200 if alive else 503)

        @app.page("/health/ready")
        async def ready(view: View, request: Request) -> Response:
            is_ready, body = await observability.readiness()
            return view.json(body, status=200 if is_ready else 503)

        app.task(self._every(CLUSTER_FLUSH_INTERVAL_S, self.flush_cluster_metrics))
        app.task(self._every(GROUP_POLL_INTERVAL_S, self.poll_group))
        app.task(self._heartbeat)

    def _every(self, interval_s: float, job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """A task running `job` every `interval_s` after the previous run ended (a slow run, e.g.
        against an unreachable Redis, delays the next instead of piling up). A failing job never
        stops the worker: it is logged when it starts failing and tried again at the next tick."""

        async def loop() -> None:
            failing = False
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await job()
                except Exception as exc:
                    if not failing:
                        logger.warning(
                            "%s failed (%s); trying again every %g s", job.__name__, summary(exc), interval_s
                        )
                    failing = True
                else:
                    failing = False

        loop.__name__ = loop.__qualname__ = job.__name__
        return loop

    # -- what the runner reports -------------------------------------------------------------------

    def batch_settled(
        self, kind: str, events: Sequence[StreamEvent], letters: Sequence[DeadLetter], seconds: float
    ) -> None:
        """A batch of `kind` was applied and its dead letters written (`letters`, whole entries and
        single ops); called once per batch, so the work here is per batch, not per entry, except
        for counting commit ops by collection."""
        whole = {letter.entry_id for letter in letters if letter.op_index is None}
        indexed = len(events) - len(whole)
        self._sizes_by_kind[kind].observe(len(events))
        self._seconds_by_kind[kind].observe(seconds)
        if indexed:
            self._events_by_kind[kind].inc(indexed)
            counts = self.cluster.counts
            counts["totalEvents"] += indexed
            counts[self._cluster_field[kind]] += indexed
            self.progress.add(indexed)
        if kind == COMMIT:
            bad_ops = {
                (letter.entry_id, letter.op_index) for letter in letters if letter.op_index is not None
            }
            self._count_ops(events, whole, bad_ops)

    def _count_ops(
        self, events: Sequence[StreamEvent], whole: set[str], bad_ops: set[tuple[str, int | None]]
    ) -> None:
        known = self.known_collections
        tally: collections.Counter[tuple[str, str]] = collections.Counter()
        for event in events:
            if not isinstance(event, CommitEvent) or event.entry_id in whole:
                continue
            for index, op in enumerate(event.ops):
                if bad_ops and (event.entry_id, index) in bad_ops:
                    continue
                tally[(op.collection if op.collection in known else OTHER_COLLECTION, op.action)] += 1
        for (collection, action), count in tally.items():
            self.ops.labels(collection, action).inc(count)

    # -- periodic work -----------------------------------------------------------------------------

    def _cluster_client(self) -> aioredis.Redis | None:
        """The Redis client to flush with, the dead-letter count brought up to date; None before
        the consumer has started."""
        consumer, stream = self.consumer, self.stream
        if consumer is None or stream is None:
            return None
        self.cluster.counts["errors"] = consumer.counters.dead_letters
        return stream.client

    async def flush_cluster_metrics(self) -> None:
        client = self._cluster_client()
        if client is None:
            return
        try:
            await self.cluster.flush(client)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # The transport reports Redis outages; the increments wait for the next flush.

    async def final_flush(self, timeout_s: float) -> None:
        """The last increments, when the worker stops (bounded: Redis may be away)."""
        client = self._cluster_client()
        if client is None:
            return
        try:
            await asyncio.wait_for(self.cluster.flush(client), min(timeout_s, PROBE_TIMEOUT_S))
        except Exception as exc:  # Redis away, or anything else: stopping goes on regardless
            logger.warning(
                "%s not updated with the last %s (%s)",
                self.cluster.key,
                self.cluster.increments(),
                summary(exc),
            )

    async def poll_group(self) -> None:
        consumer, stream = self.consumer, self.stream
        if consumer is None or stream is None:
            return
        try:
            groups = await stream.client.xinfo_groups(stream.key)
            summary_reply = await stream.client.xpending(stream.key, stream.group)
            length = await stream.client.xlen(stream.key)
        except Exception as exc:
            if is_transient(exc) or "no such key" in str(exc):
                return
            raise
        group = next((g for g in groups if _text(g["name"]) == stream.group), None)
        if group is None:
            return
        lag = group.get("lag")
        self.group_lag.set(math.nan if lag is None else int(lag))
        self.group_pending.set(int(group["pending"]))
        mine = set(consumer.consumer_names)
        self.worker_pending.set(
            sum(int(c["pending"]) for c in summary_reply.get("consumers") or [] if _text(c["name"]) in mine)
        )
        self.stream_length.set(length)

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            self.loop_lag_s = max(0.0, loop.time() - started - HEARTBEAT_INTERVAL_S)
            self.loop_lag.set(self.loop_lag_s)

    # -- health ------------------------------------------------------------------------------------

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        """Live while the app (and its consumer) has not crashed; answering at all shows the event
        loop runs. A worker waiting out an outage is live: restarting it would not help."""
        app = self.app
        consumer = self.consumer
        crashed = [
            name
            for name, service in (("app", app), ("consumer", consumer))
            if service is not None and service.crashed
        ]
        body: dict[str, Any] = {
            "status": "crashed" if crashed else "live",
            "event_loop_lag_s": round(self.loop_lag_s, 3),
        }
        if crashed:
            body["crashed"] = crashed
        return not crashed, body

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Redis answers a PING, PostgreSQL a query on the pool (never a connection of its own),
        and the schema is at head; each check bounded by PROBE_TIMEOUT_S, all run at once."""
        checks: dict[str, Callable[[], Awaitable[str]]] = {"redis": self._redis_ready}
        if self.indexing is not None:
            checks["postgresql"] = self._database_ready
        results = await asyncio.gather(*(_bounded(check()) for check in checks.values()))
        body = dict(zip(checks, results, strict=True))
        return all(result.startswith("ok") for result in results), body

    async def _redis_ready(self) -> str:
        stream = self.stream
        if stream is None:
            return "starting"
        await stream.client.ping()
        return "ok"

    async def _database_ready(self) -> str:
        assert self.indexing is not None
        engine = self.indexing.engine
        if engine is None:
            return "starting"
        async with engine.connect() as conn:
            state = await schema_state(conn)
        if not state.at_head:
            return f"schema {state.describe()}"
        if not POSTGRESQL.up:
            # The pool answers, yet the indexing's own statements fail (a database fault).
            return f"indexing held: {POSTGRESQL.last_error}"
        return f"ok, schema {state.describe()}"


async def _bounded(check: Awaitable[str]) -> str:
    try:
        return await asyncio.wait_for(check, PROBE_TIMEOUT_S)
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT_S:g} s"
    except Exception as exc:
        return f"error: {summary(exc)}"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
