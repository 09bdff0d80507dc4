"""CARv1 (content-addressed archive) in memory → roots and blocks by CID string.

Layout: varint header length, header (DAG-CBOR `{"version": 1, "roots": [CID, ...]}`), then blocks,
each a varint length followed by a binary CIDv1 and the block's bytes. Block contents are returned
undecoded, so a caller decodes only the blocks it needs (a firehose commit carries MST nodes beside
its records) and can check a block against its CID (`app.codec.dagcbor.cid_for_block`).
"""

from __future__ import annotations

from app.codec import CodecError
from app.codec.dagcbor import cid_length, cid_string, decode_raw, read_varint

__all__ = ["CodecError", "car_index", "read_car"]


# The CIDs of atproto blocks: CIDv1, dag-cbor or raw, sha2-256 of 32 bytes (36 bytes in all).
_COMMON_CID_PREFIXES = frozenset({b"\x01\x71\x12\x20", b"\x01\x55\x12\x20"})
_COMMON_CID_LENGTH = 36


def read_car(data: bytes) -> tuple[list[str], dict[str, bytes]]:
    """(roots, blocks by CID string) of a CARv1; `CodecError` on a malformed archive.

    A CID that appears twice keeps its first block (blocks are content-addressed: a well-formed
    archive repeats only identical bytes).
    """
    roots, index = car_index(data)
    data = bytes(data)
    blocks: dict[str, bytes] = {}
    for binary, (start, end) in index.items():
        blocks[cid_string(binary)] = data[start:end]
    return roots, blocks


def car_index(data: bytes) -> tuple[list[str], dict[bytes, tuple[int, int]]]:
    """(roots, block positions by binary CID): the CAR walked without copying or naming any block,
    for a caller that needs a few of its blocks (a firehose commit's records among its MST nodes).
    `data[start:end]` is the block of a CID. Same checks and errors as `read_car`."""
    if not isinstance(data, bytes | bytearray):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    header_length, pos = read_varint(data, 0)
    header_end = pos + header_length
    if header_length == 0 or header_end > len(data):
        raise CodecError("CAR header length is zero or runs past the end")
    header = decode_raw(bytes(data[pos:header_end]))
    if not isinstance(header, dict) or header.get("version") != 1:
        raise CodecError("CAR header is not a version 1 header")
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(root, str) for root in roots):
        raise CodecError("CAR header roots are not a list of CIDs")

    index: dict[bytes, tuple[int, int]] = {}
    pos = header_end
    size = len(data)
    while pos < size:
        first = data[pos]
        if first < 0x80:  # one-byte and two-byte lengths without a call: most blocks
            section_length, pos = first, pos + 1
        elif pos + 1 < size and 0 < data[pos + 1] < 0x80:
            section_length, pos = (first & 0x7F) | (data[pos + 1] << 7), pos + 2
        else:
            section_length, pos = read_varint(data, pos)
        end = pos + section_length
        if end > size:
            raise CodecError(f"CAR block at byte {pos} runs past the end of the archive")
        if data[pos : pos + 4] in _COMMON_CID_PREFIXES:
            cid_end = pos + _COMMON_CID_LENGTH
        else:
            cid_end = pos + cid_length(data, pos)
        if cid_end > end:
            raise CodecError(f"CAR block at byte {pos} is shorter than its CID")
        index.setdefault(bytes(data[pos:cid_end]), (cid_end, end))
        pos = end
    return list(roots), index
