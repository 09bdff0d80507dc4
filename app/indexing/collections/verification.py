"""app.bsky.graph.verification: an account vouches for another's identity.

Unique per (verifier, subject), not per subject as in the original schema, so a second verifier of
the same account is kept (DIRECTION §3); a second record of the same verifier waits aside.
"""

from __future__ import annotations

from typing import Any

from app.indexing.collection import Collection, RecordRef, Row
from app.records import validate
from app.records.syntax import normalise_handle
from models import Verification


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    handle = validate.text(record, "handle", required=True)
    normalised = normalise_handle(handle)
    if normalised is None:
        raise validate.InvalidRecord("handle", f"not a valid handle: {handle[:80]!r}")
    # Required by the lexicon; the table has no column for it.
    validate.text(record, "displayName", required=True)
    created_at = validate.datetime_(record, "createdAt")
    return {
        "uri": ref.uri,
        "cid": ref.cid,
        "creator_did": ref.did,
        "subject_did": validate.did(record, "subject"),
        "handle": normalised,
        # The record's own date is when the verifier verified; there is no other.
        "verified_at": created_at,
        "created_at": created_at,
    }


COLLECTION = Collection(
    nsid="app.bsky.graph.verification",
    table=Verification.__table__,
    parse=parse,
    author_column="creator_did",
    named_dids=lambda row: (row["subject_did"],),
    pair=("creator_did", "subject_did"),
)
