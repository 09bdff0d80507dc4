"""Convergence: the same events in any order, any number of times, in overlapping batches, give the
tables an independent plain-Python model of the rules predicts.

The model knows nothing of the implementation: a record is live when the newest op on its URI (among
those newer than its account's newest deletion, whatever account events follow that deletion) is a
create or update; a relationship unique per pair counts once however many live records it has;
counters count live relationships; notifications go to the subject's author, never to oneself; only a
post embedding a post quotes it; an account's status is its newest account event's; its handle is
that of the newest identity event naming one (an event without a handle changes nothing).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from app.indexing.handlers import IndexingHandlers
from app.indexing.recount import counter_drift
from tests.indexing.conftest import empty_database
from tests.indexing.histories import apply, in_any_order, in_overlapping_batches, to_events
from tests.indexing.test_collections import rows
from tests.support.events import (
    DID_A,
    DID_B,
    DID_C,
    block_record,
    follow_record,
    like_record,
    post_record,
    repost_record,
    strong_ref,
    uri,
)

DIDS = (DID_A, DID_B, DID_C)
RKEYS = ("3kaaaaaaaaaa2", "3kbbbbbbbbbb2", "3kcccccccccc2")
POSTS = tuple(uri(did, "app.bsky.feed.post", rkey) for did in DIDS for rkey in RKEYS[:2])
# What a post may embed: posts (a quote) and records of other collections (no quote).
EMBEDDABLE = (
    *POSTS[:3],
    uri(DID_B, "app.bsky.feed.generator", "cats"),
    uri(DID_C, "app.bsky.graph.list", RKEYS[0]),
    uri(DID_A, "app.bsky.graph.starterpack", RKEYS[0]),
    uri(DID_B, "app.bsky.labeler.service", "self"),
)
STATUSES = ("deleted", "deleted", "deactivated", "active", "takendown")
# Handles an identity event may carry, and what the table then holds (None: no handle in the event).
HANDLES = {
    "alice.example.com": "alice.example.com",
    "Bob.Example.COM": "bob.example.com",
    "handle.invalid": "handle.invalid",
    "not a handle": "handle.invalid",
}
PLACEHOLDER = "handle.invalid"
PAIR_COLLECTIONS = {
    "app.bsky.feed.like": ("likes", "user_did", "post_uri"),
    "app.bsky.feed.repost": ("reposts", "user_did", "post_uri"),
    "app.bsky.graph.follow": ("follows", "follower_did", "following_did"),
    "app.bsky.graph.block": ("blocks", "blocker_did", "blocked_did"),
}


@dataclass(frozen=True)
class GeneratedOp:
    """One op of the true history; `version` is its position in that history."""

    version: int
    did: str
    collection: str
    rkey: str
    action: str
    subject: str | None = None  # like/repost: a post URI; follow/block: a DID; post: the parent
    text: str = ""
    embed: str | None = None  # post: the URI of the record it embeds
    handle: str | None = None  # identity: the handle it names (None: an event without one)

    @property
    def uri(self) -> str:
        return uri(self.did, self.collection, self.rkey)

    def record(self) -> dict[str, Any]:
        created = f"2024-01-01T00:00:{self.version % 60:02d}Z"
        if self.collection == "app.bsky.feed.post":
            reply = (
                {"root": strong_ref(self.subject), "parent": strong_ref(self.subject)}
                if self.subject
                else None
            )
            embed = (
                {"$type": "app.bsky.embed.record", "record": strong_ref(self.embed)} if self.embed else None
            )
            extra = {"reply": reply, "embed": embed}
            return post_record(self.text, created, **{key: value for key, value in extra.items() if value})
        builders = {
            "app.bsky.feed.like": like_record,
            "app.bsky.feed.repost": repost_record,
            "app.bsky.graph.follow": follow_record,
            "app.bsky.graph.block": block_record,
        }
        assert self.subject is not None
        return builders[self.collection](self.subject, created)


@st.composite
def histories(draw: st.DrawFn) -> list[GeneratedOp]:
    length = draw(st.integers(min_value=1, max_value=24))
    history: list[GeneratedOp] = []
    for version in range(1, length + 1):
        did = draw(st.sampled_from(DIDS))
        kind = draw(
            st.sampled_from(
                [
                    "post",
                    "post",
                    "like",
                    "like",
                    "repost",
                    "follow",
                    "block",
                    "account",
                    "account",
                    "identity",
                ]
            )
        )
        if kind == "account":
            history.append(GeneratedOp(version, did, "account", "", draw(st.sampled_from(STATUSES))))
            continue
        if kind == "identity":
            handle = draw(st.none() | st.sampled_from(sorted(HANDLES)))
            history.append(GeneratedOp(version, did, "identity", "", "", handle=handle))
            continue
        action = draw(st.sampled_from(["create", "create", "update", "delete"]))
        if kind == "post":
            parent = draw(st.none() | st.sampled_from(POSTS))
            text = draw(st.sampled_from(["a", "b"]))
            embed = draw(st.none() | st.sampled_from(EMBEDDABLE))
            rkey = draw(st.sampled_from(RKEYS[:2]))
            history.append(GeneratedOp(version, did, "app.bsky.feed.post", rkey, action, parent, text, embed))
            continue
        collection = {
            "like": "app.bsky.feed.like",
            "repost": "app.bsky.feed.repost",
            "follow": "app.bsky.graph.follow",
            "block": "app.bsky.graph.block",
        }[kind]
        subject = draw(st.sampled_from(POSTS if kind in ("like", "repost") else DIDS))
        history.append(GeneratedOp(version, did, collection, draw(st.sampled_from(RKEYS)), action, subject))
    return history


# -- the model ---------------------------------------------------------------------------------------


@dataclass
class Expected:
    posts: dict[str, tuple[str, str | None]]  # uri → (text, parent)
    pairs: dict[str, set[tuple[str, str]]]  # table → live (author, subject) pairs
    relationship_uris: dict[str, set[str]]  # table → every live record URI (in the table or aside)
    notifications: set[tuple[str, str, str, str | None]]  # (reason, recipient, author, subject)
    quotes: set[tuple[str, str]]  # (quoting post, quoted post)
    statuses: dict[str, str]  # DID → status word, for every DID an account event named
    handles: dict[str, str]  # DID → handle, for every DID an identity event named


def newest_by_did(history: list[GeneratedOp], collection: str) -> dict[str, GeneratedOp]:
    newest: dict[str, GeneratedOp] = {}
    for item in history:
        if item.collection == collection and (
            item.did not in newest or newest[item.did].version < item.version
        ):
            newest[item.did] = item
    return newest


def model(history: list[GeneratedOp]) -> Expected:
    deleted_at: dict[str, int] = {}
    for item in history:
        if item.collection == "account" and item.action == "deleted":
            deleted_at[item.did] = max(deleted_at.get(item.did, 0), item.version)
    statuses = {did: item.action for did, item in newest_by_did(history, "account").items()}
    naming = newest_by_did([item for item in history if item.handle is not None], "identity")
    handles = {item.did: PLACEHOLDER for item in history if item.collection == "identity"}
    handles.update({did: HANDLES[item.handle] for did, item in naming.items() if item.handle is not None})
    newest: dict[str, GeneratedOp] = {}
    for item in history:
        if item.collection in ("account", "identity") or item.version <= deleted_at.get(item.did, 0):
            continue
        if item.uri not in newest or newest[item.uri].version < item.version:
            newest[item.uri] = item
    live = [item for item in newest.values() if item.action != "delete"]
    expected = Expected({}, defaultdict(set), defaultdict(set), set(), set(), statuses, handles)
    for item in live:
        if item.collection == "app.bsky.feed.post":
            expected.posts[item.uri] = (item.text, item.subject)
            if item.subject and item.subject.split("/")[2] != item.did:
                expected.notifications.add(("reply", item.subject.split("/")[2], item.did, item.subject))
            if item.embed and item.embed.split("/")[3] == "app.bsky.feed.post":
                expected.quotes.add((item.uri, item.embed))
                if item.embed.split("/")[2] != item.did:
                    expected.notifications.add(("quote", item.embed.split("/")[2], item.did, item.embed))
            continue
        table, _, _ = PAIR_COLLECTIONS[item.collection]
        assert item.subject is not None
        expected.pairs[table].add((item.did, item.subject))
        expected.relationship_uris[table].add(item.uri)
    for table, reason in (("likes", "like"), ("reposts", "repost"), ("follows", "follow")):
        for author, subject in expected.pairs[table]:
            recipient = subject if subject.startswith("did:") else subject.split("/")[2]
            if recipient != author:
                expected.notifications.add(
                    (reason, recipient, author, None if reason == "follow" else subject)
                )
    return expected


async def observed(engine: AsyncEngine) -> Expected:
    posts = {
        row["uri"]: (row["text"], row["parent_uri"]) for row in await rows(engine, "SELECT * FROM posts")
    }
    pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
    uris: dict[str, set[str]] = defaultdict(set)
    aside = await rows(engine, "SELECT uri, collection FROM indexer.aside_records")
    for collection, (table, author, subject) in PAIR_COLLECTIONS.items():
        found = await rows(engine, f"SELECT uri, {author} AS a, {subject} AS s FROM {table}")
        assert len({(row["a"], row["s"]) for row in found}) == len(found)
        pairs[table] = {(row["a"], row["s"]) for row in found}
        uris[table] = {row["uri"] for row in found} | {
            row["uri"] for row in aside if row["collection"] == collection
        }
    notes = {
        (row["reason"], row["recipient_did"], row["author_did"], row["reason_subject"])
        for row in await rows(engine, "SELECT * FROM notifications")
    }
    quotes = {(row["post_uri"], row["quoted_uri"]) for row in await rows(engine, "SELECT * FROM quotes")}
    users = await rows(
        engine, "SELECT did, handle, status FROM users LEFT JOIN indexer.account_states USING (did)"
    )
    statuses = {row["did"]: row["status"] for row in users if row["status"] is not None}
    handles = {row["did"]: row["handle"] for row in users}
    return Expected(posts, pairs, uris, notes, quotes, statuses, handles)


async def assert_matches_model(engine: AsyncEngine, history: list[GeneratedOp]) -> None:
    expected, found = model(history), await observed(engine)
    assert found.posts == expected.posts
    for table in ("likes", "reposts", "follows", "blocks"):
        assert found.pairs[table] == expected.pairs[table], table
        assert found.relationship_uris[table] == expected.relationship_uris[table], table
    assert found.notifications == expected.notifications
    assert found.quotes == expected.quotes
    assert found.statuses == expected.statuses
    assert {did: found.handles.get(did) for did in expected.handles} == expected.handles
    feed = {(row["uri"], row["type"]) for row in await rows(engine, "SELECT uri, type FROM feed_items")}
    reposts = await rows(engine, "SELECT uri FROM reposts")
    assert feed == {(post, "post") for post in expected.posts} | {(row["uri"], "repost") for row in reposts}
    replies = defaultdict(int)
    for _, parent in expected.posts.values():
        if parent:
            replies[parent] += 1
    likes = defaultdict(int)
    for _, subject in expected.pairs["likes"]:
        likes[subject] += 1
    quoted = defaultdict(int)
    for _, subject in expected.quotes:
        quoted[subject] += 1
    counts = await rows(
        engine, "SELECT post_uri, like_count, reply_count, quote_count FROM post_aggregations"
    )
    assert {row["post_uri"]: row["quote_count"] for row in counts if row["quote_count"]} == dict(quoted)
    assert {row["post_uri"]: row["like_count"] for row in counts if row["like_count"]} == dict(likes)
    assert {row["post_uri"]: row["reply_count"] for row in counts if row["reply_count"]} == dict(replies)
    async with engine.connect() as conn:
        assert await counter_drift(conn) == []


@given(history=histories(), seed=st.integers(min_value=0, max_value=2**32 - 1))
async def test_any_order_and_repetition_converge(
    handlers: IndexingHandlers, engine: AsyncEngine, history: list[GeneratedOp], seed: int
) -> None:
    await in_any_order(
        handlers,
        engine,
        to_events(history),
        seed,
        lambda: assert_matches_model(engine, history),
        batch_size=5,
    )


@given(history=histories(), seed=st.integers(min_value=0, max_value=2**32 - 1))
async def test_overlapping_batches_converge(
    handlers: IndexingHandlers, engine: AsyncEngine, history: list[GeneratedOp], seed: int
) -> None:
    """Two halves of a shuffled log applied at the same time, on two connections, then everything again."""
    await in_overlapping_batches(
        handlers, engine, to_events(history), seed, lambda: assert_matches_model(engine, history), (50, 3)
    )


RICH_HISTORY = [
    GeneratedOp(1, DID_A, "app.bsky.feed.post", RKEYS[0], "create", None, "a"),
    GeneratedOp(2, DID_B, "app.bsky.feed.post", RKEYS[0], "create", POSTS[0], "b"),
    GeneratedOp(3, DID_B, "app.bsky.feed.like", RKEYS[0], "create", POSTS[0]),
    GeneratedOp(4, DID_B, "app.bsky.feed.like", RKEYS[1], "create", POSTS[0]),
    GeneratedOp(5, DID_C, "app.bsky.feed.repost", RKEYS[0], "create", POSTS[0]),
    GeneratedOp(6, DID_C, "app.bsky.graph.follow", RKEYS[0], "create", DID_A),
    GeneratedOp(7, DID_A, "app.bsky.graph.block", RKEYS[0], "create", DID_C),
    GeneratedOp(8, DID_B, "app.bsky.feed.like", RKEYS[0], "delete"),
    GeneratedOp(9, DID_C, "app.bsky.feed.like", RKEYS[2], "create", POSTS[2]),
    GeneratedOp(10, DID_C, "account", "", "deleted"),
    GeneratedOp(11, DID_C, "app.bsky.feed.like", RKEYS[1], "create", POSTS[0]),
]


async def test_rich_history_in_every_order(handlers: IndexingHandlers, engine: AsyncEngine) -> None:
    """A hand-written history whose outcome is not empty, applied forwards, backwards and twice."""
    events = to_events(RICH_HISTORY)
    for ordering in (events, events[::-1], events + events[::-1]):
        await empty_database(handlers, engine)
        await apply(handlers, ordering, batch_size=3)
        await assert_matches_model(engine, RICH_HISTORY)
        expected = model(RICH_HISTORY)
        assert len(expected.posts) == 2 and len(expected.pairs["likes"]) == 2
        assert expected.pairs["follows"] == set() and expected.pairs["blocks"] == {(DID_A, DID_C)}
        assert len(await rows(engine, "SELECT 1 FROM likes")) == 2
        assert len(await rows(engine, "SELECT 1 FROM posts")) == 2
        assert len(await rows(engine, "SELECT 1 FROM notifications")) >= 2
