"""Notifications, row by row: every reason (like, repost, follow, reply, mention, quote), several
recipients of one record, self-actions, duplicates, replays, updates and deletes.

The rules (issue 5, DIRECTION §4): the URI is `<record uri>#notification` plus a suffix naming the
reason and, where one record notifies several people, the recipient; the recipient is the subject's
author taken from the subject URI, whether or not the subject is indexed (none is, below); a reply
notifies the parent's and the root's authors; mentions come from mention facets; nobody is notified of
their own action; a deleted record's notifications go; a replayed record creates none twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.indexing.handlers import IndexingHandlers
from tests.indexing.test_collections import FOLLOW, LIKE, POST, REPOST, as_dialect, rows
from tests.support.events import (
    CID_1,
    CID_2,
    DID_A,
    DID_B,
    DID_C,
    commit,
    follow_record,
    like_record,
    op,
    post_record,
    repost_record,
    strong_ref,
    uri,
)

DID_D = "did:plc:dddddddddddddddddddddddd"
DID_E = "did:plc:eeeeeeeeeeeeeeeeeeeeeeee"
CREATED_AT = datetime(2024, 5, 1, 12, 0)
MENTION = "app.bsky.richtext.facet#mention"


@pytest.fixture(params=["lexicon", "sdk"])
def dialect(request: pytest.FixtureRequest) -> str:
    return request.param


def mentioning(*dids: str) -> list[dict[str, Any]]:
    """One mention facet per DID (byte ranges are irrelevant to notifications)."""
    return [
        {"index": {"byteStart": index, "byteEnd": index + 1}, "features": [{"$type": MENTION, "did": did}]}
        for index, did in enumerate(dids)
    ]


def reply_to(parent: str, root: str) -> dict[str, Any]:
    return {"root": strong_ref(root), "parent": strong_ref(parent)}


def quoting(quoted: str) -> dict[str, Any]:
    return {"$type": "app.bsky.embed.record", "record": strong_ref(quoted)}


def note(
    record_uri: str,
    suffix: str,
    recipient: str,
    reason: str,
    subject: str | None,
    author: str = DID_A,
    cid: str = CID_1,
) -> dict[str, Any]:
    return {
        "uri": f"{record_uri}#notification{suffix}",
        "record_uri": record_uri,
        "recipient_did": recipient,
        "author_did": author,
        "reason": reason,
        "reason_subject": subject,
        "cid": cid,
        "is_read": False,
        "created_at": CREATED_AT,
    }


def by_uri(*notes: dict[str, Any]) -> list[dict[str, Any]]:
    """Expected rows in the order `notifications()` reads them."""
    return sorted(notes, key=lambda row: row["uri"])


async def notifications(engine: AsyncEngine) -> list[dict[str, Any]]:
    return await rows(
        engine,
        "SELECT n.uri, s.record_uri, recipient_did, author_did, reason, reason_subject, cid, is_read, "
        "created_at "
        "FROM notifications n LEFT JOIN indexer.notification_sources s ON s.uri = n.uri ORDER BY n.uri",
    )


async def test_every_reason_and_several_recipients_of_one_post(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    b_post, c_root, e_post = (
        uri(DID_B, POST, "3kbpost000000"),
        uri(DID_C, POST, "3kcroot000000"),
        uri(DID_E, POST, "3kepost000000"),
    )
    c_quoted = uri(DID_C, POST, "3kcquoted0000")
    feed, labeler = (
        uri(DID_B, "app.bsky.feed.generator", "cats"),
        uri(DID_C, "app.bsky.labeler.service", "self"),
    )
    # One post notifies five people: the parent's and the root's authors, two mentioned accounts (D
    # twice, and A itself, who is not notified) and the quoted post's author.
    busy = post_record(
        "busy",
        reply=reply_to(b_post, c_root),
        facets=mentioning(DID_D, DID_E, DID_A, DID_D),
        embed=quoting(e_post),
    )
    with_media = post_record(
        "look",
        embed={
            "$type": "app.bsky.embed.recordWithMedia",
            "record": {"$type": "app.bsky.embed.record", "record": strong_ref(c_quoted)},
            "media": {
                "$type": "app.bsky.embed.external",
                "external": {"uri": "https://example.com", "title": "t", "description": "d"},
            },
        },
    )
    ops = [
        op("create", POST, "3kbusy0000000", busy),
        op("create", POST, "3kmedia000000", with_media),
        op("create", LIKE, "3klike0000000", like_record(b_post)),
        op("create", LIKE, "3klikefeed000", like_record(feed)),
        op("create", LIKE, "3klikelabel00", like_record(labeler)),
        op("create", REPOST, "3krepost00000", repost_record(c_root)),
        op("create", FOLLOW, "3kfollow00000", follow_record(DID_D)),
    ]
    ops = [op(o.action, o.collection, o.rkey, as_dialect(dialect, o.record)) for o in ops]
    assert await handlers.commits([commit(DID_A, ops, 1)]) == []

    post, media = uri(DID_A, POST, "3kbusy0000000"), uri(DID_A, POST, "3kmedia000000")
    like, repost, follow = (
        uri(DID_A, LIKE, "3klike0000000"),
        uri(DID_A, REPOST, "3krepost00000"),
        uri(DID_A, FOLLOW, "3kfollow00000"),
    )
    like_feed, like_labeler = uri(DID_A, LIKE, "3klikefeed000"), uri(DID_A, LIKE, "3klikelabel00")
    expected = [
        note(post, f"-mention-{DID_D}", DID_D, "mention", post),
        note(post, f"-mention-{DID_E}", DID_E, "mention", post),
        note(post, "-quote", DID_E, "quote", e_post),
        note(post, f"-reply-{DID_B}", DID_B, "reply", b_post),
        note(post, f"-reply-{DID_C}", DID_C, "reply", c_root),
        note(like_feed, "-like", DID_B, "like", feed),
        note(like, "-like", DID_B, "like", b_post),
        note(like_labeler, "-like", DID_C, "like", labeler),
        note(media, "-quote", DID_C, "quote", c_quoted),
        note(repost, "-repost", DID_C, "repost", c_root),
        note(follow, "-follow", DID_D, "follow", None),
    ]
    assert await notifications(engine) == by_uri(*expected)


async def test_nobody_is_notified_of_their_own_action(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    own = uri(DID_A, POST, "3kown00000000")
    b_root = uri(DID_B, POST, "3kbroot000000")
    ops = [
        op("create", LIKE, "3klike0000000", like_record(own)),
        op("create", REPOST, "3krepost00000", repost_record(own)),
        op("create", FOLLOW, "3kfollow00000", follow_record(DID_A)),
        op("create", POST, "3kselfreply00", post_record(reply=reply_to(own, own), facets=mentioning(DID_A))),
        op("create", POST, "3kselfquote00", post_record(embed=quoting(own))),
        # A reply to one's own post in someone else's thread notifies the root's author only.
        op("create", POST, "3kmixed000000", post_record(reply=reply_to(own, b_root))),
    ]
    await handlers.commits([commit(DID_A, ops, 1)])
    mixed = uri(DID_A, POST, "3kmixed000000")
    assert await notifications(engine) == [note(mixed, f"-reply-{DID_B}", DID_B, "reply", b_root)]


async def test_a_reply_in_a_thread_of_one_author_notifies_once(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    parent, root = uri(DID_B, POST, "3kparent00000"), uri(DID_B, POST, "3kroot0000000")
    await handlers.commits(
        [commit(DID_A, [op("create", POST, "3kreply000000", post_record(reply=reply_to(parent, root)))], 1)]
    )
    reply = uri(DID_A, POST, "3kreply000000")
    assert await notifications(engine) == [note(reply, f"-reply-{DID_B}", DID_B, "reply", parent)]


async def test_duplicates_and_replays_create_none_twice(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    subject = uri(DID_B, POST, "3ksubject0000")
    first, second = uri(DID_A, LIKE, "3klike1000000"), uri(DID_A, LIKE, "3klike2000000")
    create = commit(DID_A, [op("create", LIKE, "3klike1000000", like_record(subject))], 1)
    await handlers.commits([create, create])
    await handlers.commits([create])
    assert await notifications(engine) == [note(first, "-like", DID_B, "like", subject)]
    ids = await rows(engine, "SELECT id FROM notifications")

    # A second like of the same post waits aside and notifies nobody while the first is live.
    again = commit(DID_A, [op("create", LIKE, "3klike2000000", like_record(subject), CID_2)], 2)
    await handlers.commits([again])
    assert await notifications(engine) == [note(first, "-like", DID_B, "like", subject)]
    assert await rows(engine, "SELECT id FROM notifications") == ids

    # Deleting the live like hands the relationship, and its notification, to the one aside.
    await handlers.commits([commit(DID_A, [op("delete", LIKE, "3klike1000000")], 3)])
    assert await notifications(engine) == [note(second, "-like", DID_B, "like", subject, cid=CID_2)]
    # A replay of the deleted like's create is older than its delete: nothing comes back.
    await handlers.commits([create, again])
    assert await notifications(engine) == [note(second, "-like", DID_B, "like", subject, cid=CID_2)]


async def test_updates_and_deletes_take_exactly_their_records_notifications(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    subject = uri(DID_B, POST, "3ksubject0000")
    post = uri(DID_A, POST, "3kpost0000000")
    like_a, like_c = uri(DID_A, LIKE, "3klike0000000"), uri(DID_C, LIKE, "3klike0000000")
    await handlers.commits(
        [
            commit(
                DID_A,
                [
                    op("create", LIKE, "3klike0000000", as_dialect(dialect, like_record(subject))),
                    op(
                        "create",
                        POST,
                        "3kpost0000000",
                        as_dialect(dialect, post_record(facets=mentioning(DID_D))),
                    ),
                ],
                1,
            ),
            commit(
                DID_C, [op("create", LIKE, "3klike0000000", as_dialect(dialect, like_record(subject)))], 2
            ),
        ]
    )
    mention_d = note(post, f"-mention-{DID_D}", DID_D, "mention", post)
    c_likes = note(like_c, "-like", DID_B, "like", subject, author=DID_C)
    assert await notifications(engine) == by_uri(
        c_likes, note(like_a, "-like", DID_B, "like", subject), mention_d
    )

    # An edited post notifies whom it now mentions, and no longer whom it does not.
    edited = post_record("edited", facets=mentioning(DID_E, DID_C))
    await handlers.commits(
        [commit(DID_A, [op("update", POST, "3kpost0000000", as_dialect(dialect, edited), CID_2)], 3)]
    )
    await handlers.commits([commit(DID_A, [op("delete", LIKE, "3klike0000000")], 4)])
    assert await notifications(engine) == by_uri(
        c_likes,
        note(post, f"-mention-{DID_C}", DID_C, "mention", post, cid=CID_2),
        note(post, f"-mention-{DID_E}", DID_E, "mention", post, cid=CID_2),
    )
    await handlers.commits([commit(DID_A, [op("delete", POST, "3kpost0000000")], 5)])
    assert await notifications(engine) == [c_likes]


NOT_POSTS = {
    "feed generator": ("app.bsky.feed.generator", "cats"),
    "list": ("app.bsky.graph.list", "3klist0000000"),
    "starter pack": ("app.bsky.graph.starterpack", "3kpack0000000"),
    "labeler": ("app.bsky.labeler.service", "self"),
}


def with_media(embedded: dict[str, Any]) -> dict[str, Any]:
    return {
        "$type": "app.bsky.embed.recordWithMedia",
        "record": embedded,
        "media": {
            "$type": "app.bsky.embed.external",
            "external": {"uri": "https://example.com", "title": "t", "description": "d"},
        },
    }


@pytest.mark.parametrize("embedding", ["record", "recordWithMedia"])
async def test_only_an_embedded_post_is_a_quote(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str, embedding: str
) -> None:
    """An embed of a feed generator, list, starter pack or labeler is kept as the post's embed, but
    it is no quote: no `quotes` row, no quote count, no notification. An embedded post is one."""
    wrap = (lambda e: e) if embedding == "record" else with_media
    subjects = {name: uri(DID_B, nsid, rkey) for name, (nsid, rkey) in NOT_POSTS.items()}
    subjects["post"] = uri(DID_B, POST, "3kquoted00000")
    ops = [
        op(
            "create",
            POST,
            f"3kq{index}0000000000"[:13],
            as_dialect(dialect, post_record(embed=wrap(quoting(s)))),
        )
        for index, s in enumerate(subjects.values())
    ]
    assert await handlers.commits([commit(DID_A, ops, 1)]) == []

    quoting_post = uri(DID_A, POST, f"3kq{len(subjects) - 1}0000000000"[:13])
    assert await notifications(engine) == [note(quoting_post, "-quote", DID_B, "quote", subjects["post"])]
    assert await rows(engine, "SELECT post_uri, quoted_uri FROM quotes") == [
        {"post_uri": quoting_post, "quoted_uri": subjects["post"]}
    ]
    assert await rows(
        engine, "SELECT post_uri, quote_count FROM post_aggregations WHERE quote_count > 0"
    ) == [{"post_uri": subjects["post"], "quote_count": 1}]
    embedded = await rows(engine, "SELECT embed FROM posts ORDER BY uri")
    assert [row["embed"] for row in embedded] == [wrap(quoting(s)) for s in subjects.values()]
