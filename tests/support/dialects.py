"""The "Python SDK dump" dialect of records (DIRECTION §1), produced by the real `atproto` SDK.

The existing Python reader (PublicAppView's python-firehose consumer) does, for every create and
update of a `#commit`: decode the commit's CAR with the SDK (`CAR.from_bytes`, DAG-CBOR through
libipld: CID links and byte strings both come out as `bytes`), take the op's block, build a model
with `models.get_or_create(block, strict=False)`, store `model.model_dump()` (pydantic defaults:
field names, not aliases; None kept) with `"$type"` set to the model's `py_type` at the top, and
push `json.dumps(data)` of the whole event. When the SDK has no model for the collection,
`get_or_create` returns None and the reader stores the decoded block as it is. A record of a
known collection that fails the SDK's validation comes back as a `DotDict`, whose `model_dump`
attribute is None: calling it raises, and the reader loses the record (`reader_record` → None).

Bytes in JSON — the choice made here, explicitly: `json.dumps(..., default=reader_default)`,
which writes `bytes` as their hex (a blob's `ref`, the binary CID, becomes `"01551220…"`, the
form DIRECTION §1 describes) and an SDK `CID` object as its string. A plain `json.dumps`, as in
the reader's published source, would raise on the first blob and drop the whole event; hex is
what the stream we replace carries, so this is what `sdk_json` writes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from atproto_client.models.dot_dict import DotDict
from atproto_client.models.utils import get_or_create
from atproto_core.cid import CID


def reader_default(value: Any) -> str:
    """`json.dumps` fallback of the reader: bytes → hex, CID → its string form."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, CID):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def sdk_json(value: Any) -> str:
    """Serialise an event's data as the reader does (see the module docstring)."""
    return json.dumps(value, default=reader_default)


def reader_record(block: dict[str, Any]) -> dict[str, Any] | None:
    """What the reader stores as `record` for a decoded block; None when it loses the record."""
    model = get_or_create(block, strict=False)
    if model is None:
        return block
    if isinstance(model, DotDict):
        return None
    dumped: dict[str, Any] = model.model_dump()
    dumped["$type"] = model.py_type
    return dumped


def as_decoded_block(value: Any) -> Any:
    """Lexicon JSON → what libipld's DAG-CBOR decoding gives for the same data.

    `{"$link": CID}` → the binary CID (`bytes`), `{"$bytes": base64}` → `bytes`: so a record
    written as lexicon JSON in a test reaches the SDK exactly as a firehose block would.
    """
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$link"), str):
            return _cid_bytes(value["$link"])
        if len(value) == 1 and isinstance(value.get("$bytes"), str):
            encoded = value["$bytes"]
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4))
        return {key: as_decoded_block(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_decoded_block(item) for item in value]
    return value


def _cid_bytes(cid: str) -> bytes:
    if not cid.startswith("b"):
        raise ValueError(f"only base32 CID strings are used in tests: {cid!r}")
    body = cid[1:].upper()
    return base64.b32decode(body + "=" * (-len(body) % 8))


def sdk_dump(lexicon_record: dict[str, Any]) -> dict[str, Any]:
    """The record as the SDK-dialect stream carries it (already through `sdk_json`: plain JSON)."""
    record = reader_record(as_decoded_block(lexicon_record))
    if record is None:
        raise ValueError(f"the SDK refuses this record; the reader would lose it: {lexicon_record!r}")
    loaded: dict[str, Any] = json.loads(sdk_json(record))
    return loaded
