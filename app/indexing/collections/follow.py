"""app.bsky.graph.follow."""

from __future__ import annotations

from typing import Any

from app.indexing.collection import Collection, Notify, RecordRef, Row
from app.records import validate
from models import Follow


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    return {
        "uri": ref.uri,
        "follower_did": ref.did,
        "following_did": validate.did(record, "subject"),
        "created_at": validate.datetime_(record, "createdAt"),
        **ref.commit_columns(),
    }


def notify(row: Row) -> list[Notify]:
    return [Notify("follow", row["following_did"], None, "-follow")]


COLLECTION = Collection(
    nsid="app.bsky.graph.follow",
    table=Follow.__table__,
    parse=parse,
    author_column="follower_did",
    notify=notify,
    named_dids=lambda row: (row["following_did"],),
    pair=("follower_did", "following_did"),
)
