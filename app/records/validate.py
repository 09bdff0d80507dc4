"""A small toolkit for the per-collection record checks (app/indexing/collections).

A collection module reads a record already in lexicon JSON (`normalise.to_lexicon`) with these
helpers and gets typed values back, or an `InvalidRecord` naming the field and what is wrong:
the planner dead-letters that op alone (DIRECTION §4). The helpers only check what the lexicon
says (presence, JSON type, format, `maxLength` in UTF-8 bytes, `maxGraphemes`, `maxLength` of
arrays); deciding which fields a collection needs is the collection module's business.

Conventions: `key` names a field of `record`; `path` is where `record` itself sits in the
top-level record (`"reply"`, `"embed.images[0]"`), used in messages only. A null counts as
absent. Text comes back with NUL bytes stripped (PostgreSQL text and jsonb reject them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple, overload

import orjson
import regex

from app.records.syntax import (
    is_at_uri,
    is_cid,
    is_datetime,
    is_did,
    is_handle,
    is_language,
    is_nsid,
    is_record_key,
    is_tid,
    parse_datetime,
    parse_record_uri,
)

_GRAPHEME = regex.compile(r"\X")

# Lexicon string formats, for `string_list(..., item_format=...)`.
FORMATS: dict[str, Callable[[str], bool]] = {
    "at-uri": is_at_uri,
    "cid": is_cid,
    "datetime": is_datetime,
    "did": is_did,
    "handle": is_handle,
    "language": is_language,
    "nsid": is_nsid,
    "record-key": is_record_key,
    "tid": is_tid,
}


class InvalidRecord(ValueError):
    """A record that breaks its lexicon. `str()` is `"<field path>: <what is wrong>"`."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path or 'record'}: {problem}")


class StrongRef(NamedTuple):
    """`com.atproto.repo.strongRef`: a record URI (DID authority) and the CID of that version."""

    uri: str
    cid: str


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    """The JSON type of a value, for messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, float):
        return "number"
    return type(value).__name__


def _get(record: Mapping[str, Any], key: str, required: bool, path: str) -> Any:
    value = record.get(key)
    if value is None and required:
        raise InvalidRecord(_at(path, key), "required field is missing")
    return value


def count_graphemes(value: str) -> int:
    """Extended grapheme clusters (what a reader sees as one character: 👩‍👩‍👧‍👦 is one)."""
    return len(_GRAPHEME.findall(value))


def _check_string(value: Any, where: str, max_bytes: int | None, max_graphemes: int | None) -> str:
    """Type and lexicon limits of one string (measured as the author sent it); NUL bytes removed."""
    if not isinstance(value, str):
        raise InvalidRecord(where, f"expected a string, got {_kind(value)}")
    # Cheap bounds first: a code point is 1 to 4 UTF-8 bytes and at most one grapheme.
    if max_bytes is not None and len(value) * 4 > max_bytes:
        size = len(value.encode("utf-8"))
        if size > max_bytes:
            raise InvalidRecord(where, f"{size} bytes, over the limit of {max_bytes}")
    if max_graphemes is not None and len(value) > max_graphemes:
        graphemes = count_graphemes(value)
        if graphemes > max_graphemes:
            raise InvalidRecord(where, f"{graphemes} graphemes, over the limit of {max_graphemes}")
    return value.replace("\x00", "") if "\x00" in value else value


@overload
def text(
    record: Mapping[str, Any],
    key: str,
    *,
    required: Literal[True],
    max_bytes: int | None = None,
    max_graphemes: int | None = None,
    path: str = "",
) -> str: ...
@overload
def text(
    record: Mapping[str, Any],
    key: str,
    *,
    required: bool,
    max_bytes: int | None = None,
    max_graphemes: int | None = None,
    path: str = "",
) -> str | None: ...
def text(
    record: Mapping[str, Any],
    key: str,
    *,
    required: bool,
    max_bytes: int | None = None,
    max_graphemes: int | None = None,
    path: str = "",
) -> str | None:
    """A string field within its lexicon limits, NUL bytes stripped; None when absent."""
    value = _get(record, key, required, path)
    if value is None:
        return None
    return _check_string(value, _at(path, key), max_bytes, max_graphemes)


@overload
def datetime_(
    record: Mapping[str, Any], key: str, *, required: Literal[True] = True, path: str = ""
) -> datetime: ...
@overload
def datetime_(record: Mapping[str, Any], key: str, *, required: bool, path: str = "") -> datetime | None: ...
def datetime_(
    record: Mapping[str, Any], key: str, *, required: bool = True, path: str = ""
) -> datetime | None:
    """A lexicon datetime as naive UTC, kept even when far in the past or the future."""
    value = _get(record, key, required, path)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRecord(_at(path, key), f"expected a datetime string, got {_kind(value)}")
    parsed = parse_datetime(value)
    if parsed is None:
        raise InvalidRecord(_at(path, key), f"not a valid datetime: {value[:64]!r}")
    return parsed


@overload
def did(record: Mapping[str, Any], key: str, *, required: Literal[True] = True, path: str = "") -> str: ...
@overload
def did(record: Mapping[str, Any], key: str, *, required: bool, path: str = "") -> str | None: ...
def did(record: Mapping[str, Any], key: str, *, required: bool = True, path: str = "") -> str | None:
    """A DID, checked per method (`syntax.is_did`)."""
    value = _get(record, key, required, path)
    if value is None:
        return None
    if not isinstance(value, str) or not is_did(value):
        raise InvalidRecord(_at(path, key), f"not a valid DID: {_show(value)}")
    return value


@overload
def record_uri(
    record: Mapping[str, Any],
    key: str,
    *,
    required: Literal[True] = True,
    collection: str | None = None,
    path: str = "",
) -> str: ...
@overload
def record_uri(
    record: Mapping[str, Any], key: str, *, required: bool, collection: str | None = None, path: str = ""
) -> str | None: ...
def record_uri(
    record: Mapping[str, Any],
    key: str,
    *,
    required: bool = True,
    collection: str | None = None,
    path: str = "",
) -> str | None:
    """`at://<did>/<nsid>/<rkey>` (`syntax.parse_record_uri`), of `collection` when one is given."""
    value = _get(record, key, required, path)
    if value is None:
        return None
    return _record_uri(value, _at(path, key), collection)


def _record_uri(value: Any, where: str, collection: str | None) -> str:
    parsed = parse_record_uri(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidRecord(where, f"not a valid record AT-URI: {_show(value)}")
    if collection is not None and parsed.collection != collection:
        raise InvalidRecord(where, f"expected a {collection} record, got {parsed.collection}")
    return value


@overload
def strong_ref(
    record: Mapping[str, Any], key: str, *, required: Literal[True] = True, path: str = ""
) -> StrongRef: ...
@overload
def strong_ref(
    record: Mapping[str, Any], key: str, *, required: bool, path: str = ""
) -> StrongRef | None: ...
def strong_ref(
    record: Mapping[str, Any], key: str, *, required: bool = True, path: str = ""
) -> StrongRef | None:
    """An object with a record `uri` (DID authority, as counters are keyed by it) and a `cid`."""
    value = obj(record, key, required=required, path=path)
    if value is None:
        return None
    where = _at(path, key)
    uri = _record_uri(_get(value, "uri", True, where), _at(where, "uri"), None)
    cid = _get(value, "cid", True, where)
    if not isinstance(cid, str) or not is_cid(cid):
        raise InvalidRecord(_at(where, "cid"), f"not a valid CID: {_show(cid)}")
    return StrongRef(uri, cid)


def blob_cid(record: Mapping[str, Any], key: str, *, required: bool = False, path: str = "") -> str | None:
    """The bare CID string of a blob field (what `avatar_url`, `banner_url`… store).

    Accepts the lexicon blob `{"$type": "blob", "ref": {"$link": CID}, "mimeType", "size"}` and
    the legacy form `{"cid": CID, "mimeType"}` that old records still carry.
    """
    value = obj(record, key, required=required, path=path)
    if value is None:
        return None
    where = _at(path, key)
    if value.get("$type") == "blob":
        ref = value.get("ref")
        cid = ref.get("$link") if isinstance(ref, dict) else None
    elif "$type" not in value:
        cid = value.get("cid")
    else:
        raise InvalidRecord(where, f"expected a blob, got $type {_show(value.get('$type'))}")
    if not isinstance(cid, str) or not is_cid(cid):
        raise InvalidRecord(where, f"not a blob with a valid CID: {_show(cid)}")
    if not isinstance(value.get("mimeType"), str):
        raise InvalidRecord(_at(where, "mimeType"), "a blob needs a mimeType string")
    return cid


def string_list(
    record: Mapping[str, Any],
    key: str,
    *,
    max_items: int,
    max_bytes: int | None = None,
    max_graphemes: int | None = None,
    item_format: str | None = None,
    required: bool = False,
    path: str = "",
) -> list[str] | None:
    """An array of strings (each within the limits, of `item_format` when given: a key of FORMATS)."""
    value = _get(record, key, required, path)
    if value is None:
        return None
    where = _at(path, key)
    if not isinstance(value, list):
        raise InvalidRecord(where, f"expected an array, got {_kind(value)}")
    if len(value) > max_items:
        raise InvalidRecord(where, f"{len(value)} items, over the limit of {max_items}")
    check = FORMATS[item_format] if item_format is not None else None
    items: list[str] = []
    for index, item in enumerate(value):
        item_where = f"{where}[{index}]"
        checked = _check_string(item, item_where, max_bytes, max_graphemes)
        if check is not None and not check(item):
            raise InvalidRecord(item_where, f"not a valid {item_format}: {_show(item)}")
        items.append(checked)
    return items


@overload
def obj(
    record: Mapping[str, Any], key: str, *, required: Literal[True], path: str = ""
) -> dict[str, Any]: ...
@overload
def obj(
    record: Mapping[str, Any], key: str, *, required: bool = False, path: str = ""
) -> dict[str, Any] | None: ...
def obj(
    record: Mapping[str, Any], key: str, *, required: bool = False, path: str = ""
) -> dict[str, Any] | None:
    """A nested object (reply, embed, a strong ref…); None when absent."""
    value = _get(record, key, required, path)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRecord(_at(path, key), f"expected an object, got {_kind(value)}")
    return value


def obj_list(
    record: Mapping[str, Any],
    key: str,
    *,
    max_items: int | None = None,
    required: bool = False,
    path: str = "",
) -> list[dict[str, Any]] | None:
    """An array of objects (facets, images, threadgate rules…); None when absent."""
    value = _get(record, key, required, path)
    if value is None:
        return None
    where = _at(path, key)
    if not isinstance(value, list):
        raise InvalidRecord(where, f"expected an array, got {_kind(value)}")
    if max_items is not None and len(value) > max_items:
        raise InvalidRecord(where, f"{len(value)} items, over the limit of {max_items}")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidRecord(f"{where}[{index}]", f"expected an object, got {_kind(item)}")
    return value


def type_matches(record: Mapping[str, Any], collection: str) -> bool:
    """Whether the record's `$type`, when it has one, is its collection's NSID."""
    declared = record.get("$type")
    return declared is None or declared == collection


def ensure_record(value: Any, collection: str) -> dict[str, Any]:
    """The record itself: an object whose `$type` (when present) is `collection`."""
    if not isinstance(value, dict):
        raise InvalidRecord("", f"expected an object, got {_kind(value)}")
    if not type_matches(value, collection):
        raise InvalidRecord("$type", f"{_show(value.get('$type'))} in collection {collection}")
    return value


def clean_json(value: Any) -> Any:
    """`value` with NUL bytes stripped from every string and key, for a jsonb column.

    PostgreSQL's jsonb rejects `\\u0000`. One orjson pass (C speed) tells whether there is any:
    usually not, and `value` itself comes back. Raises `InvalidRecord` for what jsonb cannot
    hold anyway (nesting deeper than orjson's 255 levels).
    """
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise InvalidRecord("", f"not storable as JSON ({exc})") from None
    if b"\\u0000" not in encoded:
        return value
    return _strip_nul(value)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {key.replace("\x00", ""): _strip_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strip_nul(item) for item in value]
    return value


def _show(value: Any) -> str:
    """A short, safe rendering of an offending value for a dead letter's error message."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
