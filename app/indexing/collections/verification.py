"""app.bsky.graph.verification: an account vouches for another's identity.

`verifications` is unique per subject (PublicAppView's `unique_verification_subject`) and has no
verifier column (the verifier is the record URI's authority). A second verification of the same
account, by any verifier, waits aside in `indexer.aside_records` and is promoted when the live one is
deleted (DIRECTION §3/§4 pair rule): the API sees one verification per account, the oldest live one.
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
    author_column=None,
    named_dids=lambda row: (row["subject_did"],),
    pair=(None, "subject_did"),
)
