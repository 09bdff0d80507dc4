"""Multi-row statements built from the models' tables.

Every write of a batch is one statement whose rows travel as one array per column (`unnest`), so a
batch of any size costs a handful of round trips and PostgreSQL sees the same prepared statement each
time. JSON columns travel as text and are cast, so orjson does the encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Table, Text, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine


def is_json(table: Table, name: str) -> bool:
    return isinstance(table.c[name].type, JSONB)


@lru_cache(maxsize=512)
def unnest_typed(columns: tuple[tuple[str, TypeEngine[Any]], ...]) -> Select:
    """`SELECT <names> FROM unnest(:name1, :name2, ...)`: one bound array per column."""
    names = [name for name, _ in columns]
    arrays = []
    for name, type_ in columns:
        array_type = ARRAY(Text) if isinstance(type_, JSONB) else ARRAY(type_)
        arrays.append(cast(bindparam(array_key(name), type_=array_type), array_type))
    source = func.unnest(*arrays).table_valued(*names).render_derived(name="src")
    return select(
        *(
            cast(source.c[name], JSONB) if isinstance(type_, JSONB) else source.c[name]
            for name, type_ in columns
        )
    )


def array_key(name: str) -> str:
    """The bind name of a column's array: never a column name, which UPDATE … SET reserves."""
    return f"{name}_array"


def arrays(**columns: list[Any]) -> dict[str, list[Any]]:
    """Bind parameters for `unnest_typed` / `unnest_select`, one list per column name."""
    return {array_key(name): values for name, values in columns.items()}


def unnest_select(table: Table, names: tuple[str, ...]) -> Select:
    """The rows of `table`'s columns `names`, bound as one array per column."""
    return unnest_typed(tuple((name, table.c[name].type) for name in names))


def array_param(name: str) -> BindParameter[Any]:
    """A bound text[] for `column = ANY(:name)`."""
    return bindparam(name, type_=ARRAY(Text))


def json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def columns_of(table: Table, names: Sequence[str], rows: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows → one list per column, JSON columns encoded."""
    rows = list(rows)
    params: dict[str, list[Any]] = {}
    for name in names:
        if is_json(table, name):
            params[array_key(name)] = [json_text(row.get(name)) for row in rows]
        else:
            params[array_key(name)] = [row.get(name) for row in rows]
    return params


def insertable_names(table: Table, row: dict[str, Any]) -> tuple[str, ...]:
    """The row's keys that are columns of the table, in table order (extras are collection-private)."""
    return tuple(column.name for column in table.columns if column.name in row)
