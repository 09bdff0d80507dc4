"""The small interface every indexed collection shares.

A collection module (app/indexing/collections/<name>.py) exports one `Collection`: how a record
becomes a row (`parse`), the table the row lives in, which counters a live row adds to, whether it is a
feed item, whom it notifies, which DIDs it names and — for tables unique per (author, subject) — the
pair a second record of the same relationship is kept aside by. The batch writer (app/indexing/batch.py)
does the rest in the same way for every collection, so adding a collection means adding a file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table

from app.records import validate

if TYPE_CHECKING:
    from app.indexing.batch import BatchWriter

Row = dict[str, Any]
Hook = Callable[["BatchWriter", list[Row]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Where a record lives and which event wrote it."""

    uri: str
    did: str
    collection: str
    rkey: str
    cid: str | None
    version: int
    commit_time: datetime | None = None
    commit_rev: str | None = None

    def commit_columns(self) -> Row:
        # `commit_seq` is `varchar(32)` in the reference schema: the version as decimal text.
        return {
            "commit_time": self.commit_time,
            "commit_seq": str(self.version),
            "commit_rev": self.commit_rev,
        }


def strong_ref_json(record: dict[str, Any], key: str) -> dict[str, str] | None:
    """An optional strong reference (`via`, `pinnedPost`) as the lexicon JSON stored in jsonb."""
    ref = validate.strong_ref(record, key, required=False)
    return None if ref is None else {"uri": ref.uri, "cid": ref.cid}


def did_of(uri: str) -> str:
    """The authority of an AT-URI (`at://<did>/...`); subjects are validated before they get here."""
    return uri[5:].split("/", 1)[0]


def collection_of(uri: str) -> str | None:
    """The collection NSID of a record URI, or None for a URI that names no record."""
    parts = uri[5:].split("/", 2)
    return parts[1] if len(parts) == 3 else None


@dataclass(frozen=True, slots=True)
class Counter:
    """A live row adds one to `column` of the `table` row keyed by the row's `key` value."""

    table: str  # "post_aggregations" (upserted) or a table whose rows are updated when present
    column: str
    key: str
    # Only rows whose subject URI lies in one of these collections count (None: every row).
    subject_collections: frozenset[str] | None = None

    def key_of(self, row: Row) -> str | None:
        key = row.get(self.key)
        if key is None:
            return None
        if self.subject_collections is not None and collection_of(key) not in self.subject_collections:
            return None
        return key


@dataclass(frozen=True, slots=True)
class Notify:
    """A notification a live row causes; `suffix` makes its URI unique per (record, reason, recipient)."""

    reason: str
    recipient: str
    reason_subject: str | None
    suffix: str


@dataclass(frozen=True, slots=True)
class FeedItemOf:
    """The feed-item columns of a live row shown in feeds."""

    post_uri: str
    type: str
    created_at: datetime


@dataclass(frozen=True)
class Collection:
    """What a collection module declares as `COLLECTION`."""

    nsid: str
    table: Table
    # None: a valid record this collection does not index (a list item on another account's list).
    # The op still passes the version gate as the record's newest version, so it replaces the row
    # an older version wrote and an older replay cannot bring that row back.
    parse: Callable[[RecordRef, dict[str, Any]], Row | None]
    # The column naming the record's author; None where only the record's URI does (verifications).
    author_column: str | None
    counters: Sequence[Counter] = ()
    notify: Callable[[Row], Iterable[Notify]] | None = None
    feed_item: Callable[[Row], FeedItemOf | None] | None = None
    # DIDs besides the author that a row names; each gets a `users` row.
    named_dids: Callable[[Row], Iterable[str]] | None = None
    # (author column, subject column) of a table unique per pair: a second record waits aside. The
    # author column is None for a table unique per subject alone (verifications: one per account).
    pair: tuple[str | None, str] | None = None
    # Collection-specific work on the rows really inserted / deleted in this batch.
    after_insert: Hook | None = None
    after_delete: Hook | None = None
    # Tables whose rows are not keyed by the record URI (profiles live in `users`) bring their own.
    insert_rows: Callable[[BatchWriter, list[Row]], Awaitable[list[Row]]] | None = None
    delete_rows: Callable[[BatchWriter, list[str]], Awaitable[list[Row]]] | None = None
    # Writes rows that ops of other repositories write too (`users`, `post_aggregations`): applied in
    # the batch's finishing step, which one transaction at a time runs (app.indexing.batch).
    shared_rows: bool = False

    def __post_init__(self) -> None:
        if self.shared_rows and (self.notify or self.feed_item or self.pair or self.counters):
            raise ValueError(
                f"{self.nsid}: the finishing step writes no notifications, feed items, pairs, counters"
            )
