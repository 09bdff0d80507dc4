"""What an operator sees of a running reader: Prometheus metrics and health routes on its own web
server (`READER_WEB_HOST`:`READER_WEB_PORT`), from a registry of its own.

- `GET /metrics`: the `appview_reader_*` series (README "Firehose reader").
- `GET /health/live`: 200 while the event loop answers.
- `GET /health/ready`: 200 while Redis answers the reader and the reader is either connected to
  its source or deliberately paused at the stream's cap; 503 otherwise (JSON body says which).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from app.firehose.translate import ENTRY_TYPES

PREFIX = "appview_reader_"


class ReaderMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(f"{PREFIX}events", "Entries added to the stream, by type", ["type"], registry=r)
        for kind in ENTRY_TYPES:
            self.events.labels(kind)
        self.skipped = Counter(
            f"{PREFIX}frames_skipped",
            "Messages that added no entry: info, error, unknown (frame type), dead_letter",
            ["reason"],
            registry=r,
        )
        for reason in ("info", "error", "unknown", "dead_letter"):
            self.skipped.labels(reason)
        self.reconnects = Counter(
            f"{PREFIX}reconnects", "Connections to the source after the first", registry=r
        )
        self.outdated_cursor = Counter(
            f"{PREFIX}outdated_cursor",
            "OutdatedCursor notices: the relay no longer had the events after the cursor",
            registry=r,
        )
        self.outdated_gap = Counter(
            f"{PREFIX}outdated_cursor_gap_events",
            "Sequence numbers missed across OutdatedCursor notices (first seq served minus cursor minus 1)",
            registry=r,
        )
        self.paused_seconds = Counter(
            f"{PREFIX}paused_at_cap_seconds",
            "Seconds spent not reading the source because the stream was at REDIS_MAX_STREAM_LEN",
            registry=r,
        )
        self.paused = Gauge(f"{PREFIX}paused_at_cap", "1 while paused at the stream's cap", registry=r)
        self.connected = Gauge(f"{PREFIX}connected", "1 while connected to the source", registry=r)
        self.relay_seq = Gauge(
            f"{PREFIX}relay_seq", "The relay seq of the last event read (relay mode)", registry=r
        )
        self.cursor = Gauge(
            f"{PREFIX}cursor", "The cursor stored with the last batch written (seq or time_us)", registry=r
        )
        self.stream_length = Gauge(
            f"{PREFIX}stream_length", "Entries in the stream after the last write", registry=r
        )
        self.trimmed = Counter(
            f"{PREFIX}trimmed_entries",
            "Entries trimmed once the consumer group acknowledged them",
            registry=r,
        )
        self.redis_errors = Counter(
            f"{PREFIX}redis_errors", "Redis operations that failed (retried)", registry=r
        )
        self.last_event_time: float | None = None
        self.redis_up = False
        self.is_connected = False
        self.is_paused = False
        r.register(_EventAge(self))

    def set_connected(self, value: bool) -> None:
        self.is_connected = value
        self.connected.set(int(value))

    def set_paused(self, value: bool) -> None:
        self.is_paused = value
        self.paused.set(int(value))

    def ready(self) -> tuple[bool, dict[str, object]]:
        state = {"redis": self.redis_up, "connected": self.is_connected, "paused_at_cap": self.is_paused}
        return self.redis_up and (self.is_connected or self.is_paused), state


class _EventAge(Collector):
    def __init__(self, metrics: ReaderMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        last = self.metrics.last_event_time
        if last is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}last_event_age_seconds",
                "Now minus the time of the last event read (its commit or event time)",
                time.time() - last,
            )


def web_application(metrics: ReaderMetrics) -> web.Application:
    async def scrape(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"status": "live"})

    async def ready(_: web.Request) -> web.Response:
        ok, state = metrics.ready()
        return web.json_response(
            {"status": "ready" if ok else "not ready", **state}, status=200 if ok else 503
        )

    application = web.Application()
    application.router.add_get("/metrics", scrape)
    application.router.add_get("/health/live", live)
    application.router.add_get("/health/ready", ready)
    return application


async def start_web(metrics: ReaderMetrics, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(web_application(metrics), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
