"""Faust offsets ↔ deliveries: contiguous numbering, commit points, holes, release."""

from __future__ import annotations

from faust.types import TP

from app.broker.ledger import FIRST_OFFSET, Delivery, Ledger
from app.events import CommitBatch, IdentityBatch

COMMITS, IDENTITIES = TP("stream.commit", 0), TP("stream.identity", 0)


def delivery(tp: TP, *ids: bytes) -> Delivery:
    batch = CommitBatch(events=[]) if tp == COMMITS else IdentityBatch(events=[])
    return Delivery(tp, batch, list(ids), pipeline=0)


def test_offsets_are_contiguous_per_partition_from_the_first_offset() -> None:
    ledger = Ledger()
    numbered = [ledger.number(delivery(tp)) for tp in (COMMITS, IDENTITIES, COMMITS, COMMITS)]
    assert numbered == [FIRST_OFFSET, FIRST_OFFSET, FIRST_OFFSET + 1, FIRST_OFFSET + 2]
    assert FIRST_OFFSET >= 1  # Faust reads a committed offset of 0 as "nothing committed"
    assert ledger.next_offset(COMMITS) == FIRST_OFFSET + 3


def test_nothing_is_committable_while_the_first_message_is_in_flight() -> None:
    """faust-streaming 0.15's `_new_offset` answers 3 for committed=1, acked=[2]; this must not."""
    ledger = Ledger()
    first, second = delivery(COMMITS, b"1-1"), delivery(COMMITS, b"1-2")
    ledger.number(first)
    ledger.number(second)
    ledger.acked(COMMITS, [2])
    assert ledger.committable(COMMITS) is None
    ledger.acked(COMMITS, [1])
    assert ledger.committable(COMMITS) == 3
    assert ledger.release(COMMITS, 3) == [first, second]
    assert ledger.committed(COMMITS) == 3
    assert ledger.committable(COMMITS) is None


def test_the_commit_point_stops_at_the_first_gap_and_releases_in_order() -> None:
    ledger = Ledger()
    deliveries = [delivery(COMMITS, f"1-{n}".encode()) for n in range(5)]
    for d in deliveries:
        ledger.number(d)
    ledger.acked(COMMITS, [1, 2, 4, 5])
    assert ledger.committable(COMMITS) == 3
    assert ledger.release(COMMITS, 3) == deliveries[:2]
    assert ledger.unreleased() == deliveries[2:]
    ledger.acked(COMMITS, [3])
    assert ledger.committable(COMMITS) == 6
    assert ledger.release(COMMITS, 6) == deliveries[2:]
    assert ledger.unreleased() == []


def test_partitions_commit_independently() -> None:
    ledger = Ledger()
    held, later = delivery(IDENTITIES, b"1-1"), delivery(IDENTITIES, b"1-2")
    commit = delivery(COMMITS, b"1-3")
    for d in (held, later, commit):
        ledger.number(d)
    ledger.acked(IDENTITIES, [2])
    ledger.acked(COMMITS, [1])
    assert ledger.committable(IDENTITIES) is None
    assert ledger.committable(COMMITS) == 2


def test_an_abandoned_delivery_leaves_no_hole_and_is_numbered_again() -> None:
    ledger = Ledger()
    a, dropped, c = delivery(COMMITS, b"1-1"), delivery(COMMITS, b"1-2"), delivery(COMMITS, b"1-3")
    for d in (a, dropped, c):
        ledger.number(d)
    ledger.abandon(dropped)
    assert dropped.offset is None
    ledger.acked(COMMITS, [1, 3])
    assert ledger.committable(COMMITS) == 4
    assert ledger.release(COMMITS, 4) == [a, c]
    assert ledger.number(dropped) == 4


def test_acknowledgements_below_the_commit_point_are_ignored() -> None:
    ledger = Ledger()
    d = delivery(COMMITS, b"1-1")
    ledger.number(d)
    ledger.acked(COMMITS, [1])
    ledger.release(COMMITS, 2)
    ledger.acked(COMMITS, [1])
    assert ledger.committable(COMMITS) is None
