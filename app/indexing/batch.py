"""Applying a planned batch in one transaction.

Order of work, the same for every batch so concurrent batches take row locks in the same order
(every statement's rows are sorted by key):
1. the version gate: one upsert into `record_versions` decides which ops are newer than what the
   database holds (older ones are stale and skipped; a delete leaves a tombstone);
2. removal of the rows the winning ops replace or delete (an update is a delete and a create at one
   version), with the feed items, notifications and aside records that hang off them;
3. insertion of the new rows; a second record of a pair that is already live waits aside;
4. feed items and notifications, each as one multi-row statement;
5. the finishing step, under FINISH_LOCK: `users` rows for the accounts the batch names, the
   collections whose rows other repositories' ops write too (`Collection.shared_rows`), and the
   counter deltas.
Counters move by exactly the rows a statement returned as inserted or deleted, so a replay moves none.

Steps 1 to 4 write rows keyed by the batch's own records; app.indexing.shards keeps two concurrent
transactions from sharing a repository, so they run side by side without waiting for each other.
The rows of step 5 are everyone's: a popular post's counter, a new account named by many batches.
Concurrent upserts of them wait for each other's commits, and multi-row upserts of new keys deadlock
even in sorted order (seen in the benchmark, once a second every few seconds). So one transaction at
a time finishes (across worker processes too), from the advisory lock to its commit: a few
milliseconds per batch.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, Table, Text, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.indexing.collection import Collection, Row, did_of
from app.indexing.plan import CommitPlan, PlannedOp
from app.indexing.sql import array_param, arrays, insertable_names, rows_param, rows_select, unnest_typed
from models import (
    PLACEHOLDER_HANDLE,
    AccountTombstone,
    AsideRecord,
    Base,
    FeedItem,
    Notification,
    NotificationSource,
    PostAggregation,
    RecordVersion,
    User,
)

_UTC_NOW = func.timezone("utc", func.now())

# Commit batches hold the purge locks of the accounts whose records they write shared, and account
# purges hold those of the accounts they delete exclusively, so no commit batch can slip an old
# record of a deleted account in between a purge and its tombstone. One lock per bucket of accounts
# (`pg_advisory_xact_lock(PURGE_LOCK, bucket)`): a single lock made every purge wait for every
# commit batch in flight and hold all of them off meanwhile (a third of the database sessions' time
# on the lexicon benchmark, where account deletions are frequent). The shards route by bucket
# (app.indexing.handlers), so a purge holds off the transactions of one shard per process only.
PURGE_LOCK = 0x61707076  # "appv"
PURGE_BUCKETS = 64


def purge_bucket(did: str) -> int:
    return zlib.crc32(did.encode()) % PURGE_BUCKETS


_PURGE_LOCKS = {
    exclusive: text(
        f"SELECT pg_advisory_xact_lock{'' if exclusive else '_shared'}(:lock, bucket) "
        "FROM unnest(CAST(:buckets AS int[])) AS bucket"  # in the array's order: no deadlock
    )
    for exclusive in (False, True)
}


async def lock_purges(conn: AsyncConnection, dids: Iterable[str], exclusive: bool) -> None:
    buckets = sorted({purge_bucket(did) for did in dids})
    if buckets:
        await conn.execute(_PURGE_LOCKS[exclusive], {"lock": PURGE_LOCK, "buckets": buckets})


# Held from the start of a commit batch's finishing step to its commit; see the module docstring.
FINISH_LOCK = 0x61707066  # "appf"

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


async def lock_finish(conn: AsyncConnection) -> None:
    await conn.execute(_LOCK, {"key": FINISH_LOCK})


# Advisory locks taken in the order of the array (no sort node between unnest and the lock calls).
_LOCK_KEYS = text("SELECT pg_advisory_xact_lock(key) FROM unnest(CAST(:keys AS bigint[])) AS key")


def pair_lock_key(collection: str, author: str, subject: str) -> int:
    """A stable signed 64-bit key per (collection, author, subject) for `pg_advisory_xact_lock`."""
    digest = hashlib.blake2b(f"{collection}\0{author}\0{subject}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def utc_now() -> datetime:
    """Naive UTC, as every timestamp column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


_AGGREGATE_COLUMNS = ("like_count", "repost_count", "reply_count", "quote_count")

# unnest_typed's columns; module constants, so its cache finds the statement again (type instances
# compare by identity: a tuple of new ones built per call missed every time).
_DELTAS = (("key", Text()), ("delta", Integer()))


@dataclass
class BatchStats:
    """What a batch did, for logs and metrics."""

    applied: int = 0
    stale: int = 0
    inserted: int = 0
    deleted: int = 0
    aside: int = 0
    promoted: int = 0
    notifications: int = 0
    truncated: int = 0


class BatchWriter:
    """The state of one transaction: accumulated effects, flushed once at the end."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.stats = BatchStats()
        self.cids: dict[str, str | None] = {}
        self.versions: dict[str, int] = {}
        self.counter_deltas: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.feed_items: dict[str, Row] = {}
        self.notifications: dict[str, Row] = {}
        self.notification_sources: dict[str, Row] = {}
        # URIs of this batch's ops that had no version before it: a row already under such a URI was
        # not written by us (PublicAppView's API or another writer did), its origin is unknown.
        self.unversioned: set[str] = set()

    # -- statements -------------------------------------------------------------------------------

    async def rows(self, statement: Any, params: dict[str, Any]) -> list[Row]:
        result = await self.conn.execute(statement, params)
        return [dict(row) for row in result.mappings()]

    async def insert_ignoring_conflicts(
        self, table: Table, rows: list[Row], returning: str | None = None
    ) -> list[Any]:
        """INSERT … ON CONFLICT DO NOTHING; the `returning` column's values of the rows PostgreSQL
        really inserted come back (only that: the caller has the rest, and every column sent back
        costs)."""
        if not rows:
            return []
        names = insertable_names(table, rows[0])
        statement = pg_insert(table).from_select(names, rows_select(table, names)).on_conflict_do_nothing()
        params = rows_param(names, rows)
        if returning is None:
            await self.conn.execute(statement, params)
            return []
        result = await self.conn.execute(statement.returning(table.c[returning]), params)
        return list(result.scalars())

    async def delete_by(self, table: Table, column: str, keys: list[str]) -> list[Row]:
        if not keys:
            return []
        statement = table.delete().where(table.c[column] == func.any(array_param(column))).returning(*table.c)
        return await self.rows(statement, {column: sorted(keys)})

    # -- the steps ----------------------------------------------------------------------------------

    async def ensure_users(self, dids: Iterable[str]) -> None:
        rows = [{"did": did, "handle": PLACEHOLDER_HANDLE} for did in sorted(set(dids))]
        await self.insert_ignoring_conflicts(User.__table__, rows)

    async def drop_dead_accounts(self, ops: list[PlannedOp]) -> list[PlannedOp]:
        """Ops of an account deleted at a later version are stale, whatever their record."""
        table = AccountTombstone.__table__
        dids = sorted({op.ref.did for op in ops})
        if not dids:
            return ops
        result = await self.conn.execute(
            select(table.c.did, table.c.version).where(table.c.did == func.any(array_param("dids"))),
            {"dids": dids},
        )
        deleted_at = dict(result.all())
        if not deleted_at:
            return ops
        live = [op for op in ops if op.ref.version > deleted_at.get(op.ref.did, -1)]
        self.stats.stale += len(ops) - len(live)
        return live

    async def gate(self, ops: list[PlannedOp]) -> list[tuple[PlannedOp, bool]]:
        """Record each op's version where it is newer than the stored one; return the winners, each
        with whether the URI had a version before (only then can there be a row to replace)."""
        if not ops:
            return []
        ops = sorted(ops, key=lambda op: op.ref.uri)
        table = RecordVersion.__table__
        rows = [
            {
                "uri": op.ref.uri,
                "did": op.ref.did,
                "version": op.ref.version,
                "deleted": op.action == "delete",
            }
            for op in ops
        ]
        names = ("uri", "did", "version", "deleted")
        upsert = pg_insert(table).from_select(names, rows_select(table, names))
        statement = upsert.on_conflict_do_update(
            index_elements=["uri"],
            set_={
                "version": upsert.excluded.version,
                "deleted": upsert.excluded.deleted,
                "updated_at": _UTC_NOW,
            },
            where=table.c.version < upsert.excluded.version,
        ).returning(table.c.uri, literal_column("xmax = 0").label("fresh"))
        result = await self.conn.execute(statement, rows_param(names, rows))
        fresh = dict(result.all())
        self.stats.stale += len(ops) - len(fresh)
        return [(op, not fresh[op.ref.uri]) for op in ops if op.ref.uri in fresh]

    async def delete_records(self, collection: Collection, uris: list[str]) -> None:
        """Remove records and everything derived from them: counters, feed items, notifications."""
        if not uris:
            return
        if collection.delete_rows is not None:
            deleted = await collection.delete_rows(self, uris)
        else:
            deleted = await self.delete_by(collection.table, "uri", uris)
        self.stats.deleted += len(deleted)
        for row in deleted:
            self.count(collection, row, -1)
        if collection.feed_item is not None:
            await self.delete_by(FeedItem.__table__, "uri", uris)
        if collection.notify is not None:
            await self.delete_notifications(uris)
        if collection.pair is not None:
            await self.delete_by(AsideRecord.__table__, "uri", uris)
            await self.lock_pairs(collection, (pair_of(collection, row) for row in deleted))
            await self.promote(collection, deleted)
        if collection.after_delete is not None and deleted:
            await collection.after_delete(self, deleted)

    async def delete_notifications(self, record_uris: list[str]) -> None:
        """The notifications these records caused (`indexer.notification_sources` says which)."""
        sources = await self.delete_by(NotificationSource.__table__, "record_uri", record_uris)
        await self.delete_by(Notification.__table__, "uri", [source["uri"] for source in sources])

    async def insert_records(self, collection: Collection, rows: list[Row]) -> None:
        if not rows:
            return
        rows = sorted(rows, key=lambda row: row["uri"])
        if collection.insert_rows is not None:
            inserted = await collection.insert_rows(self, rows)
        else:
            inserted = [
                {"uri": uri} for uri in await self.insert_ignoring_conflicts(collection.table, rows, "uri")
            ]
        self.stats.inserted += len(inserted)
        parsed = {row["uri"]: row for row in rows}
        live = [parsed[row["uri"]] | row for row in inserted]
        for row in live:
            self.count(collection, row, +1)
            self.add_effects(collection, row)
        if collection.after_insert is not None and live:
            await collection.after_insert(self, live)
        if len(inserted) < len(rows):
            done = {row["uri"] for row in inserted}
            missed = [row for row in rows if row["uri"] not in done]
            if not collection.shared_rows:
                missed = await self.replace_unknown_rows(collection, missed)
            if collection.pair is not None and missed:
                await self.aside_or_retry(collection, missed)

    # -- rows of unknown origin ------------------------------------------------------------------------
    #
    # A public row we hold no version for was written by someone else (PublicAppView's API and its
    # own workers write some tables). Our events win over it: it is removed as a record delete would
    # remove it (counters, feed items, notifications), and our row takes its place. A unique conflict
    # with such a row is therefore never an error, and never puts our record aside behind it.

    async def replace_unknown_rows(self, collection: Collection, rows: list[Row]) -> list[Row]:
        """Rows not inserted because a row of unknown origin holds their key: that row goes and ours
        is inserted. Returns the rows still not inserted (pair conflicts with records of ours)."""
        candidates = [row for row in rows if row["uri"] in self.unversioned]
        if not candidates:
            return rows
        table = collection.table
        key = _key_column(table)
        found = await self.conn.execute(
            select(table.c[key]).where(table.c[key] == func.any(array_param("keys"))),
            {"keys": sorted(row[key] for row in candidates)},
        )
        taken = set(found.scalars())
        unknown = [row for row in candidates if row[key] in taken]
        if not unknown:
            return rows
        uris = [row["uri"] for row in unknown]
        self.unversioned.difference_update(uris)  # replaced once: no second round
        await self.delete_records(collection, uris)
        await self.insert_records(collection, unknown)
        replaced = set(uris)
        return [row for row in rows if row["uri"] not in replaced]

    async def unknown_owners(self, uris: Iterable[str]) -> set[str]:
        """Of these URIs of live rows, those we hold no version for."""
        wanted = sorted(set(uris))
        if not wanted:
            return set()
        versions = RecordVersion.__table__
        result = await self.conn.execute(
            select(versions.c.uri).where(versions.c.uri == func.any(array_param("uris"))), {"uris": wanted}
        )
        return set(wanted) - set(result.scalars())

    # -- relationships kept aside -------------------------------------------------------------------
    #
    # A record goes aside because its pair's live record exists; a live record's delete promotes what
    # waits aside. Done by two batches at once, the promoting one could miss a record the other is
    # putting aside (not yet committed) and strand it. So both take the pair's advisory lock first:
    # the one putting aside then re-checks that the live record still exists, and the one promoting
    # looks only once the other has committed.

    async def lock_pairs(self, collection: Collection, pairs: Iterable[tuple[str, str]]) -> None:
        """`pairs` as `pair_of` gives them."""
        keys = sorted({pair_lock_key(collection.nsid, author, subject) for author, subject in pairs})
        if keys:
            await self.conn.execute(_LOCK_KEYS, {"keys": keys})

    async def aside_or_retry(self, collection: Collection, rows: list[Row]) -> None:
        """Rows whose pair already had a live record: aside while it still has one, else live."""
        assert collection.pair is not None
        author, subject = collection.pair
        await self.lock_pairs(collection, (pair_of(collection, row) for row in rows))
        table = collection.table
        names = (subject,) if author is None else (author, subject)
        wanted = rows_select(table, names).subquery("wanted")
        match = table.c[subject] == wanted.c[subject]
        if author is None:
            statement = select(literal_column("''"), table.c[subject], table.c.uri).join(wanted, match)
        else:
            statement = select(table.c[author], table.c[subject], table.c.uri).join(
                wanted, match & (table.c[author] == wanted.c[author])
            )
        result = await self.conn.execute(statement, rows_param(names, rows))
        owners = {(pair_author, pair_subject): uri for pair_author, pair_subject, uri in result.all()}
        unknown = await self.unknown_owners(owners.values())
        if unknown:
            # The pair is held by a row of unknown origin: it goes, and ours may take its place.
            await self.delete_records(collection, sorted(unknown))
            owners = {pair: uri for pair, uri in owners.items() if uri not in unknown}
        live = set(owners)
        aside = [row for row in rows if pair_of(collection, row) in live]
        if aside:
            await self.put_aside(collection, aside)
        if len(aside) < len(rows):
            await self.insert_records(
                collection, [row for row in rows if pair_of(collection, row) not in live]
            )

    async def put_aside(self, collection: Collection, rows: list[Row]) -> None:
        assert collection.pair is not None
        author, subject = collection.pair
        table = AsideRecord.__table__
        aside = [
            {
                "uri": row["uri"],
                "collection": collection.nsid,
                "author_did": did_of(row["uri"]) if author is None else row[author],
                "subject": row[subject],
                "version": self.versions.get(row["uri"], 0),
                "cid": self.cids.get(row["uri"]),
                "row": _row_to_json(collection.table, row),
            }
            for row in rows
        ]
        names = tuple(aside[0])
        upsert = pg_insert(table).from_select(names, rows_select(table, names))
        statement = upsert.on_conflict_do_update(
            index_elements=["uri"],
            set_={name: upsert.excluded[name] for name in names if name != "uri"},
            where=table.c.version < upsert.excluded.version,
        )
        await self.conn.execute(statement, rows_param(names, aside))
        self.stats.aside += len(aside)

    async def promote(self, collection: Collection, deleted: list[Row]) -> None:
        """The oldest record waiting aside for a pair whose live record was deleted takes its place."""
        assert collection.pair is not None
        pairs = sorted({pair_of(collection, row) for row in deleted})
        if not pairs:
            return
        table = AsideRecord.__table__
        by_subject = collection.pair[0] is None  # unique per subject: any author's record may take its place
        names = ("subject",) if by_subject else ("author_did", "subject")
        wanted = rows_select(table, names).subquery("wanted")
        match = table.c.subject == wanted.c.subject
        key = (table.c.subject,) if by_subject else (table.c.author_did, table.c.subject)
        first = (
            select(table.c.uri)
            .join(wanted, match if by_subject else match & (table.c.author_did == wanted.c.author_did))
            .where(table.c.collection == collection.nsid)
            .order_by(*key, table.c.version, table.c.uri)
            .ext(distinct_on(*key))
        )
        statement = (
            table.delete().where(table.c.uri.in_(first)).returning(table.c.uri, table.c.cid, table.c.row)
        )
        params = rows_param(names, [{"author_did": author, "subject": subject} for author, subject in pairs])
        promoted = await self.rows(statement, params)
        if not promoted:
            return
        self.stats.promoted += len(promoted)
        for row in promoted:
            self.cids[row["uri"]] = row["cid"]
        await self.insert_records(
            collection, [_row_from_json(collection.table, row["row"]) for row in promoted]
        )

    # -- effects --------------------------------------------------------------------------------------

    def count(self, collection: Collection, row: Row, sign: int) -> None:
        for counter in collection.counters:
            key = counter.key_of(row)
            if key is not None:
                self.counter_deltas[(counter.table, counter.column)][key] += sign

    def add_effects(self, collection: Collection, row: Row) -> None:
        uri = row["uri"]
        author = did_of(uri)
        if collection.feed_item is not None:
            item = collection.feed_item(row)
            if item is not None:
                self.feed_items[uri] = {
                    "uri": uri,
                    "post_uri": item.post_uri,
                    "originator_did": author,
                    "type": item.type,
                    "sort_at": min(item.created_at, self.now),
                    "cid": self.cids.get(uri) or "",
                    "created_at": item.created_at,
                }
        if collection.notify is not None:
            for notify in collection.notify(row):
                if notify.recipient == author:
                    continue
                notification_uri = f"{uri}#notification{notify.suffix}"
                self.notification_sources[notification_uri] = {"uri": notification_uri, "record_uri": uri}
                self.notifications[notification_uri] = {
                    "uri": notification_uri,
                    "recipient_did": notify.recipient,
                    "author_did": author,
                    "reason": notify.reason,
                    "reason_subject": notify.reason_subject,
                    "cid": self.cids.get(uri),
                    "created_at": row.get("created_at") or self.now,
                }

    async def flush(self) -> None:
        await self.write_effects()
        await self.apply_counters()

    async def write_effects(self) -> None:
        """The feed items and notifications of the rows inserted so far."""
        await self.insert_ignoring_conflicts(FeedItem.__table__, _sorted(self.feed_items))
        inserted = await self.insert_ignoring_conflicts(
            Notification.__table__, _sorted(self.notifications), returning="uri"
        )
        self.stats.notifications += len(inserted)
        await self.insert_ignoring_conflicts(NotificationSource.__table__, _sorted(self.notification_sources))
        self.feed_items.clear()
        self.notifications.clear()
        self.notification_sources.clear()

    async def apply_counters(self) -> None:
        aggregates: dict[str, dict[str, int]] = defaultdict(dict)
        others: dict[tuple[str, str], dict[str, int]] = {}
        for (table_name, column), deltas in self.counter_deltas.items():
            for key, delta in deltas.items():
                if delta == 0:
                    continue
                if table_name == PostAggregation.__tablename__:
                    aggregates[key][column] = delta
                else:
                    others.setdefault((table_name, column), {})[key] = delta
        if aggregates:
            table = PostAggregation.__table__
            rows = [
                {"post_uri": key, **{column: deltas.get(column, 0) for column in _AGGREGATE_COLUMNS}}
                for key, deltas in sorted(aggregates.items())
            ]
            names = ("post_uri", *_AGGREGATE_COLUMNS)
            upsert = pg_insert(table).from_select(names, rows_select(table, names))
            statement = upsert.on_conflict_do_update(
                index_elements=["post_uri"],
                set_={
                    **{column: table.c[column] + upsert.excluded[column] for column in _AGGREGATE_COLUMNS},
                    "updated_at": _UTC_NOW,
                },
            )
            await self.conn.execute(statement, rows_param(names, rows))
        for (table_name, column), deltas in sorted(others.items()):
            await self.add_to_column(Base.metadata.tables[table_name], column, deltas)

    async def add_to_column(self, table: Table, column: str, deltas: dict[str, int]) -> None:
        """Counters on rows that may not exist (a like of a feed generator not indexed yet)."""
        source = unnest_typed(_DELTAS).subquery("deltas")
        statement = (
            update(table)
            .where(table.c.uri == source.c.key)
            .values({column: table.c[column] + source.c.delta})
        )
        keys = sorted(deltas)
        await self.conn.execute(statement, arrays(key=keys, delta=[deltas[key] for key in keys]))


async def apply_commit_plan(
    conn: AsyncConnection, plan: CommitPlan, now: datetime, new_dids: Iterable[str] | None = None
) -> BatchStats:
    """Everything a planned batch of commits does to the database, in the caller's transaction.

    `new_dids`: the DIDs that may still lack a `users` row (default: every DID the batch names)."""
    writer = BatchWriter(conn, now)
    await lock_purges(conn, (op.ref.did for op in plan.ops), exclusive=False)
    ops = await writer.drop_dead_accounts(plan.ops)
    winners = await writer.gate(ops)
    writer.stats.applied = len(winners)
    removals: dict[str, tuple[Collection, list[str]]] = {}
    creations: dict[str, tuple[Collection, list[Row]]] = {}
    for op, had_version in winners:
        writer.versions[op.ref.uri] = op.ref.version
        writer.cids[op.ref.uri] = op.ref.cid
        if had_version:
            removals.setdefault(op.collection.nsid, (op.collection, []))[1].append(op.ref.uri)
        else:
            writer.unversioned.add(op.ref.uri)
        if op.row is not None:
            creations.setdefault(op.collection.nsid, (op.collection, []))[1].append(op.row)
    for shared in (False, True):
        if shared:
            await writer.write_effects()
            await lock_finish(conn)
            await writer.ensure_users(plan.dids if new_dids is None else new_dids)
        for nsid in sorted(removals):
            collection, uris = removals[nsid]
            if collection.shared_rows is shared:
                await writer.delete_records(collection, uris)
        for nsid in sorted(creations):
            collection, rows = creations[nsid]
            if collection.shared_rows is shared:
                await writer.insert_records(collection, rows)
    await writer.apply_counters()
    return writer.stats


def _key_column(table: Table) -> str:
    """The column a record's row is found by: its URI, or the table's key (gates: the post URI)."""
    return "uri" if "uri" in table.c else next(iter(table.primary_key.columns)).name


def pair_of(collection: Collection, row: Row) -> tuple[str, str]:
    """(author, subject) of a row of a paired collection; the author is '' for a table unique per
    subject alone (verifications), where records of any author share the pair."""
    assert collection.pair is not None
    author, subject = collection.pair
    return ("" if author is None else row[author], row[subject])


def _sorted(rows: dict[str, Row]) -> list[Row]:
    return [rows[key] for key in sorted(rows)]


def _row_to_json(table: Table, row: Row) -> Row:
    """A row as JSON for `aside_records.row`: table columns only, datetimes as ISO strings."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in row.items()
        if name in table.c
    }


def _row_from_json(table: Table, row: Row) -> Row:
    return {
        name: datetime.fromisoformat(value)
        if isinstance(value, str) and _is_timestamp(table, name)
        else value
        for name, value in row.items()
    }


def _is_timestamp(table: Table, name: str) -> bool:
    return name in table.c and table.c[name].type.python_type is datetime
