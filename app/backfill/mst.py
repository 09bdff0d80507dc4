"""Walk of a repository's Merkle Search Tree: every (key, value CID) in key order.

A node is `{"l": CID | null, "e": [{"p": int, "k": bytes, "v": CID, "t": CID | null}, ...]}`:
`l` is the subtree of keys before the first entry, each entry's `t` the subtree of keys between it
and the next; `k` is the key's suffix after the `p` bytes it shares with the previous key of the
node. A key's layer is the number of leading zero bits of SHA-256(key) divided by 2 (fanout 4);
the entries of a node share one layer and its subtrees are on lower layers.

Nodes are read one at a time as the walk reaches them (through `read_block`), so memory holds
one path from the root, never the tree. What is checked, each failure a `BadMstNode`: the node
shape and types, prefix lengths, keys of the form `<collection NSID>/<record key>`, keys strictly
increasing over the whole walk, one layer per node and lower layers below. Layers fall at each
level, so the walk's depth is bounded whatever the input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from app.backfill.errors import BadMstNode
from app.codec import CodecError
from app.codec.dagcbor import decode_raw
from app.records.syntax import is_nsid, is_record_key

_TOP = 129  # above the highest layer a SHA-256 can give (256 zero bits / 2 = 128)
_MAX_KEY = 1024


def key_height(key: bytes | str) -> int:
    """The MST layer of a key: leading zero bits of SHA-256(key), halved (rounded down)."""
    raw = key.encode() if isinstance(key, str) else key
    digest = hashlib.sha256(raw).digest()
    zeros = 0
    for byte in digest:
        if byte == 0:
            zeros += 8
            continue
        zeros += 8 - byte.bit_length()
        break
    return zeros // 2


def split_key(key: str) -> tuple[str, str] | None:
    """`collection/rkey` → (collection, rkey) when both parts are valid, else None."""
    collection, slash, rkey = key.partition("/")
    if not slash or not is_nsid(collection) or not is_record_key(rkey):
        return None
    return collection, rkey


def walk(read_block: Callable[[str], bytes], root: str) -> Iterator[tuple[str, str]]:
    """(key, value CID) of every entry under the node `root`, in key order.

    `read_block(cid)` returns the verified bytes of a block (and raises for a missing one).
    """
    last = [b""]  # the previous key of the whole walk; keys must rise strictly
    yield from _walk_node(read_block, root, _TOP, last, is_root=True)


def _decode_node(data: bytes, cid: str) -> tuple[str | None, list[Any]]:
    try:
        node = decode_raw(data)
    except CodecError as exc:
        raise BadMstNode(f"MST node {cid} is not DAG-CBOR: {exc}") from exc
    if not isinstance(node, dict) or set(node) != {"l", "e"}:
        raise BadMstNode(f"MST node {cid} is not a map of exactly 'l' and 'e'")
    left, entries = node["l"], node["e"]
    if left is not None and not isinstance(left, str):
        raise BadMstNode(f"MST node {cid}: 'l' is not a link or null")
    if not isinstance(entries, list):
        raise BadMstNode(f"MST node {cid}: 'e' is not a list")
    return left, entries


def _walk_node(
    read_block: Callable[[str], bytes], cid: str, ceiling: int, last: list[bytes], is_root: bool = False
) -> Iterator[tuple[str, str]]:
    left, entries = _decode_node(read_block(cid), cid)
    if not entries:
        if left is None and not is_root:
            raise BadMstNode(f"MST node {cid} is empty and not the root")
        layer = ceiling - 1
    else:
        layer = -1  # set from the first key

    keys: list[tuple[bytes, str, str | None]] = []
    previous = b""
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"p", "k", "v", "t"}:
            raise BadMstNode(f"MST node {cid}: entry {index} is not a map of p, k, v, t")
        prefix, suffix, value, right = entry["p"], entry["k"], entry["v"], entry["t"]
        if not isinstance(prefix, int) or isinstance(prefix, bool) or not isinstance(suffix, bytes):
            raise BadMstNode(f"MST node {cid}: entry {index} has a bad 'p' or 'k'")
        if not isinstance(value, str) or (right is not None and not isinstance(right, str)):
            raise BadMstNode(f"MST node {cid}: entry {index} has a bad 'v' or 't'")
        if prefix < 0 or prefix > len(previous) or (index == 0 and prefix != 0):
            raise BadMstNode(f"MST node {cid}: entry {index} has prefix length {prefix}")
        key = previous[:prefix] + suffix
        if len(key) > _MAX_KEY:
            raise BadMstNode(f"MST node {cid}: entry {index} has a key of {len(key)} bytes")
        height = key_height(key)
        if index == 0:
            layer = height
            if layer >= ceiling:
                raise BadMstNode(f"MST node {cid}: layer {layer} is not below its parent's")
        elif height != layer:
            raise BadMstNode(f"MST node {cid}: key {key[:100]!r} is on layer {height}, the node on {layer}")
        keys.append((key, value, right))
        previous = key

    if left is not None:
        if layer == 0:
            raise BadMstNode(f"MST node {cid} on layer 0 has a subtree")
        yield from _walk_node(read_block, left, layer, last)
    for key, value, right in keys:
        if key <= last[0]:
            raise BadMstNode(f"MST node {cid}: key {key[:100]!r} is out of order")
        last[0] = key
        try:
            text = key.decode("ascii")
        except UnicodeDecodeError:
            raise BadMstNode(f"MST node {cid}: key {key[:100]!r} is not ASCII") from None
        if split_key(text) is None:
            raise BadMstNode(f"MST node {cid}: key {text[:100]!r} is not <collection>/<record key>")
        yield text, value
        if right is not None:
            if layer == 0:
                raise BadMstNode(f"MST node {cid} on layer 0 has a subtree")
            yield from _walk_node(read_block, right, layer, last)
