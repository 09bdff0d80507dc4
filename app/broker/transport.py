"""Redis Streams as the Faust broker: `broker="redis://..."` selects this transport.

Registered through the `faust.transports` entry point group (pyproject.toml) for `redis` and
`rediss`. There is no Kafka behind it: the consumer reads one stream through one consumer group,
and the producer side is Faust's inert base producer (nothing here produces to a topic).

How it fits Faust:

- Pipelines. `PARALLEL_CONSUMERS` pipelines per process, each a Redis consumer named
  `CONSUMER_ID-<n>`, stable across restarts. A pipeline first reads its own pending entries (a
  restarted worker takes back at once what it held), then new ones; one XREADGROUP of `BATCH_SIZE`
  per read, bytes in, each entry decoded on its own. It reads again once every batch of its
  previous read has completed, so at most `PARALLEL_CONSUMERS` reads are in flight per process.
- Routing. A read is split by `type` into one Faust message per kind, on that kind's virtual topic
  (app.broker.topics); the message value is the typed batch itself.
- Acknowledgement. Faust offsets are per-partition integers; each virtual topic has one partition,
  and each message gets the next offset of its partition (app.broker.ledger). When Faust commits
  offset n, the entries of every message below n that its agent *completed* are XACKed.
- Reclaim. Every `CLAIM_INTERVAL_S` a free pipeline XAUTOCLAIMs entries idle for `CLAIM_IDLE_MS`
  (their consumer is gone); meanwhile this process refreshes the idle time of everything it holds,
  so other workers do not claim entries that are merely slow. A redelivered entry past
  `MAX_DELIVERIES` is dead-lettered instead of being handled again. A read that failed may have
  been carried out by Redis with its reply lost: the pipeline then takes back at once the entries
  pending under its name that the process does not hold.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import redis
import redis.asyncio as aioredis
from faust.exceptions import ImproperlyConfigured
from faust.transport import base
from faust.transport.consumer import Consumer, RecordMap
from faust.transport.producer import Producer
from faust.types import TP, AppT, ConsumerMessage, Message
from faust.types.transports import ConsumerCallback, TransportT
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.broker.counters import AdapterCounters
from app.broker.envelope import KINDS, Accepted, Rejected, decode_entry
from app.broker.ledger import FIRST_OFFSET, Batch, Delivery, Ledger
from app.broker.retry import REDIS, is_transient, retry_transient
from app.broker.stream import Entry, RedisStream, dead_letter_fields, raw_dead_letter
from app.broker.topics import BATCH_OF_KIND, TOPIC_OF_KIND
from app.events import DeadLetter, StreamEvent
from app.settings import Settings, mask_redis_url

logger = logging.getLogger(__name__)

# At most this many reads per pipeline may have messages not yet released by a Faust commit. One
# batch held by a slow handler delays the commits of later messages of its kind (Faust commits
# contiguously); the other pipelines go on reading up to this bound instead of stalling at once.
_UNRELEASED_READS_PER_PIPELINE = 4

# Seconds a pooled Redis connection may sit idle before it is checked with a PING on its next use.
_HEALTH_CHECK_INTERVAL_S = 2

# Reading loops back off like this while Redis is unreachable.
_RECONNECT_DELAYS_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def settings_of(app: AppT) -> Settings:
    """The indexer settings an app built by `app.application.build_app` carries."""
    settings = getattr(app, "indexer_settings", None)
    if not isinstance(settings, Settings):
        raise ImproperlyConfigured(
            "the redis:// transport needs an app built by app.application.build_app (no indexer_settings)"
        )
    return settings


@dataclass(eq=False)
class _Pipeline:
    index: int
    consumer: str
    #: While set, the pipeline is reading its own pending entries, after this id.
    pending_after: bytes | None = b"0"
    #: A read failed: Redis may have delivered entries whose reply was lost on the way back.
    lost_replies: bool = False
    #: Deliveries of its reads not yet completed by their agents.
    in_flight: int = 0
    #: Reads whose deliveries are not all released by Faust commits yet.
    unreleased: dict[int, int] = field(default_factory=dict)
    reads: int = 0


class RedisConsumer(Consumer):
    """The consumer side of the transport; see the module docstring."""

    consumer_stopped_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(
        self,
        transport: TransportT,
        callback: ConsumerCallback,
        on_partitions_revoked: Any,
        on_partitions_assigned: Any,
        **kwargs: Any,
    ) -> None:
        self._conductor_callback = callback
        self.settings = settings_of(transport.app)
        self.counters = AdapterCounters()
        self._ledger = Ledger()
        self._tp_of_kind = {kind: TP(TOPIC_OF_KIND[kind], 0) for kind in KINDS}
        self._assigned: set[TP] = set()
        self._ready: deque[Delivery] = deque()
        self._ready_event = asyncio.Event()
        self._fetched: list[Delivery] = []
        self._outstanding: dict[int, Delivery] = {}  # id(batch) → delivery, until released
        self._notes: set[asyncio.Future[None]] = set()  # held-delivery notes under way
        self._read_of: dict[int, int] = {}  # id(batch) → the read that produced it
        self._slots = asyncio.Condition()
        self._to_ack: list[bytes] = []
        self._acking: set[bytes] = set()  # being XACKed now
        self._ack_event = asyncio.Event()
        self._completed = asyncio.Event()
        self._claim_cursor: bytes | None = None
        self._pipelines = [
            _Pipeline(index, f"{self.settings.consumer_id}-{index}")
            for index in range(self.settings.parallel_consumers)
        ]
        self._pipelines_started = False
        self._client: aioredis.Redis | None = None
        self._stream: RedisStream | None = None
        super().__init__(
            transport,
            callback=self._hand_over,
            on_partitions_revoked=on_partitions_revoked,
            on_partitions_assigned=on_partitions_assigned,
            **kwargs,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def stream(self) -> RedisStream:
        if self._stream is None:
            raise RuntimeError("the Redis consumer is not started")
        return self._stream

    @property
    def consumer_names(self) -> list[str]:
        return [pipeline.consumer for pipeline in self._pipelines]

    async def on_start(self) -> None:
        block_s = self.settings.read_block_ms / 1000
        self._client = aioredis.from_url(
            self.settings.redis_url,
            decode_responses=False,
            socket_connect_timeout=5,
            # A blocked XREADGROUP answers within `block_s`; anything much slower is a dead peer.
            socket_timeout=block_s + 10,
            # A pooled connection idle this long is PINGed before use, and reconnected once when the
            # PING fails: after an outage every idle connection is dead, and each would otherwise
            # fail once more. Commands themselves are never retried by redis-py (`retry_on_error`
            # stays empty): a repeated XREADGROUP or HINCRBY is not harmless.
            health_check_interval=_HEALTH_CHECK_INTERVAL_S,
            retry=Retry(NoBackoff(), 1),
        )
        self._stream = RedisStream(self._client, self.settings)
        logger.info(
            "Reading %s (group %s) from %s as %s",
            self.settings.stream_key,
            self.settings.consumer_group,
            mask_redis_url(self.settings.redis_url),
            ", ".join(self.consumer_names),
        )

    def _stopping(self) -> bool:
        return self.should_stop or self.app.should_stop

    async def on_stop(self) -> None:
        """Finish like Faust (wait for in-flight events, commit), then acknowledge what completed.

        Faust's last contiguous commit cannot pass a message it discarded from an agent's queue
        while stopping; deliveries beyond such a hole that did complete are acknowledged from the
        ledger. Whatever did not complete stays pending and is taken back on the next start.
        """
        await super().on_stop()
        for delivery in self._ledger.unreleased():
            if delivery.completed:
                self._to_ack.extend(delivery.entry_ids)
        if self._stream is None:
            return
        # What is left of SHUTDOWN_TIMEOUT_S since the stop began (app.application.IndexerApp).
        remaining = getattr(self.app, "shutdown_remaining", None)
        timeout = remaining(keep_s=2.0) if remaining is not None else self.settings.shutdown_timeout_s
        to_ack = len(self._to_ack)
        try:
            await asyncio.wait_for(self._flush_acks(), timeout=timeout)
        except TimeoutError:
            logger.warning(
                "Stopping before %d completed entries were all acknowledged: they stay pending and are "
                "indexed again, to the same effect, on the next start",
                to_ack,
            )

    async def on_shutdown(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    # -- subscription and assignment -------------------------------------------------------------

    async def subscribe(self, topics: Iterable[str]) -> None:
        """Assign the virtual partitions of the subscribed kinds; every kind needs its agent.

        The assignment callbacks run in a task of their own, after this returns: they wait for the
        conductor to finish subscribing, which would deadlock if they ran in here.
        """
        names = set(topics)
        missing = [kind for kind, tp in self._tp_of_kind.items() if tp.topic not in names]
        if missing:
            raise ImproperlyConfigured(
                f"no agent subscribes to {', '.join(missing)}: entries of those kinds would never be "
                "acknowledged (build the app with app.application.build_app)"
            )
        self.add_future(self._assign(set(self._tp_of_kind.values())))

    async def _assign(self, assigned: set[TP]) -> None:
        if assigned == self._assigned:
            return
        self._assigned = assigned
        self.app.on_rebalance_start()
        await self.on_partitions_assigned(assigned, generation_id=self.app.consumer_generation_id)
        if not self._pipelines_started:
            self._pipelines_started = True
            for pipeline in self._pipelines:
                self.add_future(self._run_pipeline(pipeline))
            self.add_future(self._keep_alive())
            self.add_future(self._claim_timer())
            self.add_future(self._acker())
            self.add_future(self._committer())

    def assignment(self) -> set[TP]:
        return set(self._assigned)

    def _new_topicpartition(self, topic: str, partition: int) -> TP:
        return TP(topic, partition)

    def topic_partitions(self, topic: str) -> int | None:
        return 1 if topic in TOPIC_OF_KIND.values() else None

    def key_partition(self, topic: str, key: bytes | None, partition: int | None = None) -> int:
        return 0

    async def create_topic(self, topic: str, partitions: int, replication: int, **kwargs: Any) -> None:
        """Virtual topics exist as soon as they are named."""

    # -- offsets: Redis has no seeking, the ledger is the truth ---------------------------------

    def highwater(self, tp: TP) -> int:
        return self._ledger.next_offset(tp)

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        return {tp: self._ledger.next_offset(tp) for tp in partitions}

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]:
        return {tp: FIRST_OFFSET for tp in partitions}

    async def position(self, tp: TP) -> int | None:
        return self._ledger.next_offset(tp)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return {tp: self._ledger.committed(tp) for tp in self._assigned}

    async def _seek(self, partition: TP, offset: int) -> None:
        """Nothing to seek: what is not acknowledged stays pending in Redis and is offered again."""

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        """See `_seek`."""

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Offsets are contiguous by construction; a hole left by a dropped message is filled by
        `Ledger.abandon`. Faust's gap would count the message being delivered as acknowledged."""

    def _new_offset(self, tp: TP) -> int | None:
        """Move Faust's acknowledgements into the ledger and answer with the ledger's commit point.

        Replaces faust-streaming's version, which commits one past a message still in flight (see
        `Ledger.committable`); tests/broker/test_faust_internals.py pins both facts.
        """
        acked = self._acked[tp]
        if acked:
            self._ledger.acked(tp, acked)
            self._acked_index[tp].difference_update(acked)
            acked.clear()
        return self._ledger.committable(tp)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """Faust committed: acknowledge the entries of completed messages below each offset.

        A released message that did not complete was acknowledged by Faust without being handled
        (skipped while flow was stopped, or its agent was cancelled): it is offered again, unless
        the worker is stopping, in which case it stays pending for the next start.
        """
        for tp, upto in offsets.items():
            for delivery in self._ledger.release(tp, upto):
                self._settle_released(delivery)
        self._ack_event.set()
        async with self._slots:
            self._slots.notify_all()
        return True

    def _settle_released(self, delivery: Delivery) -> None:
        key = id(delivery.batch)
        if not delivery.completed and not self._stopping():
            logger.warning(
                "%s batch of %d entries acknowledged by Faust without completing; offering it again",
                delivery.tp.topic,
                len(delivery.entry_ids),
            )
            self._offer_again(delivery)
            return
        if delivery.completed:
            self._to_ack.extend(delivery.entry_ids)
        self._outstanding.pop(key, None)
        read = self._read_of.pop(key, None)
        pipeline = self._pipelines[delivery.pipeline]
        if read is not None:
            left = pipeline.unreleased[read] - 1
            if left:
                pipeline.unreleased[read] = left
            else:
                del pipeline.unreleased[read]

    async def _acker(self) -> None:
        while not self.should_stop:
            await self._ack_event.wait()
            self._ack_event.clear()
            await self._flush_acks()

    async def _flush_acks(self) -> None:
        while self._to_ack:
            ids, self._to_ack = self._to_ack, []
            self._acking.update(ids)
            try:
                await retry_transient(
                    lambda ids=ids: self.stream.ack(ids), what=f"XACK of {len(ids)} entries", server=REDIS
                )
            finally:
                self._acking.difference_update(ids)

    # -- fetching --------------------------------------------------------------------------------

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> RecordMap:
        """Hand Faust the ready deliveries of its active partitions, waiting up to `timeout`.

        Deliveries Faust dropped from the previous call (a paused partition, flow stopped before
        it got to them, or a hand-over cancelled) are offered again first: their entries are
        pending in Redis under our name, and nothing else would ever deliver them.
        """
        self._recover_dropped()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            records = self._take_ready(active_partitions)
            if records or self._stopping():
                return records
            remaining = deadline - loop.time()
            if remaining <= 0:
                return {}
            self._ready_event.clear()
            try:
                await asyncio.wait_for(self._ready_event.wait(), remaining)
            except TimeoutError:
                return {}

    def _take_ready(self, active_partitions: set[TP] | None) -> dict[TP, list[Delivery]]:
        records: dict[TP, list[Delivery]] = {}
        kept: deque[Delivery] = deque()
        while self._ready:
            delivery = self._ready.popleft()
            if active_partitions is None or delivery.tp in active_partitions:
                delivery.queued = False
                records.setdefault(delivery.tp, []).append(delivery)
            else:
                kept.append(delivery)
        self._ready = kept
        self._fetched = [delivery for batch in records.values() for delivery in batch]
        return records

    def _recover_dropped(self) -> None:
        """Offer again what the previous fetch returned but never reached an agent's queue."""
        for delivery in reversed(self._fetched):
            if delivery.queued or delivery.handed:
                continue
            if delivery.offset is not None:
                self._ledger.abandon(delivery)
            self._queue(delivery, front=True)
        self._fetched = []

    def _offer_again(self, delivery: Delivery) -> None:
        delivery.handed = False
        delivery.offset = None
        self._queue(delivery, front=True)

    def _queue(self, delivery: Delivery, front: bool = False) -> None:
        delivery.queued = True
        if front:
            self._ready.appendleft(delivery)
        else:
            self._ready.append(delivery)
        self._ready_event.set()

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        super().resume_partitions(tps)
        self._ready_event.set()

    def on_buffer_drop(self, tp: TP) -> None:
        super().on_buffer_drop(tp)
        self._ready_event.set()

    def _to_message(self, tp: TP, record: Delivery) -> ConsumerMessage:
        offset = self._ledger.number(record)
        return ConsumerMessage(
            tp.topic,
            tp.partition,
            offset,
            time.time(),
            0,
            None,
            None,
            record.batch,  # type: ignore[arg-type]  # the pass-through schema hands it to the agent
            None,
            serialized_key_size=0,
            serialized_value_size=0,
            tp=tp,
            generation_id=self.app.consumer_generation_id,
        )

    async def _hand_over(self, message: Message) -> None:
        """The conductor's callback, noting which deliveries actually reached an agent's queue."""
        await self._conductor_callback(message)
        delivery = self._outstanding.get(id(message.value))
        if delivery is not None:
            delivery.handed = True

    # -- what the agents call --------------------------------------------------------------------

    async def settle(self, batch: Batch, letters: Sequence[DeadLetter]) -> None:
        """The agent is done with `batch`: write its dead letters, then let it be acknowledged.

        Called by `app.broker.handlers.BatchRunner` after the handler returned, so every effect of
        the batch is committed. Each dead letter is written in one MULTI/EXEC with the XACK of its
        own entry: a crash can leave both undone (the entry is redelivered and its letter written
        then) but never the letter without the acknowledgement, so an entry and op has one dead
        letter whatever crashes. The rest of the batch is acknowledged through Faust's commit; a
        Redis outage holds the batch here.
        """
        if letters:
            fields = [dead_letter_fields(letter) for letter in letters]
            entry_ids = list(dict.fromkeys(letter.entry_id.encode() for letter in letters))
            await retry_transient(
                lambda: self.stream.dead_letter(fields, entry_ids),
                what=f"{len(fields)} dead letters",
                server=REDIS,
            )
            self.counters.dead_letters += len(fields)
        delivery = self._outstanding.get(id(batch))
        if delivery is None or delivery.completed:
            return
        delivery.completed = True
        # A completed batch is never offered again, but it stays outstanding until Faust commits
        # past it (commits are contiguous, so up to _UNRELEASED_READS_PER_PIPELINE reads per
        # pipeline): drop its events now, or three quarters of the decoded events in memory would
        # be finished ones. The runner still holds its own reference for the observer.
        batch.events = []
        self._pipelines[delivery.pipeline].in_flight -= 1
        self._completed.set()
        async with self._slots:
            self._slots.notify_all()

    async def _committer(self) -> None:
        """Commit as soon as a batch completed, instead of at Faust's next commit interval.

        Pipelines may only run a few reads ahead of the commits (`_UNRELEASED_READS_PER_PIPELINE`),
        so waiting for the timer would cap the throughput. The agent's stream acknowledges the batch
        when it asks for the next one, synchronously after `settle` returns: by the time this task
        runs, the acknowledgement is there to be committed.
        """
        while not self.should_stop:
            await self._completed.wait()
            self._completed.clear()
            await asyncio.sleep(0)
            await self.commit()

    # -- pipelines -------------------------------------------------------------------------------

    async def _run_pipeline(self, pipeline: _Pipeline) -> None:
        await self._ensure_group()
        delays = iter(_RECONNECT_DELAYS_S)
        while not self._stopping():
            await self._wait_for_slot(pipeline)
            if self._stopping():
                return
            started = REDIS.clock()
            try:
                entries, counts = await self._read(pipeline)
                self.counters.stage_seconds["read"] += REDIS.clock() - started
                if entries and not self._stopping():
                    await self._accept(pipeline, entries, counts)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # One line per outage for the whole process (REDIS), not per pipeline or attempt.
                REDIS.failed(exc, "reading the stream", started)
                pipeline.lost_replies = True
                await asyncio.sleep(next(delays, _RECONNECT_DELAYS_S[-1]))
                continue
            delays = iter(_RECONNECT_DELAYS_S)
            REDIS.answered()

    async def _ensure_group(self) -> None:
        await retry_transient(self.stream.ensure_group, what="XGROUP CREATE", server=REDIS)

    async def _wait_for_slot(self, pipeline: _Pipeline) -> None:
        limit = _UNRELEASED_READS_PER_PIPELINE

        def free() -> bool:
            return self._stopping() or (pipeline.in_flight == 0 and len(pipeline.unreleased) < limit)

        async with self._slots:
            await self._slots.wait_for(free)

    async def _read(self, pipeline: _Pipeline) -> tuple[list[Entry], dict[bytes, int] | None]:
        """One read: own pending entries first, then a due reclaim, then new entries.

        Returns the entries and, for redeliveries, how many times each was delivered (None for new
        entries, delivered once).
        """
        settings = self.settings
        if pipeline.lost_replies:
            entries = await self.stream.take_back_unseen(pipeline.consumer, self._held(), settings.batch_size)
            pipeline.lost_replies = len(entries) == settings.batch_size  # maybe more
            if entries:
                logger.info("%s took back %d entries of a lost reply", pipeline.consumer, len(entries))
                return entries, await self.stream.delivery_counts([entry_id for entry_id, _ in entries])
        if pipeline.pending_after is not None:
            entries = await self.stream.read(
                pipeline.consumer, pipeline.pending_after, settings.batch_size, 0
            )
            if not entries:
                pipeline.pending_after = None
                return [], None
            pipeline.pending_after = entries[-1][0]
            return entries, await self.stream.delivery_counts([entry_id for entry_id, _ in entries])
        cursor = self._claim_cursor
        if cursor is not None:
            self._claim_cursor = None  # one pipeline claims at a time; it puts the cursor back
            next_cursor, entries = await self.stream.claim(
                pipeline.consumer, cursor, settings.claim_idle_ms, settings.batch_size
            )
            if next_cursor != b"0-0":
                self._claim_cursor = next_cursor
            if entries:
                logger.info("%s claimed %d idle entries", pipeline.consumer, len(entries))
                return entries, await self.stream.delivery_counts([entry_id for entry_id, _ in entries])
            return [], None
        entries = await self.stream.read(pipeline.consumer, None, settings.batch_size, settings.read_block_ms)
        return entries, None

    async def _held_deliveries(
        self, entries: list[Entry], counts: dict[bytes, int] | None
    ) -> dict[bytes, int]:
        """For the entries delivered more than MAX_DELIVERIES times: how many of those deliveries met
        an outage (the worker was not ready), which do not count toward the limit."""
        limit = self.settings.max_deliveries
        over = [entry_id for entry_id, _ in entries if counts is not None and counts.get(entry_id, 1) > limit]
        if not over:
            return {}
        return await self.stream.held_deliveries(over)

    def batch_held(self, batch: Batch) -> None:
        """`batch` is held by an outage: its current delivery is noted so that a redelivery after this
        worker stopped does not count it toward MAX_DELIVERIES. Best effort, off the agent's path:
        if Redis is down too, the note is lost and that delivery counts."""
        delivery = self._outstanding.get(id(batch))
        if delivery is None:
            return
        task = asyncio.ensure_future(self.stream.note_held(delivery.entry_ids))
        self._notes.add(task)
        task.add_done_callback(self._note_done)

    def _note_done(self, task: asyncio.Future[None]) -> None:
        self._notes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("could not note held deliveries: %s", task.exception())

    async def _accept(
        self, pipeline: _Pipeline, entries: list[Entry], counts: dict[bytes, int] | None
    ) -> None:
        """Decode each entry on its own, settle the bad ones at once, deliver the rest by kind."""
        max_deliveries = self.settings.max_deliveries
        letters: list[dict[str | bytes, str | bytes]] = []
        settled: list[bytes] = []
        by_kind: dict[str, tuple[list[bytes], list[StreamEvent]]] = {}
        decoding = time.perf_counter()
        held = await self._held_deliveries(entries, counts)
        for entry_id, fields in entries:
            deliveries = 1 if counts is None else counts.get(entry_id, 1)
            if not fields:
                error = "entry deleted from the stream before it was processed"
                letters.append(raw_dead_letter(entry_id, fields, deliveries, error))
                settled.append(entry_id)
                continue
            if deliveries - held.get(entry_id, 0) > max_deliveries:
                error = f"delivered {deliveries - 1} times without completing"
                letters.append(raw_dead_letter(entry_id, fields, deliveries, error))
                settled.append(entry_id)
                continue
            decoded = decode_entry(entry_id.decode(), fields, deliveries)
            if isinstance(decoded, Accepted):
                ids, events = by_kind.setdefault(decoded.kind, ([], []))
                ids.append(entry_id)
                events.append(decoded.event)
            elif isinstance(decoded, Rejected):
                letters.append(raw_dead_letter(entry_id, fields, deliveries, decoded.error))
                settled.append(entry_id)
            else:
                self.counters.unknown_types[decoded.type] += 1
                settled.append(entry_id)
        self.counters.stage_seconds["decode"] += time.perf_counter() - decoding
        if settled:
            await retry_transient(
                lambda: self.stream.dead_letter(letters, settled),
                what=f"{len(letters)} dead letters",
                server=REDIS,
            )
            self.counters.dead_letters += len(letters)
            if letters:
                logger.debug(
                    "%s: %d entries dead-lettered before reaching an agent", pipeline.consumer, len(letters)
                )
        if not by_kind:
            return
        pipeline.reads += 1
        read = pipeline.reads
        pipeline.unreleased[read] = len(by_kind)
        for kind, (ids, events) in by_kind.items():
            batch = BATCH_OF_KIND[kind](events=events)
            delivery = Delivery(self._tp_of_kind[kind], batch, ids, pipeline.index)
            self._outstanding[id(batch)] = delivery
            self._read_of[id(batch)] = read
            pipeline.in_flight += 1
            self._queue(delivery)

    async def _claim_timer(self) -> None:
        """Start a reclaim scan every `CLAIM_INTERVAL_S`; a free pipeline carries it out."""
        while not self._stopping():
            await asyncio.sleep(self.settings.claim_interval_s)
            if self._claim_cursor is None:
                self._claim_cursor = b"0-0"

    def _held(self) -> set[bytes]:
        """Entries this process holds: delivered and not yet released, or not yet acknowledged."""
        held = set(self._to_ack) | self._acking
        for delivery in self._outstanding.values():
            held.update(delivery.entry_ids)
        return held

    async def _keep_alive(self) -> None:
        """Keep the entries this process holds from looking abandoned to XAUTOCLAIM (and only those:
        see `RedisStream.keep_alive`)."""
        threshold_ms = max(1, self.settings.claim_idle_ms // 3)
        while not self.should_stop:
            await asyncio.sleep(threshold_ms / 1000)
            held = self._held()
            for consumer in self.consumer_names:
                try:
                    await self.stream.keep_alive(consumer, threshold_ms, held)
                except RedisError as exc:
                    if not is_transient(exc):
                        raise
                    break  # Redis is down; the pipelines log it and nobody can claim meanwhile


class Transport(base.Transport):
    """Faust transport for `redis://` and `rediss://` broker URLs."""

    Consumer = RedisConsumer
    Producer = Producer
    driver_version = f"redis-py {redis.__version__}"
