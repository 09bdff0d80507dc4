"""Faust offsets ↔ stream entries.

Faust keeps, per topic-partition, integer offsets and commits the highest one below which every
offset has been acknowledged. A Redis stream has entry ids and a pending list instead. The transport
gives every Faust message it delivers (one typed batch of one kind from one read) the next local
offset of its virtual partition, contiguously, and records here which entries that offset carries.
When Faust commits offset n, every message below n has been acknowledged by its agent, and the
transport XACKs the entries of those messages that also *completed* (see `Delivery.completed`).

This module is plain bookkeeping, without I/O, so that the mapping is tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from faust.types import TP

from app.events import AccountBatch, CommitBatch, IdentityBatch

Batch = CommitBatch | IdentityBatch | AccountBatch

# Offsets start at 1: Faust treats a committed offset of 0 as "nothing committed" in places.
FIRST_OFFSET = 1


@dataclass(eq=False)
class Delivery:
    """One Faust message: the events of one kind from one read of one pipeline."""

    tp: TP
    batch: Batch
    entry_ids: list[bytes]
    pipeline: int
    offset: int | None = None
    #: Waiting in the transport's ready queue for Faust to fetch it.
    queued: bool = False
    #: The conductor put it on its agent's queue (reset when it is offered again).
    handed: bool = False
    #: Set by the agent's runner once the handler finished and its dead letters are written.
    #: Faust's own acknowledgement is not enough: its stream iterator also acknowledges events it
    #: skipped (flow control stopped) and events whose agent was cancelled or crashed.
    completed: bool = False


@dataclass
class _Partition:
    next_offset: int = FIRST_OFFSET
    committed: int = FIRST_OFFSET  # every offset below is released
    outstanding: dict[int, Delivery] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)


class Ledger:
    """Offsets of the deliveries of every virtual partition, from numbering to release."""

    def __init__(self) -> None:
        self._partitions: dict[TP, _Partition] = {}

    def _partition(self, tp: TP) -> _Partition:
        partition = self._partitions.get(tp)
        if partition is None:
            partition = self._partitions[tp] = _Partition()
        return partition

    def number(self, delivery: Delivery) -> int:
        """Give `delivery` the next offset of its partition (called when Faust takes it)."""
        partition = self._partition(delivery.tp)
        offset = delivery.offset = partition.next_offset
        partition.next_offset += 1
        partition.outstanding[offset] = delivery
        return offset

    def next_offset(self, tp: TP) -> int:
        return self._partition(tp).next_offset

    def committed(self, tp: TP) -> int:
        return self._partition(tp).committed

    def acked(self, tp: TP, offsets: Iterable[int]) -> None:
        """Faust's streams acknowledged these offsets."""
        partition = self._partition(tp)
        partition.acked.update(offset for offset in offsets if offset >= partition.committed)

    def abandon(self, delivery: Delivery) -> None:
        """Faust dropped `delivery` after numbering it: its offset is a hole nothing will ever ack.

        The hole is filled (counted as acknowledged) so later offsets can still be committed, and
        the delivery is unnumbered, ready to be offered again under a new offset.
        """
        assert delivery.offset is not None
        partition = self._partition(delivery.tp)
        partition.outstanding.pop(delivery.offset, None)
        if delivery.offset >= partition.committed:
            partition.acked.add(delivery.offset)
        delivery.offset = None

    def committable(self, tp: TP) -> int | None:
        """The offset Faust may commit: one past the contiguous run of acknowledged offsets.

        Unlike faust-streaming 0.15's `Consumer._new_offset`, the run must start exactly at the
        committed offset: with committed=1 and acked=[2], nothing is committable while offset 1 is
        still in flight (Faust's version answers 3 and so acknowledges the in-flight message).
        """
        partition = self._partitions.get(tp)
        if partition is None:
            return None
        offset = partition.committed
        while offset in partition.acked:
            offset += 1
        return offset if offset > partition.committed else None

    def release(self, tp: TP, upto: int) -> list[Delivery]:
        """Faust committed `upto`: forget every offset below it and return their deliveries."""
        partition = self._partition(tp)
        released: list[Delivery] = []
        for offset in range(partition.committed, upto):
            partition.acked.discard(offset)
            delivery = partition.outstanding.pop(offset, None)
            if delivery is not None:
                released.append(delivery)
        partition.committed = max(partition.committed, upto)
        return released

    def unreleased(self) -> list[Delivery]:
        """Deliveries numbered but not yet released, in offset order per partition."""
        return [
            delivery
            for partition in self._partitions.values()
            for _, delivery in sorted(partition.outstanding.items())
        ]
