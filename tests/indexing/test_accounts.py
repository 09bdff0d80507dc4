"""Identity and account events: handles and status on `users`, latest version wins; a deleted account
is purged with every counter its records touched corrected, and its older events stay stale."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.events import CommitEvent
from app.indexing.accounts import apply_accounts
from app.indexing.batch import utc_now
from app.indexing.handlers import IndexingHandlers
from app.indexing.registry import registry
from app.indexing.sql import unnest_typed
from tests.indexing.test_collections import LIKE, POST, REPOST, aggregate, notifications, one, rows
from tests.support.events import (
    DID_A,
    DID_B,
    account,
    commit,
    follow_record,
    identity,
    like_record,
    op,
    post_record,
    repost_record,
    uri,
)


async def test_handle_latest_version_wins(handlers: IndexingHandlers, engine: AsyncEngine) -> None:
    dead = await handlers.identities(
        [identity(DID_A, "Alice.Example.COM", 5), identity(DID_A, "old.example.com", 3)]
    )
    assert dead == []
    assert await one(engine, "SELECT handle FROM users WHERE did = :d", d=DID_A) == "alice.example.com"
    await handlers.identities([identity(DID_A, "older.example.com", 4)])
    assert await one(engine, "SELECT handle FROM users WHERE did = :d", d=DID_A) == "alice.example.com"
    await handlers.identities([identity(DID_A, "not a handle", 6)])
    assert await one(engine, "SELECT handle FROM users WHERE did = :d", d=DID_A) == "handle.invalid"
    await handlers.identities([identity(DID_A, None, 7), identity(DID_B, "bob.test", 1)])
    assert await one(engine, "SELECT handle FROM users WHERE did = :d", d=DID_A) == "handle.invalid"
    assert await one(engine, "SELECT handle FROM users WHERE did = :d", d=DID_B) == "bob.test"


async def test_invalid_dids_and_statuses_are_dead_letters(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    bad_identity = identity("did:plc:tooshort", "a.test", 1)
    assert [letter.entry_id for letter in await handlers.identities([bad_identity])] == [
        bad_identity.entry_id
    ]
    bad_did = account("not-a-did", True, None, 1)
    bad_status = account(DID_A, False, "exploded", 2)
    dead = await handlers.accounts([bad_did, bad_status, account(DID_B, False, "takendown", 3)])
    assert sorted(letter.entry_id for letter in dead) == sorted([bad_did.entry_id, bad_status.entry_id])
    assert (
        await one(engine, "SELECT status FROM indexer.account_states WHERE did = :d", d=DID_B) == "takendown"
    )
    assert await rows(engine, "SELECT did FROM users WHERE did = :d", d=DID_A) == []


async def test_status_words(handlers: IndexingHandlers, engine: AsyncEngine) -> None:
    await handlers.accounts([account(DID_A, False, None, 1)])
    assert (
        await one(engine, "SELECT status FROM indexer.account_states WHERE did = :d", d=DID_A) == "inactive"
    )
    await handlers.accounts([account(DID_A, False, "suspended", 3)])
    await handlers.accounts([account(DID_A, True, None, 2)])  # older: skipped
    assert (
        await one(engine, "SELECT status FROM indexer.account_states WHERE did = :d", d=DID_A) == "suspended"
    )
    await handlers.accounts([account(DID_A, True, None, 4)])
    assert await one(engine, "SELECT status FROM indexer.account_states WHERE did = :d", d=DID_A) == "active"


async def test_deleted_account_is_purged_and_stays_purged(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    b_post = uri(DID_B, POST, "3kbpost000000")
    a_post = uri(DID_A, POST, "3kapost000000")
    await handlers.commits(
        [
            commit(
                DID_A,
                [
                    op("create", POST, "3kapost000000", post_record("mine")),
                    op(
                        "create",
                        POST,
                        "3kreply000000",
                        post_record(
                            "re",
                            reply={
                                "root": {
                                    "uri": b_post,
                                    "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
                                },
                                "parent": {
                                    "uri": b_post,
                                    "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
                                },
                            },
                        ),
                    ),
                    op("create", LIKE, "3klike0000000", like_record(b_post)),
                    op("create", LIKE, "3klike1000000", like_record(b_post)),  # kept aside
                    op("create", REPOST, "3krepost00000", repost_record(b_post)),
                    op("create", "app.bsky.graph.follow", "3kfollow00000", follow_record(DID_B)),
                ],
                10,
            ),
            commit(DID_B, [op("create", LIKE, "3kblike000000", like_record(a_post))], 11),
        ]
    )
    assert (await aggregate(engine, b_post)) == {
        "like_count": 1,
        "repost_count": 1,
        "reply_count": 1,
        "quote_count": 0,
    }
    await handlers.accounts([account(DID_A, False, "deleted", 20)])
    assert await one(engine, "SELECT status FROM indexer.account_states WHERE did = :d", d=DID_A) == "deleted"
    for table, column in (
        ("posts", "author_did"),
        ("likes", "user_did"),
        ("reposts", "user_did"),
        ("follows", "follower_did"),
        ("feed_items", "originator_did"),
        ("indexer.aside_records", "author_did"),
        ("notifications", "author_did"),
    ):
        assert await rows(engine, f"SELECT 1 FROM {table} WHERE {column} = :d", d=DID_A) == [], table
    assert (await aggregate(engine, b_post)) == {
        "like_count": 0,
        "repost_count": 0,
        "reply_count": 0,
        "quote_count": 0,
    }
    # B's like of A's deleted post stays, and so does its count (counters count live records).
    assert (await aggregate(engine, a_post))["like_count"] == 1
    # Notifications follow records: B's like still notifies A (purging them would depend on the order
    # in which the like and the deletion arrive, which convergence forbids).
    assert await notifications(engine) == [
        (DID_A, "like", f"{uri(DID_B, LIKE, '3kblike000000')}#notification-like")
    ]

    # A replay of A's old commit is stale; a newer one (a re-created account) is indexed.
    await handlers.commits([commit(DID_A, [op("create", LIKE, "3klike2000000", like_record(b_post))], 15)])
    assert await rows(engine, "SELECT 1 FROM likes WHERE user_did = :d", d=DID_A) == []
    await handlers.commits([commit(DID_A, [op("create", LIKE, "3klike3000000", like_record(b_post))], 25)])
    assert (await aggregate(engine, b_post))["like_count"] == 1


async def test_tombstones_expire_past_the_horizon(handlers: IndexingHandlers, engine: AsyncEngine) -> None:
    await handlers.commits([commit(DID_A, [op("delete", POST, "3kgone0000000")], 1)])
    await handlers.commits([commit(DID_A, [op("create", POST, "3klive0000000", post_record())], 2)])
    await handlers.accounts([account(DID_B, False, "deleted", 3)])
    expired = await handlers.expire()
    assert (expired.record_tombstones, expired.account_tombstones) == (0, 0)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE indexer.record_versions SET updated_at = updated_at - interval '8 days'")
        )
        await conn.execute(
            text("UPDATE indexer.account_tombstones SET deleted_at = deleted_at - interval '8 days'")
        )
    expired = await handlers.expire()
    assert (expired.record_tombstones, expired.account_tombstones) == (1, 1)
    # The live record's version stays: it still orders later updates of that record.
    assert await one(engine, "SELECT uri FROM indexer.record_versions") == uri(DID_A, POST, "3klive0000000")
    assert handlers.settings.tombstone_horizon_days == timedelta(days=7).days


async def test_repeated_batches_build_their_statements_once(handlers: IndexingHandlers) -> None:
    """Statements over typed arrays are cached by their columns; columns built anew per call made
    every batch miss the cache, build a new statement and keep it (memory grew over a long run)."""
    await handlers.identities([identity(DID_A, "first.example.com", 1)])
    built = unnest_typed.cache_info().misses
    for version in range(2, 6):
        await handlers.identities([identity(DID_A, f"v{version}.example.com", version)])
        await handlers.accounts([account(DID_B, False, "deleted", version)])
    await handlers.accounts([account(DID_B, False, "deleted", 9)])
    assert unnest_typed.cache_info().misses - built <= 1, "a batch of the same shape built a new statement"


def post_of(did: str, rkey: str, version: int) -> CommitEvent:
    return commit(did, [op("create", POST, rkey, post_record())], version)


async def handle_of(engine: AsyncEngine, did: str) -> str:
    return await one(engine, "SELECT handle FROM users WHERE did = :d", d=did)


async def test_an_identity_without_a_handle_keeps_the_handle(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    await handlers.identities([identity(DID_A, "alice.example.com", 5)])
    await handlers.identities([identity(DID_A, None, 6)])
    assert await handle_of(engine, DID_A) == "alice.example.com"
    # In one batch, the newer event without a handle does not hide the older one that names it.
    await handlers.identities([identity(DID_B, "bob.example.com", 3), identity(DID_B, None, 4)])
    assert await handle_of(engine, DID_B) == "bob.example.com"
    # The explicit placeholder and an invalid handle still set the placeholder; newer still wins.
    await handlers.identities([identity(DID_A, "handle.invalid", 7)])
    assert await handle_of(engine, DID_A) == "handle.invalid"
    await handlers.identities([identity(DID_A, "carol.example.com", 8), identity(DID_B, "no handle", 9)])
    assert (await handle_of(engine, DID_A), await handle_of(engine, DID_B)) == (
        "carol.example.com",
        "handle.invalid",
    )


async def test_a_new_account_without_a_handle_gets_the_placeholder_then_an_older_handle(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    await handlers.identities([identity(DID_A, None, 6)])
    assert await handle_of(engine, DID_A) == "handle.invalid"
    # The event without a handle left the handle's version unset: an older event naming one applies.
    await handlers.identities([identity(DID_A, "alice.example.com", 5)])
    assert await handle_of(engine, DID_A) == "alice.example.com"
    await handlers.identities([identity(DID_A, "older.example.com", 4)])
    assert await handle_of(engine, DID_A) == "alice.example.com"


async def records_of(engine: AsyncEngine, did: str) -> list[str]:
    found = await rows(engine, "SELECT uri FROM posts WHERE author_did = :d ORDER BY uri", d=did)
    return [row["uri"] for row in found]


async def tombstone_of(engine: AsyncEngine, did: str) -> int | None:
    found = await rows(engine, "SELECT version FROM indexer.account_tombstones WHERE did = :d", d=did)
    return found[0]["version"] if found else None


async def status_row(engine: AsyncEngine, did: str) -> str:
    return await one(engine, "SELECT status FROM indexer.account_states WHERE did = :d", d=did)


async def test_a_deletion_purges_whatever_status_comes_with_it(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    await handlers.commits([post_of(DID_A, "3kpost0000000", 5), post_of(DID_B, "3kpost0000000", 5)])
    # `deleted` and a newer status of the same account in one batch, in both orders in the batch.
    await handlers.accounts([account(DID_A, False, "deleted", 10), account(DID_A, False, "deactivated", 12)])
    await handlers.accounts([account(DID_B, True, None, 12), account(DID_B, False, "deleted", 10)])
    for did, status in ((DID_A, "deactivated"), (DID_B, "active")):
        assert await records_of(engine, did) == [], did
        assert await status_row(engine, did) == status
        assert await tombstone_of(engine, did) == 10


@pytest.mark.parametrize("first", ["deleted", "deactivated"])
async def test_a_deletion_and_a_later_status_committed_in_either_order(
    handlers: IndexingHandlers, engine: AsyncEngine, first: str
) -> None:
    """Two batches on two connections: the newer `deactivated` one and the `deleted` one. Whichever
    commits first, the account is purged and its status is the newer event's."""
    await handlers.commits([post_of(DID_A, "3kpost0000000", 5), post_of(DID_A, "3kpost0000001", 6)])
    events = {
        "deleted": account(DID_A, False, "deleted", 10),
        "deactivated": account(DID_A, False, "deactivated", 20),
    }
    second = "deactivated" if first == "deleted" else "deleted"
    lookup = registry()
    async with engine.connect() as one_conn, engine.connect() as other_conn:
        await one_conn.begin()
        await apply_accounts(one_conn, [events[first]], lookup, utc_now())
        await other_conn.begin()
        # The second batch waits for the first one's row lock on `users`, then goes on.
        later = asyncio.create_task(apply_accounts(other_conn, [events[second]], lookup, utc_now()))
        await asyncio.sleep(0.2)
        await one_conn.commit()
        await later
        await other_conn.commit()
    assert await records_of(engine, DID_A) == []
    assert await status_row(engine, DID_A) == "deactivated"
    assert await tombstone_of(engine, DID_A) == 10


async def test_a_replayed_deletion_leaves_the_records_of_a_reactivated_account(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    await handlers.commits([post_of(DID_A, "3kold00000000", 5)])
    await handlers.accounts([account(DID_A, False, "deleted", 10)])
    await handlers.accounts([account(DID_A, True, None, 15)])
    await handlers.commits([post_of(DID_A, "3knew00000000", 20)])
    await handlers.accounts([account(DID_A, False, "deleted", 10)])  # a replay
    assert await records_of(engine, DID_A) == [uri(DID_A, POST, "3knew00000000")]
    assert await status_row(engine, DID_A) == "active"
    assert await tombstone_of(engine, DID_A) == 10
    # A newer deletion purges what was written before it, and the tombstone holds the newest.
    await handlers.accounts([account(DID_A, False, "deleted", 30), account(DID_A, False, "deleted", 25)])
    assert await records_of(engine, DID_A) == []
    assert await tombstone_of(engine, DID_A) == 30


async def test_a_did_too_long_for_users_did_is_a_dead_letter(
    handlers: IndexingHandlers, engine: AsyncEngine
) -> None:
    long_web = "did:web:" + ".".join(["a" * 63] * 3 + ["b" * 55]) + ".com"  # a valid host; 259 in all
    assert len(long_web) == 259
    dead = await handlers.identities([identity(long_web, "fine.example.com", 1)])
    dead += await handlers.accounts([account(long_web, False, "deleted", 2)])
    assert ["longer than users.did (varchar(255))" in letter.error for letter in dead] == [True, True]
    assert await rows(engine, "SELECT did FROM users") == []
