"""Create (or drop) the PostgreSQL database named by DATABASE_URL.

    python scripts/database.py ensure      # create it when missing (make migrate / make run)
    python scripts/database.py recreate    # drop it, then create it empty (.ci/run)
    python scripts/database.py drop        # drop it when present (.ci/run cleans up)

`ensure` leaves an existing database alone and only connects to it, so it is safe against a
production URL whose role may not create databases. Otherwise the script connects to the server's
maintenance database (`postgres`, else `template1`) with the same credentials. Errors end the
command with one line (exit 1); passwords never appear in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import asyncpg
from sqlalchemy.engine import URL

from app.settings import ConfigurationError, database_url, mask_url

MAINTENANCE_DATABASES = ("postgres", "template1")
CONNECT_TIMEOUT_S = 10


def _connect_args(url: URL, database: str) -> dict:
    """asyncpg.connect() keywords, built the way SQLAlchemy's asyncpg dialect builds them."""
    args = url.translate_connect_args(username="user")
    args.update(url.query)
    args["database"] = database
    return args


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _maintenance_connection(url: URL) -> asyncpg.Connection:
    for name in MAINTENANCE_DATABASES:
        try:
            return await asyncpg.connect(**_connect_args(url, name), timeout=CONNECT_TIMEOUT_S)
        except asyncpg.InvalidCatalogNameError:
            continue
    raise ConfigurationError(f"no maintenance database ({', '.join(MAINTENANCE_DATABASES)}) to connect to")


async def _exists(url: URL, name: str) -> bool:
    try:
        conn = await asyncpg.connect(**_connect_args(url, name), timeout=CONNECT_TIMEOUT_S)
    except asyncpg.InvalidCatalogNameError:
        return False
    await conn.close()
    return True


async def ensure(url: URL) -> str:
    """Create the database when it does not exist; returns `exists` or `created`."""
    if await _exists(url, _name(url)):
        return "exists"
    conn = await _maintenance_connection(url)
    try:
        await conn.execute(f"CREATE DATABASE {_quote(_name(url))}")
    except asyncpg.DuplicateDatabaseError:  # created meanwhile by someone else: fine
        return "exists"
    finally:
        await conn.close()
    return "created"


async def drop(url: URL) -> str:
    """Drop the database (closing its connections) when it exists; returns `dropped` or `absent`."""
    conn = await _maintenance_connection(url)
    try:
        found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", _name(url))
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote(_name(url))} WITH (FORCE)")
    finally:
        await conn.close()
    return "dropped" if found else "absent"


async def recreate(url: URL) -> str:
    await drop(url)
    await ensure(url)
    return "recreated"


def _name(url: URL) -> str:
    if not url.database:
        raise ConfigurationError("DATABASE_URL names no database (…/<database> at the end)")
    return url.database


ACTIONS = {"ensure": ensure, "recreate": recreate, "drop": drop}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=sorted(ACTIONS), help="what to do with the database")
    args = parser.parse_args(argv)
    raw = os.environ.get("DATABASE_URL", "")
    shown = mask_url(raw)
    try:
        url = database_url(raw)
        outcome = asyncio.run(ACTIONS[args.action](url))
    except ConfigurationError as exc:
        sys.exit(f"database.py: {exc}")
    except (TimeoutError, OSError) as exc:
        sys.exit(f"database.py: PostgreSQL at {shown} does not answer ({exc.__class__.__name__})")
    except asyncpg.PostgresError as exc:
        sys.exit(f"database.py: {shown}: {exc.__class__.__name__}: {exc}")
    print(f"database.py: {url.database} {outcome} ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
