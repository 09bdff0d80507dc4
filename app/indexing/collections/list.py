"""app.bsky.graph.list: a curation or moderation list (its members are list items, records of their own)."""

from __future__ import annotations

from typing import Any

from app.indexing.collection import Collection, RecordRef, Row
from app.records import validate
from models import List


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    return {
        "uri": ref.uri,
        "cid": ref.cid,
        "creator_did": ref.did,
        "name": non_empty_text(record, "name", max_bytes=64),
        # An open token (`app.bsky.graph.defs#modlist`, `#curatelist`, `#referencelist`…), kept as written.
        "purpose": validate.text(record, "purpose", required=True),
        "description": validate.text(
            record, "description", required=False, max_bytes=3_000, max_graphemes=300
        ),
        "avatar_url": validate.blob_cid(record, "avatar"),
        "created_at": validate.datetime_(record, "createdAt"),
    }


def non_empty_text(
    record: dict[str, Any], key: str, *, max_bytes: int, max_graphemes: int | None = None
) -> str:
    """A required display name: the lexicon's `minLength: 1` refuses an empty one."""
    value = validate.text(record, key, required=True, max_bytes=max_bytes, max_graphemes=max_graphemes)
    if not value:
        raise validate.InvalidRecord(key, "must not be empty")
    return value


COLLECTION = Collection(
    nsid="app.bsky.graph.list",
    table=List.__table__,
    parse=parse,
    author_column="creator_did",
)
