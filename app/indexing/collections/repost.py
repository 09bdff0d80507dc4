"""app.bsky.feed.repost: a repost shows the post in the reposter's feed."""

from __future__ import annotations

from app.indexing.collection import Collection, Counter, FeedItemOf, Notify, Row, did_of
from app.indexing.collections.like import parse as parse_subject_record
from models import Repost


def notify(row: Row) -> list[Notify]:
    return [Notify("repost", did_of(row["post_uri"]), row["post_uri"], "-repost")]


def feed_item(row: Row) -> FeedItemOf:
    return FeedItemOf(post_uri=row["post_uri"], type="repost", created_at=row["created_at"])


COLLECTION = Collection(
    nsid="app.bsky.feed.repost",
    table=Repost.__table__,
    # A repost record has a like's shape: a strong reference to the subject, `via`, `createdAt`.
    parse=parse_subject_record,
    author_column="user_did",
    counters=(Counter("post_aggregations", "repost_count", "post_uri"),),
    notify=notify,
    feed_item=feed_item,
    named_dids=lambda row: (did_of(row["post_uri"]),),
    pair=("user_did", "post_uri"),
)
