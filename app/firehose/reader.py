"""The reader loop: source websocket → entries → Redis stream, with a cursor that can be trusted.

- Messages are translated one by one (app/firehose/translate.py) into a batch; the batch is written
  when it holds `READER_BATCH_SIZE` messages or is `READER_FLUSH_INTERVAL_MS` old, in one
  transaction with the cursor it reaches (app/firehose/stream.py). One write is in flight while
  the next batch fills, and writes happen in order. While a write fails (Redis away) its batch is
  held and retried with capped backoff; the next batch fills and then waits, and the socket is not
  read beyond it (the relay may drop a consumer that slow; the reader reconnects from its cursor).
- Start position: `start_position` (a small pluggable function: the `--cursor` override, else the
  stored cursor, else nothing = the live tail); afterwards the reader resumes from the cursor of the
  last batch written — after a disconnect (capped exponential backoff) or a pause at the cap.
- The cap: when a write leaves the stream at `REDIS_MAX_STREAM_LEN` entries or more, the reader
  closes the socket (one log line, `appview_reader_paused_at_cap`), keeps trimming what the group
  acknowledges, and reconnects from its cursor once the stream is below 90 % of the cap.
- Trimming: every `READER_TRIM_INTERVAL_S`, entries the consumer group has acknowledged
  (`trim_acknowledged`); nothing the group has not acknowledged is ever trimmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from app.firehose.observability import ReaderMetrics
from app.firehose.position import StartPosition
from app.firehose.settings import ReaderSettings, SourceMode
from app.firehose.stream import Batch, DeadFrame, StreamKeys, trim_acknowledged, write_batch
from app.firehose.translate import OUTDATED_CURSOR, Translated, jetstream_event, relay_frame

logger = logging.getLogger(__name__)

#: Frames up to this size are read; a relay's frames stay far below it (a commit's CAR is capped).
MAX_FRAME_BYTES = 64 * 1024 * 1024
#: After a pause at the cap, reading starts again once the stream is below this share of the cap.
RESUME_BELOW = 0.9
PROGRESS_INTERVAL_S = 10.0
JETSTREAM_REWIND_US = 5_000_000
REDIS_RETRY_MAX_S = 5.0
#: A connection that delivered messages for this long resets the reconnect backoff.
STABLE_CONNECTION_S = 10.0


# Every Redis failure holds the batch and is retried: a connection lost, and also an error reply
# (out of memory, a key of the wrong type), which an operator fixes while the reader waits, logging.
_REDIS_FAILURES = (RedisError, OSError)


class FirehoseReader:
    def __init__(
        self,
        settings: ReaderSettings,
        client: aioredis.Redis,
        start_position: StartPosition,
        metrics: ReaderMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.start_position = start_position
        self.metrics = metrics or ReaderMetrics()
        source = settings.source
        self.mode = source.mode
        self.endpoint = source.endpoint
        self.translate: Callable[[bytes], Translated] = (
            relay_frame if self.mode is SourceMode.RELAY else jetstream_event  # type: ignore[assignment]
        )
        self.keys = StreamKeys(
            stream=settings.stream_key,
            group=settings.consumer_group,
            cursor=settings.stored_cursor_key,
            dead_letters=settings.dead_letter_stream,
            dead_letter_maxlen=settings.dead_letter_maxlen,
            source=_safe_url(self.endpoint),
        )
        self.cursor: int | None = None
        self.stop_event = asyncio.Event()
        self._batch = Batch()
        self._batch_started = 0.0
        self._write_lock = asyncio.Lock()
        self._writing: asyncio.Task[None] | None = None
        self._pause_requested = False
        self._outdated_from: int | None = None  # the cursor an OutdatedCursor notice was about
        self._read_total = 0
        self._progress_at = time.monotonic()
        self._progress_total = 0

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read until `stop()`; writes what it holds before returning."""
        while True:
            try:
                self.cursor = await self.start_position()
                break
            except _REDIS_FAILURES as exc:
                logger.warning("reading the stored cursor failed (%s); retrying in 1 s", exc)
                await self._sleep(1.0)
                if self.stop_event.is_set():
                    return
        logger.info(
            "firehose reader: %s mode, %s, %s",
            self.mode.value,
            self.keys.source,
            "live tail (no cursor)" if self.cursor is None else f"from cursor {self.cursor}",
        )
        background = [
            asyncio.create_task(self._flush_periodically(), name="reader-flush"),
            asyncio.create_task(self._trim_periodically(), name="reader-trim"),
        ]
        backoff = 0.5
        first = True
        try:
            while not self.stop_event.is_set():
                if not first:
                    self.metrics.reconnects.inc()
                first = False
                started = time.monotonic()
                await self._read_connection()
                await self._write_pending()
                if self.stop_event.is_set():
                    break
                if self._pause_requested:
                    await self._wait_below_cap()
                    backoff = 0.5
                    continue
                if time.monotonic() - started > STABLE_CONNECTION_S:
                    backoff = 0.5
                logger.info("reconnecting in %.1f s from cursor %s", backoff, self.cursor)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_max_s)
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._write_pending()

    def stop(self) -> None:
        self.stop_event.set()

    def url(self) -> str:
        """The endpoint with the cursor; a Jetstream cursor is rewound by `JETSTREAM_REWIND_US`, as
        Jetstream advises for gapless playback (its time_us are its own clock; repeats are harmless)."""
        if self.cursor is None:
            return self.endpoint
        cursor = self.cursor
        if self.mode is SourceMode.JETSTREAM:
            cursor = max(cursor - JETSTREAM_REWIND_US, 0)
        return f"{self.endpoint}?cursor={cursor}"

    async def _read_connection(self) -> None:
        url = self.url()
        try:
            async with connect(
                url, max_size=MAX_FRAME_BYTES, open_timeout=15, close_timeout=2, user_agent_header=None
            ) as socket:
                self.metrics.set_connected(True)
                logger.info("connected to %s (cursor %s)", self.keys.source, self.cursor)
                await self._consume(socket)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
            if not self.stop_event.is_set():
                logger.warning("connection to %s ended: %s", self.keys.source, _describe(exc))
        finally:
            self.metrics.set_connected(False)

    async def _consume(self, socket: ClientConnection) -> None:
        closer = asyncio.create_task(self._close_on_stop(socket))
        try:
            async for message in socket:
                await self._add(message if isinstance(message, bytes) else message.encode())
                if self._pause_requested or self.stop_event.is_set():
                    break
            if self._pause_requested:
                # What the socket still buffers is dropped (the cursor covers only what was written),
                # so there is nothing to wait for: no close handshake behind unread frames.
                socket.transport.abort()
        finally:
            closer.cancel()

    async def _close_on_stop(self, socket: ClientConnection) -> None:
        await self.stop_event.wait()
        await socket.close()

    async def _add(self, message: bytes) -> None:
        translated = self.translate(message)
        self._note(translated, message)
        batch = self._batch
        if not batch.messages:
            self._batch_started = time.monotonic()
        batch.messages += 1
        batch.entries.extend(translated.entries)
        if translated.dead_letter is not None:
            batch.dead.append(DeadFrame(translated.dead_letter, message, translated.cursor))
        if translated.cursor is not None:
            batch.cursor = translated.cursor
        if batch.messages >= self.settings.batch_size:
            await self._submit()

    def _note(self, translated: Translated, message: bytes) -> None:
        """Metrics and log lines of one message (what it added is counted once written)."""
        if translated.event_time is not None:
            self.metrics.last_event_time = translated.event_time
        if self.mode is SourceMode.RELAY and translated.cursor is not None:
            self.metrics.relay_seq.set(translated.cursor)
            if self._outdated_from is not None:
                gap = max(translated.cursor - self._outdated_from - 1, 0)
                self.metrics.outdated_gap.inc(gap)
                logger.error(
                    "OutdatedCursor: the relay resumed at seq %d after cursor %d: %d events missed; "
                    "backfill the repositories they touched (README 'Firehose reader')",
                    translated.cursor,
                    self._outdated_from,
                    gap,
                )
                self._outdated_from = None
        notice = translated.notice
        if notice is not None:
            self.metrics.skipped.labels(notice.kind).inc()
            if notice.kind == "info" and notice.name == OUTDATED_CURSOR:
                self.metrics.outdated_cursor.inc()
                self._outdated_from = self.cursor if self.cursor is not None else 0
                logger.error("relay info OutdatedCursor (cursor %s): %s", self.cursor, notice.message)
            elif notice.kind == "info":
                logger.info("relay info %s: %s", notice.name, notice.message)
            elif notice.kind == "error":
                logger.error("relay error %s: %s", notice.name, notice.message)
            else:
                logger.warning("skipped: %s", notice.message)
        if translated.dead_letter is not None:
            self.metrics.skipped.labels("dead_letter").inc()
            logger.warning(
                "dead-lettered a message of %d bytes to %s: %s",
                len(message),
                self.keys.dead_letters,
                translated.dead_letter[:500],
            )

    # --- writing --------------------------------------------------------------------------------

    async def _submit(self) -> None:
        """Hand the batch being filled to a write, once the previous write has finished: one write in
        flight while the next batch fills (decoding overlaps Redis), writes in order."""
        async with self._write_lock:
            if self._writing is not None:
                await asyncio.shield(self._writing)  # a cancelled caller must not cancel the write
                self._writing = None
            batch = self._batch
            if not batch.messages:
                return
            self._batch = Batch()
            self._writing = asyncio.create_task(self._write(batch), name="reader-write")

    async def _write_pending(self) -> None:
        """Write everything held (the batch being filled included) and wait until it is written."""
        await self._submit()
        async with self._write_lock:
            if self._writing is not None:
                await asyncio.shield(self._writing)
                self._writing = None

    async def _write(self, batch: Batch) -> None:
        """Write one batch and its cursor; hold and retry it while Redis is away."""
        delay = 0.1
        while True:
            try:
                length = await write_batch(self.client, self.keys, batch)
            except _REDIS_FAILURES as exc:
                self.metrics.redis_errors.inc()
                self.metrics.redis_up = False
                if self.stop_event.is_set():
                    logger.error(
                        "stopping with %d messages unwritten (Redis: %s); the stored cursor %s is "
                        "where the next start resumes",
                        batch.messages,
                        exc,
                        self.cursor,
                    )
                    return
                logger.warning(
                    "writing %d entries failed (%s); retrying in %.1f s", len(batch.entries), exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, REDIS_RETRY_MAX_S)
                continue
            break
        if batch.cursor is not None:
            self.cursor = batch.cursor
            self.metrics.cursor.set(batch.cursor)
        self.metrics.redis_up = True
        for kind, count in Counter(entry.type for entry in batch.entries).items():
            self.metrics.events.labels(kind).inc(count)
        self.metrics.stream_length.set(length)
        self._progress(len(batch.entries))
        if length >= self.settings.max_stream_len and not self._pause_requested:
            self._pause_requested = True
            logger.warning(
                "stream %s holds %d entries (REDIS_MAX_STREAM_LEN %d): stopped reading the source; "
                "resuming from cursor %s once consumer group %s has acknowledged enough to trim it below %d",
                self.keys.stream,
                length,
                self.settings.max_stream_len,
                self.cursor,
                self.keys.group,
                int(self.settings.max_stream_len * RESUME_BELOW),
            )

    def _progress(self, added: int) -> None:
        self._read_total += added
        now = time.monotonic()
        if now - self._progress_at >= PROGRESS_INTERVAL_S:
            rate = (self._read_total - self._progress_total) / (now - self._progress_at)
            logger.info(
                "Read %s events (~%d events/sec, cursor: %s)",
                f"{self._read_total:,}",
                round(rate),
                self.cursor,
            )
            self._progress_at, self._progress_total = now, self._read_total

    async def _flush_periodically(self) -> None:
        interval = self.settings.flush_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            if self._batch.messages and time.monotonic() - self._batch_started >= interval:
                await self._submit()

    # --- trimming and the cap -------------------------------------------------------------------

    async def _trim_once(self) -> int | None:
        """Trim what the group acknowledged; the stream's length after, or None when Redis failed."""
        try:
            removed = await trim_acknowledged(self.client, self.keys.stream, self.keys.group)
            length = int(await self.client.xlen(self.keys.stream))
        except _REDIS_FAILURES as exc:
            self.metrics.redis_errors.inc()
            self.metrics.redis_up = False
            logger.debug("trimming failed: %s", exc)
            return None
        self.metrics.redis_up = True
        self.metrics.trimmed.inc(removed)
        self.metrics.stream_length.set(length)
        return length

    async def _trim_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.trim_interval_s)
            await self._trim_once()

    async def _wait_below_cap(self) -> None:
        self.metrics.set_paused(True)
        resume_below = int(self.settings.max_stream_len * RESUME_BELOW)
        started = last = time.monotonic()
        try:
            while not self.stop_event.is_set():
                length = await self._trim_once()
                now = time.monotonic()
                self.metrics.paused_seconds.inc(now - last)
                last = now
                if length is not None and length < resume_below:
                    break
                await self._sleep(self.settings.trim_interval_s)
        finally:
            self.metrics.paused_seconds.inc(time.monotonic() - last)
            self.metrics.set_paused(False)
            self._pause_requested = False
        if not self.stop_event.is_set():
            logger.warning(
                "stream %s is below %d entries after %.1f s paused: reading again from cursor %s",
                self.keys.stream,
                resume_below,
                time.monotonic() - started,
                self.cursor,
            )

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), seconds)


def _safe_url(url: str) -> str:
    """The endpoint as logged: user-info (if any) removed."""
    parts = urlsplit(url)
    return url.replace(f"{parts.username}:{parts.password}@", "***@") if parts.password else url


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]
