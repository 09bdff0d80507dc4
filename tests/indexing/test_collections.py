"""Create, update and delete of each collection of the worker we replace, in both dialects, on the real
database — including subjects not indexed yet, deletes before creates, replays and pairs kept aside."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.indexing.handlers import IndexingHandlers
from tests.support.events import (
    BLOB_CID,
    CID_1,
    CID_2,
    DID_A,
    DID_B,
    DID_C,
    block_record,
    commit,
    follow_record,
    like_record,
    op,
    post_record,
    repost_record,
    strong_ref,
    uri,
)

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
FOLLOW = "app.bsky.graph.follow"
BLOCK = "app.bsky.graph.block"
PROFILE = "app.bsky.actor.profile"


@pytest.fixture(params=["lexicon", "sdk"])
def dialect(request: pytest.FixtureRequest) -> str:
    return request.param


def as_dialect(dialect: str, record: dict[str, Any]) -> dict[str, Any]:
    """The record as the stream carries it in that dialect; the SDK dump goes through JSON as on the wire."""
    if dialect == "lexicon":
        return record
    from tests.support.dialects import sdk_dump

    return json.loads(json.dumps(sdk_dump(record)))


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(row) for row in result.mappings()]


async def one(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    found = await rows(engine, sql, **params)
    assert len(found) == 1, found
    return next(iter(found[0].values())) if len(found[0]) == 1 else found[0]


async def aggregate(engine: AsyncEngine, subject: str) -> dict[str, int]:
    found = await rows(
        engine,
        "SELECT like_count, repost_count, reply_count, quote_count "
        "FROM post_aggregations WHERE post_uri = :u",
        u=subject,
    )
    return found[0] if found else {"like_count": 0, "repost_count": 0, "reply_count": 0, "quote_count": 0}


async def notifications(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    found = await rows(engine, "SELECT recipient_did, reason, uri FROM notifications ORDER BY uri")
    return [(row["recipient_did"], row["reason"], row["uri"]) for row in found]


async def test_post_create_update_delete(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    parent = uri(DID_B, POST, "3kparent00000")
    quoted = uri(DID_C, POST, "3kquoted00000")
    record = post_record(
        "hi @c #tag\x00",
        created_at="2024-05-01T12:00:00.000+02:00",
        langs=["en"],
        reply={"root": strong_ref(parent), "parent": strong_ref(parent)},
        embed={"$type": "app.bsky.embed.record", "record": strong_ref(quoted)},
        facets=[
            {
                "index": {"byteStart": 3, "byteEnd": 5},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": DID_C}],
            },
            {
                "index": {"byteStart": 6, "byteEnd": 10},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "tag"}],
            },
        ],
        tags=["extra"],
    )
    post_uri = uri(DID_A, POST, "3kpost0000000")
    dead = await handlers.commits(
        [commit(DID_A, [op("create", POST, "3kpost0000000", as_dialect(dialect, record))], 10)]
    )
    assert dead == []
    post = await one(engine, "SELECT * FROM posts WHERE uri = :u", u=post_uri)
    assert post["text"] == "hi @c #tag"
    assert post["created_at"] == datetime(2024, 5, 1, 10, 0)
    assert post["langs"] == ["en"]
    assert (post["parent_uri"], post["root_uri"], post["parent_cid"]) == (parent, parent, CID_2)
    assert post["embed"] == {"$type": "app.bsky.embed.record", "record": strong_ref(quoted)}
    assert post["facets"] == record["facets"]
    assert post["tags"] == ["extra"]  # the record's own tags; the facet hashtag stays in `facets`
    assert post["commit_seq"] == "10"
    item = await one(engine, "SELECT * FROM feed_items WHERE uri = :u", u=post_uri)
    assert (item["type"], item["post_uri"], item["originator_did"], item["cid"]) == (
        "post",
        post_uri,
        DID_A,
        CID_1,
    )
    assert item["sort_at"] == datetime(2024, 5, 1, 10, 0)
    assert (await aggregate(engine, parent))["reply_count"] == 1
    assert (await aggregate(engine, quoted))["quote_count"] == 1
    assert await one(engine, "SELECT quoted_uri FROM quotes WHERE post_uri = :u", u=post_uri) == quoted
    assert await notifications(engine) == [
        (DID_C, "mention", f"{post_uri}#notification-mention-{DID_C}"),
        (DID_C, "quote", f"{post_uri}#notification-quote"),
        (DID_B, "reply", f"{post_uri}#notification-reply-{DID_B}"),
    ]
    users = {row["did"] for row in await rows(engine, "SELECT did FROM users")}
    assert users == {DID_A, DID_B, DID_C}

    # Update: a delete and a create at one version — the reply moves, the quote goes.
    other_parent = uri(DID_C, POST, "3kother00000")
    updated = post_record(
        "edited", reply={"root": strong_ref(other_parent), "parent": strong_ref(other_parent)}
    )
    await handlers.commits(
        [commit(DID_A, [op("update", POST, "3kpost0000000", as_dialect(dialect, updated))], 11)]
    )
    post = await one(engine, "SELECT text, parent_uri FROM posts WHERE uri = :u", u=post_uri)
    assert post == {"text": "edited", "parent_uri": other_parent}
    assert (await aggregate(engine, parent))["reply_count"] == 0
    assert (await aggregate(engine, other_parent))["reply_count"] == 1
    assert (await aggregate(engine, quoted))["quote_count"] == 0
    assert await notifications(engine) == [(DID_C, "reply", f"{post_uri}#notification-reply-{DID_C}")]

    await handlers.commits([commit(DID_A, [op("delete", POST, "3kpost0000000")], 12)])
    for table, column in (("posts", "uri"), ("feed_items", "uri"), ("quotes", "post_uri")):
        assert await rows(engine, f"SELECT 1 FROM {table} WHERE {column} = :u", u=post_uri) == []
    assert (await aggregate(engine, other_parent))["reply_count"] == 0
    assert await notifications(engine) == []


async def test_post_in_the_future_never_sorts_in_the_future(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    record = post_record(created_at="2099-01-01T00:00:00Z")
    await handlers.commits([commit(DID_A, [op("create", POST, "3kfuture00000", record)], 1)])
    item = await one(engine, "SELECT sort_at, created_at FROM feed_items")
    assert item["created_at"] == datetime(2099, 1, 1)
    assert item["sort_at"] < datetime(2099, 1, 1)


async def test_like_of_a_post_not_indexed_and_its_pair_kept_aside(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    subject = uri(DID_B, POST, "3knotindexed0")
    first, second = "3klike1000000", "3klike2000000"
    await handlers.commits(
        [commit(DID_A, [op("create", LIKE, first, as_dialect(dialect, like_record(subject)))], 5)]
    )
    assert (await aggregate(engine, subject))["like_count"] == 1
    like = await one(engine, "SELECT * FROM likes")
    assert (like["user_did"], like["post_uri"], like["subject_cid"]) == (DID_A, subject, CID_2)
    assert await notifications(engine) == [(DID_B, "like", f"{uri(DID_A, LIKE, first)}#notification-like")]

    # A second like of the same post by the same account waits aside: still one like counted.
    await handlers.commits(
        [commit(DID_A, [op("create", LIKE, second, as_dialect(dialect, like_record(subject)))], 6)]
    )
    assert (await aggregate(engine, subject))["like_count"] == 1
    assert await one(engine, "SELECT uri FROM indexer.aside_records") == uri(DID_A, LIKE, second)

    # Deleting the live one promotes the one aside; deleting that too leaves nothing.
    await handlers.commits([commit(DID_A, [op("delete", LIKE, first)], 7)])
    assert await one(engine, "SELECT uri FROM likes") == uri(DID_A, LIKE, second)
    assert (await aggregate(engine, subject))["like_count"] == 1
    assert await rows(engine, "SELECT uri FROM indexer.aside_records") == []
    assert await notifications(engine) == [(DID_B, "like", f"{uri(DID_A, LIKE, second)}#notification-like")]
    await handlers.commits([commit(DID_A, [op("delete", LIKE, second)], 8)])
    assert (await aggregate(engine, subject))["like_count"] == 0
    assert await notifications(engine) == []


async def test_like_update_moves_its_counter(handlers: IndexingHandlers, engine: AsyncEngine) -> None:
    old, new = uri(DID_B, POST, "3kold00000000"), uri(DID_C, POST, "3knew00000000")
    await handlers.commits([commit(DID_A, [op("create", LIKE, "3klike0000000", like_record(old))], 1)])
    await handlers.commits([commit(DID_A, [op("update", LIKE, "3klike0000000", like_record(new))], 2)])
    assert (await aggregate(engine, old))["like_count"] == 0
    assert (await aggregate(engine, new))["like_count"] == 1


async def test_delete_before_create_and_replays_converge(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    subject = uri(DID_B, POST, "3ksubject0000")
    create = commit(DID_A, [op("create", REPOST, "3krepost00000", repost_record(subject))], 20)
    delete = commit(DID_A, [op("delete", REPOST, "3krepost00000")], 21)
    await handlers.commits([delete])
    await handlers.commits([create])
    await handlers.commits([create, delete, create])
    assert await rows(engine, "SELECT uri FROM reposts") == []
    assert await rows(engine, "SELECT uri FROM feed_items") == []
    assert (await aggregate(engine, subject))["repost_count"] == 0
    stale_before = handlers.totals.stale
    await handlers.commits(
        [commit(DID_A, [op("create", REPOST, "3krepost00000", repost_record(subject))], 19)]
    )
    assert handlers.totals.stale == stale_before + 1


async def test_repost_feed_item_and_replay(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    subject = uri(DID_B, POST, "3ksubject0000")
    event = commit(
        DID_A, [op("create", REPOST, "3krepost00000", as_dialect(dialect, repost_record(subject)))], 3
    )
    for _ in range(3):
        await handlers.commits([event])
    repost_uri = uri(DID_A, REPOST, "3krepost00000")
    item = await one(engine, "SELECT * FROM feed_items")
    assert (item["uri"], item["post_uri"], item["type"], item["originator_did"]) == (
        repost_uri,
        subject,
        "repost",
        DID_A,
    )
    assert (await aggregate(engine, subject))["repost_count"] == 1
    assert await notifications(engine) == [(DID_B, "repost", f"{repost_uri}#notification-repost")]


async def test_follow_and_block(handlers: IndexingHandlers, engine: AsyncEngine, dialect: str) -> None:
    await handlers.commits(
        [
            commit(
                DID_A,
                [
                    op("create", FOLLOW, "3kfollow00000", as_dialect(dialect, follow_record(DID_B))),
                    op("create", FOLLOW, "3kself0000000", as_dialect(dialect, follow_record(DID_A))),
                    op("create", BLOCK, "3kblock000000", as_dialect(dialect, block_record(DID_C))),
                ],
                1,
            )
        ]
    )
    follows = await rows(engine, "SELECT follower_did, following_did FROM follows ORDER BY uri")
    assert follows == [
        {"follower_did": DID_A, "following_did": DID_B},
        {"follower_did": DID_A, "following_did": DID_A},
    ]
    assert await one(engine, "SELECT blocked_did FROM blocks") == DID_C
    # A self-follow notifies nobody.
    assert await notifications(engine) == [
        (DID_B, "follow", f"{uri(DID_A, FOLLOW, '3kfollow00000')}#notification-follow")
    ]
    await handlers.commits(
        [commit(DID_A, [op("delete", FOLLOW, "3kfollow00000"), op("delete", BLOCK, "3kblock000000")], 2)]
    )
    assert len(await rows(engine, "SELECT 1 FROM follows")) == 1
    assert await rows(engine, "SELECT 1 FROM blocks") == []
    assert await notifications(engine) == []


async def test_profile_create_update_delete(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    pinned = uri(DID_A, POST, "3kpinned00000")
    record = {
        "$type": PROFILE,
        "displayName": "Alice\x00",
        "description": "about me",
        "avatar": {"$type": "blob", "ref": {"$link": BLOB_CID}, "mimeType": "image/jpeg", "size": 1000},
        "pinnedPost": strong_ref(pinned),
        "createdAt": "2023-01-02T03:04:05Z",
    }
    await handlers.commits([commit(DID_A, [op("create", PROFILE, "self", as_dialect(dialect, record))], 1)])
    user = await one(engine, "SELECT * FROM users WHERE did = :d", d=DID_A)
    assert user["display_name"] == "Alice"
    assert user["description"] == "about me"
    assert user["avatar_url"] == BLOB_CID
    assert user["banner_url"] is None
    assert user["pinned_post"] == strong_ref(pinned)
    assert user["profile_record"]["avatar"]["ref"] == {"$link": BLOB_CID}
    assert user["created_at"] == datetime(2023, 1, 2, 3, 4, 5)
    assert user["handle"] == "handle.invalid"

    await handlers.commits(
        [
            commit(
                DID_A,
                [op("update", PROFILE, "self", as_dialect(dialect, {"$type": PROFILE, "displayName": "Al"}))],
                2,
            )
        ]
    )
    user = await one(engine, "SELECT display_name, avatar_url FROM users WHERE did = :d", d=DID_A)
    assert user == {"display_name": "Al", "avatar_url": None}
    await handlers.commits([commit(DID_A, [op("delete", PROFILE, "self")], 3)])
    user = await one(
        engine,
        "SELECT display_name, profile_record IS NULL AS no_record, pinned_post IS NULL AS no_pin "
        "FROM users WHERE did = :d",
        d=DID_A,
    )
    assert user == {"display_name": None, "no_record": True, "no_pin": True}  # SQL NULL, not JSON null


async def test_other_collections_go_to_generic_records(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    record = {"$type": "com.example.thing", "note": "x\x00y", "createdAt": "2024-01-01T00:00:00Z"}
    await handlers.commits([commit(DID_A, [op("create", "com.example.thing", "abc", record)], 1)])
    row = await one(engine, "SELECT record_type, record, created_at FROM generic_records")
    assert row == {
        "record_type": "com.example.thing",
        "record": {"$type": "com.example.thing", "note": "xy", "createdAt": "2024-01-01T00:00:00Z"},
        "created_at": datetime(2024, 1, 1),
    }
    await handlers.commits([commit(DID_A, [op("delete", "com.example.thing", "abc")], 2)])
    assert await rows(engine, "SELECT 1 FROM generic_records") == []


async def test_bad_op_is_dead_lettered_alone(handlers: IndexingHandlers, engine: AsyncEngine) -> None:
    subject = uri(DID_B, POST, "3ksubject0000")
    event = commit(
        DID_A,
        [
            op("create", LIKE, "3kgood0000000", like_record(subject)),
            op(
                "create", LIKE, "3kbad00000000", {"$type": LIKE, "subject": {"uri": "nope"}, "createdAt": "x"}
            ),
            op("create", LIKE, "3kwrongtype00", {**like_record(subject), "$type": POST}),
            op("create", POST, "3kbadcid00000", post_record(), cid="not-a-cid"),
        ],
        1,
    )
    bad_repo = commit("did:plc:short", [op("create", LIKE, "3kx0000000000", like_record(subject))], 2)
    dead = await handlers.commits([event, bad_repo])
    assert sorted((letter.entry_id, letter.op_index) for letter in dead) == sorted(
        [(event.entry_id, 1), (event.entry_id, 2), (event.entry_id, 3), (bad_repo.entry_id, None)]
    )
    assert all(letter.error for letter in dead)
    assert await one(engine, "SELECT uri FROM likes") == uri(DID_A, LIKE, "3kgood0000000")
