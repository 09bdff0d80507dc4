"""Widths of PublicAppView's varchar columns: free text too wide is cut at a grapheme boundary and
counted, an identifier too long for its column dead-letters its op; never a database error."""

from __future__ import annotations

import regex
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.indexing.handlers import IndexingHandlers
from app.indexing.widths import column_widths, cut_to_width
from models import FeedGenerator, List, StarterPack, User
from tests.support.events import DID_A, commit, follow_record, op, post_record

# One grapheme of five code points (e + four combining marks): 64 of them pass the lexicon's limits
# for a profile's displayName (64 graphemes, 640 bytes) and make 320 characters, over varchar(255).
WIDE_GRAPHEME = "e\u0301\u0302\u0303\u0304"
# A valid did:web whose hostname is 253 characters: 261 characters, over varchar(255).
LONG_DID = "did:web:" + ".".join(("a" * 63, "b" * 63, "c" * 63, "d" * 61))


def test_the_widths_come_from_the_models() -> None:
    assert ("display_name", 255, True) in column_widths(User.__table__)
    assert ("did", 255, False) in column_widths(User.__table__)
    free = {
        table.name: [name for name, _, free_text in column_widths(table) if free_text]
        for table in (User.__table__, FeedGenerator.__table__, List.__table__, StarterPack.__table__)
    }
    assert free == {
        "users": ["display_name"],
        "feed_generators": ["display_name"],
        "lists": ["name"],
        "starter_packs": ["name"],
    }


def test_cut_keeps_whole_graphemes() -> None:
    value = WIDE_GRAPHEME * 64
    cut = cut_to_width(value, 255)
    assert len(cut) == 255  # 51 whole graphemes of 5
    assert regex.findall(r"\X", cut) == [WIDE_GRAPHEME] * 51
    assert cut_to_width("short", 255) == "short"
    assert cut_to_width(WIDE_GRAPHEME, 3) == ""


async def test_a_display_name_too_wide_is_cut_and_counted(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    profile = {"$type": "app.bsky.actor.profile", "displayName": WIDE_GRAPHEME * 64}
    before = handlers.totals.truncated
    dead = await handlers.commits(
        [commit(DID_A, [op("create", "app.bsky.actor.profile", "self", profile)], 1)]
    )
    assert dead == []
    async with engine.connect() as conn:
        stored = await conn.scalar(text("SELECT display_name FROM users WHERE did = :d"), {"d": DID_A})
    assert stored == WIDE_GRAPHEME * 51
    assert handlers.totals.truncated == before + 1


async def test_an_identifier_too_long_for_its_column_dead_letters_its_op_alone(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    ops = [
        op("create", "app.bsky.graph.follow", "3kfollow10000", follow_record(LONG_DID)),
        op(
            "create",
            "app.bsky.graph.follow",
            "3kfollow20000",
            follow_record("did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"),
        ),
    ]
    dead = await handlers.commits([commit(DID_A, ops, 1)])
    assert len(dead) == 1
    assert "following_did" in dead[0].error and "varchar(255)" in dead[0].error
    async with engine.connect() as conn:
        follows = (await conn.execute(text("SELECT following_did FROM follows"))).scalars().all()
    assert follows == ["did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"]


async def test_a_repository_did_too_long_dead_letters_its_commit(handlers: IndexingHandlers) -> None:
    ops = [op("create", "app.bsky.graph.follow", "3kfollow10000", follow_record(DID_A))]
    dead = await handlers.commits([commit(LONG_DID, ops, 1)])
    assert len(dead) == 1 and "longer than users.did" in dead[0].error


async def test_a_mention_of_a_did_too_long_for_users_dead_letters_the_post(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    facet = {
        "index": {"byteStart": 0, "byteEnd": 5},
        "features": [{"$type": "app.bsky.richtext.facet#mention", "did": LONG_DID}],
    }
    record = post_record("hello") | {"facets": [facet]}
    dead = await handlers.commits(
        [commit(DID_A, [op("create", "app.bsky.feed.post", "3kpost1000000", record)], 1)]
    )
    assert len(dead) == 1 and "users.did" in dead[0].error
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM posts")) == 0
