"""Shared fixtures: real PostgreSQL and Redis (tests/servers.py), a fresh database per run, an
isolated Redis key prefix per test, and the path to the shared conformance fixtures."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine
from app.settings import database_url
from tests import servers as server_resolution

REPO_ROOT = Path(__file__).resolve().parent.parent

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def _run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def _plain_dsn(url: str) -> str:
    """asyncpg wants a libpq-style DSN without a SQLAlchemy driver name."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def servers() -> Iterator[server_resolution.Servers]:
    try:
        resolved = server_resolution.resolve()
    except RuntimeError as exc:
        pytest.exit(str(exc), returncode=3)
    yield resolved
    resolved.stop()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """`FIXTURES_DIR` (default `../shared/fixtures` beside the repository), read in place."""
    path = Path(os.environ.get("FIXTURES_DIR", REPO_ROOT.parent / "shared" / "fixtures"))
    if not path.is_dir():
        pytest.skip(f"shared fixtures not found at {path} (set FIXTURES_DIR)")
    return path


def create_database(admin_url: str) -> str:
    """Create an empty database beside the admin one and return its URL."""
    name = f"appview_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(_plain_dsn(admin_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    _run(create())
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database

    async def drop() -> None:
        conn = await asyncpg.connect(_plain_dsn(admin_url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    _run(drop())


@pytest.fixture(scope="session")
def empty_database_url(servers: server_resolution.Servers) -> Iterator[str]:
    """A database with no schema, dropped at the end of the run (migration tests use it)."""
    url = create_database(servers.database_admin_url)
    yield url
    drop_database(servers.database_admin_url, url)


@pytest.fixture(scope="session")
def database_url_str(servers: server_resolution.Servers) -> Iterator[str]:
    """A fresh database migrated to Alembic `head`, shared by the run, dropped at the end."""
    from tests.migrations_support import upgrade

    url = create_database(servers.database_admin_url)
    upgrade(url, "head")
    yield url
    drop_database(servers.database_admin_url, url)


@pytest.fixture(scope="session")
async def engine(database_url_str: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url(database_url_str), pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
def redis_prefix(servers: server_resolution.Servers) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix

    async def flush() -> None:
        client = aioredis.from_url(servers.redis_url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()

    _run(flush())


@pytest.fixture
async def redis_client(servers: server_resolution.Servers) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(servers.redis_url)
    yield client
    await client.aclose()
