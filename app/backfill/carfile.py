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

import base64
import binascii
import hashlib
import os
from array import array
from bisect import bisect_left
from pathlib import Path

from app.backfill.errors import CorruptCar, MissingBlock
from app.codec import CodecError
from app.codec.dagcbor import cid_string, decode_raw, read_varint

_CHUNK = 1024 * 1024
_MAX_HEADER = 64 * 1024
_MAX_BLOCK = 8 * 1024 * 1024  # well over the protocol's record limit; larger is not a repository block
_SHA256 = 0x12
_HEAD_ROOM = 64  # bytes a section needs in the buffer to parse its length and CID


def cid_binary(cid: str) -> bytes:
    """A CID string (`b` + base32 lower) → binary; `CorruptCar` when it is not one."""
    if not isinstance(cid, str) or not cid.startswith("b") or len(cid) > 200:
        raise CorruptCar(f"{str(cid)[:80]!r} is not a base32 CIDv1")
    body = cid[1:].upper()
    try:
        return base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError) as exc:
        raise CorruptCar(f"{cid[:80]!r} is not a base32 CIDv1") from exc


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
        return self.get_binary(cid_binary(cid), cid)

    def get_binary(self, cid: bytes, shown: str | None = None) -> bytes:
        digest = sha256_digest(cid)
        key = int.from_bytes(digest[:8], "big")
        at = bisect_left(self._keys, key)
        candidates = 0
        while at < len(self._keys) and self._keys[at] == key:
            data = os.pread(self._file.fileno(), self._lengths[at], self._offsets[at])
            if len(data) != self._lengths[at]:
                raise CorruptCar(f"{self.path.name}: block at byte {self._offsets[at]} is cut short")
            if hashlib.sha256(data).digest() == digest:
                return data
            candidates += 1
            at += 1
        name = shown or _shown(cid)
        if candidates:
            raise CorruptCar(f"block {name} does not hash to its CID")
        raise MissingBlock(f"block {name} is not in the CAR")

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
                cid_len = _cid_length(buf, cid_at)
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
            digest = sha256_digest(bytes(buf[cid_at:data_at]))
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


def _shown(cid: bytes) -> str:
    try:
        return cid_string(cid)
    except CodecError:
        return cid.hex()[:80]
