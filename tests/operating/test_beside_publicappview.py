"""Beside PublicAppView's API: the DDL its API runs at every start (the `pg_trgm` extension, a trigram
index on `users.handle`, and a trigger that sets `users.search_vector` on every insert and on updates
of handle, display name and description, created only when no trigger of its name exists), applied
while the worker runs, changes nothing for the worker: nothing is dead-lettered, every row is
indexed, and both search vectors hold what the API's searches look for."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.broker.harness import Keys, push, wait_for
from tests.indexing.running import drained, indexer, read_at_least
from tests.operating.workload import assert_indexed, build
from tests.servers import Servers

pytestmark = pytest.mark.slow

# As the API's start-up does it (issue "Drop-in with PublicAppView's database", item 5).
API_START_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS idx_users_handle_trgm ON users USING gin (handle gin_trgm_ops)",
    """CREATE OR REPLACE FUNCTION users_search_vector_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         NEW.search_vector :=
           setweight(to_tsvector('simple', COALESCE(NEW.handle, '')), 'A') ||
           setweight(to_tsvector('simple', COALESCE(NEW.display_name, '')), 'B') ||
           setweight(to_tsvector('simple', COALESCE(NEW.description, '')), 'C');
         RETURN NEW;
       END $$""",
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'users_search_vector_update') THEN
           CREATE TRIGGER users_search_vector_update
             BEFORE INSERT OR UPDATE OF handle, display_name, description ON users
             FOR EACH ROW EXECUTE FUNCTION users_search_vector_trigger();
         END IF;
       END $$""",
]
UNDO_API_START_UP = [
    "DROP INDEX IF EXISTS idx_users_handle_trgm",
    "DROP FUNCTION IF EXISTS users_search_vector_trigger()",
]

USERS_VECTOR = (
    "setweight(to_tsvector('simple', coalesce(handle, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(display_name, '')), 'B') || "
    "setweight(to_tsvector('simple', coalesce(description, '')), 'C')"
)


async def scalar(engine: AsyncEngine, sql: str, **params: object) -> object:
    async with engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def execute(engine: AsyncEngine, statements: list[str]) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def test_the_apis_start_up_ddl_mid_run_changes_nothing_for_the_worker(
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    work = build(posts=20, likes_per_post=40, follows=400, identities=20, accounts=10)
    await push(redis_client, keys.stream, work.entries)
    try:
        async with indexer(redis_client, keys, servers.redis_url, database_url_str, tmp_path) as worker:
            await wait_for(
                lambda: read_at_least(redis_client, keys, 200), "the first entries read", 60, [worker]
            )
            await execute(engine, API_START_UP)
            await wait_for(
                lambda: drained(redis_client, keys, len(work.entries)), "the stream drained", 120, [worker]
            )
            assert worker.terminate() == 0, worker.log[-3000:]
        assert await redis_client.xlen(keys.dead_letters) == 0
        await assert_indexed(engine, work)
        assert (
            await scalar(
                engine, f"SELECT count(*) FROM users WHERE search_vector IS DISTINCT FROM {USERS_VECTOR}"
            )
            == 0
        )
        posts_vector = "to_tsvector('english', text)"
        assert (
            await scalar(
                engine, f"SELECT count(*) FROM posts WHERE search_vector IS DISTINCT FROM {posts_vector}"
            )
            == 0
        )
        # What the API's searches ask: accounts by handle, posts by their words.
        found = await scalar(
            engine,
            "SELECT count(*) FROM users WHERE search_vector @@ plainto_tsquery('simple', 'liker3.test')",
        )
        assert found == 1
        posts = await scalar(
            engine, "SELECT count(*) FROM posts WHERE search_vector @@ plainto_tsquery('english', 'posts')"
        )
        assert posts == work.posts
    finally:
        await execute(engine, UNDO_API_START_UP)
