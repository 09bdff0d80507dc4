"""Multi-row statements built from the models' tables.

Every write of a batch is one statement, so a batch of any size costs a handful of round trips and
PostgreSQL sees the same prepared statement each time. A table's rows travel as one JSON document
(`json_populate_recordset` against the table's own row type): orjson encodes it in C, where binding
one array per column made asyncpg spend a quarter of the worker's CPU checking every element. Small
ad-hoc sets (deltas, keys) still travel as typed arrays (`unnest_typed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Table, Text, bindparam, cast, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine


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


@lru_cache(maxsize=512)
def rows_select(table: Table, names: tuple[str, ...]) -> Select:
    """`SELECT <names> FROM json_populate_recordset(NULL::<table>, :rows)`: the rows of `rows_param`,
    typed by the table's own columns (timestamps from ISO strings, jsonb from nested JSON)."""
    source = f"json_populate_recordset(NULL::{table.fullname}, CAST(:rows AS json)) AS src"
    return select(*(literal_column(f"src.{name}").label(name) for name in names)).select_from(text(source))


def rows_param(names: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The bind parameter of `rows_select`: the rows' `names` columns as one JSON array.

    Rows that hold exactly those columns (most: gate rows, likes, notifications) are encoded as
    they are; copying each into a new dict first cost five times the encoding itself."""
    wanted = set(names)
    if all(row.keys() == wanted for row in rows):
        return {"rows": orjson.dumps(rows).decode()}
    return {"rows": orjson.dumps([{name: row.get(name) for name in names} for row in rows]).decode()}


def array_param(name: str) -> BindParameter[Any]:
    """A bound text[] for `column = ANY(:name)`."""
    return bindparam(name, type_=ARRAY(Text))


def insertable_names(table: Table, row: dict[str, Any]) -> tuple[str, ...]:
    """The row's keys that are columns of the table, in table order (extras are collection-private)."""
    return tuple(column.name for column in table.columns if column.name in row)
