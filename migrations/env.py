"""Alembic environment: async engine (asyncpg), database from DATABASE_URL.

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
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.settings import ConfigurationError, database_url, mask_url
from models import Base

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
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url().render_as_string(hide_password=False), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
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
