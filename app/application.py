"""The app factory: one Faust app on Redis Streams, three typed agents, the handlers around them."""

from __future__ import annotations

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


class IndexerApp(faust.App):
    """A Faust app carrying the indexer settings, which the redis:// transport reads, and running
    the handlers' start/stop around everything else (first service started, last stopped)."""

    def __init__(
        self, settings: Settings, handlers: BatchHandlers, observability: Observability, **options: Any
    ) -> None:
        self.indexer_settings = settings
        self.handlers_service = HandlersService(handlers)
        self.observability = observability
        super().__init__(**options)

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        return [self.handlers_service, *super().on_init_dependencies()]

    async def on_started(self) -> None:
        await super().on_started()
        tune_garbage_collector()

    async def on_stop(self) -> None:
        """Faust stops reading and waits for the batches in flight; then the counts of the last
        of them go to `cluster:metrics` (the consumer and its Redis client are still up)."""
        await super().on_stop()
        await self.observability.final_flush()


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
