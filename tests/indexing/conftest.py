"""Indexing tests run against the real, migrated database: tables are emptied before each test, and
after each test every counter must equal the count of the live rows it counts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.indexing.handlers import IndexingHandlers
from app.indexing.recount import counter_drift
from app.settings import Settings
from models import Base


async def truncate_all(engine: AsyncEngine) -> None:
    """Empty every table (DELETE: on tables this small it is much faster than TRUNCATE)."""
    async with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            await conn.execute(text(f"DELETE FROM {table.fullname}"))


async def empty_database(handlers: IndexingHandlers, engine: AsyncEngine) -> None:
    """Start over within one test: empty tables, and the handlers forget which accounts exist."""
    await truncate_all(engine)
    handlers.known_dids.forget()


@pytest.fixture
async def handlers(engine: AsyncEngine) -> AsyncIterator[IndexingHandlers]:
    await truncate_all(engine)
    handlers = IndexingHandlers(Settings(), engine=engine)
    await handlers.start()
    yield handlers
    async with engine.connect() as conn:
        drift = await counter_drift(conn)
    assert not drift, f"counters differ from live rows: {drift[:10]}"
