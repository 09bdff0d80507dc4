"""The running worker's signals after a known workload: `/metrics` with the exact count per kind,
collection, dead letters and stale ops; the `cluster:metrics` hash; the health endpoints; a log
without the passwords of either URL; and the refusal to start on a schema that is missing or behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.observability import STAGES
from app.schema import head_revisions
from tests.broker.harness import FAUST, REPO_ROOT, Keys, free_port, push, wait_for
from tests.conftest import create_database, drop_database
from tests.indexing.running import drained, indexer
from tests.migrations_support import upgrade
from tests.operating.web import get, metric_values
from tests.operating.workload import LIKE, assert_indexed, build, commit, did
from tests.servers import Servers
from tests.support.events import CID_1

SECRET = "s3cret-do-not-log"

(HEAD,) = head_revisions()


def with_password(url: str, user: str | None = None) -> str:
    """The URL with a password (and, for Redis, the `default` user: a Redis without `requirepass`
    accepts any password for it). The test servers trust local connections, so it is never checked."""
    parsed = make_url(url.replace("redis://", "postgresql://", 1))
    shown = parsed.set(username=user or parsed.username, password=SECRET).render_as_string(
        hide_password=False
    )
    return shown.replace("postgresql://", "redis://", 1) if url.startswith("redis://") else shown


@pytest.mark.slow
async def test_metrics_hash_and_health_after_a_known_workload(
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    keys: Keys,
    tmp_path: Path,
) -> None:
    work = build(posts=20, likes_per_post=10, follows=100, identities=5, accounts=5)
    liker = did("liker", 0)
    bad_op = {
        "repo": liker,
        "ops": [{"action": "create", "path": f"{LIKE}/3lbad", "cid": CID_1, "record": {}}],
    }
    extra = [
        work.entries[30],  # the same like again, same seq: stale
        {"type": "commit", "data": "{not json", "seq": ""},  # dead-lettered by the adapter
        {"type": "sync", "data": "{}", "seq": ""},  # unknown type: acknowledged and skipped
        {"type": "commit", "data": json.dumps(bad_op), "seq": "9000"},  # one op dead-lettered
        commit("did:plc:short", LIKE, "3lx", {}, 9001),  # invalid repo: dead-lettered whole
    ]
    entries = work.entries + extra
    await push(redis_client, keys.stream, entries)
    port = free_port()
    env = {"WEB_PORT": str(port), "METRICS_HASH_KEY": keys.probe("cluster:metrics")}
    redis_url = with_password(servers.redis_url, user="default")
    database_url = with_password(database_url_str)
    async with indexer(redis_client, keys, redis_url, database_url, tmp_path, env) as worker:
        await wait_for(lambda: drained(redis_client, keys, len(entries)), "the stream drained", 60, [worker])

        async def polled() -> bool:  # the group's figures are sampled every 5 s
            _, text = await get(port, "/metrics")
            return metric_values(text).get(("appview_indexer_stream_length", ())) == len(entries)

        await wait_for(polled, "the consumer group sampled", 15, [worker])
        status, text = await get(port, "/metrics")
        live = await get(port, "/health/live")
        ready = await get(port, "/health/ready")
        cluster = await redis_client.hgetall(keys.probe("cluster:metrics"))
        assert worker.terminate() == 0
    await assert_indexed(engine, work)

    assert status == 200
    values = metric_values(text)
    commits = work.commits + 2  # the repeated like and the commit whose only op was dead-lettered

    def value(name: str, **labels: str) -> float:
        return values[(name, tuple(sorted(labels.items())))]

    assert value("appview_indexer_events_total", kind="commit") == commits
    assert value("appview_indexer_events_total", kind="identity") == work.identities
    assert value("appview_indexer_events_total", kind="account") == work.accounts
    assert value("appview_indexer_ops_total", collection="app.bsky.feed.post", action="create") == work.posts
    assert value("appview_indexer_ops_total", collection=LIKE, action="create") == work.likes + 1
    assert (
        value("appview_indexer_ops_total", collection="app.bsky.graph.follow", action="create")
        == work.follows
    )
    assert value("appview_indexer_dead_letters_total") == 3
    assert value("appview_indexer_unknown_type_entries_total") == 1
    assert value("appview_indexer_ops_stale_total") == 1
    assert value("appview_indexer_ops_applied_total") == work.commits
    assert value("appview_indexer_notifications_total") == work.likes + work.follows
    # Batch sizes count what reached the agents: the invalid repo did, the undecodable entry did not.
    assert value("appview_indexer_batch_size_sum", kind="commit") == commits + 1
    assert value("appview_indexer_batch_size_sum", kind="identity") == work.identities
    assert value("appview_indexer_batch_seconds_count", kind="commit") == value(
        "appview_indexer_batch_size_count", kind="commit"
    )
    stages = {stage: value("appview_indexer_stage_seconds_total", stage=stage) for stage in STAGES}
    assert all(seconds > 0 for seconds in stages.values()), stages
    # Planning happens inside a batch's handling, which batch_seconds times whole (the transactions
    # too, but a batch's shards run side by side, so their sum may exceed it).
    handled = sum(
        value("appview_indexer_batch_seconds_sum", kind=kind) for kind in ("commit", "identity", "account")
    )
    assert stages["plan"] < handled, (stages, handled)
    assert value("appview_indexer_group_lag") == 0
    assert value("appview_indexer_group_pending") == 0
    assert value("appview_indexer_worker_pending") == 0
    assert value("appview_indexer_db_pool_in_use") == 0
    assert value("appview_indexer_db_pool_size") == 4
    assert value("appview_indexer_server_up", server="postgresql") == 1
    assert value("appview_indexer_server_up", server="redis") == 1

    assert {key.decode(): int(count) for key, count in cluster.items()} == {
        "totalEvents": commits + work.identities + work.accounts,
        "#commit": commits,
        "#identity": work.identities,
        "#account": work.accounts,
        "errors": 3,
    }

    assert live[0] == 200 and json.loads(live[1])["status"] == "live"
    assert ready[0] == 200, ready[1]
    assert json.loads(ready[1]) == {"redis": "ok", "postgresql": f"ok, schema at head ({HEAD})"}

    log = worker.log
    assert SECRET not in log
    assert "redis://default:***@" in log
    assert "postgresql+asyncpg://postgres:***@" in log


@pytest.mark.slow
def test_a_schema_missing_or_behind_stops_the_worker_with_one_line(servers: Servers) -> None:
    url = create_database(servers.database_admin_url)
    try:
        missing = start_and_wait(url)
        upgrade(url, "0001")
        behind = start_and_wait(url)
    finally:
        drop_database(servers.database_admin_url, url)
    for result, state in ((missing, "missing"), (behind, f"behind (at 0001; head is {HEAD})")):
        assert result.returncode == 1, result.stdout
        lines = [line for line in result.stdout.splitlines() if "alembic upgrade head" in line]
        assert len(lines) == 1, result.stdout
        assert f"the database schema is {state}" in lines[0]
        assert "Traceback" not in result.stdout


def start_and_wait(database_url: str) -> subprocess.CompletedProcess[str]:
    """`faust -A app worker` until it exits (it should at once), output and errors together."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WEB_PORT": str(free_port()),
        "REDIS_STREAM_KEY": "test:never-read",
        "CONSUMER_ID": "schema-check",
    }
    return subprocess.run(
        [str(FAUST), "-A", "app", "worker", "-l", "info"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
