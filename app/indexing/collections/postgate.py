"""app.bsky.feed.postgate: how a post may be embedded (quoted), one gate per post (`post_gates.post_uri`).

`embedding_rules` holds what PublicAppView's schema declares for it, `{disableRule?: string,
detachedEmbeddingUris?: string[]}`: the record's detached URIs, and the disable rule's `$type` when
the record's `embeddingRules` has one (the lexicon's only rule), only those present. The gate must
name the post of its own record key, as thread gates do, so its URI and owner follow from the post
URI the table is keyed by. `posts.has_post_gate` follows it whichever arrives first.
"""

from __future__ import annotations

from typing import Any

from app.indexing.collection import Collection, RecordRef, Row
from app.indexing.collections.threadgate import (
    delete_gates,
    gated_post,
    insert_gates,
    refresh_posts,
    union_members,
)
from app.records import validate
from models import PostGate

DISABLE_RULE = "app.bsky.feed.postgate#disableRule"


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    post_uri = gated_post(ref, record)
    rules: dict[str, Any] = {}
    detached = validate.string_list(record, "detachedEmbeddingUris", max_items=50, item_format="at-uri")
    if detached is not None:
        rules["detachedEmbeddingUris"] = detached
    embedding_rules = union_members(record, "embeddingRules", max_items=5) or []
    if any(rule_type == DISABLE_RULE for rule_type, _ in embedding_rules):
        rules["disableRule"] = DISABLE_RULE
    return {
        "post_uri": post_uri,
        "uri": ref.uri,
        "embedding_rules": rules,
        "created_at": validate.datetime_(record, "createdAt"),
    }


COLLECTION = Collection(
    nsid="app.bsky.feed.postgate",
    table=PostGate.__table__,
    parse=parse,
    author_column=None,
    insert_rows=lambda writer, rows: insert_gates(writer, PostGate.__table__, rows),
    delete_rows=lambda writer, uris: delete_gates(writer, PostGate.__table__, uris),
    after_insert=refresh_posts,
    after_delete=refresh_posts,
)
