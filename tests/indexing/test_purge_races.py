"""An account deletion purging side by side with commit batches (parallel pipelines or workers).

A commit batch carrying an older record of the account must not slip it in while the purge is
open (it would outlive the account), and batches of other accounts must not wait for the purge to
end before doing their own work: only their short finishing step does (app.indexing.batch).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.events import CommitEvent
from app.indexing.accounts import apply_accounts
from app.indexing.batch import FINISH_LOCK, PURGE_LOCK, apply_commit_plan, purge_bucket, utc_now
from app.indexing.handlers import IndexingHandlers
from app.indexing.plan import plan_commits
from app.indexing.registry import registry
from tests.indexing.test_collections import POST, one
from tests.support.events import DID_A, account, commit, op, post_record

# An account whose bucket differs from DID_A's.
OTHER = next(
    did
    for did in (f"did:plc:{'q' * 22}{first}{second}" for first in "abcdef" for second in "234567")
    if purge_bucket(did) != purge_bucket(DID_A)
)


def post(did: str, rkey: str, version: int) -> CommitEvent:
    return commit(did, [op("create", POST, rkey, post_record())], version)


async def backend_pid(conn: AsyncConnection) -> int:
    return int(await conn.scalar(text("SELECT pg_backend_pid()")))


async def until_waiting(observer: AsyncConnection, pid: int) -> tuple[int, int, int]:
    """The advisory lock the session `pid` waits for, as (class, object, form)."""
    query = text(
        "SELECT classid::bigint, objid::bigint, objsubid FROM pg_locks "
        "WHERE pid = :pid AND NOT granted AND locktype = 'advisory'"
    )
    for _ in range(100):
        row = (await observer.execute(query, {"pid": pid})).first()
        if row is not None:
            return (row[0], row[1], row[2])
        await asyncio.sleep(0.05)
    raise AssertionError("the batch never waited for the purge")


async def test_a_purge_holds_off_its_accounts_batches_and_only_the_finish_of_others(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    await handlers.commits([post(DID_A, "3kpost0000000", 1)])
    lookup = registry().lookup
    async with (
        engine.connect() as purge,
        engine.connect() as same,
        engine.connect() as other,
        engine.connect() as observer,
    ):
        await same.begin()
        await other.begin()
        same_pid, other_pid = await backend_pid(same), await backend_pid(other)
        await purge.begin()
        await apply_accounts(purge, [account(DID_A, False, "deleted", 10)], registry(), utc_now())
        older = asyncio.create_task(
            apply_commit_plan(same, plan_commits([post(DID_A, "3kpost0000001", 5)], lookup), utc_now())
        )
        elsewhere = asyncio.create_task(
            apply_commit_plan(other, plan_commits([post(OTHER, "3kpost0000002", 11)], lookup), utc_now())
        )
        # The older record's batch waits at its start, for the purge lock of DID_A's bucket (the
        # two-key form: objsubid 2); the other account's batch only at its finishing step.
        assert await until_waiting(observer, same_pid) == (PURGE_LOCK, purge_bucket(DID_A), 2)
        assert await until_waiting(observer, other_pid) == (0, FINISH_LOCK, 1)
        await purge.commit()
        await elsewhere  # each holds the finishing lock until its commit
        await other.commit()
        await older
        await same.commit()
    posts = await one(engine, "SELECT string_agg(author_did, ',') FROM posts")
    assert posts == OTHER, "an older record of the deleted account outlived it"
