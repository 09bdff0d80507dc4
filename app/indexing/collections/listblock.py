"""app.bsky.graph.listblock: an account blocks every member of a moderation list, unique per (blocker,
list) with a second record aside. (The worker we replace never stored these.)"""

from __future__ import annotations

from typing import Any

from app.indexing.collection import Collection, RecordRef, Row, did_of
from app.records import validate
from models import ListBlock


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    return {
        "uri": ref.uri,
        "blocker_did": ref.did,
        "list_uri": validate.record_uri(record, "subject"),
        "created_at": validate.datetime_(record, "createdAt"),
    }


COLLECTION = Collection(
    nsid="app.bsky.graph.listblock",
    table=ListBlock.__table__,
    parse=parse,
    author_column="blocker_did",
    named_dids=lambda row: (did_of(row["list_uri"]),),
    pair=("blocker_did", "list_uri"),
)
