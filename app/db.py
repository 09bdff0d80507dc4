"""The async engine every database user of the worker shares.

One pool, never more than `DB_POOL_SIZE` connections (no overflow): health checks and periodic jobs
borrow from the same pool instead of opening their own.
"""

from __future__ import annotations

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

# After five executions PostgreSQL may switch a prepared statement to a generic plan made while the
# tables were nearly empty and run `uri = ANY($1)` as a full scan; custom plans avoid that trap.
# `timezone = UTC`: the reference schema's `now()` defaults fill `timestamp without time zone`
# columns with the session's local time, which must be UTC as every timestamp we write.
SERVER_SETTINGS = {
    "plan_cache_mode": "force_custom_plan",
    "application_name": "appview-indexer",
    "timezone": "UTC",
}


def create_engine(url: URL, pool_size: int) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        pool_timeout=60,
        connect_args={"server_settings": SERVER_SETTINGS, "timeout": 10},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
