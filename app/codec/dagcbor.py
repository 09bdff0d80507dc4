"""DAG-CBOR → Python values, with cbrrr (a C decoder of strict DAG-CBOR).

Two forms:
- lexicon JSON (`decode_lexicon`): what the stream carries (DIRECTION §1, dialect 1). A CID link
  becomes `{"$link": "<cid>"}`, a byte string `{"$bytes": "<base64, unpadded>"}`, so a blob comes out
  as `{"$type": "blob", "ref": {"$link": ...}, "mimeType": ..., "size": ...}`. cbrrr produces this
  form itself (its atjson mode), without a Python walk over the value.
- raw (`decode_raw`): CID links as their string form (`bafy...`), byte strings as `bytes` — for
  structures read by code rather than stored, such as MST nodes and frame bodies.

Strict DAG-CBOR is enforced by the decoder: minimal integer and length encodings, map keys sorted
length-first and unique, definite lengths only, no tag but 42, no undefined/half floats/NaN, UTF-8
text, one item with nothing after it. A link's content is checked as a CIDv1 (version, codec, hash
code, digest length) in the raw form; in the lexicon form only its framing is checked (the `0x00`
multibase prefix), and the consumer validates CIDs it relies on.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import cbrrr
from cbrrr import _cbrrr  # the C entry point: returns (value, bytes used), needed for frames

from app.codec import CodecError

__all__ = [
    "CodecError",
    "cid_for_block",
    "cid_string",
    "decode_frame",
    "decode_lexicon",
    "decode_raw",
    "read_varint",
]

# CIDv1 (0x01), dag-cbor (0x71), sha2-256 (0x12) of 32 bytes (0x20).
_DAG_CBOR_SHA256_PREFIX = b"\x01\x71\x12\x20"


def decode_lexicon(data: bytes) -> Any:
    """One DAG-CBOR item → lexicon JSON; `CodecError` on anything that is not strict DAG-CBOR."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    try:
        return cbrrr.decode_dag_cbor(data, atjson_mode=True)
    except Exception as exc:  # cbrrr raises CbrrrDecodeError, ValueError, UnicodeDecodeError, ...
        raise CodecError(f"not DAG-CBOR: {exc}") from exc


def decode_raw(data: bytes) -> Any:
    """One DAG-CBOR item → Python values with CID links as strings and byte strings as `bytes`."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    try:
        return cbrrr.decode_dag_cbor(data, cid_ctor=cid_string)
    except Exception as exc:
        raise CodecError(f"not DAG-CBOR: {exc}") from exc


def decode_frame(data: bytes) -> tuple[Any, Any]:
    """An event-stream frame (a header item followed by a body item) → (header, body), both raw.

    The frame format is the one place where two items follow each other (the DAG-CBOR spec allows
    one); each item is still strict, and nothing may follow the body.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    view = memoryview(data)
    try:
        header, used = _cbrrr.decode_dag_cbor(view, cid_string, False)
        if used >= len(view):
            raise CodecError("frame has a header and no body")
        body, body_used = _cbrrr.decode_dag_cbor(view[used:], cid_string, False)
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"frame is not DAG-CBOR: {exc}") from exc
    if used + body_used != len(view):
        raise CodecError(f"{len(view) - used - body_used} bytes after the frame body")
    return header, body


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 varint at `pos` → (value, position after it); minimal, at most 63 bits."""
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise CodecError("varint runs past the end of the data")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and shift:
                raise CodecError("varint is not minimally encoded")
            return value, pos
        shift += 7
        if shift > 56:
            raise CodecError("varint is longer than 9 bytes")


def cid_length(data: bytes | memoryview, pos: int = 0) -> int:
    """Length in bytes of the binary CIDv1 at `pos` (version, codec, hash code, digest length, digest)."""
    version, at = read_varint(data, pos)
    if version != 1:
        raise CodecError(f"CID version {version} is not supported (only CIDv1)")
    _, at = read_varint(data, at)  # content codec
    _, at = read_varint(data, at)  # multihash function
    digest_length, at = read_varint(data, at)
    end = at + digest_length
    if end > len(data):
        raise CodecError("CID digest runs past the end of the data")
    return end - pos


def cid_string(binary: bytes) -> str:
    """A binary CIDv1 → its string form (`b` + base32, lower case, unpadded); `CodecError` if malformed."""
    if cid_length(binary) != len(binary):
        raise CodecError("bytes after the CID digest")
    return "b" + base64.b32encode(binary).decode("ascii").lower().rstrip("=")


def cid_for_block(data: bytes) -> str:
    """The CID of a DAG-CBOR block as the repository names it: CIDv1, dag-cbor, sha2-256."""
    return cid_string(_DAG_CBOR_SHA256_PREFIX + hashlib.sha256(data).digest())
