"""app.bsky.graph.block."""

from __future__ import annotations

from typing import Any

from app.indexing.collection import Collection, RecordRef, Row
from app.records import validate
from models import Block


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    return {
        "uri": ref.uri,
        "blocker_did": ref.did,
        "blocked_did": validate.did(record, "subject"),
        "created_at": validate.datetime_(record, "createdAt"),
        **ref.commit_columns(),
    }


COLLECTION = Collection(
    nsid="app.bsky.graph.block",
    table=Block.__table__,
    parse=parse,
    author_column="blocker_did",
    named_dids=lambda row: (row["blocked_did"],),
    pair=("blocker_did", "blocked_did"),
)
