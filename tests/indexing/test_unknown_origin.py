"""Public rows we hold no version for were written by someone else (PublicAppView's API, its own
workers): our events upsert over them, and a unique conflict with one never dead-letters nor puts our
record aside behind it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.indexing.handlers import IndexingHandlers
from tests.support.events import CID_1, CID_2, DID_A, DID_B, DID_C, commit, like_record, op, post_record, uri

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
THREADGATE = "app.bsky.feed.threadgate"
VERIFICATION = "app.bsky.graph.verification"
WHEN = "2024-05-01 12:00:00"
P1 = uri(DID_A, POST, "3kpost1000000")


async def sql(engine: AsyncEngine, *statements: str) -> list[dict[str, Any]]:
    """Plain SQL (values written in: these are the test's own constants); the last one's rows."""
    found: list[dict[str, Any]] = []
    async with engine.begin() as conn:
        for statement in statements:
            result = await conn.execute(text(statement))
            found = [dict(row) for row in result.mappings()] if result.returns_rows else []
    return found


async def test_a_row_under_our_uri_is_replaced(handlers: IndexingHandlers, engine: AsyncEngine) -> None:
    await sql(
        engine,
        f"INSERT INTO users (did, handle) VALUES ('{DID_A}', 'a.test')",
        f"INSERT INTO posts (uri, cid, author_did, text, created_at) "
        f"VALUES ('{P1}', '{CID_1}', '{DID_A}', 'theirs', '{WHEN}')",
    )
    dead = await handlers.commits(
        [commit(DID_A, [op("create", POST, "3kpost1000000", post_record("ours"), CID_2)], 1)]
    )
    assert dead == []
    assert await sql(engine, "SELECT uri, text, cid FROM posts") == [
        {"uri": P1, "text": "ours", "cid": CID_2}
    ]
    assert await sql(engine, "SELECT uri FROM feed_items") == [{"uri": P1}]


async def test_a_pair_held_by_a_row_of_unknown_origin_is_taken_over(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    theirs = uri(DID_B, LIKE, "3ktheirs00000")
    # The API's writer counted its like, as our counters would.
    await sql(
        engine,
        "INSERT INTO likes (uri, user_did, post_uri, created_at) "
        f"VALUES ('{theirs}', '{DID_B}', '{P1}', '{WHEN}')",
        f"INSERT INTO post_aggregations (post_uri, like_count) VALUES ('{P1}', 1)",
    )
    ours = uri(DID_B, LIKE, "3kours0000000")
    dead = await handlers.commits([commit(DID_B, [op("create", LIKE, "3kours0000000", like_record(P1))], 1)])
    assert dead == []
    assert await sql(engine, "SELECT uri FROM likes") == [{"uri": ours}]
    assert await sql(engine, "SELECT uri FROM indexer.aside_records") == []
    assert await sql(engine, "SELECT like_count FROM post_aggregations") == [{"like_count": 1}]


async def test_a_gate_and_a_verification_of_unknown_origin_are_replaced(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    theirs = uri(DID_B, VERIFICATION, "3ktheirs00000")
    await sql(
        engine,
        f"INSERT INTO thread_gates (post_uri, owner_did, allow_mentions) VALUES ('{P1}', '{DID_A}', false)",
        "INSERT INTO verifications (uri, cid, subject_did, handle, verified_at, created_at) "
        f"VALUES ('{theirs}', '{CID_1}', '{DID_C}', 'carol.test', '{WHEN}', '{WHEN}')",
    )
    gate = {"$type": THREADGATE, "post": P1, "allow": [], "createdAt": "2024-05-01T12:00:00.000Z"}
    verification = {
        "$type": VERIFICATION,
        "subject": DID_C,
        "handle": "carol.example.com",
        "displayName": "Carol",
        "createdAt": "2024-05-01T12:00:00.000Z",
    }
    ops = [
        op("create", THREADGATE, "3kpost1000000", gate),
        op("create", VERIFICATION, "3kverif100000", verification),
    ]
    assert await handlers.commits([commit(DID_A, ops, 1)]) == []
    assert await sql(engine, "SELECT allow_mentions, allow_following FROM thread_gates") == [
        {"allow_mentions": False, "allow_following": False}
    ]
    assert await sql(engine, "SELECT allow_followers FROM indexer.thread_gate_rules") == [
        {"allow_followers": False}
    ]
    assert await sql(engine, "SELECT uri, handle FROM verifications") == [
        {"uri": uri(DID_A, VERIFICATION, "3kverif100000"), "handle": "carol.example.com"}
    ]
    assert await sql(engine, "SELECT uri FROM indexer.aside_records") == []
