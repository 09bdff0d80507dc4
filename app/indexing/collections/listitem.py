"""app.bsky.graph.listitem: an account on a list, unique per (list, subject) with a second record aside.

Only a list's owner can put accounts on it: an item whose list belongs to another account is a valid
record (the lexicon asks only for an AT-URI) that the AppView ignores. It is skipped, not
dead-lettered — a dead letter asks an operator to look at an input the indexer could not handle, and
there is nothing to handle here; anyone could otherwise fill the dead-letter stream at will. The skip
is logged, and the op still counts as the record's newest version, so an update that moves an item
onto a foreign list removes the row the older version wrote.
"""

from __future__ import annotations

import logging
from typing import Any

from app.indexing.collection import Collection, RecordRef, Row, did_of
from app.records import validate
from models import ListItem

log = logging.getLogger(__name__)


def parse(ref: RecordRef, record: dict[str, Any]) -> Row | None:
    subject_did = validate.did(record, "subject")
    list_uri = validate.record_uri(record, "list")
    created_at = validate.datetime_(record, "createdAt")
    if did_of(list_uri) != ref.did:
        log.info("list item %s not indexed: its list %s belongs to another account", ref.uri, list_uri)
        return None
    return {
        "uri": ref.uri,
        "cid": ref.cid,
        "list_uri": list_uri,
        "subject_did": subject_did,
        "created_at": created_at,
    }


COLLECTION = Collection(
    nsid="app.bsky.graph.listitem",
    table=ListItem.__table__,
    parse=parse,
    # list_items has no author column: the author is the list's owner, as items of others' lists are
    # skipped, so the list stands in for the author, in the pair too.
    author_column="list_uri",
    named_dids=lambda row: (row["subject_did"],),
    pair=("list_uri", "subject_did"),
)
