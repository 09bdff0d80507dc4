"""One message from the network → the stream entries it stands for (DIRECTION §1, lexicon dialect).

Relay frames (`com.atproto.sync.subscribeRepos`, DAG-CBOR header `{op, t}` + body):
- `#commit` → `commit` `{"repo", "rev", "since", "time", "ops"}`: every op of every collection;
  create/update ops carry `cid` and `record` (the block the op names, checked against that CID and
  decoded to lexicon JSON), deletes carry neither. A legacy `tooBig` commit → `sync`.
- `#identity` → `identity` `{"did", "handle" (null when absent), "time", "seq"}`.
- `#account` → `account` `{"did", "active", "status" (when present), "time", "seq"}`.
- `#sync` → `sync` `{"did", "rev"}`: the repository must be resynced.
- `#info` (e.g. `OutdatedCursor`) and error frames (`op: -1`) → no entry; the reader logs them.
- other types (`#handle`, `#migrate`, `#tombstone`, anything new) → no entry, counted as skipped;
  their `seq` still moves the cursor.
The entry's `seq` field is the relay seq as a decimal string.

Jetstream events (JSON, one op per commit event) → the same entries: commit `{"repo", "rev",
"ops": [one op]}` (Jetstream gives no commit `time` nor `since`), identity and account with the
`time` and `seq` Jetstream copies from the relay into `data`. The entry's `seq` field is empty on
every entry: a stream's reader sets `seq` on every entry or on none (DIRECTION §4), and Jetstream
commits have none (their cursor, `time_us`, is Jetstream's own clock).

What cannot be decoded is dead-lettered with its bytes and never stops the reader. A commit whose
body decoded but whose content did not (CAR, blocks, records) is dead-lettered and also yields a
`sync` entry for its repository, so the repository is resynced rather than silently missing ops.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.codec import CodecError
from app.codec.car import car_index
from app.codec.dagcbor import cid_string, decode_frame, decode_lexicon

COMMIT = "commit"
IDENTITY = "identity"
ACCOUNT = "account"
SYNC = "sync"
ENTRY_TYPES = (COMMIT, IDENTITY, ACCOUNT, SYNC)

OUTDATED_CURSOR = "OutdatedCursor"
RECORD_ACTIONS = frozenset({"create", "update"})
ACTIONS = frozenset({"create", "update", "delete"})


# A record's CID: CIDv1, dag-cbor, sha2-256 of 32 bytes, then the digest.
_RECORD_CID_PREFIX = b"\x01\x71\x12\x20"


class Link(bytes):
    """A CID link of a frame body, in binary: converted to a string only where an entry needs it."""


class BadMessage(ValueError):
    """A message the reader cannot turn into entries; the text says why (for the dead letter)."""


@dataclass(frozen=True, slots=True)
class Entry:
    type: str
    data: bytes  # JSON
    seq: str


@dataclass(frozen=True, slots=True)
class Notice:
    """A frame that yields no entry but that the operator should hear of: info, error, unknown type."""

    kind: str  # "info", "error" or "unknown"
    name: str
    message: str


@dataclass(slots=True)
class Translated:
    entries: list[Entry] = field(default_factory=list)
    #: The position this message moves the cursor to (relay seq or Jetstream time_us), if it has one.
    cursor: int | None = None
    #: When the event happened (seconds since the epoch), for the age of the last event.
    event_time: float | None = None
    #: Why the message is dead-lettered (with its bytes), when it is.
    dead_letter: str | None = None
    notice: Notice | None = None


def _dumps(data: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(data)
    except (TypeError, orjson.JSONEncodeError) as exc:  # integers past 64 bits, nesting past 254
        raise BadMessage(f"not representable as JSON: {exc}") from exc


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadMessage(f"`{key}` is not a string")
    return value


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadMessage(f"`{key}` is not a string")
    return value


def _seq(body: dict[str, Any]) -> int:
    value = body.get("seq")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadMessage("`seq` is not a non-negative integer")
    return value


def _epoch(timestamp: str | None) -> float | None:
    if timestamp is None:
        return None
    try:
        return datetime.datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return None  # the time is passed on as it came; only the age metric needs it parsed


# --- relay frames ----------------------------------------------------------------------------------


def relay_frame(frame: bytes) -> Translated:
    """A subscribeRepos frame → its entries, notice or dead-letter reason; never raises."""
    try:
        header, body = decode_frame(frame, Link)
    except CodecError as exc:
        return Translated(dead_letter=f"undecodable frame: {exc}")
    if not isinstance(header, dict) or not isinstance(body, dict):
        return Translated(dead_letter="frame header or body is not a map")
    op = header.get("op")
    if op == -1:
        return Translated(notice=Notice("error", str(body.get("error", "")), str(body.get("message", ""))))
    kind = header.get("t")
    if op != 1 or not isinstance(kind, str):
        return Translated(dead_letter=f"frame header is not a message header: op={op!r} t={kind!r}")
    if kind == "#info":
        return Translated(notice=Notice("info", str(body.get("name", "")), str(body.get("message", ""))))
    try:
        seq = _seq(body)
    except BadMessage as exc:
        return Translated(dead_letter=f"{kind}: {exc}")
    translated = Translated(cursor=seq)
    try:
        if kind == "#commit":
            _commit(body, seq, translated)
        elif kind == "#identity":
            _identity(body, seq, translated)
        elif kind == "#account":
            _account(body, seq, translated)
        elif kind == "#sync":
            did, rev = _str(body, "did"), _str(body, "rev")
            translated.entries.append(Entry(SYNC, _dumps({"did": did, "rev": rev}), str(seq)))
            translated.event_time = _epoch(_optional_str(body, "time"))
        else:
            translated.notice = Notice("unknown", kind, f"frame type {kind} at seq {seq} skipped")
    except BadMessage as exc:
        translated.entries.clear()
        translated.dead_letter = f"{kind} at seq {seq}: {exc}"
    return translated


def _commit(body: dict[str, Any], seq: int, translated: Translated) -> None:
    repo, rev = _str(body, "repo"), _str(body, "rev")
    time = _optional_str(body, "time")
    translated.event_time = _epoch(time)
    if body.get("tooBig") is True:
        translated.entries.append(Entry(SYNC, _dumps({"did": repo, "rev": rev}), str(seq)))
        return
    try:
        ops = _ops(body)
    except (BadMessage, CodecError) as exc:
        # The repository is known: ask for its resync, so its ops are not silently missing.
        translated.entries.append(Entry(SYNC, _dumps({"did": repo, "rev": rev}), str(seq)))
        translated.dead_letter = f"#commit at seq {seq} of {repo}: {exc} (sync entry added)"
        return
    data = {"repo": repo, "rev": rev, "since": _optional_str(body, "since"), "time": time, "ops": ops}
    try:
        encoded = _dumps(data)
    except BadMessage as exc:
        translated.entries.append(Entry(SYNC, _dumps({"did": repo, "rev": rev}), str(seq)))
        translated.dead_letter = f"#commit at seq {seq} of {repo}: {exc} (sync entry added)"
        return
    translated.entries.append(Entry(COMMIT, encoded, str(seq)))


def _ops(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw_ops = body.get("ops")
    if not isinstance(raw_ops, list):
        raise BadMessage("`ops` is not a list")
    car: bytes = b""
    blocks: dict[bytes, tuple[int, int]] | None = None
    ops: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_ops):
        if not isinstance(raw, dict):
            raise BadMessage(f"op {index} is not a map")
        action, path = raw.get("action"), raw.get("path")
        if action not in ACTIONS or not isinstance(path, str):
            raise BadMessage(f"op {index} has no valid action and path")
        if action not in RECORD_ACTIONS:
            ops.append({"action": action, "path": path})
            continue
        cid = raw.get("cid")
        if not isinstance(cid, Link):
            raise BadMessage(f"op {index} ({action} {path}) has no CID")
        if blocks is None:
            car = body.get("blocks")  # type: ignore[assignment]
            if not isinstance(car, bytes):
                raise BadMessage("`blocks` is not a byte string")
            _, blocks = car_index(car)
        name = cid_string(cid)
        where = blocks.get(cid)
        if where is None:
            raise BadMessage(f"op {index} ({action} {path}): block {name} is not in the CAR")
        block = car[where[0] : where[1]]
        if _RECORD_CID_PREFIX + hashlib.sha256(block).digest() != cid:
            raise BadMessage(f"op {index} ({action} {path}): block does not hash to {name}")
        ops.append({"action": action, "path": path, "cid": name, "record": decode_lexicon(block)})
    return ops


def _identity(body: dict[str, Any], seq: int, translated: Translated) -> None:
    time = _optional_str(body, "time")
    data = {"did": _str(body, "did"), "handle": _optional_str(body, "handle"), "time": time, "seq": seq}
    translated.entries.append(Entry(IDENTITY, _dumps(data), str(seq)))
    translated.event_time = _epoch(time)


def _account(body: dict[str, Any], seq: int, translated: Translated) -> None:
    active = body.get("active")
    if not isinstance(active, bool):
        raise BadMessage("`active` is not a boolean")
    time = _optional_str(body, "time")
    data: dict[str, Any] = {"did": _str(body, "did"), "active": active}
    status = _optional_str(body, "status")
    if status is not None:
        data["status"] = status
    data["time"] = time
    data["seq"] = seq
    translated.entries.append(Entry(ACCOUNT, _dumps(data), str(seq)))
    translated.event_time = _epoch(time)


# --- Jetstream events ------------------------------------------------------------------------------


def jetstream_event(message: str | bytes) -> Translated:
    """A Jetstream JSON event → its entries, notice or dead-letter reason; never raises."""
    try:
        event = orjson.loads(message)
    except orjson.JSONDecodeError as exc:
        return Translated(dead_letter=f"not JSON: {exc}")
    if not isinstance(event, dict):
        return Translated(dead_letter="event is not a JSON object")
    time_us = event.get("time_us")
    if not isinstance(time_us, int) or isinstance(time_us, bool) or time_us < 0:
        return Translated(dead_letter="`time_us` is not a non-negative integer")
    translated = Translated(cursor=time_us, event_time=time_us / 1e6)
    kind = event.get("kind")
    try:
        if kind == "commit":
            translated.entries.append(_jetstream_commit(event))
        elif kind in (IDENTITY, ACCOUNT):
            translated.entries.append(_jetstream_status(kind, event))
        else:
            translated.notice = Notice("unknown", str(kind), f"Jetstream event kind {kind!r} skipped")
    except BadMessage as exc:
        translated.dead_letter = f"Jetstream {kind} at time_us {time_us}: {exc}"
    return translated


def _jetstream_commit(event: dict[str, Any]) -> Entry:
    commit = event.get("commit")
    if not isinstance(commit, dict):
        raise BadMessage("`commit` is not an object")
    action = commit.get("operation")
    if action not in ACTIONS:
        raise BadMessage(f"operation {action!r} is not create, update or delete")
    op: dict[str, Any] = {"action": action, "path": f"{_str(commit, 'collection')}/{_str(commit, 'rkey')}"}
    if action in RECORD_ACTIONS:
        record = commit.get("record")
        if not isinstance(record, dict):
            raise BadMessage("`record` is not an object")
        op["cid"] = _str(commit, "cid")
        op["record"] = record
    data = {"repo": _str(event, "did"), "rev": _str(commit, "rev"), "ops": [op]}
    return Entry(COMMIT, _dumps(data), "")


def _jetstream_status(kind: str, event: dict[str, Any]) -> Entry:
    inner = event.get(kind)
    if not isinstance(inner, dict):
        raise BadMessage(f"`{kind}` is not an object")
    data: dict[str, Any] = {"did": _str(inner, "did")}
    if kind == IDENTITY:
        data["handle"] = _optional_str(inner, "handle")
    else:
        active = inner.get("active")
        if not isinstance(active, bool):
            raise BadMessage("`active` is not a boolean")
        data["active"] = active
        status = _optional_str(inner, "status")
        if status is not None:
            data["status"] = status
    data["time"] = _optional_str(inner, "time")
    seq = inner.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool):
        data["seq"] = seq
    return Entry(kind, _dumps(data), "")
