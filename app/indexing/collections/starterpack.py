"""app.bsky.graph.starterpack: a list of accounts and up to three feeds to follow on sign-up.

`feeds` is stored even when the record has none (`[]`), as PublicAppView's schema declares it: an
array of the feed generators' AT-URIs (`["at://…"]`, what its own writers store), not the record's
feed item objects.
"""

from __future__ import annotations

from typing import Any

from app.indexing.collection import Collection, RecordRef, Row
from app.indexing.collections.list import non_empty_text
from app.records import validate
from models import StarterPack


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    feeds = validate.obj_list(record, "feeds", max_items=3) or []
    for index, feed in enumerate(feeds):
        validate.record_uri(feed, "uri", path=f"feeds[{index}]")
    return {
        "uri": ref.uri,
        "cid": ref.cid,
        "creator_did": ref.did,
        "name": non_empty_text(record, "name", max_bytes=500, max_graphemes=50),
        "description": validate.text(
            record, "description", required=False, max_bytes=3_000, max_graphemes=300
        ),
        "list_uri": validate.record_uri(record, "list"),
        "feeds": [feed["uri"] for feed in feeds],
        "created_at": validate.datetime_(record, "createdAt"),
    }


COLLECTION = Collection(
    nsid="app.bsky.graph.starterpack",
    table=StarterPack.__table__,
    parse=parse,
    author_column="creator_did",
)
