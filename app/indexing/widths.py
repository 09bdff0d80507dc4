"""Values against the widths of their columns: PublicAppView's `varchar(n)`, read from the models.

An identifier (DID, AT-URI, CID, handle, token) longer than its column makes the record invalid: its
op is dead-lettered with the column and the widths, never a database error. Free text (columns the
models mark `info={"free_text": True}`: display names, list and pack names) is cut at a grapheme
boundary (`\\X`) to fit, and counted (`text_truncated_total`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import regex
from sqlalchemy import String, Table

from app.records.validate import InvalidRecord
from models import DID_WIDTH

__all__ = ["DID_WIDTH", "cut_to_width", "fit_row"]

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
