"""A CARv1 file on disk, read block by block through a compact index.

Opening the file scans it once, sequentially, in fixed-size chunks, and keeps for each block only
the first 8 bytes of its SHA-256 digest (the index key), its offset and its length: 20 bytes a
block, in three sorted arrays, so a 200 MB repository costs a few MB of index whatever its record
count, and blocks are read with `pread` when asked for.

`get` checks what it returns: the block's SHA-256 must be the digest its CID names (every
atproto repository block is hashed with SHA-256). Only CIDv1 with a 32-byte SHA-256 multihash is
accepted in the archive. A CID that appears twice resolves to its first block; two digests
sharing an 8-byte prefix are told apart by the full hash check.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from bisect import bisect_left
from pathlib import Path

from app.backfill.errors import CorruptCar, MissingBlock
from app.codec import CodecError
from app.codec.dagcbor import decode_raw, read_varint

_CHUNK = 1024 * 1024
_MAX_HEADER = 64 * 1024
_MAX_BLOCK = 8 * 1024 * 1024  # well over the protocol's record limit; larger is not a repository block
_SHA256 = 0x12
_DAG_CBOR_SHA256 = b"\x01\x71\x12\x20"
_HEAD_ROOM = 64  # bytes a section needs in the buffer to parse its length and CID


# A CID string is `b` + unpadded base32 (RFC 4648, lower case) of the binary CID. Translated to
# Python's base-32 digits, `int(..., 32)` reads it in C: 58 characters are 290 bits, the 36 bytes of
# a CIDv1 with a 32-byte SHA-256 multihash followed by 2 zero bits.
_TO_INT_DIGITS = str.maketrans("abcdefghijklmnopqrstuvwxyz234567", "0123456789abcdefghijklmnopqrstuv")
_CID_STRING_LENGTH = 59
_DIGEST_MASK = (1 << 256) - 1
# CIDv1 + codec (dag-cbor 0x71 or raw 0x55) + sha2-256 (0x12) + 32 bytes (0x20), as integers.
_SHA256_PREFIXES = frozenset({0x01711220, 0x01551220})


def digest_of(cid: str) -> int:
    """The SHA-256 digest (as an integer) a CID string names; `CorruptCar` unless it is a CIDv1
    (dag-cbor or raw) with a 32-byte SHA-256 multihash."""
    if not isinstance(cid, str) or len(cid) != _CID_STRING_LENGTH or cid[0] != "b":
        raise CorruptCar(f"{str(cid)[:80]!r} is not a SHA-256 CIDv1")
    try:
        value = int(cid[1:].translate(_TO_INT_DIGITS), 32)
    except ValueError:
        raise CorruptCar(f"{cid!r} is not base32") from None
    if value & 3 or (value >> 258) not in _SHA256_PREFIXES:
        raise CorruptCar(f"{cid!r} is not a SHA-256 CIDv1 of dag-cbor or raw data")
    return (value >> 2) & _DIGEST_MASK


def sha256_digest(cid: bytes) -> bytes:
    """The 32-byte digest of a binary CIDv1 with a SHA-256 multihash; `CorruptCar` otherwise."""
    try:
        version, at = read_varint(cid, 0)
        _, at = read_varint(cid, at)  # codec: dag-cbor for MST nodes and records, raw for blobs
        code, at = read_varint(cid, at)
        length, at = read_varint(cid, at)
    except CodecError as exc:
        raise CorruptCar(f"malformed CID: {exc}") from exc
    if version != 1 or code != _SHA256 or length != 32 or len(cid) != at + 32:
        raise CorruptCar(f"CID {cid.hex()[:80]} is not a CIDv1 with a SHA-256 digest")
    return cid[at:]


class CarFile:
    """Random access to the blocks of a CARv1 file; `with CarFile(path) as car: car.get(cid)`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = self.path.open("rb")
        self._fd = self._file.fileno()
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self.roots = self._read_header()
            self._keys, self._offsets, self._lengths = self._scan()
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> CarFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def block_count(self) -> int:
        return len(self._keys)

    @property
    def index_bytes(self) -> int:
        """Memory held by the index arrays."""
        return sum(a.itemsize * len(a) for a in (self._keys, self._offsets, self._lengths))

    # --- reading ---------------------------------------------------------------------------------

    def get(self, cid: str) -> bytes:
        """The verified bytes of the block named `cid`; `MissingBlock`, or `CorruptCar` when the
        archive's bytes for it do not hash to it."""
        digest = digest_of(cid)
        key = digest >> 192
        at = bisect_left(self._keys, key)
        candidates = 0
        while at < len(self._keys) and self._keys[at] == key:
            data = os.pread(self._fd, self._lengths[at], self._offsets[at])
            if len(data) != self._lengths[at]:
                raise CorruptCar(f"{self.path.name}: block at byte {self._offsets[at]} is cut short")
            if int.from_bytes(hashlib.sha256(data).digest(), "big") == digest:
                return data
            candidates += 1
            at += 1
        if candidates:
            raise CorruptCar(f"block {cid} does not hash to its CID")
        raise MissingBlock(f"block {cid} is not in the CAR")

    # --- opening ---------------------------------------------------------------------------------

    def _read_header(self) -> list[str]:
        head = self._file.read(_MAX_HEADER + 16)
        try:
            length, at = read_varint(head, 0)
        except CodecError as exc:
            raise CorruptCar(f"{self.path.name}: no CAR header ({exc})") from exc
        if length == 0 or length > _MAX_HEADER or at + length > len(head):
            raise CorruptCar(f"{self.path.name}: CAR header length {length} is invalid")
        try:
            header = decode_raw(head[at : at + length])
        except CodecError as exc:
            raise CorruptCar(f"{self.path.name}: CAR header is not DAG-CBOR ({exc})") from exc
        if not isinstance(header, dict) or header.get("version") != 1:
            raise CorruptCar(f"{self.path.name}: not a CARv1 header")
        roots = header.get("roots")
        if not isinstance(roots, list) or not all(isinstance(root, str) for root in roots):
            raise CorruptCar(f"{self.path.name}: CAR header roots are not a list of CIDs")
        self._data_start = at + length
        return list(roots)

    def _scan(self) -> tuple[array[int], array[int], array[int]]:
        """One sequential pass over the sections: (sorted keys, offsets, lengths)."""
        packed: list[int] = []  # key << 32 | position in `offsets`/`lengths`, sorted below
        offsets = array("Q")
        lengths = array("I")
        file = self._file
        file.seek(self._data_start)
        base = self._data_start  # file offset of buf[0]
        buf = b""
        pos = 0
        at_end = False
        while True:
            if len(buf) - pos < _HEAD_ROOM and not at_end:
                more = file.read(_CHUNK)
                at_end = len(more) < _CHUNK
                base += pos
                buf = buf[pos:] + more
                pos = 0
            if pos >= len(buf):
                break
            where = base + pos
            try:
                section, cid_at = read_varint(buf, pos)
                # Nearly every block is dag-cbor/sha-256: its CID is those 4 bytes and 32 of digest.
                cid_len = 36 if buf[cid_at : cid_at + 4] == _DAG_CBOR_SHA256 else _cid_length(buf, cid_at)
            except (CodecError, CorruptCar) as exc:
                raise CorruptCar(f"{self.path.name}: malformed block section at byte {where}: {exc}") from exc
            if section == 0 or section > _MAX_BLOCK:
                raise CorruptCar(f"{self.path.name}: block section at byte {where} has length {section}")
            data_at = cid_at + cid_len
            end = cid_at + section
            if data_at > end:
                raise CorruptCar(f"{self.path.name}: block section at byte {where} is shorter than its CID")
            if base + end > self._size:
                raise CorruptCar(f"{self.path.name}: block at byte {where} runs past the end of the file")
            digest = buf[cid_at + 4 : data_at] if cid_len == 36 else sha256_digest(bytes(buf[cid_at:data_at]))
            if len(offsets) >= 1 << 32:
                raise CorruptCar(f"{self.path.name}: too many blocks")
            packed.append(int.from_bytes(digest[:8], "big") << 32 | len(offsets))
            offsets.append(base + data_at)
            lengths.append(end - data_at)
            if end <= len(buf):
                pos = end
            else:
                file.seek(base + end)
                base += end
                buf = b""
                pos = 0
                at_end = False
        packed.sort()
        keys = array("Q", (item >> 32 for item in packed))
        mask = (1 << 32) - 1
        sorted_offsets = array("Q", (offsets[item & mask] for item in packed))
        sorted_lengths = array("I", (lengths[item & mask] for item in packed))
        return keys, sorted_offsets, sorted_lengths


def _cid_length(buf: bytes, at: int) -> int:
    """Length of the binary CID at `at` (version, codec, hash code, digest length, digest)."""
    version, p = read_varint(buf, at)
    if version != 1:
        raise CorruptCar(f"CID version {version} is not supported")
    _, p = read_varint(buf, p)
    _, p = read_varint(buf, p)
    digest_length, p = read_varint(buf, p)
    return p + digest_length - at
