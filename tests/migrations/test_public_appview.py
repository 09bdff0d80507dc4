"""PublicAppView's schema in `public`, ours in `indexer`, and the three ways in (revision 0003): an empty
database, a PublicAppView database with rows of the old worker, a database at our revision 0002 with
rows; and the refusals (a `public` that differs, rows too wide for the reference)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.util.exc import CommandError

from app.db import create_engine
from app.indexing.handlers import IndexingHandlers
from app.indexing.recount import counter_drift, recount
from app.schema import head_revisions
from app.settings import Settings, database_url
from tests.migrations_support import check, downgrade, upgrade
from tests.servers import Servers
from tests.support.catalog import catalog, differences
from tests.support.databases import dsn, query, reference_schema, run_sql, scratch_database
from tests.support.events import (
    CID_1,
    CID_2,
    DID_A,
    DID_B,
    DID_C,
    commit,
    identity,
    like_record,
    op,
    post_record,
    uri,
)

(HEAD,) = head_revisions()


POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
FOLLOW = "app.bsky.graph.follow"
THREADGATE = "app.bsky.feed.threadgate"
VERIFICATION = "app.bsky.graph.verification"

P1 = uri(DID_A, POST, "3kpost1000000")
P2 = uri(DID_B, POST, "3kpost2000000")
L1 = uri(DID_B, LIKE, "3klike1000000")
F1 = uri(DID_A, FOLLOW, "3kfollow10000")
V1 = uri(DID_A, VERIFICATION, "3kverif100000")
V2 = uri(DID_B, VERIFICATION, "3kverif200000")
WHEN = "2024-05-01 12:00:00"


def verification_record(subject: str) -> dict[str, Any]:
    return {
        "$type": VERIFICATION,
        "subject": subject,
        "handle": "someone.example.com",
        "displayName": "Someone",
        "createdAt": "2024-05-01T12:00:00.000Z",
    }


@pytest.fixture
def reference(fixtures_dir: Path) -> str:
    path = fixtures_dir / "publicappview" / "schema.sql"
    if not path.is_file():
        pytest.skip(f"PublicAppView's schema.sql not found at {path}")
    return reference_schema(fixtures_dir)


@pytest.fixture
def fresh(servers: Servers) -> Iterator[str]:
    with scratch_database(servers.database_admin_url) as url:
        yield url


@pytest.fixture
def reference_catalog(servers: Servers, reference: str) -> dict[str, Any]:
    with scratch_database(servers.database_admin_url) as url:
        run_sql(url, reference)
        return asyncio.run(catalog(dsn(url)))


def public_catalog(url: str) -> dict[str, Any]:
    return asyncio.run(catalog(dsn(url)))


def indexer_tables(url: str) -> list[str]:
    return asyncio.run(catalog(dsn(url), "indexer"))["tables"]


def schema_exists(url: str, name: str) -> bool:
    return query(url, "SELECT to_regnamespace($1) IS NOT NULL AS e", name)[0]["e"]


def index(url: str, *events: Any) -> list[Any]:
    """Feed events through the indexing code; returns the dead letters. Then recount: nothing drifts."""

    async def run() -> list[Any]:
        engine = create_engine(database_url(url), pool_size=2)
        handlers = IndexingHandlers(Settings(), engine=engine)
        dead: list[Any] = []
        try:
            await handlers.start()
            for event in events:
                if hasattr(event, "ops"):
                    dead += await handlers.commits([event])
                else:
                    dead += await handlers.identities([event])
            await handlers.stop()
            async with engine.begin() as conn:
                await recount(conn)
            async with engine.connect() as conn:
                assert await counter_drift(conn) == []
        finally:
            await engine.dispose()
        return dead

    return asyncio.run(run())


def one(url: str, sql: str, *args: Any) -> Any:
    found = query(url, sql, *args)
    assert len(found) <= 1, found
    return next(iter(found[0].values())) if found else None


# -- (a) an empty database -----------------------------------------------------------------------


def test_an_empty_database_gets_exactly_the_reference_schema(
    fresh: str, reference_catalog: dict[str, Any]
) -> None:
    upgrade(fresh)
    assert differences(reference_catalog, public_catalog(fresh)) == {}
    assert set(indexer_tables(fresh)) == {
        "alembic_version", "record_versions", "account_tombstones", "aside_records", "account_states",
        "notification_sources", "thread_gate_rules",
    }  # fmt: skip
    assert one(fresh, "SELECT version_num FROM indexer.alembic_version") == HEAD
    check(fresh)  # no include_object filter: every public table is compared


# -- (b) adopting a PublicAppView database ---------------------------------------------------------


def old_worker_rows(url: str) -> None:
    """Rows as PublicAppView's Python worker writes them: no bookkeeping of ours anywhere."""
    run_sql(
        url,
        f"""
        INSERT INTO users (did, handle) VALUES ('{DID_A}', 'alice.test'), ('{DID_B}', 'bob.test');
        UPDATE users SET display_name = 'Alice', profile_record = '{{}}' WHERE did = '{DID_A}';
        INSERT INTO posts (uri, cid, author_did, text, created_at, has_thread_gate)
            VALUES ('{P1}', '{CID_1}', '{DID_A}', 'first', '{WHEN}', true),
                   ('{P2}', '{CID_1}', '{DID_B}', 'second', '{WHEN}', false);
        INSERT INTO likes (uri, user_did, post_uri, created_at) VALUES ('{L1}', '{DID_B}', '{P1}', '{WHEN}');
        INSERT INTO post_aggregations (post_uri, like_count) VALUES ('{P1}', 1);
        INSERT INTO follows (uri, follower_did, following_did, created_at)
            VALUES ('{F1}', '{DID_A}', '{DID_B}', '{WHEN}');
        INSERT INTO notifications (uri, recipient_did, author_did, reason, created_at)
            VALUES ('{L1}', '{DID_A}', '{DID_B}', 'like', '{WHEN}');
        INSERT INTO thread_gates (post_uri, owner_did) VALUES ('{P1}', '{DID_A}');
        """,
    )


def test_adopting_a_public_appview_database(fresh: str, reference: str) -> None:
    run_sql(fresh, reference)
    old_worker_rows(fresh)
    # PublicAppView's API adds an index of its own at its start: tolerated, left alone.
    run_sql(fresh, "CREATE INDEX idx_users_handle_lower ON users (lower(handle))")
    before = public_catalog(fresh)
    upgrade(fresh)
    assert public_catalog(fresh) == before, "the upgrade changed PublicAppView's tables"
    assert one(fresh, "SELECT obj_description('indexer'::regnamespace)") == "adopted from PublicAppView"
    versions = {row["uri"]: row["version"] for row in query(fresh, "SELECT * FROM indexer.record_versions")}
    gate = uri(DID_A, THREADGATE, "3kpost1000000")
    profile = f"at://{DID_A}/app.bsky.actor.profile/self"
    assert versions == {P1: 0, P2: 0, L1: 0, F1: 0, gate: 0, profile: 0}
    # `alembic check` compares against the models, which hold no index of the API's own.
    run_sql(fresh, "DROP INDEX idx_users_handle_lower")
    check(fresh)
    before = public_catalog(fresh)

    dead = index(
        fresh,
        commit(DID_A, [op("update", POST, "3kpost1000000", post_record("first, edited"), CID_2)], 5),
        commit(DID_B, [op("delete", LIKE, "3klike1000000")], 6),
        commit(DID_A, [op("create", LIKE, "3klike3000000", like_record(P2))], 7),
        commit(DID_A, [op("delete", THREADGATE, "3kpost1000000"), op("delete", FOLLOW, "3kfollow10000")], 8),
        identity(DID_B, "bob.example.com", 9),
    )
    assert dead == []
    assert query(fresh, "SELECT uri, text, cid, has_thread_gate FROM posts ORDER BY uri") == [
        {"uri": P1, "text": "first, edited", "cid": CID_2, "has_thread_gate": False},
        {"uri": P2, "text": "second", "cid": CID_1, "has_thread_gate": False},
    ]
    assert query(fresh, "SELECT uri FROM likes") == [{"uri": uri(DID_A, LIKE, "3klike3000000")}]
    assert query(fresh, "SELECT uri FROM follows") == []
    assert query(fresh, "SELECT post_uri FROM thread_gates") == []
    assert query(fresh, "SELECT uri, recipient_did FROM notifications") == [
        {"uri": f"{uri(DID_A, LIKE, '3klike3000000')}#notification-like", "recipient_did": DID_B}
    ]
    assert query(fresh, "SELECT post_uri, like_count FROM post_aggregations ORDER BY 1") == [
        {"post_uri": P1, "like_count": 0},
        {"post_uri": P2, "like_count": 1},
    ]
    assert one(fresh, "SELECT handle FROM users WHERE did = $1", DID_B) == "bob.example.com"

    rows_before = query(fresh, "SELECT uri FROM posts ORDER BY uri")
    downgrade(fresh, "base")
    assert public_catalog(fresh) == before, "the downgrade changed PublicAppView's tables"
    assert query(fresh, "SELECT uri FROM posts ORDER BY uri") == rows_before
    assert indexer_tables(fresh) == ["alembic_version"]


def test_a_public_schema_that_differs_is_refused_and_nothing_changes(fresh: str, reference: str) -> None:
    run_sql(
        fresh,
        reference,
        "ALTER TABLE users ADD COLUMN pronouns text",
        "ALTER TABLE lists ALTER COLUMN name TYPE text",
        "DROP INDEX idx_posts_root_uri",
    )
    before = public_catalog(fresh)
    with pytest.raises((RuntimeError, CommandError)) as raised:
        upgrade(fresh)
    message = str(raised.value)
    assert "differs from the PublicAppView schema" in message
    assert "users.pronouns" in message
    assert "lists.name" in message
    assert "idx_posts_root_uri" in message
    assert public_catalog(fresh) == before
    assert not schema_exists(fresh, "indexer")


# -- (c) our own 0002 layout ---------------------------------------------------------------------


def at_our_0002(url: str) -> None:
    """A database as our revision 0002 left it: its layout, Alembic's version table in `public`."""
    upgrade(url, "0002")
    run_sql(url, "ALTER TABLE indexer.alembic_version SET SCHEMA public", "DROP SCHEMA indexer")


def rows_of_0002(url: str) -> None:
    """Rows as revision 0002's worker wrote them: bookkeeping and our columns in `public`."""
    run_sql(
        url,
        f"""
        INSERT INTO users (did, handle, status, handle_version, status_version)
            VALUES ('{DID_A}', 'alice.test', 'takendown', 3, 4), ('{DID_B}', 'bob.test', NULL, NULL, NULL),
                   ('{DID_C}', 'carol.test', NULL, NULL, NULL);
        INSERT INTO posts (uri, cid, author_did, text, created_at, commit_seq, has_thread_gate)
            VALUES ('{P1}', '{CID_1}', '{DID_A}', 'first', '{WHEN}', 12, true);
        INSERT INTO likes (uri, user_did, post_uri, created_at) VALUES ('{L1}', '{DID_B}', '{P1}', '{WHEN}');
        INSERT INTO post_aggregations (post_uri, like_count) VALUES ('{P1}', 1);
        INSERT INTO notifications (uri, record_uri, recipient_did, author_did, reason, created_at)
            VALUES ('{L1}#notification-like', '{L1}', '{DID_A}', '{DID_B}', 'like', '{WHEN}');
        INSERT INTO verifications (uri, cid, creator_did, subject_did, handle, verified_at, created_at)
            VALUES ('{V1}', '{CID_1}', '{DID_A}', '{DID_C}', 'carol.test', '{WHEN}', '{WHEN}'),
                   ('{V2}', '{CID_1}', '{DID_B}', '{DID_C}', 'carol.test', '{WHEN}', '{WHEN}');
        INSERT INTO thread_gates (post_uri, uri, owner_did, created_at)
            VALUES ('{P1}', '{uri(DID_A, THREADGATE, "3kpost1000000")}', '{DID_A}', '{WHEN}');
        INSERT INTO generic_records (uri, cid, author_did, record_type, record, created_at, indexed_at)
            VALUES ('at://{DID_A}/x.y.z/1', '{CID_1}', '{DID_A}', 'x.y.z', '{{}}', NULL, '{WHEN}');
        INSERT INTO record_versions (uri, did, version, deleted) VALUES
            ('{P1}', '{DID_A}', 1, false), ('{L1}', '{DID_B}', 2, false), ('{V1}', '{DID_A}', 3, false),
            ('{V2}', '{DID_B}', 4, false), ('{uri(DID_A, THREADGATE, "3kpost1000000")}', '{DID_A}', 5, false),
            ('at://{DID_A}/x.y.z/1', '{DID_A}', 6, false);
        """,
    )


def test_from_our_revision_0002_with_rows(fresh: str, reference_catalog: dict[str, Any]) -> None:
    at_our_0002(fresh)
    rows_of_0002(fresh)
    upgrade(fresh)
    assert differences(reference_catalog, public_catalog(fresh)) == {}
    assert one(fresh, "SELECT to_regclass('public.alembic_version') IS NULL") is True
    assert one(fresh, "SELECT version_num FROM indexer.alembic_version") == HEAD
    check(fresh)
    assert query(fresh, "SELECT * FROM indexer.account_states ORDER BY did") == [
        {"did": DID_A, "status": "takendown", "handle_version": 3, "status_version": 4}
    ]
    assert one(fresh, "SELECT commit_seq FROM posts") == "12"
    assert query(fresh, "SELECT uri FROM verifications") == [{"uri": V1}]
    assert query(fresh, "SELECT uri, author_did, subject, version FROM indexer.aside_records") == [
        {"uri": V2, "author_did": DID_B, "subject": DID_C, "version": 4}
    ]
    assert query(fresh, "SELECT * FROM indexer.thread_gate_rules") == [
        {"post_uri": P1, "allow_followers": None}
    ]
    assert query(fresh, "SELECT allow_mentions, allow_following, allow_list_members FROM thread_gates") == [
        {"allow_mentions": True, "allow_following": True, "allow_list_members": False}
    ]
    assert str(one(fresh, "SELECT created_at FROM generic_records")) == WHEN
    assert query(fresh, "SELECT * FROM indexer.notification_sources") == [
        {"uri": f"{L1}#notification-like", "record_uri": L1}
    ]
    assert one(fresh, "SELECT count(*) FROM indexer.record_versions") == 6

    dead = index(
        fresh,
        commit(DID_A, [op("delete", VERIFICATION, "3kverif100000")], 20),
        commit(DID_B, [op("delete", LIKE, "3klike1000000")], 21),
        identity(DID_A, "old.example.com", 2),  # older than the handle's version 3: stale
        identity(DID_C, "carol.example.com", 22),
        commit(DID_A, [op("create", VERIFICATION, "3kverif300000", verification_record(DID_B))], 23),
    )
    assert dead == []
    assert query(fresh, "SELECT uri, subject_did FROM verifications ORDER BY uri") == [
        {"uri": uri(DID_A, VERIFICATION, "3kverif300000"), "subject_did": DID_B},
        {"uri": V2, "subject_did": DID_C},
    ]
    assert query(fresh, "SELECT uri FROM indexer.aside_records") == []
    assert query(fresh, "SELECT uri FROM notifications") == []
    assert query(fresh, "SELECT * FROM indexer.notification_sources") == []
    assert one(fresh, "SELECT handle FROM users WHERE did = $1", DID_A) == "alice.test"
    assert one(fresh, "SELECT handle FROM users WHERE did = $1", DID_C) == "carol.example.com"

    downgrade(fresh, "base")
    assert public_catalog(fresh)["tables"] == []
    assert indexer_tables(fresh) == ["alembic_version"]


def test_rows_too_wide_for_the_reference_are_listed_and_nothing_changes(fresh: str) -> None:
    at_our_0002(fresh)
    run_sql(
        fresh,
        f"INSERT INTO users (did, handle, display_name) VALUES ('{DID_A}', 'a.test', '{'x' * 300}')",
        f"INSERT INTO lists (uri, cid, creator_did, name, purpose) "
        f"VALUES ('at://{DID_A}/app.bsky.graph.list/1', '{CID_1}', '{DID_A}', 'ok', '{'p' * 70}')",
    )
    with pytest.raises((RuntimeError, CommandError)) as raised:
        upgrade(fresh)
    message = str(raised.value)
    assert "users.display_name: 1 row(s) wider than varchar(255)" in message
    assert f"did '{DID_A}'" in message
    assert "lists.purpose: 1 row(s) wider than varchar(64)" in message
    assert "lists.created_at" not in message  # a null created_at takes indexed_at
    # Nothing changed: still our 0002 layout, its version table still in public.
    assert one(fresh, "SELECT version_num FROM public.alembic_version") == "0002"
    assert one(fresh, "SELECT to_regclass('public.record_versions') IS NOT NULL") is True
    assert not schema_exists(fresh, "indexer")
