"""AppView parity: create, update and delete of lists, list items, list blocks, starter packs,
verifications, feed generators, thread and post gates and labelers, in both dialects, on the real
database — with the bugs of the worker we replace pinned down so they cannot return, and everything
else landing in `generic_records`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.indexing.batch import utc_now
from app.indexing.handlers import IndexingHandlers
from app.indexing.registry import registry
from tests.indexing.test_collections import LIKE, POST, aggregate, as_dialect, notifications, one, rows
from tests.support.events import (
    BLOB_CID,
    CID_1,
    CID_2,
    DID_A,
    DID_B,
    DID_C,
    account,
    commit,
    like_record,
    op,
    post_record,
    uri,
)

LIST = "app.bsky.graph.list"
LISTITEM = "app.bsky.graph.listitem"
LISTBLOCK = "app.bsky.graph.listblock"
STARTERPACK = "app.bsky.graph.starterpack"
VERIFICATION = "app.bsky.graph.verification"
GENERATOR = "app.bsky.feed.generator"
THREADGATE = "app.bsky.feed.threadgate"
POSTGATE = "app.bsky.feed.postgate"
LABELER = "app.bsky.labeler.service"

CREATED = "2024-05-01T12:00:00.000Z"
CREATED_AT = datetime(2024, 5, 1, 12, 0)
FEED_SERVICE = "did:web:feeds.example.com"
CURATE = "app.bsky.graph.defs#curatelist"
MODLIST = "app.bsky.graph.defs#modlist"
ABSENT = object()


@pytest.fixture(params=["lexicon", "sdk"])
def dialect(request: pytest.FixtureRequest) -> str:
    return request.param


# -- records, written as lexicon JSON ----------------------------------------------------------------


def blob(cid: str = BLOB_CID) -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/png", "size": 1234}


def list_record(name: str = "Cats", purpose: str = CURATE, **extra: Any) -> dict[str, Any]:
    return {"$type": LIST, "name": name, "purpose": purpose, "createdAt": CREATED, **extra}


def list_item_record(list_uri: str, subject: str) -> dict[str, Any]:
    return {"$type": LISTITEM, "list": list_uri, "subject": subject, "createdAt": CREATED}


def list_block_record(list_uri: str) -> dict[str, Any]:
    return {"$type": LISTBLOCK, "subject": list_uri, "createdAt": CREATED}


def starter_pack_record(list_uri: str, name: str = "Start here", **extra: Any) -> dict[str, Any]:
    return {"$type": STARTERPACK, "name": name, "list": list_uri, "createdAt": CREATED, **extra}


def verification_record(subject: str, handle: str = "Bob.Example.com") -> dict[str, Any]:
    return {
        "$type": VERIFICATION,
        "subject": subject,
        "handle": handle,
        "displayName": "Bob",
        "createdAt": CREATED,
    }


def generator_record(display_name: str = "Cat feed", **extra: Any) -> dict[str, Any]:
    return {
        "$type": GENERATOR,
        "did": FEED_SERVICE,
        "displayName": display_name,
        "createdAt": CREATED,
        **extra,
    }


def thread_gate_record(post_uri: str, allow: Any = ABSENT) -> dict[str, Any]:
    record = {"$type": THREADGATE, "post": post_uri, "createdAt": CREATED}
    if allow is not ABSENT:
        record["allow"] = allow
    return record


def post_gate_record(post_uri: str, **extra: Any) -> dict[str, Any]:
    return {"$type": POSTGATE, "post": post_uri, "createdAt": CREATED, **extra}


def labeler_record(*label_values: str) -> dict[str, Any]:
    return {
        "$type": LABELER,
        "policies": {
            "labelValues": list(label_values),
            "labelValueDefinitions": [
                {
                    "identifier": "spam",
                    "severity": "alert",
                    "blurs": "content",
                    "defaultSetting": "warn",
                    "locales": [{"lang": "en", "name": "Spam", "description": "Unwanted"}],
                }
            ],
        },
        "createdAt": CREATED,
    }


def rule(kind: str, **fields: Any) -> dict[str, Any]:
    return {"$type": f"app.bsky.feed.threadgate#{kind}", **fields}


# -- reading tables ----------------------------------------------------------------------------------

# Set by the database at write time: not part of what a record determines.
WRITE_TIMES = ("indexed_at", "updated_at")


async def table(engine: AsyncEngine, name: str, order: str = "uri") -> list[dict[str, Any]]:
    found = await rows(engine, f"SELECT * FROM {name} ORDER BY {order}")
    return [{key: value for key, value in row.items() if key not in WRITE_TIMES} for row in found]


async def aside(engine: AsyncEngine) -> list[str]:
    return [row["uri"] for row in await rows(engine, "SELECT uri FROM indexer.aside_records ORDER BY uri")]


async def gate_flags(engine: AsyncEngine, post_uri: str) -> tuple[bool, bool]:
    found = await one(engine, "SELECT has_thread_gate, has_post_gate FROM posts WHERE uri = :u", u=post_uri)
    return found["has_thread_gate"], found["has_post_gate"]


async def apply(handlers: IndexingHandlers, did: str, version: int, *ops: Any) -> None:
    """One commit; every op must be valid."""
    assert await handlers.commits([commit(did, list(ops), version)]) == []


# -- lists, list items, list blocks --------------------------------------------------------------------


async def test_list_create_update_delete(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    list_uri = uri(DID_A, LIST, "3klist0000000")
    created = list_record("Cats\x00", description="All the cats", avatar=blob())
    await apply(handlers, DID_A, 1, op("create", LIST, "3klist0000000", as_dialect(dialect, created)))
    expected = {
        "uri": list_uri,
        "cid": CID_1,
        "creator_did": DID_A,
        "name": "Cats",
        "purpose": CURATE,
        "description": "All the cats",
        "avatar_url": BLOB_CID,
        "created_at": CREATED_AT,
    }
    assert await table(engine, "lists") == [expected]

    # The worker we replace ignored updates: the row is replaced, fields the update drops included.
    updated = list_record("Mods", MODLIST)
    await apply(handlers, DID_A, 2, op("update", LIST, "3klist0000000", as_dialect(dialect, updated), CID_2))
    assert await table(engine, "lists") == [
        expected | {"cid": CID_2, "name": "Mods", "purpose": MODLIST, "description": None, "avatar_url": None}
    ]

    # A list's members are records of their own: deleting the list leaves them to their own deletes.
    item = list_item_record(list_uri, DID_B)
    await apply(handlers, DID_A, 3, op("create", LISTITEM, "3kitem0000000", as_dialect(dialect, item)))
    await apply(handlers, DID_A, 4, op("delete", LIST, "3klist0000000"))
    assert await table(engine, "lists") == []
    assert [row["uri"] for row in await table(engine, "list_items")] == [
        uri(DID_A, LISTITEM, "3kitem0000000")
    ]


async def test_list_item_create_update_delete_and_pair_aside(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    cats, dogs = uri(DID_A, LIST, "3kcats0000000"), uri(DID_A, LIST, "3kdogs0000000")
    first, second = uri(DID_A, LISTITEM, "3kitem1000000"), uri(DID_A, LISTITEM, "3kitem2000000")
    await apply(
        handlers,
        DID_A,
        1,
        op("create", LISTITEM, "3kitem1000000", as_dialect(dialect, list_item_record(cats, DID_B))),
    )
    # The list need not be indexed; the subject gets a users row.
    assert await table(engine, "list_items") == [
        {"uri": first, "cid": CID_1, "list_uri": cats, "subject_did": DID_B, "created_at": CREATED_AT}
    ]
    assert await one(engine, "SELECT did FROM users WHERE did = :d", d=DID_B) == DID_B

    # A second item of the same (list, subject) waits aside.
    await apply(
        handlers,
        DID_A,
        2,
        op("create", LISTITEM, "3kitem2000000", as_dialect(dialect, list_item_record(cats, DID_B)), CID_2),
    )
    assert [row["uri"] for row in await table(engine, "list_items")] == [first]
    assert await aside(engine) == [second]

    # Deleting the live one promotes the one aside, with its own CID.
    await apply(handlers, DID_A, 3, op("delete", LISTITEM, "3kitem1000000"))
    assert await table(engine, "list_items") == [
        {"uri": second, "cid": CID_2, "list_uri": cats, "subject_did": DID_B, "created_at": CREATED_AT}
    ]
    assert await aside(engine) == []

    # An update replaces the row.
    moved = list_item_record(dogs, DID_C)
    await apply(handlers, DID_A, 4, op("update", LISTITEM, "3kitem2000000", as_dialect(dialect, moved)))
    assert await table(engine, "list_items") == [
        {"uri": second, "cid": CID_1, "list_uri": dogs, "subject_did": DID_C, "created_at": CREATED_AT}
    ]
    await apply(handlers, DID_A, 5, op("delete", LISTITEM, "3kitem2000000"))
    assert await table(engine, "list_items") == []


async def test_list_item_on_another_accounts_list_is_skipped_and_logged(
    handlers: IndexingHandlers, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    own, foreign = uri(DID_A, LIST, "3kown00000000"), uri(DID_B, LIST, "3kforeign0000")
    item_uri = uri(DID_A, LISTITEM, "3kitem0000000")
    create = commit(DID_A, [op("create", LISTITEM, "3kitem0000000", list_item_record(own, DID_C))], 1)
    await handlers.commits([create])
    assert len(await table(engine, "list_items")) == 1

    # Moved onto B's list: valid, so no dead letter, but not indexed — and the old row goes.
    with caplog.at_level(logging.INFO, logger="app.indexing.collections.listitem"):
        dead = await handlers.commits(
            [commit(DID_A, [op("update", LISTITEM, "3kitem0000000", list_item_record(foreign, DID_C))], 2)]
        )
    assert dead == []
    assert await table(engine, "list_items") == []
    assert await aside(engine) == []
    assert [record.getMessage() for record in caplog.records] == [
        f"list item {item_uri} not indexed: its list {foreign} belongs to another account"
    ]
    # The skipped update is the record's newest version: a replay of the older create stays stale.
    await handlers.commits([create])
    assert await table(engine, "list_items") == []


async def test_list_block_create_update_delete_and_pair_aside(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    spam, trolls = uri(DID_B, LIST, "3kspam0000000"), uri(DID_C, LIST, "3ktrolls00000")
    first, second = uri(DID_A, LISTBLOCK, "3kblock100000"), uri(DID_A, LISTBLOCK, "3kblock200000")
    # The worker we replace never stored list blocks.
    await apply(
        handlers,
        DID_A,
        1,
        op("create", LISTBLOCK, "3kblock100000", as_dialect(dialect, list_block_record(spam))),
        op("create", LISTBLOCK, "3kblock200000", as_dialect(dialect, list_block_record(spam)), CID_2),
    )
    assert await table(engine, "list_blocks") == [
        {"uri": first, "blocker_did": DID_A, "list_uri": spam, "created_at": CREATED_AT}
    ]
    assert await aside(engine) == [second]
    assert {row["did"] for row in await rows(engine, "SELECT did FROM users")} == {DID_A, DID_B}

    await apply(
        handlers,
        DID_A,
        2,
        op("update", LISTBLOCK, "3kblock100000", as_dialect(dialect, list_block_record(trolls))),
    )
    # The update freed the pair (A, spam): the record aside took it.
    assert await table(engine, "list_blocks") == [
        {"uri": first, "blocker_did": DID_A, "list_uri": trolls, "created_at": CREATED_AT},
        {"uri": second, "blocker_did": DID_A, "list_uri": spam, "created_at": CREATED_AT},
    ]
    assert await aside(engine) == []
    await apply(
        handlers, DID_A, 3, op("delete", LISTBLOCK, "3kblock100000"), op("delete", LISTBLOCK, "3kblock200000")
    )
    assert await table(engine, "list_blocks") == []


# -- starter packs and verifications ----------------------------------------------------------------


async def test_starter_pack_without_feeds_then_with_feeds_then_deleted(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    pack_uri = uri(DID_A, STARTERPACK, "3kpack0000000")
    list_uri = uri(DID_A, LIST, "3klist0000000")
    # The worker we replace lost packs without feeds.
    record = starter_pack_record(list_uri)
    await apply(handlers, DID_A, 1, op("create", STARTERPACK, "3kpack0000000", as_dialect(dialect, record)))
    expected = {
        "uri": pack_uri,
        "cid": CID_1,
        "creator_did": DID_A,
        "name": "Start here",
        "description": None,
        "list_uri": list_uri,
        "feeds": [],
        "created_at": CREATED_AT,
    }
    assert await table(engine, "starter_packs") == [expected]

    # Updates were ignored too: now they replace the row; feeds are kept as the generators' URIs
    # (PublicAppView's schema declares the column an array of feed generator URIs).
    feeds = [{"uri": uri(DID_B, GENERATOR, "cats")}, {"uri": uri(DID_C, GENERATOR, "dogs")}]
    updated = starter_pack_record(list_uri, "Pets", description="Furry", feeds=feeds)
    await apply(
        handlers, DID_A, 2, op("update", STARTERPACK, "3kpack0000000", as_dialect(dialect, updated), CID_2)
    )
    assert await table(engine, "starter_packs") == [
        expected | {"cid": CID_2, "name": "Pets", "description": "Furry", "feeds": [f["uri"] for f in feeds]}
    ]
    await apply(handlers, DID_A, 3, op("delete", STARTERPACK, "3kpack0000000"))
    assert await table(engine, "starter_packs") == []


async def test_verifications_of_one_subject_one_live_the_others_aside(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    """PublicAppView's `verifications` is unique per subject: a second verifier of the same account
    (or a second record of the same verifier) waits aside and is promoted, oldest version first, when
    the live one is deleted."""
    by_a = uri(DID_A, VERIFICATION, "3kverif100000")
    again_by_a = uri(DID_A, VERIFICATION, "3kverif200000")
    by_c = uri(DID_C, VERIFICATION, "3kverif300000")
    record = as_dialect(dialect, verification_record(DID_B))
    await apply(handlers, DID_A, 1, op("create", VERIFICATION, "3kverif100000", record))
    await apply(handlers, DID_C, 2, op("create", VERIFICATION, "3kverif300000", record))
    await apply(handlers, DID_A, 3, op("create", VERIFICATION, "3kverif200000", record, CID_2))

    def row(record_uri: str, cid: str = CID_1, handle: str = "bob.example.com") -> dict[str, Any]:
        return {
            "uri": record_uri,
            "cid": cid,
            "subject_did": DID_B,
            "handle": handle,
            "verified_at": CREATED_AT,
            "created_at": CREATED_AT,
        }

    assert await table(engine, "verifications") == [row(by_a)]
    assert await aside(engine) == sorted([again_by_a, by_c])

    # An update of a record waiting aside keeps it aside, at its new version.
    updated = as_dialect(dialect, verification_record(DID_B, "bob.new.example.com"))
    await apply(handlers, DID_C, 4, op("update", VERIFICATION, "3kverif300000", updated))
    await apply(handlers, DID_A, 5, op("delete", VERIFICATION, "3kverif100000"))
    assert await table(engine, "verifications") == [row(again_by_a, CID_2)]
    assert await aside(engine) == [by_c]
    await apply(handlers, DID_A, 6, op("delete", VERIFICATION, "3kverif200000"))
    assert await table(engine, "verifications") == [row(by_c, handle="bob.new.example.com")]
    await apply(handlers, DID_C, 7, op("delete", VERIFICATION, "3kverif300000"))
    assert await table(engine, "verifications") == []
    assert await aside(engine) == []


# -- feed generators and labelers, and their likes -------------------------------------------------


async def test_feed_generator_create_update_delete_with_likes_before_and_after(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    feed_uri = uri(DID_A, GENERATOR, "cats")
    # A like that arrives before its generator counts where it can: in post_aggregations.
    await apply(
        handlers, DID_B, 1, op("create", LIKE, "3klike1000000", as_dialect(dialect, like_record(feed_uri)))
    )
    assert await table(engine, "feed_generators") == []
    assert (await aggregate(engine, feed_uri))["like_count"] == 1

    record = generator_record("Cats\x00", description="Only cats", avatar=blob())
    await apply(handlers, DID_A, 2, op("create", GENERATOR, "cats", as_dialect(dialect, record)))
    expected = {
        "uri": feed_uri,
        "cid": CID_1,
        "creator_did": DID_A,
        "did": FEED_SERVICE,
        "display_name": "Cats",
        "description": "Only cats",
        "avatar_url": BLOB_CID,
        "like_count": 1,
        "created_at": CREATED_AT,
    }
    assert await table(engine, "feed_generators") == [expected]

    await apply(
        handlers, DID_C, 3, op("create", LIKE, "3klike2000000", as_dialect(dialect, like_record(feed_uri)))
    )
    assert (await one(engine, "SELECT like_count FROM feed_generators")) == 2
    assert (await aggregate(engine, feed_uri))["like_count"] == 2
    # A like of a feed notifies its creator, like a like of a post.
    assert await notifications(engine) == [
        (DID_A, "like", f"{uri(DID_B, LIKE, '3klike1000000')}#notification-like"),
        (DID_A, "like", f"{uri(DID_C, LIKE, '3klike2000000')}#notification-like"),
    ]

    # The worker we replace ignored updates; the likes stay counted through the replacement.
    await apply(
        handlers,
        DID_A,
        4,
        op("update", GENERATOR, "cats", as_dialect(dialect, generator_record("Kittens")), CID_2),
    )
    assert await table(engine, "feed_generators") == [
        expected
        | {"cid": CID_2, "display_name": "Kittens", "description": None, "avatar_url": None, "like_count": 2}
    ]

    await apply(handlers, DID_B, 5, op("delete", LIKE, "3klike1000000"))
    assert (await one(engine, "SELECT like_count FROM feed_generators")) == 1
    await apply(handlers, DID_A, 6, op("delete", GENERATOR, "cats"))
    assert await table(engine, "feed_generators") == []
    # The likes that still exist keep their count on the URI.
    assert (await aggregate(engine, feed_uri))["like_count"] == 1


async def test_generator_and_labeler_with_their_likes_in_one_batch(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    feed_uri, labeler_uri = uri(DID_A, GENERATOR, "cats"), uri(DID_A, LABELER, "self")
    await apply(handlers, DID_B, 1, op("create", LIKE, "3klike1000000", like_record(labeler_uri)))
    await handlers.commits(
        [
            commit(DID_C, [op("create", LIKE, "3klike2000000", like_record(feed_uri))], 2),
            commit(DID_A, [op("create", GENERATOR, "cats", generator_record())], 3),
            commit(DID_A, [op("create", LABELER, "self", labeler_record("spam"))], 4),
            commit(DID_C, [op("create", LIKE, "3klike3000000", like_record(labeler_uri))], 5),
        ]
    )
    assert await one(engine, "SELECT like_count FROM feed_generators") == 1
    assert await one(engine, "SELECT like_count FROM labeler_services") == 2
    # A like moved from the labeler to the feed moves both counters.
    await apply(handlers, DID_B, 6, op("update", LIKE, "3klike1000000", like_record(feed_uri)))
    assert await one(engine, "SELECT like_count FROM feed_generators") == 2
    assert await one(engine, "SELECT like_count FROM labeler_services") == 1
    assert (await aggregate(engine, feed_uri))["like_count"] == 2
    assert (await aggregate(engine, labeler_uri))["like_count"] == 1


async def test_labeler_create_update_delete(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    labeler_uri = uri(DID_A, LABELER, "self")
    await apply(
        handlers, DID_B, 1, op("create", LIKE, "3klike1000000", as_dialect(dialect, like_record(labeler_uri)))
    )
    record = labeler_record("spam", "rude")
    await apply(handlers, DID_A, 2, op("create", LABELER, "self", as_dialect(dialect, record)))
    expected = {
        "uri": labeler_uri,
        "cid": CID_1,
        "creator_did": DID_A,
        "policies": record["policies"],
        "like_count": 1,
        "created_at": CREATED_AT,
    }
    assert await table(engine, "labeler_services") == [expected]

    # The worker we replace ignored updates.
    updated = labeler_record("spam")
    await apply(handlers, DID_A, 3, op("update", LABELER, "self", as_dialect(dialect, updated), CID_2))
    assert await table(engine, "labeler_services") == [
        expected | {"cid": CID_2, "policies": updated["policies"]}
    ]
    await apply(handlers, DID_A, 4, op("delete", LABELER, "self"))
    assert await table(engine, "labeler_services") == []
    assert (await aggregate(engine, labeler_uri))["like_count"] == 1


# -- thread and post gates -----------------------------------------------------------------------------


async def thread_gates(engine: AsyncEngine) -> list[dict[str, Any]]:
    """`thread_gates` rows with our rule beside them (`indexer.thread_gate_rules`)."""
    found = await rows(
        engine,
        "SELECT g.*, r.allow_followers FROM thread_gates g "
        "LEFT JOIN indexer.thread_gate_rules r USING (post_uri) ORDER BY post_uri",
    )
    return [{key: value for key, value in row.items() if key not in WRITE_TIMES} for row in found]


async def test_thread_gates_absent_empty_and_ruled_allow(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    rkeys = ("3kanyone00000", "3knobody00000", "3kruled000000")
    posts = [uri(DID_A, POST, rkey) for rkey in rkeys]
    lists = [uri(DID_A, LIST, "3kfriends0000"), uri(DID_B, LIST, "3kpals0000000")]
    allows: list[Any] = [
        ABSENT,
        [],
        [
            rule("mentionRule"),
            rule("listRule", list=lists[0]),
            rule("followingRule"),
            rule("listRule", list=lists[1]),
        ],
    ]
    await apply(handlers, DID_A, 1, *(op("create", POST, rkey, post_record()) for rkey in rkeys))
    await apply(
        handlers,
        DID_A,
        2,
        *(
            op("create", THREADGATE, rkey, as_dialect(dialect, thread_gate_record(post, allow)))
            for rkey, post, allow in zip(rkeys, posts, allows, strict=True)
        ),
    )

    def gate(
        rkey: str,
        mentions: Any,
        following: Any,
        members: Any,
        lists: Any,
        cid: str = CID_1,
        followers: Any = "same as following",
    ) -> dict[str, Any]:
        return {
            "post_uri": uri(DID_A, POST, rkey),
            "owner_did": DID_A,
            "allow_mentions": mentions,
            "allow_following": following,
            "allow_list_members": members,
            "allow_followers": following if followers == "same as following" else followers,
            "allow_list_uris": lists,
            "created_at": CREATED_AT,
        }

    # No `allow`: anyone may reply (the worker we replace read it as nobody): the public row holds
    # the columns' defaults, our `indexer.thread_gate_rules` a null `allow_followers`. `allow: []`:
    # nobody may.
    assert await thread_gates(engine) == [
        gate(rkeys[0], True, True, False, [], followers=None),
        gate(rkeys[1], False, False, False, []),
        gate(rkeys[2], True, True, True, lists, followers=False),
    ]
    assert [await gate_flags(engine, post) for post in posts] == [(True, False)] * 3

    # Followers only: our own `allow_followers` holds that rule, the others are false.
    followers = thread_gate_record(posts[2], [rule("followerRule")])
    await apply(handlers, DID_A, 3, op("update", THREADGATE, rkeys[2], as_dialect(dialect, followers), CID_2))
    await apply(
        handlers,
        DID_A,
        4,
        op("update", THREADGATE, rkeys[1], as_dialect(dialect, thread_gate_record(posts[1]))),
    )
    await apply(handlers, DID_A, 5, op("delete", THREADGATE, rkeys[0]))
    assert await thread_gates(engine) == [
        gate(rkeys[1], True, True, False, [], followers=None),
        gate(rkeys[2], False, False, False, [], CID_2, followers=True),
    ]
    assert [await gate_flags(engine, post) for post in posts] == [
        (False, False),
        (True, False),
        (True, False),
    ]


async def test_post_gate_create_update_delete(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    post_uri = uri(DID_A, POST, "3kpost0000000")
    detached = [uri(DID_B, POST, "3kquote000000")]
    disable = [{"$type": "app.bsky.feed.postgate#disableRule"}]
    await apply(handlers, DID_A, 1, op("create", POST, "3kpost0000000", post_record()))
    record = post_gate_record(post_uri, detachedEmbeddingUris=detached, embeddingRules=disable)
    await apply(handlers, DID_A, 2, op("create", POSTGATE, "3kpost0000000", as_dialect(dialect, record)))
    expected = {
        "post_uri": post_uri,
        "embedding_rules": {"detachedEmbeddingUris": detached, "disableRule": disable[0]["$type"]},
        "created_at": CREATED_AT,
    }
    assert await table(engine, "post_gates", "post_uri") == [expected]
    assert await gate_flags(engine, post_uri) == (False, True)

    updated = post_gate_record(post_uri, detachedEmbeddingUris=detached)
    await apply(handlers, DID_A, 3, op("update", POSTGATE, "3kpost0000000", as_dialect(dialect, updated)))
    assert await table(engine, "post_gates", "post_uri") == [
        expected | {"embedding_rules": {"detachedEmbeddingUris": detached}}
    ]
    # The worker we replace aimed post-gate deletes at a column that does not exist.
    await apply(handlers, DID_A, 4, op("delete", POSTGATE, "3kpost0000000"))
    assert await table(engine, "post_gates", "post_uri") == []
    assert await gate_flags(engine, post_uri) == (False, False)


GATES = {
    THREADGATE: lambda post_uri: thread_gate_record(post_uri, [rule("mentionRule")]),
    POSTGATE: lambda post_uri: post_gate_record(
        post_uri, embeddingRules=[{"$type": "app.bsky.feed.postgate#disableRule"}]
    ),
}


@pytest.mark.parametrize("gate_collection", [THREADGATE, POSTGATE])
@pytest.mark.parametrize("order", ["post first", "gate first", "one batch"])
async def test_gate_flag_follows_the_gate_whichever_arrives_first(
    handlers: IndexingHandlers, engine: AsyncEngine, gate_collection: str, order: str
) -> None:
    rkey = "3kpost0000000"
    post_uri = uri(DID_A, POST, rkey)
    post = commit(DID_A, [op("create", POST, rkey, post_record())], 1)
    gate = commit(DID_A, [op("create", gate_collection, rkey, GATES[gate_collection](post_uri))], 2)
    if order == "post first":
        await handlers.commits([post])
        assert await gate_flags(engine, post_uri) == (False, False)
        await handlers.commits([gate])
    elif order == "gate first":
        await handlers.commits([gate])
        await handlers.commits([post])
    else:
        await handlers.commits([gate, post])
    flags = (gate_collection == THREADGATE, gate_collection == POSTGATE)
    assert await gate_flags(engine, post_uri) == flags

    # A post deleted and written again (a later version) still sees its gate.
    await handlers.commits([commit(DID_A, [op("delete", POST, rkey)], 3)])
    await handlers.commits([commit(DID_A, [op("create", POST, rkey, post_record("again"))], 4)])
    assert await gate_flags(engine, post_uri) == flags

    await handlers.commits([commit(DID_A, [op("delete", gate_collection, rkey)], 5)])
    assert await gate_flags(engine, post_uri) == (False, False)
    # A replay of the gate's create is older than its delete: the flag stays down.
    await handlers.commits([gate])
    assert await gate_flags(engine, post_uri) == (False, False)


async def test_gates_naming_another_post_are_dead_lettered(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    mine = uri(DID_A, POST, "3kmine0000000")
    event = commit(
        DID_A,
        [
            op("create", THREADGATE, "3kother000000", thread_gate_record(mine)),  # another record key
            op("create", THREADGATE, "3kmine0000000", thread_gate_record(uri(DID_B, POST, "3kmine0000000"))),
            op("create", POSTGATE, "3kmine0000000", post_gate_record(uri(DID_A, GENERATOR, "3kmine0000000"))),
            op(
                "create",
                POSTGATE,
                "3kmine0000000",
                post_gate_record("at://alice.example.com/app.bsky.feed.post/3k"),
            ),
            op("create", THREADGATE, "3kmine0000000", thread_gate_record(mine, [{"list": "x"}])),  # no $type
        ],
        1,
    )
    dead = await handlers.commits([event])
    assert sorted((letter.op_index, letter.error.split(":")[0]) for letter in dead) == [
        (0, "post"),
        (1, "post"),
        (2, "post"),
        (3, "post"),
        (4, "allow[0].$type"),
    ]
    assert await table(engine, "thread_gates", "post_uri") == []
    assert await table(engine, "post_gates", "post_uri") == []


async def test_records_breaking_their_lexicon_are_dead_lettered(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    list_uri = uri(DID_A, LIST, "3klist0000000")
    bad = [
        (LIST, "3kl1", list_record("")),  # minLength 1
        (LIST, "3kl2", list_record("x" * 65)),  # maxLength 64
        (LIST, "3kl3", {"$type": LIST, "name": "No purpose", "createdAt": CREATED}),
        (LISTITEM, "3ki1", list_item_record(list_uri, "bob.example.com")),  # subject is not a DID
        (LISTITEM, "3ki2", list_item_record("https://example.com/list", DID_B)),
        (LISTBLOCK, "3kb1", list_block_record(DID_B)),  # a DID, not a list URI
        (STARTERPACK, "3ks1", starter_pack_record(list_uri, feeds=[{"uri": uri(DID_B, GENERATOR, "f")}] * 4)),
        (STARTERPACK, "3ks2", starter_pack_record(list_uri, name="🐈" * 51)),  # maxGraphemes 50
        (STARTERPACK, "3ks3", starter_pack_record(list_uri, feeds=[{"url": "x"}])),
        (VERIFICATION, "3kv1", verification_record(DID_B, handle="not a handle")),
        (VERIFICATION, "3kv2", {**verification_record(DID_B), "displayName": None}),
        (GENERATOR, "3kg1", generator_record("x" * 25)),  # maxGraphemes 24
        (GENERATOR, "3kg2", {**generator_record(), "did": "did:plc:short"}),
        (LABELER, "self", {"$type": LABELER, "policies": {"labelValues": "spam"}, "createdAt": CREATED}),
        (LABELER, "3klabeler0000", labeler_record("spam")),  # the record key is 'self'
        (THREADGATE, "3kt1", thread_gate_record(uri(DID_A, POST, "3kt1"), [rule("listRule", list="nope")])),
        (THREADGATE, "3kt2", thread_gate_record(uri(DID_A, POST, "3kt2"), [rule("mentionRule")] * 6)),
        (POSTGATE, "3kp1", post_gate_record(uri(DID_A, POST, "3kp1"), detachedEmbeddingUris=["nope"])),
        (POSTGATE, "3kp2", {"$type": POSTGATE, "post": uri(DID_A, POST, "3kp2")}),  # no createdAt
    ]
    event = commit(DID_A, [op("create", collection, rkey, record) for collection, rkey, record in bad], 1)
    dead = await handlers.commits([event])
    assert sorted(letter.op_index for letter in dead) == list(range(len(bad)))
    for name in ("lists", "list_items", "list_blocks", "starter_packs", "verifications", "feed_generators"):
        assert await table(engine, name) == [], name
    assert await table(engine, "labeler_services") == []
    assert await table(engine, "generic_records") == []


# -- everything else -------------------------------------------------------------------------------------

OTHER_RECORDS = [
    (
        "chat.bsky.actor.declaration",
        "self",
        {"$type": "chat.bsky.actor.declaration", "allowIncoming": "following"},
    ),
    (
        "app.bsky.actor.status",
        "self",
        {
            "$type": "app.bsky.actor.status",
            "status": "app.bsky.actor.status#live",
            "durationMinutes": 30,
            "createdAt": CREATED,
        },
    ),
    (
        "app.bsky.notification.declaration",
        "self",
        {"$type": "app.bsky.notification.declaration", "allowSubscriptions": "followers"},
    ),
    (
        "com.atproto.label.label",
        "3klabel000000",
        {
            "$type": "com.atproto.label.label",
            "src": DID_A,
            "uri": uri(DID_B, POST, "3kpost0000000"),
            "val": "spam",
            "cts": CREATED,
        },
    ),
    (
        "com.example.gallery.item",
        "3kitem0000000",
        {
            "$type": "com.example.gallery.item",
            "title": "Sunset",
            "image": blob(),
            "tags": ["sky", {"nested": [1, 2, True, None]}],
            "createdAt": "2024-05-01T14:00:00+02:00",
        },
    ),
]


async def test_other_collections_land_in_generic_records(
    handlers: IndexingHandlers, engine: AsyncEngine, dialect: str
) -> None:
    generic = registry().fallback
    assert all(registry().lookup(nsid) is generic for nsid, _, _ in OTHER_RECORDS)
    await apply(
        handlers,
        DID_A,
        1,
        *(op("create", nsid, rkey, as_dialect(dialect, record)) for nsid, rkey, record in OTHER_RECORDS),
    )
    expected = sorted(
        (
            {
                "uri": uri(DID_A, nsid, rkey),
                "cid": CID_1,
                "author_did": DID_A,
                "record_type": nsid,
                "record": record,
                "created_at": CREATED_AT if "createdAt" in record else "indexing time",
            }
            for nsid, rkey, record in OTHER_RECORDS
        ),
        key=lambda row: row["uri"],
    )
    # `created_at` is NOT NULL in the reference: without `createdAt` (and, here, without a commit
    # time) the record takes the indexing time.
    found = await table(engine, "generic_records")
    for row, wanted in zip(found, expected, strict=True):
        if wanted["created_at"] == "indexing time":
            assert abs(row["created_at"] - utc_now()) < timedelta(minutes=5)
            row["created_at"] = "indexing time"
    assert found == expected

    nsid, rkey, record = OTHER_RECORDS[0]
    updated = {**record, "allowIncoming": "none"}
    await apply(handlers, DID_A, 2, op("update", nsid, rkey, as_dialect(dialect, updated), CID_2))
    found = await one(
        engine, "SELECT cid, record FROM generic_records WHERE uri = :u", u=uri(DID_A, nsid, rkey)
    )
    assert found == {"cid": CID_2, "record": updated}
    await apply(handlers, DID_A, 3, *(op("delete", nsid, rkey) for nsid, rkey, _ in OTHER_RECORDS))
    assert await table(engine, "generic_records") == []


# -- a deleted account -------------------------------------------------------------------------------------


async def test_deleted_account_takes_every_new_kind_of_record_with_it(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    list_uri, feed_uri = uri(DID_A, LIST, "3klist0000000"), uri(DID_A, GENERATOR, "cats")
    post_uri = uri(DID_A, POST, "3kpost0000000")
    await apply(
        handlers,
        DID_A,
        1,
        op("create", LIST, "3klist0000000", list_record()),
        op("create", LISTITEM, "3kitem0000000", list_item_record(list_uri, DID_B)),
        op("create", LISTBLOCK, "3kblock000000", list_block_record(uri(DID_C, LIST, "3kmod00000000"))),
        op("create", STARTERPACK, "3kpack0000000", starter_pack_record(list_uri)),
        op("create", VERIFICATION, "3kverif000000", verification_record(DID_B)),
        op("create", GENERATOR, "cats", generator_record()),
        op("create", LABELER, "self", labeler_record("spam")),
        op("create", THREADGATE, "3kpost0000000", thread_gate_record(post_uri)),
        op("create", POSTGATE, "3kpost0000000", post_gate_record(post_uri)),
        op("create", "com.example.thing", "3kthing000000", {"$type": "com.example.thing"}),
    )
    await apply(handlers, DID_B, 2, op("create", LIKE, "3klike0000000", like_record(feed_uri)))
    await apply(handlers, DID_A, 3, op("create", POST, "3kpost0000000", post_record()))
    assert await one(engine, "SELECT like_count FROM feed_generators") == 1
    assert await gate_flags(engine, post_uri) == (True, True)

    await handlers.accounts([account(DID_A, False, "deleted", 4)])
    for name in (
        "lists",
        "list_items",
        "list_blocks",
        "starter_packs",
        "verifications",
        "feed_generators",
        "labeler_services",
        "thread_gates",
        "post_gates",
        "generic_records",
        "posts",
    ):
        assert await rows(engine, f"SELECT 1 FROM {name}") == [], name
    # B's like of the deleted feed still exists and is still counted on its URI.
    assert (await aggregate(engine, feed_uri))["like_count"] == 1
