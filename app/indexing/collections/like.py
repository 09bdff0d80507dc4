"""app.bsky.feed.like: a like of a post (or of a feed generator or labeler, which count too)."""

from __future__ import annotations

from typing import Any

from app.indexing.collection import Collection, Counter, Notify, RecordRef, Row, did_of, strong_ref_json
from app.records import validate
from models import Like

LIKED_ELSEWHERE = frozenset({"app.bsky.feed.generator"}), frozenset({"app.bsky.labeler.service"})


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
    return [Notify("like", did_of(row["post_uri"]), row["post_uri"], "-like")]


COLLECTION = Collection(
    nsid="app.bsky.feed.like",
    table=Like.__table__,
    parse=parse,
    author_column="user_did",
    counters=(
        Counter("post_aggregations", "like_count", "post_uri"),
        Counter("feed_generators", "like_count", "post_uri", LIKED_ELSEWHERE[0]),
        Counter("labeler_services", "like_count", "post_uri", LIKED_ELSEWHERE[1]),
    ),
    notify=notify,
    named_dids=lambda row: (did_of(row["post_uri"]),),
    pair=("user_did", "post_uri"),
)
