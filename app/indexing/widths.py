"""Values against the widths of their columns: PublicAppView's `varchar(n)`, read from the models.

An identifier (DID, AT-URI, CID, handle, token) longer than its column makes the record invalid: its
op is dead-lettered with the column and the widths, never a database error. That holds for what the
record's row derives too: the `users` rows of the DIDs it names, its notifications' URIs, its quote.
Free text (columns the models mark `info={"free_text": True}`: display names, list and pack names)
is cut at a grapheme boundary (`\\X`) to fit, and counted (`text_truncated_total`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import regex
from sqlalchemy import String, Table

from app.indexing.collection import Collection
from app.records.validate import InvalidRecord
from models import DID_WIDTH, Notification, Quote, User

__all__ = ["DID_WIDTH", "cut_to_width", "fit_derived", "fit_row"]

_GRAPHEME = regex.compile(r"\X")


@cache
def column_widths(table: Table) -> tuple[tuple[str, int, bool], ...]:
    """(column, width, free text) of every `varchar(n)` column of the table."""
    return tuple(
        (column.name, column.type.length, bool(column.info.get("free_text")))
        for column in table.columns
        if isinstance(column.type, String) and column.type.length is not None
    )


def cut_to_width(value: str, width: int) -> str:
    """The longest prefix of whole grapheme clusters that is at most `width` characters."""
    end = 0
    for match in _GRAPHEME.finditer(value):
        if match.end() > width:
            break
        end = match.end()
    return value[:end]


def fit_row(table: Table, row: dict[str, Any]) -> int:
    """Check the row's values against their columns' widths, cutting free text in place; returns how
    many values were cut. Raises InvalidRecord for an identifier too long for its column."""
    cut = 0
    for name, width, free_text in column_widths(table):
        value = row.get(name)
        if not isinstance(value, str) or len(value) <= width:
            continue
        if not free_text:
            raise InvalidRecord(
                name,
                f"{len(value)} characters, longer than its column {table.name}.{name} (varchar({width}))",
            )
        row[name] = cut_to_width(value, width)
        cut += 1
    return cut


def _width(table: Table, column: str) -> int:
    length = table.c[column].type.length
    assert length is not None, f"{table.name}.{column} has no width"
    return length


def _fits(value: str, table: Table, column: str, what: str) -> None:
    width = _width(table, column)
    if len(value) > width:
        raise InvalidRecord(
            what, f"{len(value)} characters, longer than its column {table.name}.{column} (varchar({width}))"
        )


def fit_derived(collection: Collection, row: dict[str, Any]) -> None:
    """What the row derives fits its columns: named accounts' DIDs (`users.did`), notification URIs and
    subjects, a quote's URIs and CID. Raises InvalidRecord otherwise."""
    users, notifications, quotes = User.__table__, Notification.__table__, Quote.__table__
    if collection.named_dids is not None:
        for did in collection.named_dids(row):
            _fits(did, users, "did", "subject DID")
    if collection.notify is not None:
        for notify in collection.notify(row):
            _fits(f"{row['uri']}#notification{notify.suffix}", notifications, "uri", "notification URI")
            if notify.reason_subject is not None:
                _fits(notify.reason_subject, notifications, "reason_subject", "notification subject")
    quote = row.get("quote")
    if quote:
        _fits(f"{row['uri']}#quote", quotes, "uri", "quote URI")
        _fits(quote[0], quotes, "quoted_uri", "quoted URI")
        if quote[1] is not None:
            _fits(quote[1], quotes, "quoted_cid", "quoted CID")
