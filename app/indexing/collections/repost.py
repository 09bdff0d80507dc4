"""app.bsky.feed.repost: a repost shows the post in the reposter's feed."""

from __future__ import annotations

from typing import Any

from app.indexing.collection import (
    Collection,
    Counter,
    FeedItemOf,
    Notify,
    RecordRef,
    Row,
    did_of,
    strong_ref_json,
)
from app.records import validate
from models import Repost


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    subject_uri, subject_cid = validate.strong_ref(record, "subject")
    return {
        "uri": ref.uri,
        "user_did": ref.did,
        "post_uri": subject_uri,
        "subject_cid": subject_cid,
        "via": strong_ref_json(record, "via"),
        "created_at": validate.datetime_(record, "createdAt"),
        **ref.commit_columns(),
    }


def notify(row: Row) -> list[Notify]:
    return [Notify("repost", did_of(row["post_uri"]), row["post_uri"], "-repost")]


def feed_item(row: Row) -> FeedItemOf:
    return FeedItemOf(post_uri=row["post_uri"], type="repost", created_at=row["created_at"])


COLLECTION = Collection(
    nsid="app.bsky.feed.repost",
    table=Repost.__table__,
    parse=parse,
    author_column="user_did",
    counters=(Counter("post_aggregations", "repost_count", "post_uri"),),
    notify=notify,
    feed_item=feed_item,
    named_dids=lambda row: (did_of(row["post_uri"]),),
    pair=("user_did", "post_uri"),
)
