"""Syntactically valid AT Protocol identifiers, derived deterministically from a seed and a counter.

The indexer validates every DID, record key, CID and datetime (DIRECTION §4), so the workload must
produce real-looking ones or it would measure the dead-letter path. They are hash-derived fakes:
nothing here resolves, but every string passes the protocol grammar. sha256 + base32 costs about a
microsecond, cheap enough for a million records.
"""

from __future__ import annotations

import hashlib
import time

# The base32 alphabet of the protocol (RFC 4648 lower-case; TIDs use it in sortable order).
_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"

# Multicodec prefixes of a CIDv1 with a sha2-256 digest: dag-cbor (records) and raw (blobs).
_DAG_CBOR = bytes((0x01, 0x71, 0x12, 0x20))
_RAW = bytes((0x01, 0x55, 0x12, 0x20))


# Base32 ten bits at a time: `base64.b32encode` is pure Python in 3.11 and cost a tenth of the
# generator's time.
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_BASE32_PAIRS = [first + second for first in _BASE32 for second in _BASE32]


def _b32(data: bytes) -> str:
    """RFC 4648 base32, lower case, unpadded (what CIDs and did:plc identifiers use)."""
    bits = len(data) * 8
    pad = -bits % 10
    value = int.from_bytes(data, "big") << pad
    text = "".join(_BASE32_PAIRS[(value >> shift) & 1023] for shift in range(bits + pad - 10, -1, -10))
    return text[: -(-bits // 5)]


def tid(micros: int, clock_id: int) -> str:
    """A TID: 53 bits of microseconds since the epoch and a 10-bit clock id, 13 sortable chars."""
    value = (micros << 10) | (clock_id & 0x3FF)
    return "".join(_SORTABLE[(value >> shift) & 31] for shift in range(60, -1, -5))


# RFC 4648 base32 digits → the digits `int(..., 32)` reads, so that decoding runs in C.
_TO_INT_DIGITS = str.maketrans(_BASE32, "0123456789abcdefghijklmnopqrstuv")


def cid_bytes(text: str) -> bytes:
    """The binary form of a base32 CID string (`b…`), as the SDK dialect's hex blob refs carry it."""
    body = text[1:]
    size = len(body) * 5 // 8
    value = int(body.translate(_TO_INT_DIGITS), 32) >> (len(body) * 5 - size * 8)
    return value.to_bytes(size, "big")


def rfc3339(micros: int, style: int = 0) -> str:
    """A valid RFC 3339 datetime in one of the styles clients really send.

    0: milliseconds and `Z` (most clients); 1: microseconds and `+00:00` (Python clients);
    2: whole seconds and `Z`.
    """
    seconds, fraction = divmod(micros, 1_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if style == 1:
        return f"{base}.{fraction:06d}+00:00"
    if style == 2:
        return f"{base}Z"
    return f"{base}.{fraction // 1000:03d}Z"


class Ids:
    """Identifier factory of one workload: the same seed gives the same identifiers."""

    def __init__(self, seed: int) -> None:
        self._salt = seed.to_bytes(8, "big", signed=True)

    def _digest(self, kind: bytes, key: str | int) -> bytes:
        return hashlib.sha256(self._salt + kind + str(key).encode()).digest()

    def did(self, key: str | int) -> str:
        """`did:plc:` + 24 characters of base32 (15 bytes of digest)."""
        return "did:plc:" + _b32(self._digest(b"did", key)[:15])

    def record_cid(self, key: str | int) -> str:
        """A CIDv1, dag-cbor, sha2-256 (`bafyrei…`), as a record's CID."""
        return "b" + _b32(_DAG_CBOR + self._digest(b"rec", key))

    def blob_cid(self, key: str | int) -> str:
        """A CIDv1, raw, sha2-256 (`bafkrei…`), as a blob's CID."""
        return "b" + _b32(_RAW + self._digest(b"blob", key))
