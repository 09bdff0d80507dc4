"""Expiry of tombstones past the horizon.

Tombstones exist so that a create replayed after its delete stays deleted. Past the horizon
(`TOMBSTONE_HORIZON_DAYS`) no replay is expected any more (the reader trims the stream), so they go,
and `record_versions` does not grow with every record ever deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from app.indexing.batch import utc_now
from models import AccountTombstone, RecordVersion


@dataclass(frozen=True)
class Expired:
    record_tombstones: int
    account_tombstones: int


async def expire_tombstones(conn: AsyncConnection, horizon: timedelta) -> Expired:
    cutoff = utc_now() - horizon
    versions = RecordVersion.__table__
    accounts = AccountTombstone.__table__
    records = await conn.execute(
        delete(versions).where(versions.c.deleted).where(versions.c.updated_at < cutoff)
    )
    dids = await conn.execute(delete(accounts).where(accounts.c.deleted_at < cutoff))
    return Expired(records.rowcount, dids.rowcount)
