"""Every collection without a module of its own: kept whole, as lexicon JSON, in `generic_records`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.indexing.collection import Collection, RecordRef, Row
from app.records import validate
from app.records.syntax import parse_datetime
from models import GenericRecord

# The registry's key for "any other collection".
ANY_COLLECTION = "*"


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    created_at = record.get("createdAt")
    parsed = parse_datetime(created_at) if isinstance(created_at, str) else None
    return {
        "uri": ref.uri,
        "cid": ref.cid,
        "author_did": ref.did,
        "record_type": ref.collection,
        "record": validate.clean_json(record),
        # NOT NULL in the reference schema: a record without a valid `createdAt` takes the commit's
        # time, else the indexing time.
        "created_at": parsed or ref.commit_time or datetime.now(UTC).replace(tzinfo=None),
    }


COLLECTION = Collection(
    nsid=ANY_COLLECTION,
    table=GenericRecord.__table__,
    parse=parse,
    author_column="author_did",
)
