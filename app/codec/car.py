"""CARv1 (content-addressed archive) in memory → roots and blocks by CID string.

Layout: varint header length, header (DAG-CBOR `{"version": 1, "roots": [CID, ...]}`), then blocks,
each a varint length followed by a binary CIDv1 and the block's bytes. Block contents are returned
undecoded, so a caller decodes only the blocks it needs (a firehose commit carries MST nodes beside
its records) and can check a block against its CID (`app.codec.dagcbor.cid_for_block`).
"""

from __future__ import annotations

from app.codec import CodecError
from app.codec.dagcbor import cid_length, cid_string, decode_raw, read_varint

__all__ = ["CodecError", "read_car"]


def read_car(data: bytes) -> tuple[list[str], dict[str, bytes]]:
    """(roots, blocks by CID string) of a CARv1; `CodecError` on a malformed archive.

    A CID that appears twice keeps its first block (blocks are content-addressed: a well-formed
    archive repeats only identical bytes).
    """
    if not isinstance(data, bytes | bytearray):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    header_length, pos = read_varint(data, 0)
    header_end = pos + header_length
    if header_length == 0 or header_end > len(data):
        raise CodecError("CAR header length is zero or runs past the end")
    header = decode_raw(data[pos:header_end])
    if not isinstance(header, dict) or header.get("version") != 1:
        raise CodecError("CAR header is not a version 1 header")
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(root, str) for root in roots):
        raise CodecError("CAR header roots are not a list of CIDs")

    blocks: dict[str, bytes] = {}
    pos = header_end
    size = len(data)
    while pos < size:
        section_length, pos = read_varint(data, pos)
        end = pos + section_length
        if end > size:
            raise CodecError(f"CAR block at byte {pos} runs past the end of the archive")
        cid_end = pos + cid_length(data, pos)
        if cid_end > end:
            raise CodecError(f"CAR block at byte {pos} is shorter than its CID")
        blocks.setdefault(cid_string(data[pos:cid_end]), data[cid_end:end])
        pos = end
    return list(roots), blocks
