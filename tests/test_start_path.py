"""scripts/database.py, the first step of `make migrate` / `make run` (and of .ci/run), against the
real PostgreSQL of the test run: it creates the database when missing, leaves an existing one alone,
recreates and drops on request, and fails with one line that shows no password."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _plain_dsn as plain
from tests.conftest import drop_database
from tests.servers import Servers

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "database.py"


def run_script(action: str, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=60
    )


def query(url: str, sql: str, *args):
    async def go():
        conn = await asyncpg.connect(plain(url))
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.fixture
def target(servers: Servers):
    """The URL of a database that does not exist yet; dropped afterwards whatever happened."""
    name = f"appview_start_{uuid.uuid4().hex[:10]}"
    url = make_url(servers.database_admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    drop_database(servers.database_admin_url, url)


def exists(servers: Servers, url: str) -> bool:
    name = make_url(url).database
    return bool(query(servers.database_admin_url, "SELECT 1 FROM pg_database WHERE datname = $1", name))


def test_ensure_creates_then_leaves_alone(servers, target):
    first = run_script("ensure", target)
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    assert exists(servers, target)

    query(target, "CREATE TABLE kept (id int)")
    second = run_script("ensure", target)
    assert second.returncode == 0, second.stderr
    assert "exists" in second.stdout
    assert query(target, "SELECT to_regclass('kept') IS NOT NULL")


def test_ensure_accepts_the_other_url_spellings(servers, target):
    for scheme, outcome in (("postgres", "created"), ("postgresql+asyncpg", "exists")):
        spelled = make_url(target).set(drivername=scheme).render_as_string(hide_password=False)
        result = run_script("ensure", spelled)
        assert result.returncode == 0, result.stderr
        assert outcome in result.stdout
    assert exists(servers, target)


def test_recreate_gives_an_empty_database_and_drop_removes_it(servers, target):
    assert run_script("ensure", target).returncode == 0
    query(target, "CREATE TABLE old (id int)")
    with asyncio.Runner() as runner:  # a connection left open does not stop it
        session = runner.run(asyncpg.connect(plain(target)))
        try:
            recreated = run_script("recreate", target)
        finally:
            session.terminate()
    assert recreated.returncode == 0, recreated.stderr
    assert "recreated" in recreated.stdout
    assert not query(target, "SELECT to_regclass('old') IS NOT NULL")

    dropped = run_script("drop", target)
    assert dropped.returncode == 0, dropped.stderr
    assert "dropped" in dropped.stdout
    assert not exists(servers, target)
    again = run_script("drop", target)
    assert again.returncode == 0 and "absent" in again.stdout


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "DATABASE_URL is not set"),
        ("mysql://root:hunter2-secret@127.0.0.1/appview", "PostgreSQL URL"),
        ("postgresql://postgres:hunter2-secret@127.0.0.1:{port}/appview", "does not answer"),
        ("postgresql://postgres:hunter2-secret@127.0.0.1:5432", "names no database"),
    ],
)
def test_failures_are_one_line_without_the_password(url, expected):
    result = run_script("ensure", url.format(port=_closed_port()))
    assert result.returncode == 1
    assert result.stdout == ""
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "hunter2-secret" not in result.stderr
