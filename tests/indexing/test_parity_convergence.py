"""Convergence of the parity collections: the same events in any order, any number of times, in
batches of any size, give the tables a plain-Python model of the rules predicts.

Covered: lists, list items (some on another account's list, which are never indexed), list blocks,
verifications, starter packs, feed generators and labelers with their likes (counted before and after
the liked record exists), posts with thread and post gates (the posts' gate flags), and deleted
accounts. The model knows nothing of the implementation: a record is live when the newest op on its
URI, among those newer than its account's deletion, is a create or update; a relationship unique per
pair counts once however many live records it has.
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
from tests.indexing.histories import in_any_order, in_overlapping_batches, to_events
from tests.indexing.test_collections import LIKE, POST, rows
from tests.indexing.test_parity import (
    ABSENT,
    GENERATOR,
    LABELER,
    LIST,
    LISTBLOCK,
    LISTITEM,
    POSTGATE,
    STARTERPACK,
    THREADGATE,
    VERIFICATION,
    generator_record,
    labeler_record,
    list_block_record,
    list_item_record,
    list_record,
    post_gate_record,
    rule,
    starter_pack_record,
    thread_gate_record,
    verification_record,
)
from tests.support.events import DID_A, DID_B, DID_C, like_record, post_record, uri

DIDS = (DID_A, DID_B, DID_C)
RKEYS = ("3kaaaaaaaaaa2", "3kbbbbbbbbbb2")
LISTS = tuple(uri(did, LIST, rkey) for did in DIDS[:2] for rkey in RKEYS)
# Few subjects, so that likes, gates and items often meet what they name (before or after it exists).
FEEDS = tuple(uri(did, GENERATOR, RKEYS[0]) for did in DIDS[:2])
LABELERS = tuple(uri(did, LABELER, "self") for did in DIDS[:2])
# The thread gate's `allow` and the `allow_mentions` it stores (an absent `allow` stores the column's
# default; that anyone may reply is ours, in indexer.thread_gate_rules).
ALLOWS: dict[str, tuple[Any, bool | None]] = {
    "anyone": (ABSENT, True),
    "nobody": ([], False),
    "mentioned": ([rule("mentionRule")], True),
}
# What an op of a history does, weighted by repetition.
KINDS = (LIST, LISTITEM, LISTITEM, LISTBLOCK, VERIFICATION, STARTERPACK, GENERATOR, LABELER)
KINDS += (LIKE, LIKE, POST, POST, THREADGATE, THREADGATE, POSTGATE, POSTGATE, "account")
# Pair tables: collection → (table, pair columns). Verifications are unique per subject alone.
PAIRS = {
    LISTITEM: ("list_items", "list_uri", "subject_did"),
    LISTBLOCK: ("list_blocks", "blocker_did", "list_uri"),
    VERIFICATION: ("verifications", "''", "subject_did"),
    LIKE: ("likes", "user_did", "post_uri"),
}


@dataclass(frozen=True)
class GeneratedOp:
    """One op of the true history; `version` is its position in that history."""

    version: int
    did: str
    collection: str
    rkey: str
    action: str
    subject: str = ""  # the list, DID, liked record or allow variant the record names
    name: str = ""
    handle: str | None = None  # identity events only; this suite generates none

    @property
    def uri(self) -> str:
        return uri(self.did, self.collection, self.rkey)

    def record(self) -> dict[str, Any]:
        if self.collection == LIST:
            return list_record(self.name)
        if self.collection == LISTITEM:
            return list_item_record(self.subject, self.name)
        if self.collection == LISTBLOCK:
            return list_block_record(self.subject)
        if self.collection == VERIFICATION:
            return verification_record(self.subject)
        if self.collection == STARTERPACK:
            return starter_pack_record(self.subject, self.name)
        if self.collection == GENERATOR:
            return generator_record(self.name)
        if self.collection == LABELER:
            return labeler_record(self.name)
        if self.collection == LIKE:
            return like_record(self.subject)
        if self.collection == POST:
            return post_record(self.name)
        post_uri = uri(self.did, POST, self.rkey)
        if self.collection == THREADGATE:
            return thread_gate_record(post_uri, ALLOWS[self.subject][0])
        return post_gate_record(post_uri)


@st.composite
def histories(draw: st.DrawFn) -> list[GeneratedOp]:
    length = draw(st.integers(min_value=4, max_value=30))
    history: list[GeneratedOp] = []
    for version in range(1, length + 1):
        did = draw(st.sampled_from(DIDS))
        kind = draw(st.sampled_from(KINDS))
        if kind == "account":
            history.append(GeneratedOp(version, did, "account", "", "deleted"))
            continue
        action = draw(st.sampled_from(["create", "create", "update", "delete"]))
        single = {
            LABELER: "self",
            GENERATOR: RKEYS[0],
            POST: RKEYS[0],
            THREADGATE: RKEYS[0],
            POSTGATE: RKEYS[0],
        }
        rkey = single.get(kind) or draw(st.sampled_from(RKEYS))
        name = draw(st.sampled_from(["a", "b"]))
        subject = {
            LISTITEM: st.sampled_from(LISTS),
            LISTBLOCK: st.sampled_from(LISTS),
            STARTERPACK: st.sampled_from(LISTS),
            VERIFICATION: st.sampled_from(DIDS),
            LIKE: st.sampled_from(FEEDS + LABELERS),
            THREADGATE: st.sampled_from(sorted(ALLOWS)),
        }.get(kind, st.just(""))
        if kind == LISTITEM:
            name = draw(st.sampled_from(DIDS))  # the account on the list
        history.append(GeneratedOp(version, did, kind, rkey, action, draw(subject), name))
    return history


# -- the model -----------------------------------------------------------------------------------------


@dataclass
class Tables:
    named: dict[str, set[tuple[str, str]]]  # table → live (uri, name)
    pairs: dict[str, set[tuple[str, str]]]  # pair table → live pairs
    relationship_uris: dict[str, set[str]]  # pair table → live record URIs, in the table or aside
    like_counts: dict[str, dict[str, int]]  # feed_generators / labeler_services → uri → like_count
    aggregated_likes: dict[str, int]  # post_aggregations.like_count, non-zero ones
    thread_gates: dict[str, bool | None]  # post uri → allow_mentions
    post_gates: set[str]  # post uris
    gate_flags: dict[str, tuple[bool, bool]]  # post uri → (has_thread_gate, has_post_gate)


def empty_tables() -> Tables:
    pair_tables = [name for name, _, _ in PAIRS.values()]
    return Tables(
        named={name: set() for name in ("lists", "starter_packs", "feed_generators")},
        pairs={name: set() for name in pair_tables},
        relationship_uris={name: set() for name in pair_tables},
        like_counts={name: {} for name in ("feed_generators", "labeler_services")},
        aggregated_likes={},
        thread_gates={},
        post_gates=set(),
        gate_flags={},
    )


def model(history: list[GeneratedOp]) -> Tables:
    deleted_at: dict[str, int] = {}
    for item in history:
        if item.collection == "account":
            deleted_at[item.did] = max(deleted_at.get(item.did, 0), item.version)
    newest: dict[str, GeneratedOp] = {}
    for item in history:
        if item.collection == "account" or item.version <= deleted_at.get(item.did, 0):
            continue
        if item.uri not in newest or newest[item.uri].version < item.version:
            newest[item.uri] = item
    live = [item for item in newest.values() if item.action != "delete"]
    # Items of another account's list are never indexed, whatever came before them.
    live = [item for item in live if item.collection != LISTITEM or item.subject.split("/")[2] == item.did]
    expected = empty_tables()
    by_collection: dict[str, list[GeneratedOp]] = defaultdict(list)
    for item in live:
        by_collection[item.collection].append(item)
    for collection, name in ((LIST, "lists"), (STARTERPACK, "starter_packs")):
        expected.named[name] = {(item.uri, item.name) for item in by_collection[collection]}
    for collection, (name, _, _) in PAIRS.items():
        for item in by_collection[collection]:
            author = (
                item.subject if collection == LISTITEM else "" if collection == VERIFICATION else item.did
            )
            subject = item.name if collection == LISTITEM else item.subject
            expected.pairs[name].add((author, subject))
            expected.relationship_uris[name].add(item.uri)
    likes: dict[str, int] = defaultdict(int)
    for _, subject in expected.pairs["likes"]:
        likes[subject] += 1
    expected.aggregated_likes = dict(likes)
    expected.named["feed_generators"] = {(item.uri, item.name) for item in by_collection[GENERATOR]}
    for collection, name in ((GENERATOR, "feed_generators"), (LABELER, "labeler_services")):
        expected.like_counts[name] = {item.uri: likes.get(item.uri, 0) for item in by_collection[collection]}
    expected.thread_gates = {
        uri(item.did, POST, item.rkey): ALLOWS[item.subject][1] for item in by_collection[THREADGATE]
    }
    expected.post_gates = {uri(item.did, POST, item.rkey) for item in by_collection[POSTGATE]}
    expected.gate_flags = {
        item.uri: (item.uri in expected.thread_gates, item.uri in expected.post_gates)
        for item in by_collection[POST]
    }
    return expected


async def observed(engine: AsyncEngine) -> Tables:
    found = empty_tables()
    for name, column in (("lists", "name"), ("starter_packs", "name"), ("feed_generators", "display_name")):
        found.named[name] = {(row["uri"], row[column]) for row in await rows(engine, f"SELECT * FROM {name}")}
    aside = await rows(engine, "SELECT uri, collection FROM indexer.aside_records")
    for collection, (name, author, subject) in PAIRS.items():
        live = await rows(engine, f"SELECT uri, {author} AS a, {subject} AS s FROM {name}")
        found.pairs[name] = {(row["a"], row["s"]) for row in live}
        assert len(found.pairs[name]) == len(live), name
        found.relationship_uris[name] = {row["uri"] for row in live} | {
            row["uri"] for row in aside if row["collection"] == collection
        }
    for name in ("feed_generators", "labeler_services"):
        found.like_counts[name] = {
            row["uri"]: row["like_count"] for row in await rows(engine, f"SELECT * FROM {name}")
        }
    found.aggregated_likes = {
        row["post_uri"]: row["like_count"]
        for row in await rows(
            engine, "SELECT post_uri, like_count FROM post_aggregations WHERE like_count <> 0"
        )
    }
    found.thread_gates = {
        row["post_uri"]: row["allow_mentions"] for row in await rows(engine, "SELECT * FROM thread_gates")
    }
    found.post_gates = {row["post_uri"] for row in await rows(engine, "SELECT post_uri FROM post_gates")}
    found.gate_flags = {
        row["uri"]: (row["has_thread_gate"], row["has_post_gate"])
        for row in await rows(engine, "SELECT uri, has_thread_gate, has_post_gate FROM posts")
    }
    return found


async def assert_matches_model(engine: AsyncEngine, history: list[GeneratedOp]) -> None:
    assert await observed(engine) == model(history)
    async with engine.connect() as conn:
        assert await counter_drift(conn) == []


@given(history=histories(), seed=st.integers(min_value=0, max_value=2**32 - 1))
async def test_parity_collections_converge_in_any_order(
    handlers: IndexingHandlers, engine: AsyncEngine, history: list[GeneratedOp], seed: int
) -> None:
    await in_any_order(
        handlers,
        engine,
        to_events(history),
        seed,
        lambda: assert_matches_model(engine, history),
        batch_size=1,
    )


@given(history=histories(), seed=st.integers(min_value=0, max_value=2**32 - 1))
async def test_parity_collections_converge_in_overlapping_batches(
    handlers: IndexingHandlers, engine: AsyncEngine, history: list[GeneratedOp], seed: int
) -> None:
    """Two halves of a shuffled log at the same time, on two connections (as parallel pipelines do),
    then everything again: a gate and its post, or a like and its feed, may commit side by side."""
    await in_overlapping_batches(
        handlers, engine, to_events(history), seed, lambda: assert_matches_model(engine, history), (1, 3)
    )
