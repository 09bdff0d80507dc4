"""Scratch databases for migration tests: plain SQL through asyncpg, the reference schema loaded from
the fixture, and an indexing engine over a given database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from tests.conftest import create_database, drop_database


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def execute(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def fetch(url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn(url))
    try:
        return [dict(row) for row in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def run_sql(url: str, *statements: str) -> None:
    asyncio.run(execute(url, *statements))


def query(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    return asyncio.run(fetch(url, sql, *args))


def reference_schema(fixtures_dir: Path) -> str:
    """PublicAppView's schema.sql, read in place (the caller skips when it is absent)."""
    return (fixtures_dir / "publicappview" / "schema.sql").read_text()


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    url = create_database(admin_url)
    try:
        yield url
    finally:
        drop_database(admin_url, url)
