"""The catalog of one schema of a database, as comparable facts: tables, columns (type, nullability,
default), indexes (pg_indexes.indexdef) and constraints (pg_get_constraintdef)."""

from __future__ import annotations

from typing import Any

import asyncpg

_COLUMNS = """
SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = $1
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
"""
_INDEXES = "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1"
_CONSTRAINTS = """
SELECT c.relname AS table_name, k.conname, k.contype, pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = $1
"""


async def catalog(dsn: str, schema: str = "public") -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        columns = await conn.fetch(_COLUMNS, schema)
        indexes = await conn.fetch(_INDEXES, schema)
        constraints = await conn.fetch(_CONSTRAINTS, schema)
    finally:
        await conn.close()
    return {
        "tables": sorted({row["table_name"] for row in columns}),
        "columns": sorted(
            (row["table_name"], row["column_name"], row["type"], row["not_null"], row["default"])
            for row in columns
        ),
        "indexes": sorted((row["tablename"], row["indexname"], row["indexdef"]) for row in indexes),
        "constraints": sorted(
            (row["table_name"], row["conname"], row["contype"], row["definition"]) for row in constraints
        ),
    }


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """Per kind of fact, what only the expected and only the actual catalog has."""
    found: dict[str, dict[str, list[Any]]] = {}
    for kind in expected:
        missing = sorted(set(map(tuple_of, expected[kind])) - set(map(tuple_of, actual[kind])))
        extra = sorted(set(map(tuple_of, actual[kind])) - set(map(tuple_of, expected[kind])))
        if missing or extra:
            found[kind] = {"missing": missing, "extra": extra}
    return found


def tuple_of(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value
