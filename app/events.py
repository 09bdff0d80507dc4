"""Typed events as the agents see them, and the dead letters they may give back.

The source adapter (app/broker) turns each stream entry into one of these after checking bytes,
UTF-8, JSON and the envelope; one Faust message carries a whole batch of one kind, so Faust's
per-message cost is paid once per read, not once per entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust


class Op(faust.Record, serializer="raw", include_metadata=False):
    """One repository operation; `cid` and `record` only for create/update."""

    action: str  # create | update | delete
    collection: str
    rkey: str
    cid: str | None = None
    record: dict[str, Any] | None = None


class StreamEvent(faust.Record, abstract=True, include_metadata=False):
    """What every entry carries besides its payload: where it came from and its version."""

    entry_id: str  # the Redis stream entry id, e.g. "1700000000000-3"
    version: int  # relay seq, else the entry id as one order-preserving integer (version_of)
    seq: str  # the `seq` field as received ("" when the reader sets none)
    data: str  # the original `data` field, kept for dead letters
    deliveries: int  # how many times the group delivered this entry (1 on a first read)


class CommitEvent(StreamEvent, include_metadata=False):
    repo: str
    ops: list[Op]
    rev: str | None = None
    time: str | None = None


class IdentityEvent(StreamEvent, include_metadata=False):
    did: str
    handle: str | None = None


class AccountEvent(StreamEvent, include_metadata=False):
    did: str
    active: bool
    status: str | None = None


class CommitBatch(faust.Record, include_metadata=False):
    events: list[CommitEvent]


class IdentityBatch(faust.Record, include_metadata=False):
    events: list[IdentityEvent]


class AccountBatch(faust.Record, include_metadata=False):
    events: list[AccountEvent]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An entry (or one op of it) that can never be applied, with the reason.

    Written to the dead-letter stream with the original `type`, `data`, `seq`, `origId`,
    `deliveries`, `error` and, for a single bad op, `opIndex`.
    """

    entry_id: str
    type: str
    data: str
    seq: str
    deliveries: int
    error: str
    op_index: int | None = None

    @classmethod
    def of(cls, event: StreamEvent, kind: str, error: str, op_index: int | None = None) -> DeadLetter:
        return cls(event.entry_id, kind, event.data, event.seq, event.deliveries, error, op_index)


# Entry ids are "<milliseconds>-<sequence>"; the sequence within one millisecond never reaches a
# million in practice (Redis itself does not add that many entries per millisecond), so
# ms * 10**6 + sequence preserves order and fits a bigint until the year 2262.
_ENTRY_SEQUENCE_SPAN = 1_000_000


def version_of(entry_id: str, seq: str) -> int:
    """The event's version: the relay `seq` when the reader sets one, else the entry id."""
    if seq:
        return int(seq)
    millis, _, sequence = entry_id.partition("-")
    return int(millis) * _ENTRY_SEQUENCE_SPAN + min(int(sequence or 0), _ENTRY_SEQUENCE_SPAN - 1)
