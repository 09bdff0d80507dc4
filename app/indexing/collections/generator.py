"""app.bsky.feed.generator: a custom feed, served by the feed generator service at `did`.

Likes of a feed generator count in `feed_generators.like_count` as well as in `post_aggregations`
(see like.py). The former only moves where the row exists, so a generator indexed after some of its
likes starts from the count `post_aggregations` kept for its URI meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.indexing.collection import Collection, Hook, RecordRef, Row
from app.indexing.sql import rows_param, rows_select
from app.records import validate
from models import FeedGenerator, PostAggregation

if TYPE_CHECKING:
    from app.indexing.batch import BatchWriter


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    return {
        "uri": ref.uri,
        "cid": ref.cid,
        "creator_did": ref.did,
        "did": validate.did(record, "did"),
        "display_name": validate.text(record, "displayName", required=True, max_bytes=240, max_graphemes=24),
        "description": validate.text(
            record, "description", required=False, max_bytes=3_000, max_graphemes=300
        ),
        "avatar_url": validate.blob_cid(record, "avatar"),
        "created_at": validate.datetime_(record, "createdAt"),
    }


def likes_counted_before(table: Table) -> Hook:
    """An `after_insert` hook: new rows take `like_count` from the likes `post_aggregations` already
    counts for their URI. Likes of this very batch are not there yet: they reach both counters when
    the batch's counter deltas are applied, after every insert.

    The `post_aggregations` row is where this meets a like committed side by side (another pipeline):
    it is upserted here, as a like's counters upsert it, so whichever comes second waits for the
    first to commit. Coming second, this reads the like's count; coming first, the like's update of
    `like_count` then finds the new row. A plain read would miss an uncommitted like, and the like's
    update would miss the uncommitted row: one like lost for good."""

    async def initialise(writer: BatchWriter, rows: list[Row]) -> None:
        aggregates = PostAggregation.__table__
        upsert = pg_insert(aggregates).from_select(["post_uri"], rows_select(aggregates, ("post_uri",)))
        counted = (
            upsert.on_conflict_do_update(
                index_elements=["post_uri"], set_={"post_uri": upsert.excluded.post_uri}
            )
            .returning(aggregates.c.post_uri, aggregates.c.like_count)
            .cte("counted")
        )
        statement = (
            update(table).where(table.c.uri == counted.c.post_uri).values(like_count=counted.c.like_count)
        )
        uris = sorted(row["uri"] for row in rows)
        await writer.conn.execute(statement, rows_param(("post_uri",), [{"post_uri": uri} for uri in uris]))

    return initialise


COLLECTION = Collection(
    nsid="app.bsky.feed.generator",
    table=FeedGenerator.__table__,
    parse=parse,
    author_column="creator_did",
    after_insert=likes_counted_before(FeedGenerator.__table__),
    shared_rows=True,  # the `post_aggregations` row of its URI, which likes by anyone update
)
