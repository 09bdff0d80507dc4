"""Lexicon JSON → the "Python SDK dump" dialect (DIRECTION §1), fast enough for a million records.

The exact dialect is what the existing reader writes: the real `atproto` SDK's `model_dump()`,
serialised by `json.dumps` with bytes as hex (`tests.support.dialects`). Calling the SDK on every
record costs 30 to 110 µs; a million-event workload would spend a minute there. So the SDK is called
once per record *shape*: every leaf value of the record (strings, integers, CID links) is replaced
by a numbered placeholder, the SDK dumps that skeleton, and the dump's JSON text is cut at the
placeholders. A record of a known shape is then its template's pieces joined with its own values,
JSON-encoded as `json.dumps` would encode them — the same text `sdk_json(sdk_dump(record))` gives,
which tests/test_bench_workload.py checks on a sample.

`$type` values are part of the shape (the SDK picks its model by them), as are booleans, nulls and
floats (few, and a placeholder could change how the SDK validates them). A shape whose placeholders
do not all come back exactly once in the dump is never templated: such records go through the SDK
one by one.
"""

from __future__ import annotations

import base64
import re
from json.encoder import encode_basestring_ascii
from typing import Any

import orjson

from bench.ids import cid_bytes
from tests.support.dialects import sdk_dump, sdk_json

_INT_BASE = 7_100_000_000_000  # placeholder integers: _INT_BASE + slot (no lexicon value is this big)
_MAX_SLOTS = 1_000
_LINK_PREFIX = "01551220" + "beef" * 14  # hex of a placeholder CID; the slot is its last 4 bytes
_PLACEHOLDER = re.compile(
    r'"@@(?P<s>\d+)@@"'
    rf"|(?<![0-9]){_INT_BASE // 1000}(?P<i>\d{{3}})(?![0-9])"
    rf'|"{_LINK_PREFIX}(?P<l>[0-9a-f]{{8}})"'
)

_STR, _INT, _LINK = 0, 1, 2


def _placeholder_link(slot: int) -> str:
    raw = bytes.fromhex(_LINK_PREFIX) + slot.to_bytes(4, "big")
    return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def _skeleton(value: Any, slots: list[tuple[int, Any]]) -> Any:
    """`value` with every leaf replaced by a placeholder; `slots` receives (kind, real value)."""
    if isinstance(value, dict):
        link = value.get("$link")
        if len(value) == 1 and isinstance(link, str):
            slots.append((_LINK, link))
            return {"$link": _placeholder_link(len(slots) - 1)}
        return {key: item if key == "$type" else _skeleton(item, slots) for key, item in value.items()}
    if isinstance(value, list):
        return [_skeleton(item, slots) for item in value]
    if isinstance(value, str):
        slots.append((_STR, value))
        return f"@@{len(slots) - 1}@@"
    if isinstance(value, int) and not isinstance(value, bool):
        slots.append((_INT, value))
        return _INT_BASE + len(slots) - 1
    return value


class _Template:
    """The dump of one shape, cut into literal text and slot numbers."""

    __slots__ = ("literals", "order")

    def __init__(self, literals: list[str], order: list[int]) -> None:
        self.literals = literals  # len(order) + 1 pieces of text
        self.order = order  # which slot goes between literals[k] and literals[k + 1]

    def fill(self, slots: list[tuple[int, Any]]) -> str:
        parts = [self.literals[0]]
        for slot, literal in zip(self.order, self.literals[1:], strict=True):
            kind, value = slots[slot]
            if kind == _STR:
                parts.append(encode_basestring_ascii(value))
            elif kind == _INT:
                parts.append(str(value))
            else:
                parts.append(f'"{cid_bytes(value).hex()}"')
            parts.append(literal)
        return "".join(parts)


def _compile(skeleton: dict[str, Any], slot_count: int) -> _Template | None:
    """Dump the skeleton with the real SDK; None when the dump cannot be cut safely."""
    text = sdk_json(sdk_dump(skeleton))
    literals: list[str] = []
    order: list[int] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        literals.append(text[position : match.start()])
        if match["s"] is not None:
            order.append(int(match["s"]))
        elif match["i"] is not None:
            order.append(int(match["i"]))
        else:
            order.append(int(match["l"], 16))
        position = match.end()
    literals.append(text[position:])
    if sorted(order) != list(range(slot_count)):
        return None
    return _Template(literals, order)


class SdkDialect:
    """Lexicon records → SDK-dialect JSON text, one cached SDK dump per record shape."""

    def __init__(self) -> None:
        # Shape key → template; None marks shapes that are dumped one by one (or refused).
        self._templates: dict[bytes, _Template | None] = {}

    def record_json(self, record: dict[str, Any]) -> str | None:
        """The record as the SDK-dialect stream carries it; None when the SDK refuses the record
        (the reader loses such records: an invalid one must then be sent some other way)."""
        slots: list[tuple[int, Any]] = []
        skeleton = _skeleton(record, slots)
        if len(slots) > _MAX_SLOTS:
            return self._direct(record)
        key = orjson.dumps(skeleton)
        if key not in self._templates:
            try:
                self._templates[key] = _compile(skeleton, len(slots))
            except ValueError:  # the SDK refuses this shape (a wrong type somewhere)
                self._templates[key] = None
        template = self._templates[key]
        if template is None:
            return self._direct(record)
        return template.fill(slots)

    @staticmethod
    def _direct(record: dict[str, Any]) -> str | None:
        try:
            return sdk_json(sdk_dump(record))
        except ValueError:
            return None

    @property
    def shapes(self) -> int:
        return len(self._templates)
