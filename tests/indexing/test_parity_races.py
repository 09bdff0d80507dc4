"""Two batches committing side by side (parallel pipelines) must not each miss the other's rows.

A post's gate flags read the gate tables, and a new feed generator's or labeler's `like_count` reads
the likes counted before it: written naively, a post and its gate (or a feed and a like of it) applied
in two open transactions each see nothing of the other, and the flag or the count is wrong for good.
Here the second batch starts while the first is still open; it must wait for the first to commit, and
then see it.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.events import CommitEvent
from app.indexing.accounts import apply_identities
from app.indexing.batch import apply_commit_plan, utc_now
from app.indexing.handlers import IndexingHandlers
from app.indexing.plan import plan_commits
from app.indexing.recount import counter_drift
from app.indexing.registry import registry
from tests.indexing.test_collections import LIKE, POST, one
from tests.indexing.test_parity import (
    GENERATOR,
    LABELER,
    POSTGATE,
    THREADGATE,
    generator_record,
    labeler_record,
    post_gate_record,
    thread_gate_record,
)
from tests.support.events import DID_A, DID_B, DID_C, commit, identity, like_record, op, post_record, uri

RKEY = "3kpost0000000"
POST_URI = uri(DID_A, POST, RKEY)
# How long the second batch may run before the first commits; a second batch that does not wait for
# the first is done well within it.
HEAD_START_S = 0.3


async def side_by_side(engine: AsyncEngine, first: CommitEvent, second: CommitEvent) -> None:
    """Apply `first` in an open transaction, start `second` in another, then commit both.

    The accounts' `users` rows exist beforehand: inserting the same new row would make the second
    batch wait for the first anyway, and hide what is tested."""
    lookup = registry().lookup
    async with engine.begin() as conn:
        await apply_identities(
            conn, [identity(DID_A, "a.test", 1), identity(DID_B, "b.test", 1), identity(DID_C, "c.test", 1)]
        )
    async with engine.connect() as first_conn, engine.connect() as second_conn:
        await first_conn.begin()
        await apply_commit_plan(first_conn, plan_commits([first], lookup), utc_now())
        await second_conn.begin()
        second_batch = asyncio.create_task(
            apply_commit_plan(second_conn, plan_commits([second], lookup), utc_now())
        )
        await asyncio.wait({second_batch}, timeout=HEAD_START_S)
        await first_conn.commit()
        await second_batch
        await second_conn.commit()


def post(version: int) -> CommitEvent:
    return commit(DID_A, [op("create", POST, RKEY, post_record())], version)


def gate(collection: str, action: str, version: int) -> CommitEvent:
    if action == "delete":
        return commit(DID_A, [op("delete", collection, RKEY)], version)
    record = thread_gate_record(POST_URI) if collection == THREADGATE else post_gate_record(POST_URI)
    return commit(DID_A, [op(action, collection, RKEY, record)], version)


@pytest.mark.parametrize("collection", [THREADGATE, POSTGATE])
@pytest.mark.parametrize("post_first", [True, False], ids=["post-then-gate", "gate-then-post"])
async def test_post_and_gate_side_by_side(
    handlers: IndexingHandlers, engine: AsyncEngine, collection: str, post_first: bool
) -> None:
    events = (post(1), gate(collection, "create", 2))
    await side_by_side(engine, *(events if post_first else reversed(events)))
    flags = await one(engine, "SELECT has_thread_gate, has_post_gate FROM posts")
    assert (flags["has_thread_gate"], flags["has_post_gate"]) == (
        collection == THREADGATE,
        collection == POSTGATE,
    )


@pytest.mark.parametrize("collection", [THREADGATE, POSTGATE])
@pytest.mark.parametrize("post_first", [True, False], ids=["post-then-delete", "delete-then-post"])
async def test_post_and_gate_delete_side_by_side(
    handlers: IndexingHandlers, engine: AsyncEngine, collection: str, post_first: bool
) -> None:
    await handlers.commits([gate(collection, "create", 1)])
    events = (post(2), gate(collection, "delete", 3))
    await side_by_side(engine, *(events if post_first else reversed(events)))
    flags = await one(engine, "SELECT has_thread_gate, has_post_gate FROM posts")
    assert (flags["has_thread_gate"], flags["has_post_gate"]) == (False, False)


@pytest.mark.parametrize(
    ("collection", "rkey", "table"),
    [(GENERATOR, "cats", "feed_generators"), (LABELER, "self", "labeler_services")],
)
@pytest.mark.parametrize("liked_first", [True, False], ids=["liked-then-like", "like-then-liked"])
async def test_liked_record_and_like_side_by_side(
    handlers: IndexingHandlers, engine: AsyncEngine, collection: str, rkey: str, table: str, liked_first: bool
) -> None:
    subject = uri(DID_A, collection, rkey)
    await handlers.commits([commit(DID_B, [op("create", LIKE, "3kearly000000", like_record(subject))], 1)])
    record = generator_record() if collection == GENERATOR else labeler_record("spam")
    events = (
        commit(DID_A, [op("create", collection, rkey, record)], 2),
        commit(DID_C, [op("create", LIKE, "3klate0000000", like_record(subject))], 3),
    )
    await side_by_side(engine, *(events if liked_first else reversed(events)))
    assert await one(engine, f"SELECT like_count FROM {table}") == 2
    async with engine.connect() as conn:
        assert await counter_drift(conn) == []
