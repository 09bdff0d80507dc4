"""The old worker's signals, in process: the progress line and the `cluster:metrics` increments."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis

from app.observability import ClusterMetrics, Observability, Progress
from app.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_line_every_thousand_events_with_the_rate_since_the_previous_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    progress = Progress(every=1_000, clock=clock)
    caplog.set_level(logging.INFO, logger="app.observability")
    progress.add(600)  # the clock starts at the first events
    clock.now = 0.5
    progress.add(600)
    clock.now = 1.5
    progress.add(300)
    clock.now = 2.0
    progress.add(2_600)  # passes two multiples at once: one line
    assert [record.getMessage() for record in caplog.records] == [
        "Processed 1,200 events (~2400 events/sec)",
        "Processed 4,100 events (~1933 events/sec)",  # 2,900 events in 1.5 s
    ]


async def test_cluster_metrics_add_what_changed_since_the_last_flush(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}cluster:metrics"
    await redis_client.hset(key, mapping={"totalEvents": 100, "#commit": 90})  # other workers' counts
    cluster = ClusterMetrics(key)
    cluster.counts.update({"totalEvents": 7, "#commit": 5, "#identity": 2, "errors": 1})
    await cluster.flush(redis_client)
    await cluster.flush(redis_client)  # nothing changed: nothing added
    cluster.counts["totalEvents"] += 3
    cluster.counts["#account"] += 3
    assert cluster.increments() == {"totalEvents": 3, "#account": 3}
    await cluster.flush(redis_client)
    stored = {name.decode(): int(value) for name, value in (await redis_client.hgetall(key)).items()}
    assert stored == {"totalEvents": 110, "#commit": 95, "#identity": 2, "#account": 3, "errors": 1}


async def test_a_failing_periodic_job_is_logged_once_and_never_stops_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = 0

    async def poll_group() -> None:
        nonlocal runs
        runs += 1
        if runs < 5:
            raise RuntimeError("WRONGTYPE")

    task = asyncio.create_task(Observability(Settings())._every(0.001, poll_group)())
    caplog.set_level(logging.WARNING, logger="app.observability")
    while runs < 8:
        await asyncio.sleep(0.005)
    task.cancel()
    assert [record.getMessage() for record in caplog.records] == [
        "poll_group failed (RuntimeError: WRONGTYPE); trying again every 0.001 s"
    ]
