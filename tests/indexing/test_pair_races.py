"""A second record of a pair put aside by one batch while another batch deletes the live one: whichever
commits first, the second record ends up live and counted, never stranded aside."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.indexing.handlers import IndexingHandlers
from tests.indexing.test_collections import LIKE, POST, aggregate, one, rows
from tests.indexing.test_parity_races import side_by_side
from tests.support.events import DID_A, DID_B, commit, follow_record, like_record, op, uri

SUBJECT = uri(DID_B, POST, "3ksubject0000")


@pytest.mark.parametrize("delete_first", [True, False], ids=["delete-then-aside", "aside-then-delete"])
async def test_like_put_aside_while_the_live_one_is_deleted(
    handlers: IndexingHandlers, engine: AsyncEngine, delete_first: bool
) -> None:
    await handlers.commits([commit(DID_A, [op("create", LIKE, "3klike1000000", like_record(SUBJECT))], 1)])
    second = commit(DID_A, [op("create", LIKE, "3klike2000000", like_record(SUBJECT))], 2)
    delete = commit(DID_A, [op("delete", LIKE, "3klike1000000")], 3)
    await side_by_side(engine, *((delete, second) if delete_first else (second, delete)))
    assert await one(engine, "SELECT uri FROM likes") == uri(DID_A, LIKE, "3klike2000000")
    assert await rows(engine, "SELECT uri FROM indexer.aside_records") == []
    assert (await aggregate(engine, SUBJECT))["like_count"] == 1


@pytest.mark.parametrize("delete_first", [True, False], ids=["delete-then-aside", "aside-then-delete"])
async def test_follow_put_aside_while_the_live_one_is_deleted(
    handlers: IndexingHandlers, engine: AsyncEngine, delete_first: bool
) -> None:
    follow = "app.bsky.graph.follow"
    await handlers.commits([commit(DID_A, [op("create", follow, "3kfollow10000", follow_record(DID_B))], 1)])
    second = commit(DID_A, [op("create", follow, "3kfollow20000", follow_record(DID_B))], 2)
    delete = commit(DID_A, [op("delete", follow, "3kfollow10000")], 3)
    await side_by_side(engine, *((delete, second) if delete_first else (second, delete)))
    assert await one(engine, "SELECT uri FROM follows") == uri(DID_A, follow, "3kfollow20000")
    assert await rows(engine, "SELECT uri FROM indexer.aside_records") == []
