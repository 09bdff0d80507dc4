"""A real relay capture as stream entries, in both dialects, and Jetstream's view of it (the oracle).

Input: `jetstream/internal/corpus/testdata/frames.bin.zst` of the shared fixtures — zstd of
`[u32 LE length][frame]…`, 150 `com.atproto.sync.subscribeRepos` websocket frames (each a
DAG-CBOR header `{op, t}` followed by a DAG-CBOR body) — read in place, never copied.

Output: entries `{"type", "data" (a JSON string), "seq" (decimal string)}` as DIRECTION §1
specifies them, in either dialect:
- `"sdk"`: what the existing Python reader pushes — the real `atproto` SDK parses the frame
  (`parse_subscribe_repos_message`), decodes the CAR (`CAR.from_bytes`) and dumps each record
  (`tests.support.dialects.reader_record`, serialised by `sdk_json`). Commits carry `repo` and
  `ops` only; identity `{did, handle}` (handle null when absent); account `{did, active}` (the
  reader drops `status`).
- `"lexicon"`: what a TypeScript-stack reader pushes — the blocks decoded here, independently of
  the SDK, straight to lexicon JSON (CID links → `{"$link"}`, byte strings → `{"$bytes"}`, so
  blobs come out as `{"$type": "blob", "ref": {"$link"}, …}`). Commits also carry `rev` and
  `time`; account also `status` when the relay sent one.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

import zstandard
from atproto import CAR, models, parse_subscribe_repos_message
from atproto_subscription.frames import MessageFrame

from tests.support.dialects import reader_record, sdk_json

CORPUS = Path("jetstream/internal/corpus/testdata")
Dialect = Literal["lexicon", "sdk"]


class Link(NamedTuple):
    """A DAG-CBOR CID link (tag 42), kept apart from byte strings."""

    cid: str


class JetstreamOp(NamedTuple):
    """One commit op as production Jetstream served it; `record`/`cid` None for deletes."""

    did: str
    collection: str
    rkey: str
    operation: str
    cid: str | None
    record: dict[str, Any] | None


def frames(fixtures_dir: Path) -> list[bytes]:
    """The raw relay frames, in capture order."""
    compressed = (fixtures_dir / CORPUS / "frames.bin.zst").read_bytes()
    raw = zstandard.ZstdDecompressor().stream_reader(compressed).read()
    out: list[bytes] = []
    pos = 0
    while pos < len(raw):
        (length,) = struct.unpack_from("<I", raw, pos)
        out.append(raw[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return out


def manifest(fixtures_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((fixtures_dir / CORPUS / "manifest.json").read_text())
    return loaded


def capture_entries(fixtures_dir: Path, dialect: Dialect) -> list[dict[str, str]]:
    """Every frame of the capture as a stream entry of the given dialect (a fresh copy each call)."""
    return [dict(entry) for entry in _entries(fixtures_dir, dialect)]


@cache
def _entries(fixtures_dir: Path, dialect: Dialect) -> tuple[dict[str, str], ...]:
    convert = _sdk_entry if dialect == "sdk" else _lexicon_entry
    return tuple(entry for frame in frames(fixtures_dir) if (entry := convert(frame)) is not None)


def expected_records(fixtures_dir: Path) -> list[JetstreamOp]:
    """The commit ops of `expected_v1.jsonl`, in file order."""
    out: list[JetstreamOp] = []
    for line in (fixtures_dir / CORPUS / "expected_v1.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["kind"] != "commit":
            continue
        commit = event["commit"]
        out.append(
            JetstreamOp(
                did=event["did"],
                collection=commit["collection"],
                rkey=commit["rkey"],
                operation=commit["operation"],
                cid=commit.get("cid"),
                record=commit.get("record"),
            )
        )
    return out


def expected_events(fixtures_dir: Path) -> list[dict[str, Any]]:
    """Every line of `expected_v1.jsonl` as Jetstream served it (commits, identity, account)."""
    text = (fixtures_dir / CORPUS / "expected_v1.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


# --- the SDK dialect: the existing reader, through the real SDK -------------------------------


def _sdk_entry(frame: bytes) -> dict[str, str] | None:
    message = parse_subscribe_repos_message(MessageFrame.from_bytes(frame))
    if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Commit):
        car = CAR.from_bytes(message.blocks)
        ops: list[dict[str, Any]] = []
        for op in message.ops:
            op_data: dict[str, Any] = {"action": op.action, "path": op.path}
            if op.cid:
                op_data["cid"] = str(op.cid)
                block = car.blocks.get(op.cid)
                if block and op.action in ("create", "update"):
                    record = reader_record(block)
                    if record is not None:
                        op_data["record"] = record
            ops.append(op_data)
        return _entry("commit", {"repo": message.repo, "ops": ops}, message.seq)
    if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Identity):
        return _entry("identity", {"did": message.did, "handle": message.handle}, message.seq)
    if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Account):
        return _entry("account", {"did": message.did, "active": message.active}, message.seq)
    return None


def _entry(kind: str, data: dict[str, Any], seq: int | None) -> dict[str, str]:
    return {"type": kind, "data": sdk_json(data), "seq": str(seq) if seq else ""}


# --- the lexicon dialect: DAG-CBOR decoded here, without the SDK ------------------------------


def _lexicon_entry(frame: bytes) -> dict[str, str] | None:
    header, pos = _decode(frame, 0)
    body, _ = _decode(frame, pos)
    kind = header.get("t")
    if header.get("op") != 1 or not isinstance(kind, str):
        return None
    seq = str(body["seq"])
    if kind == "#commit":
        blocks = dict(_car_blocks(body["blocks"]))
        ops: list[dict[str, Any]] = []
        for op in body["ops"]:
            op_data: dict[str, Any] = {"action": op["action"], "path": op["path"]}
            if op["action"] in ("create", "update"):
                cid = op["cid"].cid
                op_data["cid"] = cid
                op_data["record"] = to_lexicon_json(blocks[cid])
            ops.append(op_data)
        data = {"repo": body["repo"], "rev": body["rev"], "time": body["time"], "ops": ops}
        return {"type": "commit", "data": json.dumps(data, ensure_ascii=False), "seq": seq}
    if kind == "#identity":
        data = {"did": body["did"], "handle": body.get("handle")}
        return {"type": "identity", "data": json.dumps(data), "seq": seq}
    if kind == "#account":
        data = {"did": body["did"], "active": body["active"]}
        if "status" in body:
            data["status"] = body["status"]
        return {"type": "account", "data": json.dumps(data), "seq": seq}
    return None


def to_lexicon_json(value: Any) -> Any:
    """Decoded DAG-CBOR → lexicon JSON: links → `{"$link"}`, bytes → `{"$bytes"}` (unpadded)."""
    if isinstance(value, Link):
        return {"$link": value.cid}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii").rstrip("=")}
    if isinstance(value, dict):
        return {key: to_lexicon_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_lexicon_json(item) for item in value]
    return value


def cid_string(binary: bytes) -> str:
    """A binary CIDv1 → its canonical string: `b` + base32, lower case, unpadded."""
    return "b" + base64.b32encode(binary).decode("ascii").lower().rstrip("=")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _car_blocks(car: bytes) -> Iterator[tuple[str, Any]]:
    """(CID string, decoded block) of every block of a CARv1."""
    header_length, pos = _varint(car, 0)
    pos += header_length
    while pos < len(car):
        length, pos = _varint(car, pos)
        end = pos + length
        cid_start = pos
        _, pos = _varint(car, pos)  # CID version (1)
        _, pos = _varint(car, pos)  # codec
        _, pos = _varint(car, pos)  # multihash function
        digest_length, pos = _varint(car, pos)
        pos += digest_length
        value, _ = _decode(car[pos:end], 0)
        yield cid_string(car[cid_start:pos]), value
        pos = end


def _decode(data: bytes, pos: int) -> tuple[Any, int]:
    """One DAG-CBOR item at `pos` → (value, position after it)."""
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if major == 7:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info == 22:
            return None, pos
        if info == 27:
            return struct.unpack_from(">d", data, pos)[0], pos + 8
        raise ValueError(f"unsupported simple value {info}")
    if info < 24:
        argument = info
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        argument = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if major == 0:
        return argument, pos
    if major == 1:
        return -1 - argument, pos
    if major == 2:
        return data[pos : pos + argument], pos + argument
    if major == 3:
        return data[pos : pos + argument].decode("utf-8"), pos + argument
    if major == 4:
        items = []
        for _ in range(argument):
            item, pos = _decode(data, pos)
            items.append(item)
        return items, pos
    if major == 5:
        mapping: dict[str, Any] = {}
        for _ in range(argument):
            key, pos = _decode(data, pos)
            mapping[key], pos = _decode(data, pos)
        return mapping, pos
    if major == 6 and argument == 42:
        link, pos = _decode(data, pos)
        return Link(cid_string(link[1:])), pos  # drop the multibase identity prefix 0x00
    raise ValueError(f"unsupported DAG-CBOR item (major {major}, tag {argument})")
