"""app.bsky.labeler.service: an account's declaration that it runs a labeler, with its label policies.

`policies` is kept whole as lexicon JSON. Likes of a labeler count in `labeler_services.like_count` as
well as in `post_aggregations`, initialised on insert as for feed generators.
"""

from __future__ import annotations

from typing import Any

from app.indexing.collection import Collection, RecordRef, Row
from app.indexing.collections.generator import likes_counted_before
from app.records import validate
from models import LabelerService


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    if ref.rkey != "self":
        raise validate.InvalidRecord(
            "rkey", f"a labeler service's record key is 'self', not {ref.rkey[:100]!r}"
        )
    policies = validate.obj(record, "policies", required=True)
    label_values = policies.get("labelValues")
    if not isinstance(label_values, list) or not all(isinstance(value, str) for value in label_values):
        raise validate.InvalidRecord("policies.labelValues", "required array of strings")
    validate.obj_list(policies, "labelValueDefinitions", path="policies")
    return {
        "uri": ref.uri,
        "cid": ref.cid,
        "creator_did": ref.did,
        "policies": validate.clean_json(policies),
        "created_at": validate.datetime_(record, "createdAt"),
    }


COLLECTION = Collection(
    nsid="app.bsky.labeler.service",
    table=LabelerService.__table__,
    parse=parse,
    author_column="creator_did",
    after_insert=likes_counted_before(LabelerService.__table__),
    shared_rows=True,  # the `post_aggregations` row of its URI, which likes by anyone update
)
