"""Declarative base shared by every model, and the column kinds of PublicAppView's schema.

The `public` tables are PublicAppView's exactly (DIRECTION §3): identifiers are `varchar(255)` (DIDs,
CIDs, handles) or `varchar(512)` (AT-URIs), free text is `text` or a `varchar(n)` where its schema says
so, JSON is `jsonb`, timestamps are `timestamp without time zone` (UTC: the worker's sessions run with
`timezone = UTC`, so the `now()` defaults are UTC too). The tables of our own rules live in the
`indexer` schema (models.indexer), where strings are `text`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, MetaData, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, MappedColumn, mapped_column

NAMING_CONVENTION = {
    "ix": "idx_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "%(table_name)s_pkey",
}

# Our own schema: bookkeeping, Alembic's version table (DIRECTION §3).
INDEXER_SCHEMA = "indexer"

# A free-text column: a value wider than its varchar is cut at a grapheme boundary, where an
# identifier too long for its column makes its record invalid (app.indexing.widths).
FREE_TEXT = {"free_text": True}

# Widths of the reference schema.
DID_WIDTH = 255  # DIDs, CIDs, handles, other short identifiers
URI_WIDTH = 512  # AT-URIs


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        str: Text(),
        datetime: TIMESTAMP(timezone=False),
        dict[str, Any]: JSONB(),
        list[Any]: JSONB(),
        Any: JSONB(),
    }


NOW = text("now()")


def varchar(width: int, *args: Any, nullable: bool = False, **kwargs: Any) -> MappedColumn[Any]:
    return mapped_column(String(width), *args, nullable=nullable, **kwargs)


def did_column(*args: Any, nullable: bool = False, **kwargs: Any) -> MappedColumn[Any]:
    """A DID, CID or handle: `varchar(255)`."""
    return varchar(DID_WIDTH, *args, nullable=nullable, **kwargs)


def uri_column(*args: Any, nullable: bool = False, **kwargs: Any) -> MappedColumn[Any]:
    """An AT-URI: `varchar(512)`."""
    return varchar(URI_WIDTH, *args, nullable=nullable, **kwargs)


def uri_key() -> MappedColumn[Any]:
    return uri_column(primary_key=True)


def now_default(*, nullable: bool = False) -> MappedColumn[Any]:
    """A timestamp defaulting to `now()` (UTC in the worker's sessions)."""
    return mapped_column(TIMESTAMP(timezone=False), nullable=nullable, server_default=NOW)


def indexed_at_column() -> MappedColumn[Any]:
    """`indexed_at`: when the row was written (server clock)."""
    return now_default()


def bool_default(value: bool) -> MappedColumn[Any]:
    return mapped_column(Boolean(), nullable=False, server_default=text("true" if value else "false"))


def false_default() -> MappedColumn[Any]:
    return bool_default(False)


def zero_default() -> MappedColumn[Any]:
    return mapped_column(Integer(), nullable=False, server_default=text("0"))


def empty_json_array() -> MappedColumn[Any]:
    return mapped_column(JSONB(), nullable=False, server_default=text("'[]'::jsonb"))


def empty_json_object(*, nullable: bool = False) -> MappedColumn[Any]:
    return mapped_column(JSONB(), nullable=nullable, server_default=text("'{}'::jsonb"))


def serial_key() -> MappedColumn[Any]:
    """`serial PRIMARY KEY`."""
    return mapped_column(Integer(), primary_key=True, autoincrement=True)
