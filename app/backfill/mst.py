"""Walk of a repository's Merkle Search Tree: every (key, value CID) in key order.

A node is `{"l": CID | null, "e": [{"p": int, "k": bytes, "v": CID, "t": CID | null}, ...]}`:
`l` is the subtree of keys before the first entry, each entry's `t` the subtree of keys between it
and the next; `k` is the key's suffix after the `p` bytes it shares with the previous key of the
node. A key's layer is the number of leading zero bits of SHA-256(key) divided by 2 (fanout 4);
the entries of a node share one layer and its subtrees are on lower layers.

Nodes are read one at a time as the walk reaches them (through `read_block`), so memory holds
one path from the root, never the tree. Nodes are decoded with the codec's lexicon form, whose C
decoder writes CID strings itself: links arrive as `{"$link": CID}` and key suffixes as
`{"$bytes": base64}`, and a link is then accepted only in that one-key shape.

What is checked, each failure a `BadMstNode`: the node shape and types, prefix lengths, keys of
the form `<collection NSID>/<record key>`, keys strictly increasing over the whole walk, one layer
per node and lower layers below. Layers fall at each level, so the walk's depth is bounded
whatever the input.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from app.backfill.errors import BadMstNode
from app.codec import CodecError
from app.codec.dagcbor import decode_lexicon
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

    `read_block(cid)` returns the verified bytes of a block (and raises for a missing one). The
    walk is iterative: a stack holds, for each node on the path from the root, its entries and
    the position reached.
    """
    last = b""  # the previous key of the whole walk; keys must rise strictly
    stack: list[_Frame] = []
    pending: str | None = root
    ceiling = _TOP
    is_root = True
    while True:
        while pending is not None:  # descend the left spine of the subtree `pending`
            frame = _load(read_block, pending, ceiling, is_root)
            stack.append(frame)
            is_root = False
            pending, ceiling = frame.left, frame.layer
        if not stack:
            return
        frame = stack[-1]
        if frame.next == len(frame.entries):
            stack.pop()
            continue
        key, text, value, right = frame.entries[frame.next]
        frame.next += 1
        if key <= last:
            raise BadMstNode(f"MST node {frame.cid}: key {text[:100]!r} is out of order")
        last = key
        yield text, value
        pending, ceiling = right, frame.layer


class _Frame:
    __slots__ = ("cid", "entries", "layer", "left", "next")

    def __init__(
        self, cid: str, left: str | None, entries: list[tuple[bytes, str, str, str | None]], layer: int
    ):
        self.cid = cid
        self.left = left
        self.entries = entries
        self.layer = layer
        self.next = 0


def _link(value: Any, cid: str, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("$link"), str):
        return value["$link"]
    raise BadMstNode(f"MST node {cid}: {what} is not a link or null")


def _load(read_block: Callable[[str], bytes], cid: str, ceiling: int, is_root: bool) -> _Frame:
    """Read, decode and check one node; its entries as (key bytes, key text, value CID, subtree)."""
    try:
        node = decode_lexicon(read_block(cid))
    except CodecError as exc:
        raise BadMstNode(f"MST node {cid} is not DAG-CBOR: {exc}") from exc
    if not isinstance(node, dict) or len(node) != 2 or "l" not in node or not isinstance(node.get("e"), list):
        raise BadMstNode(f"MST node {cid} is not a map of exactly 'l' and 'e'")
    left = _link(node["l"], cid, "'l'")
    raw_entries = node["e"]
    if not raw_entries:
        if left is None and not is_root:
            raise BadMstNode(f"MST node {cid} is empty and not the root")
        layer = ceiling - 1
    else:
        layer = -1  # set from the first key
    entries: list[tuple[bytes, str, str, str | None]] = []
    previous = b""
    for index, entry in enumerate(raw_entries):
        if not isinstance(entry, dict) or len(entry) != 4:
            raise BadMstNode(f"MST node {cid}: entry {index} is not a map of p, k, v, t")
        prefix, suffix = entry.get("p"), entry.get("k")
        if not isinstance(prefix, int) or isinstance(prefix, bool):
            raise BadMstNode(f"MST node {cid}: entry {index} has a bad 'p'")
        if not isinstance(suffix, dict) or len(suffix) != 1 or not isinstance(suffix.get("$bytes"), str):
            raise BadMstNode(f"MST node {cid}: entry {index} has a bad 'k'")
        if "v" not in entry or "t" not in entry:
            raise BadMstNode(f"MST node {cid}: entry {index} is not a map of p, k, v, t")
        value = _link(entry["v"], cid, f"entry {index} 'v'")
        if value is None:
            raise BadMstNode(f"MST node {cid}: entry {index} has no value")
        right = _link(entry["t"], cid, f"entry {index} 't'")
        if prefix < 0 or prefix > len(previous) or (index == 0 and prefix != 0):
            raise BadMstNode(f"MST node {cid}: entry {index} has prefix length {prefix}")
        try:
            encoded = suffix["$bytes"]
            key = previous[:prefix] + binascii.a2b_base64(encoded + "=" * (-len(encoded) % 4))
        except binascii.Error:
            raise BadMstNode(f"MST node {cid}: entry {index} has a bad 'k'") from None
        if len(key) > _MAX_KEY:
            raise BadMstNode(f"MST node {cid}: entry {index} has a key of {len(key)} bytes")
        height = key_height(key)
        if index == 0:
            layer = height
            if layer >= ceiling:
                raise BadMstNode(f"MST node {cid}: layer {layer} is not below its parent's")
        elif height != layer:
            raise BadMstNode(f"MST node {cid}: key {key[:100]!r} is on layer {height}, the node on {layer}")
        if layer == 0 and right is not None:
            raise BadMstNode(f"MST node {cid} on layer 0 has a subtree")
        try:
            text = key.decode("ascii")
        except UnicodeDecodeError:
            raise BadMstNode(f"MST node {cid}: key {key[:100]!r} is not ASCII") from None
        if split_key(text) is None:
            raise BadMstNode(f"MST node {cid}: key {text[:100]!r} is not <collection>/<record key>")
        entries.append((key, text, value, right))
        previous = key
    if left is not None and layer == 0:
        raise BadMstNode(f"MST node {cid} on layer 0 has a subtree")
    return _Frame(cid, left, entries, layer)
