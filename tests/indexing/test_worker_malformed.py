# ruff: noqa: E501  (the table of malformed entries reads best one case per line)
"""Bad input is normal: more than fifty distinct malformed entries thrown at the running worker, each
between two good ones. Every bad entry (or bad op) is dead-lettered with its reason or cleaned as
documented, the worker never stops, and every good entry around them is indexed, row by row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.broker.harness import Keys, dead_letters
from tests.indexing.conftest import truncate_all
from tests.indexing.running import index_entries
from tests.indexing.test_collections import one, rows
from tests.servers import Servers
from tests.support.events import CID_1, DID_A, DID_B, like_record, post_record

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
SUBJECT = f"at://{DID_B}/{POST}/3ksubject0000"


def fields(kind: str | bytes, data: Any, seq: str | bytes = "") -> dict[str | bytes, str | bytes]:
    raw = data if isinstance(data, str | bytes) else json.dumps(data)
    return {"type": kind, "data": raw, "seq": seq}


def commit_data(record: Any, path: str = f"{POST}/3kbad00000000", repo: str = DID_A, **op: Any) -> dict:
    return {"repo": repo, "ops": [{"action": "create", "path": path, "cid": CID_1, "record": record, **op}]}


def post_with(**changes: Any) -> dict[str, Any]:
    record = post_record("fine")
    record.update(changes)
    return {key: value for key, value in record.items() if value is not None}


# (name, entry, op_index of the dead letter or None for the whole entry)
DEAD: list[tuple[str, dict[str | bytes, str | bytes], int | None]] = [
    # The envelope: bytes, UTF-8, JSON, fields and their types.
    ("missing type", {"data": "{}", "seq": ""}, None),
    ("missing data", {"type": "commit", "seq": ""}, None),
    ("type not UTF-8", {b"type": b"\xff\xfe", "data": "{}"}, None),
    ("data not UTF-8", {"type": "commit", "data": b'{"repo": "\xc3\x28"}'}, None),
    ("seq not UTF-8", {"type": "commit", "data": "{}", "seq": b"\xff"}, None),
    ("data not JSON", fields("commit", "{not json"), None),
    ("data truncated JSON", fields("commit", '{"repo": "did:plc:x", "ops": ['), None),
    ("data a JSON array", fields("commit", [1, 2]), None),
    ("data a JSON string", fields("commit", "just text"), None),
    ("seq not a number", fields("commit", {"repo": DID_A, "ops": []}, seq="12ab"), None),
    ("commit without repo", fields("commit", {"ops": []}), None),
    ("repo a number", fields("commit", {"repo": 5, "ops": []}), None),
    ("ops not a list", fields("commit", {"repo": DID_A, "ops": {"a": 1}}), None),
    ("op not an object", fields("commit", {"repo": DID_A, "ops": ["create"]}), None),
    ("op without action", fields("commit", {"repo": DID_A, "ops": [{"path": f"{POST}/3k"}]}), None),
    ("unknown action", fields("commit", commit_data(post_record(), action="upsert")), None),
    ("path without slash", fields("commit", commit_data(post_record(), path="app.bsky.feed.post")), None),
    ("path with two slashes", fields("commit", commit_data(post_record(), path=f"{POST}/a/b")), None),
    ("cid a number", fields("commit", commit_data(post_record(), cid=7)), None),
    ("record a list", fields("commit", commit_data([1])), None),
    ("identity without did", fields("identity", {"handle": "a.test"}), None),
    ("identity handle a number", fields("identity", {"did": DID_A, "handle": 5}), None),
    ("account active a string", fields("account", {"did": DID_A, "active": "yes"}), None),
    ("account status a number", fields("account", {"did": DID_A, "active": False, "status": 3}), None),
    # Identifiers.
    ("repo DID too short", fields("commit", commit_data(post_record(), repo="did:plc:short")), None),
    ("repo not a DID", fields("commit", commit_data(post_record(), repo="alice.test")), None),
    ("repo did:web with a bad host", fields("commit", commit_data(post_record(), repo="did:web:-bad-")), None),
    ("repo DID over 2000 bytes", fields("commit", commit_data(post_record(), repo="did:web:" + "a" * 2100)), None),
    ("identity DID invalid", fields("identity", {"did": "did:plc:UPPERCASE000000000000000", "handle": None}), None),
    ("account DID invalid", fields("account", {"did": "did:nope", "active": True}), None),
    ("account status unknown", fields("account", {"did": DID_B, "active": False, "status": "exploded"}), None),
    ("collection not an NSID", fields("commit", commit_data(post_record(), path="app..bsky/3kbad")), 0),
    ("record key invalid", fields("commit", commit_data(post_record(), path=f"{POST}/..")), 0),
    ("record key with a space", fields("commit", commit_data(post_record(), path=f"{POST}/a b")), 0),
    ("CID invalid", fields("commit", commit_data(post_record(), cid="bafy-not-a-cid")), 0),
    ("create without record", fields("commit", commit_data(None)), 0),
    ("$type contradicts collection", fields("commit", commit_data(post_with(**{"$type": LIKE}))), 0),
    # Records against their lexicon.
    ("post text a number", fields("commit", commit_data(post_with(text=5))), 0),
    ("post text missing", fields("commit", commit_data(post_with(text=None))), 0),
    ("post text over 3000 bytes", fields("commit", commit_data(post_with(text="é" * 1600))), 0),
    ("post text over 300 graphemes", fields("commit", commit_data(post_with(text="a" * 301))), 0),
    ("post createdAt missing", fields("commit", commit_data(post_with(createdAt=None))), 0),
    ("post createdAt not a datetime", fields("commit", commit_data(post_with(createdAt="yesterday"))), 0),
    ("post createdAt impossible date", fields("commit", commit_data(post_with(createdAt="2024-13-45T00:00:00Z"))), 0),
    ("post createdAt without timezone", fields("commit", commit_data(post_with(createdAt="2024-01-01T00:00:00"))), 0),
    ("reply parent not an AT-URI", fields("commit", commit_data(post_with(reply={"root": {"uri": SUBJECT, "cid": CID_1}, "parent": {"uri": "https://x", "cid": CID_1}}))), 0),
    ("quote without cid", fields("commit", commit_data(post_with(embed={"$type": "app.bsky.embed.record", "record": {"uri": SUBJECT}}))), 0),
    ("langs not a list", fields("commit", commit_data(post_with(langs="en"))), 0),
    ("tags with a number", fields("commit", commit_data(post_with(tags=["ok", 3]))), 0),
    ("like subject not an AT-URI", fields("commit", commit_data({**like_record(SUBJECT), "subject": {"uri": "nope", "cid": CID_1}}, path=f"{LIKE}/3kbad")), 0),
    ("like subject CID invalid", fields("commit", commit_data({**like_record(SUBJECT), "subject": {"uri": SUBJECT, "cid": "x"}}, path=f"{LIKE}/3kbad")), 0),
    ("follow subject not a DID", fields("commit", commit_data({"$type": "app.bsky.graph.follow", "subject": "alice.test", "createdAt": "2024-01-01T00:00:00Z"}, path="app.bsky.graph.follow/3kbad")), 0),
    ("block subject an AT-URI", fields("commit", commit_data({"$type": "app.bsky.graph.block", "subject": SUBJECT, "createdAt": "2024-01-01T00:00:00Z"}, path="app.bsky.graph.block/3kbad")), 0),
    ("profile under another key", fields("commit", commit_data({"$type": "app.bsky.actor.profile"}, path="app.bsky.actor.profile/other")), 0),
    ("profile display name too long", fields("commit", commit_data({"$type": "app.bsky.actor.profile", "displayName": "x" * 700}, path="app.bsky.actor.profile/self")), 0),
    ("profile avatar not a blob", fields("commit", commit_data({"$type": "app.bsky.actor.profile", "avatar": "cid"}, path="app.bsky.actor.profile/self")), 0),
]  # fmt: skip

# Two ops in one commit: the bad one is dead-lettered alone, the good one applied.
MIXED_COMMIT = fields(
    "commit",
    {
        "repo": DID_A,
        "ops": [
            {
                "action": "create",
                "path": f"{LIKE}/3kmixedgood00",
                "cid": CID_1,
                "record": like_record(SUBJECT),
            },
            {"action": "create", "path": f"{LIKE}/3kmixedbad000", "cid": CID_1, "record": {"$type": LIKE}},
        ],
    },
)

# Cleaned, not dead-lettered: NUL bytes stripped, a far-future createdAt kept (sort_at clamped), an
# invalid handle stored as the placeholder, an unknown `type` acknowledged and counted.
CLEANED = [
    fields("commit", commit_data(post_with(text="nul\x00byte"), path=f"{POST}/3knul00000000")),
    fields("commit", commit_data(post_with(createdAt="2999-01-01T00:00:00Z"), path=f"{POST}/3kfuture00000")),
    fields("identity", {"did": DID_B, "handle": "not a handle!"}),
    fields("sync", {"did": DID_A}),
]


def good_like(index: int) -> dict[str | bytes, str | bytes]:
    """A like of a post of its own, so no two good likes (nor the mixed commit's) form one pair."""
    subject = f"at://{DID_B}/{POST}/3ksubj{index:07d}"
    return fields(
        "commit", commit_data(like_record(subject), path=f"{LIKE}/3kgood{index:07d}", repo=good_repo(index))
    )


def good_repo(index: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "did:plc:" + "".join(alphabet[(index >> (5 * n)) % 32] for n in range(24))


@pytest.mark.slow
async def test_malformed_entries_are_dead_lettered_or_cleaned(
    servers: Servers,
    database_url_str: str,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    assert len(DEAD) >= 50
    await truncate_all(engine)
    keys = Keys(redis_prefix)
    entries = [good_like(0)]
    for index, (_, entry, _) in enumerate([*DEAD, ("mixed", MIXED_COMMIT, 1)], start=1):
        entries += [entry, good_like(index)]
    entries += CLEANED
    worker = await index_entries(redis_client, keys, servers.redis_url, database_url_str, tmp_path, entries)

    ids = [entry_id.decode() for entry_id, _ in await redis_client.xrange(keys.stream)]
    letters = await dead_letters(redis_client, keys)
    for position, (name, entry, op_index) in enumerate([*DEAD, ("mixed", MIXED_COMMIT, 1)]):
        entry_id = ids[1 + 2 * position]
        assert entry_id in letters, f"{name}: not dead-lettered\n{worker.log[-2000:]}"
        letter = letters[entry_id]
        assert letter[b"error"], name
        assert letter[b"deliveries"] == b"1", name
        original = entry.get("data")
        if isinstance(original, str):
            assert letter[b"data"] == original.encode(), name
        if op_index is not None:
            assert letter.get(b"opIndex") == str(op_index).encode(), name
    assert len(letters) == len(DEAD) + 1, sorted(letter[b"error"] for letter in letters.values())

    likes = {row["uri"] for row in await rows(engine, "SELECT uri FROM likes")}
    for index in range(len(DEAD) + 2):
        assert f"at://{good_repo(index)}/{LIKE}/3kgood{index:07d}" in likes, index
    assert f"at://{DID_A}/{LIKE}/3kmixedgood00" in likes
    assert await one(engine, "SELECT text FROM posts WHERE uri LIKE '%3knul%'") == "nulbyte"
    future = await one(
        engine,
        "SELECT posts.created_at, feed_items.sort_at FROM posts JOIN feed_items USING (uri) WHERE uri LIKE '%3kfuture%'",
    )
    assert future["created_at"].year == 2999 and future["sort_at"].year < 2999
    assert await one(engine, "SELECT handle FROM users WHERE did = :d", d=DID_B) == "handle.invalid"
    assert await rows(engine, "SELECT uri FROM posts WHERE uri LIKE '%3kbad%'") == []
