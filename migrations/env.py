"""Alembic environment: async engine (asyncpg), database from DATABASE_URL.

Alembic's version table lives in our own schema, `indexer` (DIRECTION §3), so PublicAppView's tooling
finds nothing of ours in `public`. Before the revisions run, the schema is created if missing, and a
version table that revisions 0001/0002 left in `public` is moved there, so Alembic finds where that
database stands. Autogenerate compares the `public` and `indexer` schemas, every table of both.

Errors an operator can fix (no DATABASE_URL, server not answering) end the command with one line,
not a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from logging.config import fileConfig

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.settings import ConfigurationError, database_url, mask_url
from models import INDEXER_SCHEMA, Base

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")
target_metadata = Base.metadata


def _url():
    raw = config.attributes.get("database_url") or os.environ.get("DATABASE_URL", "")
    try:
        return database_url(raw)
    except ConfigurationError as exc:
        sys.exit(f"alembic: {exc}")


def _configure(connection: Connection | None = None, **kwargs) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        include_schemas=True,
        include_name=_our_schemas,
        version_table_schema=INDEXER_SCHEMA,
        **kwargs,
    )


def _our_schemas(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    """Autogenerate looks at `public` (PublicAppView's tables, every one) and `indexer` (ours) only."""
    if type_ == "schema":
        return name in (None, "public", INDEXER_SCHEMA)
    return True


def _prepare(connection: Connection) -> None:
    """Our schema exists, and holds the version table (0001/0002 kept it in `public`)."""
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {INDEXER_SCHEMA}"))
    old = connection.scalar(text("SELECT to_regclass('public.alembic_version') IS NOT NULL"))
    new = connection.scalar(text(f"SELECT to_regclass('{INDEXER_SCHEMA}.alembic_version') IS NOT NULL"))
    if old and not new:
        connection.execute(text(f"ALTER TABLE public.alembic_version SET SCHEMA {INDEXER_SCHEMA}"))


def run_migrations_offline() -> None:
    _configure(url=_url().render_as_string(hide_password=False), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        _prepare(connection)
        context.run_migrations()


async def _run_online() -> None:
    url = _url()
    engine = create_async_engine(url, connect_args={"timeout": 10})
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    except (TimeoutError, OSError) as exc:
        sys.exit(f"alembic: PostgreSQL at {mask_url(url)} does not answer ({exc.__class__.__name__})")
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(_run_online())
