"""The app factory: one Faust app on Redis Streams, three typed agents, the handlers around them."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faust
from mode import ServiceT

from app.agents import register_agents
from app.broker.handlers import BatchHandlers, BatchRunner, HandlersService
from app.broker.topics import declare_topics
from app.observability import Observability
from app.settings import Settings, mask_redis_url

# Faust's periodic offset commit. The transport already commits when a batch completes
# (RedisConsumer._committer); the timer catches what that misses, such as a commit requested while
# another was running, so it bounds how long a completed batch may wait for its XACK.
ACK_INTERVAL_S = 0.2


# Of SHUTDOWN_TIMEOUT_S, what is kept for the stop's tail once the batches in flight are done or
# given up: the last XACKs and cluster:metrics increments, closing the pool, and Faust's own gathering
# of tasks (a 1 s sentinel among them) before the process exits.
SHUTDOWN_TAIL_S = 3.0

# Faust insists on a data directory even without tables (it only creates it); keep it out of the
# working tree, and share one between workers: without tables nothing is ever written there.
FAUST_DATADIR = Path(tempfile.gettempdir()) / "appview-indexer-faust"


def tune_garbage_collector() -> None:
    """Set the collector up for a worker that allocates many short-lived containers per entry.

    Called once started: what exists then (modules, Faust's services, pools) is frozen out of the
    collector's sight, else every full collection walks it again; and collections run every
    50,000 allocations instead of 700, since events die by reference counting when their batch is
    done. With the defaults the collector took 40 % of the adapter's time (bench/adapter_throughput).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


# glibc's mallopt parameter; see release_large_buffers.
_M_MMAP_THRESHOLD = -3


def release_large_buffers(threshold: int = 128 * 1024) -> bool:
    """Keep glibc from moving its mmap threshold up, so large buffers go back to the system when freed.

    Every statement's rows travel as one JSON document of up to a few hundred kilobytes, encoded and
    copied a few times per batch. glibc serves such blocks with mmap at first, but raises its
    threshold each time one is freed, after which they come from the heap, which fragments and
    only grows: the worker's resident memory rose by a third over a million events. Setting the
    threshold explicitly turns that adjustment off (`MALLOC_MMAP_THRESHOLD_` does the same from the
    environment). Other C libraries are left alone. Returns whether the threshold was set.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False  # not glibc (macOS, musl without mallopt)
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))


class IndexerApp(faust.App):
    """A Faust app carrying the indexer settings, which the redis:// transport reads, and running
    the handlers' start/stop around everything else (first service started, last stopped)."""

    def __init__(
        self, settings: Settings, handlers: BatchHandlers, observability: Observability, **options: Any
    ) -> None:
        self.indexer_settings = settings
        self.handlers_service = HandlersService(handlers)
        self.observability = observability
        #: Event-loop time by which a stop must be complete (set when the stop begins).
        self.shutdown_deadline: float | None = None
        super().__init__(**options)

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        return [self.handlers_service, *super().on_init_dependencies()]

    async def on_started(self) -> None:
        await super().on_started()
        tune_garbage_collector()
        release_large_buffers()

    def shutdown_remaining(self, keep_s: float = 0.0) -> float:
        """Seconds left of SHUTDOWN_TIMEOUT_S, less `keep_s` for later stages (at least 0.5)."""
        if self.shutdown_deadline is None:
            return self.indexer_settings.shutdown_timeout_s
        return max(0.5, self.shutdown_deadline - self.loop.time() - keep_s)

    async def on_stop(self) -> None:
        """SIGTERM/SIGINT: Faust stops reading and waits for the batches in flight (bounded, see
        `_consumer_wait_empty`); then the counts of the last of them go to `cluster:metrics` (the
        consumer and its Redis client are still up; the consumer acknowledges after this)."""
        self.shutdown_deadline = self.loop.time() + self.indexer_settings.shutdown_timeout_s
        await super().on_stop()
        await self.observability.final_flush(self.shutdown_remaining(keep_s=SHUTDOWN_TAIL_S - 1.0))

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        """Faust's wait for the batches in flight, bounded by SHUTDOWN_TIMEOUT_S (less the tail).

        A batch held by an outage never completes; past the bound its agent is cancelled with the
        rest, nothing of it is acknowledged, and its entries stay pending for the next start.
        """
        budget = self.shutdown_remaining(keep_s=SHUTDOWN_TAIL_S)
        # Faust's wait swallows cancellation (Consumer._wait_for_ack): bound it from outside.
        waiting = asyncio.ensure_future(super()._consumer_wait_empty(consumer, logger))
        done, _ = await asyncio.wait({waiting}, timeout=budget)
        if done:
            return
        logger.warning(
            "Stopping with batches still in flight after %.1f s: they stay pending for the next start", budget
        )
        # Cancelling the actors ends their batches; Faust counts those messages as acknowledged, and
        # the transport, seeing them not completed, leaves their entries pending (no XACK).
        await self.agents.stop()
        await asyncio.wait({waiting}, timeout=self.shutdown_remaining(keep_s=SHUTDOWN_TAIL_S - 1.0))


def indexer_logging(level: str) -> dict[str, Any]:
    """LOG_LEVEL (the old worker's variable) for our own loggers, merged into Faust's logging set-up.

    Faust's handler takes the level of `faust worker -l` (warn by default), which would hide the
    `Processed N events` line at INFO; our loggers get a handler of their own at LOG_LEVEL."""
    return {
        "merge": True,
        "handlers": {"indexer": {"class": "logging.StreamHandler", "formatter": "default", "level": level}},
        "loggers": {"app": {"level": level, "handlers": ["indexer"], "propagate": False}},
    }


def build_app(
    settings: Settings, handlers: BatchHandlers, observability: Observability | None = None
) -> faust.App:
    """The worker's app; `observability` defaults to the signals that need no indexing handlers."""
    observability = observability or Observability(settings)
    app = IndexerApp(
        settings,
        handlers,
        observability,
        id="appview-indexer",
        logging_config=indexer_logging(settings.log_level),
        # Faust prints the broker URL in its banner: it only selects the transport (by scheme) and
        # is shown masked; the transport connects with settings.redis_url.
        broker=mask_redis_url(settings.redis_url),
        autodiscover=False,
        store="memory://",
        datadir=str(FAUST_DATADIR),
        # No Kafka topics: no leader election topic, nothing to declare, no tables to recover.
        topic_disable_leader=True,
        topic_allow_declare=False,
        stream_recovery_delay=0.0,
        stream_wait_empty=True,
        broker_commit_interval=ACK_INTERVAL_S,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
    )
    observability.install(app)
    runner = BatchRunner(app, handlers, observability)
    register_agents(app, declare_topics(app), runner, concurrency=settings.parallel_consumers)
    return app
