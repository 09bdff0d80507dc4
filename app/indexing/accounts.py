"""Identity and account events: handles and account status on `users`, latest version wins.

A `deleted` account event purges the account: every live record it wrote before the event is deleted
at the event's version through the same path as a record delete (so every counter it touched is
corrected), and a DID-level tombstone makes its older events stale. The purge does not depend on the
account's status, which a newer event may set to anything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import BigInteger, Text, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.events import AccountEvent, DeadLetter, IdentityEvent, StreamEvent
from app.indexing.batch import BatchStats, BatchWriter, lock_finish, lock_purges, utc_now
from app.indexing.collection import Collection, collection_of
from app.indexing.registry import Registry
from app.indexing.sql import arrays, rows_param, rows_select, unnest_typed
from app.indexing.widths import DID_WIDTH
from app.records.syntax import is_did, normalise_handle
from models import PLACEHOLDER_HANDLE, AccountState, AccountTombstone, RecordVersion, User

ACCOUNT_STATUSES = frozenset(
    {"takendown", "suspended", "deactivated", "deleted", "desynchronized", "throttled"}
)
INACTIVE = "inactive"

# unnest_typed's columns, as module constants so its cache finds the statement again.
_VERSIONED_VALUES = (("did", Text()), ("value", Text()), ("version", BigInteger()))
_DELETIONS = (("did", Text()), ("version", BigInteger()))

E = TypeVar("E", bound=StreamEvent)


def with_valid_dids(events: Iterable[E], kind: str) -> tuple[list[E], list[DeadLetter]]:
    """The events naming a valid DID that fits `users.did`; the others are dead letters."""
    valid: list[E] = []
    dead: list[DeadLetter] = []
    for event in events:
        did = event.did  # type: ignore[attr-defined]
        if not is_did(did):
            dead.append(DeadLetter.of(event, kind, f"invalid DID {did[:100]!r}"))
        elif len(did) > DID_WIDTH:
            error = f"DID of {len(did)} characters, longer than users.did (varchar({DID_WIDTH}))"
            dead.append(DeadLetter.of(event, kind, error))
        else:
            valid.append(event)
    return valid, dead


def newest_per_did(events: Iterable[E]) -> dict[str, E]:
    """The newest event per DID (on a tie of versions, the later one)."""
    newest: dict[str, E] = {}
    for event in events:
        did = event.did  # type: ignore[attr-defined]
        current = newest.get(did)
        if current is None or current.version <= event.version:
            newest[did] = event
    return newest


def status_of(event: AccountEvent) -> str:
    if event.active:
        return "active"
    return event.status or INACTIVE


def newest_deletions(events: Iterable[AccountEvent]) -> dict[str, int]:
    """The version of the newest `deleted` event per DID, whatever other events come with it."""
    deletions: dict[str, int] = {}
    for event in events:
        if status_of(event) == "deleted":
            deletions[event.did] = max(event.version, deletions.get(event.did, event.version))
    return deletions


async def apply_identities(conn: AsyncConnection, events: list[IdentityEvent]) -> list[DeadLetter]:
    """Every named account gets a `users` row (a new one with the placeholder handle); the handle is
    set by the newest event that names one. An event without a handle (null or absent) says that
    something about the identity changed, not that it has none: it leaves the handle and the
    handle's version as they are, so an older event that names a handle and arrives later applies."""
    valid, dead = with_valid_dids(events, "identity")
    if not valid:
        return dead
    await BatchWriter(conn, utc_now()).ensure_users(sorted({event.did for event in valid}))
    naming = newest_per_did(event for event in valid if event.handle is not None)
    if naming:
        dids = sorted(naming)
        handles = [normalise_handle(naming[did].handle or "") or PLACEHOLDER_HANDLE for did in dids]
        await _update_if_newer(conn, "handle", dids, handles, [naming[did].version for did in dids])
    return dead


async def apply_accounts(
    conn: AsyncConnection, events: list[AccountEvent], registry: Registry, now: datetime
) -> tuple[list[DeadLetter], BatchStats]:
    """Status is "latest version wins". A `deleted` event purges every record of the account older
    than itself whatever status events are newer or come with it, in whatever order the batches
    commit: the purge is gated by the DID tombstone (the newest deletion's version), not by status."""
    valid, dead = with_valid_dids(events, "account")
    known: list[AccountEvent] = []
    for event in valid:
        if event.status is not None and event.status not in ACCOUNT_STATUSES:
            dead.append(DeadLetter.of(event, "account", f"unknown account status {event.status[:50]!r}"))
        else:
            known.append(event)
    writer = BatchWriter(conn, now)
    if not known:
        return dead, writer.stats
    newest = newest_per_did(known)
    deletions = newest_deletions(known)
    if deletions:
        # The accounts' commit batches wait meanwhile; the finishing steps of the others too, since a
        # purge corrects counters and `users` rows that any batch may be writing (app.indexing.batch).
        await lock_purges(conn, deletions, exclusive=True)
        await lock_finish(conn)
    dids = sorted(newest)
    await writer.ensure_users(dids)
    await _update_if_newer(
        conn, "status", dids, [status_of(newest[did]) for did in dids], [newest[did].version for did in dids]
    )
    if deletions:
        await purge_accounts(writer, registry, deletions)
    return dead, writer.stats


async def _update_if_newer(
    conn: AsyncConnection, column: str, dids: list[str], values: list[str], versions: list[int]
) -> None:
    """Set the account's `column` (the handle on `users`, the status in `indexer.account_states`) where
    the event is newer than the version that last set it (kept in `indexer.account_states`)."""
    states = AccountState.__table__
    version_column = f"{column}_version"
    names = ("did", version_column, *(("status",) if column == "status" else ()))
    rows = [
        {"did": did, version_column: version, "status": value}
        for did, value, version in zip(dids, values, versions, strict=True)
    ]
    upsert = pg_insert(states).from_select(names, rows_select(states, names))
    statement = upsert.on_conflict_do_update(
        index_elements=["did"],
        set_={name: upsert.excluded[name] for name in names[1:]},
        where=or_(
            states.c[version_column].is_(None), states.c[version_column] < upsert.excluded[version_column]
        ),
    ).returning(states.c.did)
    changed = set((await conn.execute(statement, rows_param(names, rows))).scalars())
    if column == "handle" and changed:
        users = User.__table__
        source = unnest_typed(_VERSIONED_VALUES).subquery("src")
        kept = [index for index, did in enumerate(dids) if did in changed]
        await conn.execute(
            update(users).where(users.c.did == source.c.did).values(handle=source.c.value),
            arrays(
                did=[dids[i] for i in kept],
                value=[values[i] for i in kept],
                version=[versions[i] for i in kept],
            ),
        )


async def purge_accounts(writer: BatchWriter, registry: Registry, deleted_at: dict[str, int]) -> None:
    """Delete every live record of these accounts older than their deletion, at the deletion's version.

    The DID tombstone is raised to the deletion's version first; an account whose tombstone already
    holds that version or a newer one was purged by it (and its older events are stale since), so
    only the accounts whose tombstone moved are purged: a replayed deletion costs one statement.
    """
    tombstones = AccountTombstone.__table__
    upsert = pg_insert(tombstones).from_select(
        ("did", "version"), rows_select(tombstones, ("did", "version"))
    )
    raised = await writer.conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["did"],
            set_={"version": upsert.excluded.version, "deleted_at": func.timezone("utc", func.now())},
            where=tombstones.c.version < upsert.excluded.version,
        ).returning(tombstones.c.did),
        rows_param(
            ("did", "version"), [{"did": did, "version": deleted_at[did]} for did in sorted(deleted_at)]
        ),
    )
    dids = sorted(raised.scalars())
    if not dids:
        return
    versions = RecordVersion.__table__
    source = unnest_typed(_DELETIONS).subquery("deleted")
    statement = (
        update(versions)
        .where(versions.c.did == source.c.did)
        .where(versions.c.version < source.c.version)
        .where(versions.c.deleted.is_(False))
        .values(deleted=True, version=source.c.version, updated_at=func.timezone("utc", func.now()))
        .returning(versions.c.uri)
    )
    result = await writer.conn.execute(statement, arrays(did=dids, version=[deleted_at[did] for did in dids]))
    by_collection: dict[str, list[str]] = defaultdict(list)
    for uri in result.scalars():
        by_collection[collection_of(uri) or ""].append(uri)
    grouped: dict[str, tuple[Collection, list[str]]] = {}
    for nsid, uris in by_collection.items():
        collection = registry.lookup(nsid)
        grouped.setdefault(collection.nsid, (collection, []))[1].extend(uris)
    for nsid in sorted(grouped):
        collection, uris = grouped[nsid]
        await writer.delete_records(collection, uris)
    await writer.flush()
