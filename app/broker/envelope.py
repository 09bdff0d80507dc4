"""Stream entry → typed event, one entry at a time (DIRECTION §1, §4 "Where bad input is caught").

The adapter checks bytes, UTF-8, JSON and the envelope, nothing more: identifier syntax and record
contents are the indexing planner's business. Each entry is decoded on its own so that one bad entry
is dead-lettered alone instead of taking its batch-mates with it (the worker we replace decoded whole
replies, and one invalid UTF-8 entry left its nine batch-mates pending for ever).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import faust
import orjson

from app.events import AccountEvent, CommitEvent, IdentityEvent, Op, StreamEvent, version_of

COMMIT, IDENTITY, ACCOUNT = "commit", "identity", "account"
KINDS = (COMMIT, IDENTITY, ACCOUNT)

_ACTIONS = frozenset({"create", "update", "delete"})
_MISSING: Any = object()  # a key absent from an op, unlike one present with null


@dataclass(frozen=True, slots=True)
class Accepted:
    kind: str
    event: StreamEvent


@dataclass(frozen=True, slots=True)
class Rejected:
    """The entry can never be decoded; it goes to the dead-letter stream with `error`."""

    error: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """A `type` this indexer does not know: acknowledged and counted, never dead-lettered."""

    type: str


Decoded = Accepted | Rejected | Unknown


R = TypeVar("R", bound=faust.Record)

_new = object.__new__


def build(cls: type[R], values: dict[str, Any]) -> R:
    """`cls(**values)` without the generated `__init__`, which costs five times as much here.

    A faust.Record keeps its field values in `__dict__` (its field descriptors store them unchanged
    when there is no coercion, validation or `__post_init__`, as for the records of app.events) and
    a per-instance `__evaluated_fields__` set. `values` must name every field, defaults included.
    tests/broker/test_envelope.py checks each record built this way equals the one `__init__` makes.
    """
    record = _new(cls)
    values["__evaluated_fields__"] = set()
    record.__dict__ = values
    return record


class EnvelopeError(ValueError):
    """The entry's envelope breaks the stream contract; the message becomes the dead letter's error."""


def decode_entry(entry_id: str, fields: Mapping[bytes, bytes], deliveries: int) -> Decoded:
    """Decode one entry; never raises for bad input, which is reported as `Rejected`."""
    try:
        kind = _text(fields, b"type")
        if kind not in KINDS:
            return Unknown(kind)
        raw = fields.get(b"data")
        if raw is None:
            raise EnvelopeError("missing field data")
        data_text = _utf8(raw, "data")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"data is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise EnvelopeError(f"data must be a JSON object, got {_json_type(data)}")
        seq = _utf8(fields[b"seq"], "seq") if b"seq" in fields else ""
        if seq and not (seq.isascii() and seq.isdigit()):
            raise EnvelopeError(f"seq must be a decimal number or empty, got {seq[:40]!r}")
        version = version_of(entry_id, seq)
        if kind == COMMIT:
            return Accepted(kind, _commit(data, entry_id, version, seq, data_text, deliveries))
        if kind == IDENTITY:
            return Accepted(kind, _identity(data, entry_id, version, seq, data_text, deliveries))
        return Accepted(kind, _account(data, entry_id, version, seq, data_text, deliveries))
    except EnvelopeError as exc:
        return Rejected(str(exc))


def _text(fields: Mapping[bytes, bytes], name: bytes) -> str:
    raw = fields.get(name)
    if raw is None:
        raise EnvelopeError(f"missing field {name.decode()}")
    return _utf8(raw, name.decode())


def _utf8(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"{name} is not valid UTF-8: {exc.reason} at byte {exc.start}") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if type(value) is not str:
        raise EnvelopeError(f"{where}{key} must be a string, got {_json_type(value)}")
    return value


def _optional_str(data: Mapping[str, Any], key: str, where: str = "") -> str | None:
    value = data.get(key)
    if value is not None and type(value) is not str:
        raise EnvelopeError(f"{where}{key} must be a string or null, got {_json_type(value)}")
    return value


def _commit(
    data: dict[str, Any], entry_id: str, version: int, seq: str, text: str, deliveries: int
) -> CommitEvent:
    repo = _str(data, "repo", "")
    raw_ops = data.get("ops")
    if type(raw_ops) is not list:
        raise EnvelopeError(f"ops must be an array, got {_json_type(raw_ops)}")
    ops = [_op(raw, index) for index, raw in enumerate(raw_ops)]
    return build(
        CommitEvent,
        {
            "entry_id": entry_id,
            "version": version,
            "seq": seq,
            "data": text,
            "deliveries": deliveries,
            "repo": repo,
            "ops": ops,
            "rev": _optional_str(data, "rev"),
            "time": _optional_str(data, "time"),
        },
    )


def _op(raw: Any, index: int) -> Op:
    """One op of a commit; the common case is checked first, the error message built only on failure."""
    if type(raw) is dict:
        action, path = raw.get("action"), raw.get("path")
        if action in _ACTIONS and type(path) is str and path.count("/") == 1:
            collection, _, rkey = path.partition("/")
            if action == "delete":
                cid = record = None
            else:
                cid, record = raw.get("cid", _MISSING), raw.get("record", _MISSING)
            if (cid is None or type(cid) is str) and (record is None or type(record) is dict):
                return build(
                    Op,
                    {"action": action, "collection": collection, "rkey": rkey, "cid": cid, "record": record},
                )
    raise EnvelopeError(_op_problem(raw, index))


def _op_problem(raw: Any, index: int) -> str:
    where = f"ops[{index}]"
    if type(raw) is not dict:
        return f"{where} must be an object, got {_json_type(raw)}"
    action, path = raw.get("action"), raw.get("path")
    if action not in _ACTIONS:
        return f"{where}.action must be create, update or delete, got {str(action)[:40]!r}"
    if type(path) is not str:
        return f"{where}.path must be a string, got {_json_type(path)}"
    if path.count("/") != 1:
        return f"{where}.path must be <collection>/<rkey>, got {path[:80]!r}"
    for key in ("cid", "record"):
        if key not in raw:
            return f"{where}.{key} is missing for {action}"
    if raw["cid"] is not None and type(raw["cid"]) is not str:
        return f"{where}.cid must be a string or null, got {_json_type(raw['cid'])}"
    return f"{where}.record must be an object or null, got {_json_type(raw['record'])}"


def _identity(
    data: dict[str, Any], entry_id: str, version: int, seq: str, text: str, deliveries: int
) -> IdentityEvent:
    return build(
        IdentityEvent,
        {
            "entry_id": entry_id,
            "version": version,
            "seq": seq,
            "data": text,
            "deliveries": deliveries,
            "did": _str(data, "did", ""),
            "handle": _optional_str(data, "handle"),
        },
    )


def _account(
    data: dict[str, Any], entry_id: str, version: int, seq: str, text: str, deliveries: int
) -> AccountEvent:
    active = data.get("active")
    if type(active) is not bool:
        raise EnvelopeError(f"active must be a boolean, got {_json_type(active)}")
    return build(
        AccountEvent,
        {
            "entry_id": entry_id,
            "version": version,
            "seq": seq,
            "data": text,
            "deliveries": deliveries,
            "did": _str(data, "did", ""),
            "active": active,
            "status": _optional_str(data, "status"),
        },
    )
