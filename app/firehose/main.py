"""`python -m app firehose`: settings, logging, Redis, the web server, signals, then the reader loop.

SIGTERM and SIGINT stop the reader: it writes the batch it holds (with its cursor), closes the
socket and exits 0 (or 1 when that takes longer than `STOP_TIMEOUT_S`). A setting that is wrong
ends it with one line on standard error and status 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import redis.asyncio as aioredis

from app.firehose.observability import ReaderMetrics, start_web
from app.firehose.position import start_position
from app.firehose.reader import FirehoseReader
from app.firehose.settings import ReaderSettings
from app.settings import ConfigurationError, mask_redis_url

logger = logging.getLogger("app.firehose")

REDIS_WAIT_MAX_S = 10.0
#: After a signal the reader writes what it holds and closes its socket; past this it exits anyway
#: (status 1). Nothing is lost: the stored cursor covers only what was written.
STOP_TIMEOUT_S = 10.0


def _give_up() -> None:
    logger.error(
        "did not stop within %.0f s of the signal: exiting; the next start resumes from the stored cursor",
        STOP_TIMEOUT_S,
    )
    logging.shutdown()
    os._exit(1)


def run(cursor: int | None = None) -> int:
    try:
        settings = ReaderSettings.from_env()
    except ConfigurationError as exc:
        sys.stderr.write(f"python -m app firehose: {exc}\n")
        return 1
    logging.basicConfig(
        level=settings.log_level,
        format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(_serve(settings, cursor))
    return 0


async def _wait_for_redis(client: aioredis.Redis, settings: ReaderSettings, stop: asyncio.Event) -> bool:
    delay = 0.5
    while not stop.is_set():
        try:
            await client.ping()
            return True
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
            logger.warning(
                "Redis %s does not answer (%s); retrying in %.1f s",
                mask_redis_url(settings.redis_url),
                exc,
                delay,
            )
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            delay = min(delay * 2, REDIS_WAIT_MAX_S)
    return False


async def _serve(settings: ReaderSettings, cursor: int | None) -> None:
    logger.info("settings: %r", settings)
    client = aioredis.from_url(settings.redis_url, socket_timeout=30, socket_connect_timeout=10)
    metrics = ReaderMetrics()
    reader = FirehoseReader(
        settings, client, start_position(client, settings.stored_cursor_key, cursor), metrics
    )
    loop = asyncio.get_running_loop()

    def stop() -> None:
        reader.stop()
        loop.call_later(STOP_TIMEOUT_S, _give_up)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    web = await start_web(metrics, settings.web_host, settings.web_port)
    for host, port, *_ in web.addresses:
        logger.info("metrics and health on http://%s:%d", host, port)
    try:
        if await _wait_for_redis(client, settings, reader.stop_event):
            metrics.redis_up = True
            await reader.run()
    finally:
        await web.cleanup()
        await client.aclose()
        logger.info("firehose reader stopped (cursor %s)", reader.cursor)
