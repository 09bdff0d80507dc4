"""Repository CARs built from known records: a real MST (canonical layout, prefix-compressed
keys), an unsigned version 3 commit, and the CARv1 framing — written here from the specs, not
with the code under test, so the two check each other.

MST layer of a key: leading zero bits of SHA-256(key) // 2 (fanout 4); the root is on the
highest layer of any key, each subtree between two entries of a layer-L node is a node of layer
L-1 (or null when no key falls there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import cbrrr

SIG = bytes(64)  # the commit is not signed: the reader does not check signatures


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def height(key: str) -> int:
    return leading_zero_bits(hashlib.sha256(key.encode()).digest()) // 2


def common_prefix_length(left: bytes, right: bytes) -> int:
    n = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        n += 1
    return n


def encode(value: Any, atjson: bool = False) -> tuple[cbrrr.CID, bytes]:
    """(CID, DAG-CBOR bytes); `atjson` reads `{"$link"}` / `{"$bytes"}` as lexicon JSON does."""
    data = cbrrr.encode_dag_cbor(value, atjson_mode=atjson)
    return cbrrr.CID.cidv1_dag_cbor_sha256_32_from(data), data


@dataclass
class BuiltRepo:
    did: str
    rev: str
    commit_cid: str
    data_cid: str
    record_cids: dict[str, str]  # path → CID string
    blocks: list[tuple[bytes, bytes]]  # (binary CID, bytes), commit first
    mst_cids: set[str] = field(default_factory=set)

    def car(
        self, roots: list[bytes] | None = None, blocks: Iterable[tuple[bytes, bytes]] | None = None
    ) -> bytes:
        """The CAR bytes; `roots` / `blocks` replace the real ones to build broken archives."""
        root_list = [self.blocks[0][0]] if roots is None else roots
        out = bytearray()
        _write_car(out, root_list, self.blocks if blocks is None else blocks)
        return bytes(out)

    def write(self, path: Path) -> Path:
        with path.open("wb") as file:
            _write_car(file, [self.blocks[0][0]], self.blocks)
        return path


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _write_car(out: bytearray | BinaryIO, roots: list[bytes], blocks: Iterable[tuple[bytes, bytes]]) -> None:
    header = cbrrr.encode_dag_cbor({"version": 1, "roots": [cbrrr.CID(root) for root in roots]})
    write = out.extend if isinstance(out, bytearray) else out.write
    write(_varint(len(header)) + header)
    for cid, data in blocks:
        write(_varint(len(cid) + len(data)) + cid + data)


def build_mst(values: Mapping[str, cbrrr.CID]) -> tuple[cbrrr.CID, list[tuple[cbrrr.CID, bytes]]]:
    """(root CID, node blocks) of the MST holding `values` (key → value CID)."""
    items = sorted((key.encode(), height(key), cid) for key, cid in values.items())
    blocks: list[tuple[cbrrr.CID, bytes]] = []
    top = max((item[1] for item in items), default=0)
    root = _node(items, top, blocks)
    if root is None:  # the empty repository: one empty node
        root, data = encode({"l": None, "e": []})
        blocks.append((root, data))
    return root, blocks


def _node(items: list[tuple[bytes, int, cbrrr.CID]], layer: int, blocks: list) -> cbrrr.CID | None:
    if not items:
        return None
    left: cbrrr.CID | None = None
    entries: list[dict[str, Any]] = []
    below: list[tuple[bytes, int, cbrrr.CID]] = []
    previous = b""

    def close_group() -> None:
        nonlocal left
        subtree = _node(below, layer - 1, blocks) if below else None
        if entries:
            entries[-1]["t"] = subtree
        else:
            left = subtree
        below.clear()

    for key, key_layer, cid in items:
        if key_layer == layer:
            close_group()
            prefix = common_prefix_length(previous, key)
            entries.append({"p": prefix, "k": key[prefix:], "v": cid, "t": None})
            previous = key
        else:
            below.append((key, key_layer, cid))
    close_group()
    cid, data = encode({"l": left, "e": entries})
    blocks.append((cid, data))
    return cid


def build_repo(did: str, records: Mapping[str, Mapping[str, Any]], rev: str = "3kabcdefghij2") -> BuiltRepo:
    """A repository of `records` (path `collection/rkey` → lexicon JSON record)."""
    record_blocks: dict[str, tuple[cbrrr.CID, bytes]] = {
        path: encode(dict(rec), atjson=True) for path, rec in records.items()
    }
    return build_repo_from_blocks(did, record_blocks, rev)


def build_repo_from_blocks(
    did: str, record_blocks: Mapping[str, tuple[cbrrr.CID, bytes]], rev: str = "3kabcdefghij2"
) -> BuiltRepo:
    """Like `build_repo`, with each record given as its (CID, bytes): lets a test store bytes that
    are not a valid record under a correct CID."""
    root, nodes = build_mst({path: cid for path, (cid, _) in record_blocks.items()})
    commit_cid, commit = encode(
        {"did": did, "version": 3, "data": root, "rev": rev, "prev": None, "sig": SIG}
    )
    blocks = [(bytes(commit_cid), commit)]
    blocks += [(bytes(cid), data) for cid, data in nodes]
    blocks += [(bytes(cid), data) for cid, data in record_blocks.values()]
    return BuiltRepo(
        did=did,
        rev=rev,
        commit_cid=commit_cid.encode(),
        data_cid=root.encode(),
        record_cids={path: cid.encode() for path, (cid, _) in record_blocks.items()},
        blocks=blocks,
        mst_cids={cid.encode() for cid, _ in nodes},
    )


def raw_block(data: bytes) -> tuple[cbrrr.CID, bytes]:
    """Any bytes under their true dag-cbor CID (hash matches, content need not decode)."""
    return cbrrr.CID.cidv1_dag_cbor_sha256_32_from(data), data


# --- realistic records ---------------------------------------------------------------------------


def tid(n: int) -> str:
    """A valid TID, distinct and increasing with n."""
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = (1_700_000_000_000_000 + n) << 10
    chars = []
    for _ in range(13):
        chars.append(alphabet[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def sample_records(did: str, count: int, seed: int = 0) -> dict[str, dict[str, Any]]:
    """`count` records in a realistic mix (likes, follows, posts, reposts, a profile)."""
    out: dict[str, dict[str, Any]] = {
        "app.bsky.actor.profile/self": {"$type": "app.bsky.actor.profile", "displayName": f"user {seed}"}
    }
    subject = "did:plc:" + "a" * 24
    post_uri = f"at://{subject}/app.bsky.feed.post/3kabcdefghij2"
    post_cid = "bafyreigvlcyrux6orqe2sj3tivd3biq3o7q2sq7horqitceba5s2xjouti"
    for i in range(count - 1):
        when = f"2024-01-{1 + i % 28:02d}T12:00:{i % 60:02d}.000Z"
        kind = i % 10
        rkey = tid(seed * 10_000_000 + i)
        if kind < 5:
            path = f"app.bsky.feed.like/{rkey}"
            rec = {
                "$type": "app.bsky.feed.like",
                "subject": {"uri": post_uri, "cid": post_cid},
                "createdAt": when,
            }
        elif kind < 7:
            path = f"app.bsky.graph.follow/{rkey}"
            rec = {"$type": "app.bsky.graph.follow", "subject": subject, "createdAt": when}
        elif kind < 9:
            path = f"app.bsky.feed.post/{rkey}"
            rec = {"$type": "app.bsky.feed.post", "text": f"post {i} " + "x" * (i % 200), "createdAt": when}
        else:
            path = f"app.bsky.feed.repost/{rkey}"
            rec = {
                "$type": "app.bsky.feed.repost",
                "subject": {"uri": post_uri, "cid": post_cid},
                "createdAt": when,
            }
        out[path] = rec
    return out


def random_did(n: int) -> str:
    """A valid did:plc derived from n."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    digest = hashlib.sha256(str(n).encode()).digest()
    return "did:plc:" + "".join(alphabet[b % 32] for b in digest[:24])
