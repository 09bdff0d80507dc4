"""Declarative base shared by every model.

Strings are `text` (identifier length is enforced by the validators, not by varchar limits), JSON is
`jsonb`, and timestamps are `timestamp without time zone` holding UTC, as the AppView API expects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, MetaData, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "idx_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        str: Text(),
        datetime: TIMESTAMP(timezone=False),
        dict[str, Any]: JSONB(),
        list[Any]: JSONB(),
        Any: JSONB(),
    }


def indexed_at_column():
    """`indexed_at`: when this indexer wrote the row (server clock, UTC)."""
    return mapped_column(
        TIMESTAMP(timezone=False), nullable=False, server_default=func.timezone("utc", func.now())
    )


def false_default():
    return mapped_column(nullable=False, server_default=text("false"))


def zero_default():
    return mapped_column(nullable=False, server_default=text("0"))


def empty_json_array():
    return mapped_column(JSONB(), nullable=False, server_default=text("'[]'::jsonb"))


class CommitColumns:
    """Where the row came from: the commit's time, version (relay seq or entry id) and rev."""

    commit_time: Mapped[datetime | None]
    commit_seq: Mapped[int | None] = mapped_column(BigInteger)
    commit_rev: Mapped[str | None]
