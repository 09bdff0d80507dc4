"""The faust-streaming internals the Redis transport relies on, pinned (pyproject pins 0.15.x).

When one of these fails after a faust-streaming upgrade, the transport (app/broker/transport.py)
must be revisited before anything else: the message of each assertion says which part depends on it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict
from collections.abc import AsyncIterator
from types import SimpleNamespace

import faust
import faust.streams
import pytest
from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from app.application import build_app
from app.broker.ledger import Delivery
from app.broker.topics import TOPIC_OF_KIND
from app.broker.transport import RedisConsumer, Transport
from app.events import CommitBatch, IdentityBatch
from app.settings import Settings
from tests.broker.harness import IdleHandlers

COMMITS, IDENTITIES = TP(TOPIC_OF_KIND["commit"], 0), TP(TOPIC_OF_KIND["identity"], 0)


@pytest.fixture
async def app() -> AsyncIterator[faust.App]:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", consumer_id="pin", parallel_consumers=2)
    yield build_app(settings, IdleHandlers())


@pytest.fixture
def consumer(app: faust.App) -> RedisConsumer:
    consumer = app.consumer
    assert isinstance(consumer, RedisConsumer)
    return consumer


def delivery(consumer: RedisConsumer, tp: TP, *ids: bytes) -> Delivery:
    batch = CommitBatch(events=[]) if tp == COMMITS else IdentityBatch(events=[])
    made = Delivery(tp, batch, list(ids), pipeline=0)
    consumer._outstanding[id(batch)] = made
    return made


def test_faust_streaming_is_0_15() -> None:
    assert faust.__version__.startswith("0.15."), (
        f"faust-streaming {faust.__version__}: the transport was written against 0.15.x internals; "
        "re-check every test in this module"
    )


def test_the_redis_scheme_selects_this_transport(app: faust.App) -> None:
    assert isinstance(app.transport, Transport), "entry point faust.transports → app.broker.transport"


def test_upstream_new_offset_commits_one_past_a_message_in_flight() -> None:
    """Why RedisConsumer replaces `_new_offset`: committed=1, acked=[2] gives 3 upstream, which
    would XACK the in-flight message at offset 1."""
    tp = COMMITS
    stand_in = SimpleNamespace(
        _acked={tp: [2]}, _acked_index={tp: {2}}, _gap=defaultdict(IntervalTree), _committed_offset={tp: 1}
    )
    assert Consumer._new_offset(stand_in, tp) == 3, (  # type: ignore[arg-type]
        "faust-streaming's Consumer._new_offset changed: check whether RedisConsumer._new_offset "
        "still has to replace it"
    )


def test_our_new_offset_waits_for_the_message_in_flight(consumer: RedisConsumer) -> None:
    first, second = delivery(consumer, COMMITS, b"1-1"), delivery(consumer, COMMITS, b"1-2")
    consumer._to_message(COMMITS, first)
    consumer._to_message(COMMITS, second)
    consumer._acked[COMMITS].append(2)
    consumer._acked_index[COMMITS].add(2)
    assert consumer._new_offset(COMMITS) is None
    consumer._acked[COMMITS].append(1)
    consumer._acked_index[COMMITS].add(1)
    assert consumer._new_offset(COMMITS) == 3


async def test_the_stream_iterator_records_acks_where_the_consumer_reads_them(
    app: faust.App, consumer: RedisConsumer
) -> None:
    """The compiled iterator does the ack bookkeeping itself (overriding Consumer.ack() has no
    effect): it appends to `consumer._acked[tp]`, which `_new_offset` reads."""
    iterator_class = faust.streams._CStreamIterator
    assert iterator_class is not None, "the Cython stream iterator is gone: check the Python path acks"
    topic = app.topic(COMMITS.topic)
    app.topics.add(topic)
    await app.topics._update_indices()
    assert app.topics.acks_enabled_for(COMMITS.topic)
    made = delivery(consumer, COMMITS, b"1-1")
    message = consumer._to_message(COMMITS, made)
    message.incref()
    event = app.create_event(None, made.batch, None, message)
    iterator_class(app.stream(topic)).after(event, True, None)
    assert message.acked
    assert consumer._acked[COMMITS] == [message.offset], "acks no longer land in Consumer._acked"
    assert consumer._new_offset(COMMITS) == message.offset + 1


async def test_an_event_is_acknowledged_even_when_its_agent_raises(
    app: faust.App, consumer: RedisConsumer
) -> None:
    """Why a batch must also be *completed* (RedisConsumer.settle) before its entries are XACKed:
    the iterator acknowledges in a `finally`, also when the agent's body raised or was cancelled."""
    topic = app.topic(COMMITS.topic)
    app.topics.add(topic)
    await app.topics._update_indices()
    app.flow_control.resume()
    stream = app.stream(topic)
    made = delivery(consumer, COMMITS, b"1-1")
    message = consumer._to_message(COMMITS, made)
    message.incref()
    await stream.channel.queue.put(app.create_event(None, made.batch, None, message))

    async def agent() -> None:
        async for _ in stream:
            raise RuntimeError("the agent crashed")

    with pytest.raises(RuntimeError):
        await asyncio.wait_for(agent(), timeout=5)
    assert message.acked
    assert consumer._acked[COMMITS] == [message.offset]


async def test_faust_commit_goes_through_new_offset_and_commit(consumer: RedisConsumer) -> None:
    """`Consumer.commit()` → `_new_offset(tp)` → `_commit({tp: offset})` → `_committed_offset`;
    the transport releases completed deliveries there and XACKs their entries."""
    consumer._assigned = {COMMITS}
    done, in_flight = delivery(consumer, COMMITS, b"1-1"), delivery(consumer, COMMITS, b"1-2")
    for made in (done, in_flight):
        consumer._to_message(COMMITS, made)
    done.completed = True
    consumer._acked[COMMITS].append(done.offset)
    assert await consumer.commit()
    assert consumer._committed_offset[COMMITS] == 2
    assert consumer._to_ack == [b"1-1"]


async def test_getmany_converts_records_lazily_and_only_for_active_partitions(
    consumer: RedisConsumer,
) -> None:
    """Offsets are assigned in `_to_message`, which Faust calls per record as it yields it and never
    for a paused partition; what it skipped is offered again by the next `_getmany`."""
    commit_a, commit_b = delivery(consumer, COMMITS, b"1-1"), delivery(consumer, COMMITS, b"1-2")
    paused = delivery(consumer, IDENTITIES, b"1-3")
    for made in (commit_a, commit_b, paused):
        consumer._queue(made)
    consumer._set_active_tps({COMMITS})
    messages = consumer.getmany(timeout=0.1)
    tp, first = await messages.__anext__()
    assert (tp, first.offset, first.value) == (COMMITS, 1, commit_a.batch)
    assert commit_b.offset is None, "Faust converted a record before yielding it"
    await messages.aclose()
    assert list(consumer._ready) == [paused], "a paused partition's record was handed out"
    consumer._set_active_tps({COMMITS, IDENTITIES})
    records = await consumer._getmany(consumer._get_active_partitions(), 0.1)
    # commit_a was converted but never reached a queue (the hand-over callback did not run): it is
    # offered again, and its first offset counts as done so that later offsets can be committed.
    assert records == {COMMITS: [commit_a, commit_b], IDENTITIES: [paused]}
    assert commit_a.offset is None
    assert consumer._new_offset(COMMITS) == 2


@pytest.mark.parametrize(
    ("function", "snippet", "why"),
    [
        (
            Consumer._drain_messages,
            "callback = self.callback",
            "RedisConsumer._hand_over wraps the conductor callback to see what reached a queue",
        ),
        (Consumer._drain_messages, "await self._add_gap(", "RedisConsumer._add_gap disables gap filling"),
        (Consumer.getmany, "yield tp, to_message(tp, record)", "offsets are assigned lazily in _to_message"),
        (
            Consumer._filter_committable_offsets,
            "offset = self._new_offset(tp)",
            "RedisConsumer._new_offset is the commit point",
        ),
        (
            Consumer._commit_offsets,
            "self._committed_offset.update(committable_offsets)",
            "Faust records the committed offset whatever _commit returns: XACK failures are retried",
        ),
        (
            faust.App._on_partitions_assigned,
            "await T(self.topics.maybe_wait_for_subscriptions)()",
            "assignment must run after subscribe() returns, or it deadlocks",
        ),
        (
            faust.App._stop_consumer,
            "await self._consumer_wait_empty(consumer, self.log)",
            "a graceful stop waits for the batches in flight (IndexerApp bounds the wait)",
        ),
    ],
    ids=lambda value: getattr(value, "__qualname__", None) or str(value)[:30],
)
def test_pinned_source(function: object, snippet: str, why: str) -> None:
    source = inspect.getsource(function)  # type: ignore[arg-type]
    assert snippet in source, f"faust-streaming changed {function!r}: {why}"


async def test_a_delivery_that_reached_its_agent_is_never_offered_again(consumer: RedisConsumer) -> None:
    """Once handed over, completed, acknowledged and committed, a delivery is done: the next fetch
    must not mistake it for one Faust dropped (it did, before `Delivery.handed` existed)."""
    handed: list[object] = []

    async def conductor(message: object) -> None:
        handed.append(message)

    consumer._conductor_callback = conductor
    consumer._assigned = {COMMITS}
    made = delivery(consumer, COMMITS, b"1-1")
    consumer._pipelines[0].in_flight = 1
    consumer._queue(made)
    records = await consumer._getmany({COMMITS}, 0.1)
    message = consumer._to_message(COMMITS, records[COMMITS][0])
    await consumer._hand_over(message)
    await consumer.settle(made.batch, [])
    consumer._acked[COMMITS].append(message.offset)
    assert await consumer.commit()
    assert consumer._to_ack == [b"1-1"]
    assert await consumer._getmany({COMMITS}, 0.05) == {}
    assert handed == [message]


async def test_a_completed_delivery_waiting_for_the_commit_holds_no_events(consumer: RedisConsumer) -> None:
    """Faust commits contiguously, so completed batches can wait behind a slow one for a while; they
    must not keep their decoded events alive meanwhile (most of the worker's memory, measured), and
    are still acknowledged by the commit that releases them."""
    consumer._assigned = {COMMITS}
    slow, done = delivery(consumer, COMMITS, b"1-1"), delivery(consumer, COMMITS, b"1-2")
    done.batch.events = [object()]  # type: ignore[list-item]
    consumer._pipelines[0].in_flight = 2
    for made in (slow, done):
        consumer._queue(made)
    records = await consumer._getmany({COMMITS}, 0.1)
    messages = [consumer._to_message(COMMITS, record) for record in records[COMMITS]]
    await consumer.settle(done.batch, [])
    consumer._acked[COMMITS].append(messages[1].offset)
    await consumer.commit()
    assert consumer._to_ack == [], "committed past the slow batch"
    assert done.batch.events == [], "a completed batch kept its events while waiting for the commit"
    await consumer.settle(slow.batch, [])
    consumer._acked[COMMITS].append(messages[0].offset)
    assert await consumer.commit()
    assert sorted(consumer._to_ack) == [b"1-1", b"1-2"]
