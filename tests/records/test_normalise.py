"""to_lexicon: the SDK dialect back to lexicon JSON (through the real SDK), lexicon JSON untouched,
and the normaliser's tables checked against the models of the installed SDK."""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import pkgutil
import typing
from typing import Any

import pytest
from atproto_client import models
from atproto_client.models.base import ModelBase
from atproto_client.models.blob_ref import BlobRef
from atproto_client.models.utils import get_or_create
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from app.records.normalise import LEXICON_NAMES, UNTYPED_DEFS, to_lexicon
from app.records.validate import InvalidRecord
from tests.records.samples import CREATED, IMAGE_CID, RECORDS, ROOT_URI, blob, strong_ref
from tests.support.dialects import sdk_dump

IMAGE_HEX = "0155122012fbae18fa56950c6109936c1ee20188e2720edf96dd22b9b7c6c9e05e2bcad1"


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_sdk_dump_round_trips_to_the_lexicon_record(name: str) -> None:
    record = RECORDS[name]
    dumped = json.loads(json.dumps(sdk_dump(record)))
    assert to_lexicon(dumped) == record


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_lexicon_records_pass_through_as_the_same_object(name: str) -> None:
    record = RECORDS[name]
    assert to_lexicon(record) is record


@pytest.mark.parametrize("name", sorted(n for n in RECORDS if get_or_create(RECORDS[n], strict=False)))
def test_sdk_built_from_json_round_trips_too(name: str) -> None:
    """Older paths fed the SDK lexicon JSON, not CBOR: blob refs then dump as `{"link": CID}`."""
    record = RECORDS[name]
    model = get_or_create(record, strict=False)
    dumped = json.loads(json.dumps(model.model_dump()))
    dumped["$type"] = model.py_type
    assert to_lexicon(dumped) == record


def test_an_sdk_built_from_json_writes_older_link_refs() -> None:
    dumped = get_or_create(RECORDS["profile"], strict=False).model_dump()
    assert dumped["avatar"]["ref"] == {"link": IMAGE_CID}


def test_what_the_sdk_dialect_looks_like() -> None:
    """The shape DIRECTION §1 describes, pinned on one record, so a change of SDK shows here."""
    dumped = sdk_dump(RECORDS["profile"])
    assert dumped["$type"] == dumped["py_type"] == "app.bsky.actor.profile"
    assert dumped["display_name"] == "Alice ✨"
    assert dumped["pinned_post"]["py_type"] == "com.atproto.repo.strongRef"
    assert dumped["avatar"] == {"mime_type": "image/jpeg", "size": 40000, "ref": IMAGE_HEX, "py_type": "blob"}
    assert dumped["website"] is None  # absent optional fields are present as null
    assert "$type" not in dumped["labels"]


def test_sdk_model_objects_lose_nulls_and_py_type_and_get_camel_case() -> None:
    dumped = {
        "created_at": CREATED,
        "subject": {"cid": "bafyreiabc", "uri": ROOT_URI, "py_type": "com.atproto.repo.strongRef"},
        "via": None,
        "py_type": "app.bsky.feed.like",
    }
    assert to_lexicon(dumped) == {
        "$type": "app.bsky.feed.like",
        "createdAt": CREATED,
        "subject": {"cid": "bafyreiabc", "uri": ROOT_URI},
    }


def test_a_top_level_type_without_py_type_uses_the_declared_one() -> None:
    assert to_lexicon({"$type": "app.bsky.feed.like", "py_type": "app.bsky.feed.like"})["$type"] == (
        "app.bsky.feed.like"
    )


def test_the_top_level_keeps_its_type_even_when_it_is_usually_implicit() -> None:
    """`site.standard.theme.basic` is a record and, nested, an untyped field: top keeps `$type`."""
    dumped = {"py_type": "site.standard.theme.basic", "basic_theme": None}
    assert to_lexicon(dumped) == {"$type": "site.standard.theme.basic"}
    nested = {"py_type": "x.y.z", "theme": {"py_type": "site.standard.theme.basic"}}
    assert to_lexicon(nested) == {"$type": "x.y.z", "theme": {}}


def test_keys_that_are_data_are_not_converted() -> None:
    dumped = {
        "py_type": "app.bsky.feed.post",
        "created_at": CREATED,
        "text": "x",
        "langs": ["en", "pt_BR"],
        "tags": ["snake_case_tag"],
        "some_extra": {"inner_key": 1, "created_at": "raw", "$bytes": "AAEC", "ok": None},
        "embed": {"$type": "com.example.thing", "display_name": "raw data", "link": {"$link": "bafyreiabc"}},
    }
    assert to_lexicon(dumped) == {
        "$type": "app.bsky.feed.post",
        "createdAt": CREATED,
        "text": "x",
        "langs": ["en", "pt_BR"],
        "tags": ["snake_case_tag"],
        "some_extra": {"inner_key": 1, "created_at": "raw", "$bytes": "AAEC", "ok": None},
        "embed": {"$type": "com.example.thing", "display_name": "raw data", "link": {"$link": "bafyreiabc"}},
    }


@pytest.mark.parametrize(
    "ref",
    [IMAGE_HEX, {"link": IMAGE_CID}, {"$link": IMAGE_CID}, IMAGE_CID],
    ids=["hex of the binary CID", "older link", "lexicon link", "bare CID string"],
)
def test_every_blob_ref_form_becomes_a_lexicon_link(ref: Any) -> None:
    sdk_blob = {"mime_type": "image/jpeg", "size": 10, "ref": ref, "py_type": "blob"}
    raw_blob = {"$type": "blob", "mimeType": "image/jpeg", "size": 10, "ref": ref}
    expected = blob(IMAGE_CID, "image/jpeg", 10)
    assert to_lexicon({"py_type": "app.bsky.actor.profile", "avatar": sdk_blob}) == {
        "$type": "app.bsky.actor.profile",
        "avatar": expected,
    }
    assert to_lexicon({"$type": "com.example.thing", "pic": raw_blob}) == {
        "$type": "com.example.thing",
        "pic": expected,
    }


def test_blob_ref_repair_copies_instead_of_mutating() -> None:
    record = {
        "$type": "com.example.thing",
        "items": [{"pic": {"$type": "blob", "ref": IMAGE_HEX, "size": 1}}],
    }
    before = copy.deepcopy(record)
    out = to_lexicon(record)
    assert record == before
    assert out["items"][0]["pic"]["ref"] == {"$link": IMAGE_CID}


def test_sdk_dumps_are_not_mutated() -> None:
    dumped = sdk_dump(RECORDS["post (reply, facets, images, langs, tags, self-labels)"])
    before = copy.deepcopy(dumped)
    to_lexicon(dumped)
    assert dumped == before


def test_unrecognisable_blob_shapes_are_left_for_validation() -> None:
    odd = {"$type": "com.example.thing", "a": {"$type": "blob", "ref": 5}, "b": {"$type": "blob"}}
    assert to_lexicon(odd) is odd


def test_a_non_string_py_type_is_not_an_sdk_marker() -> None:
    odd = {"$type": "com.example.thing", "py_type": ["x"], "display_name": "kept"}
    assert to_lexicon(odd) is odd


def test_scalars_and_lists_pass_through() -> None:
    assert to_lexicon("x") == "x"
    assert to_lexicon(None) is None
    values = [1, "a", {"b": [True]}]
    assert to_lexicon(values) is values


def test_absurd_nesting_is_an_invalid_record() -> None:
    deep: Any = {"$type": "com.example.deep"}
    for _ in range(5000):
        deep = {"x": deep}
    with pytest.raises(InvalidRecord, match="nested too deeply"):
        to_lexicon(deep)


def test_a_like_from_the_sdk_dialect() -> None:
    like = {"$type": "app.bsky.feed.like", "subject": strong_ref(ROOT_URI), "createdAt": CREATED}
    assert sdk_dump(like)["created_at"] == CREATED
    assert to_lexicon(sdk_dump(like)) == like


# --- the tables against the installed SDK ----------------------------------------------------


def _py_type(model: type[BaseModel]) -> str:
    default = model.model_fields["py_type"].default
    assert isinstance(default, str)
    return default


def _resolve(annotation: Any) -> Any:
    if isinstance(annotation, typing.ForwardRef):
        path = annotation.__forward_arg__.split(".")
        if path[0] != "models":
            return {"BlobRef": BlobRef}.get(path[0])
        target: Any = models
        for part in path[1:]:
            target = getattr(target, part)
        return target
    return annotation


def _model_refs(annotation: Any, in_union: bool, out: list[tuple[type[BaseModel], bool]]) -> None:
    """Every model class an annotation can hold, and whether it sits in a union there."""
    annotation = _resolve(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        _model_refs(args[0], in_union, out)
    elif origin is typing.Union:
        members = [arg for arg in args if arg is not type(None)]
        for member in members:
            _model_refs(member, in_union or len(members) > 1, out)
    elif origin in (list, dict, tuple):
        for arg in args:
            _model_refs(arg, in_union, out)
    elif (
        inspect.isclass(annotation)
        and issubclass(annotation, BaseModel)
        and "py_type" in annotation.model_fields
        and isinstance(annotation.model_fields["py_type"].default, str)  # not the generic UnknownUnionModel
    ):
        out.append((annotation, in_union))


@pytest.fixture(scope="module")
def sdk_record_models() -> dict[str, Any]:
    """Field names, union members and plain field types of every model reachable from a record."""
    records: list[type[BaseModel]] = []
    for info in pkgutil.walk_packages(models.__path__, "atproto_client.models."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name == "Record" and inspect.isclass(value) and issubclass(value, ModelBase):
                records.append(value)
    seen: set[type[BaseModel]] = set()
    stack = list(records)
    field_names: set[str] = set()
    in_union: set[str] = set()
    as_field: set[str] = set()
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if name == "py_type":
                continue
            field_names.add(name)
            refs: list[tuple[type[BaseModel], bool]] = []
            _model_refs(field.annotation, False, refs)
            for ref, union in refs:
                (in_union if union else as_field).add(_py_type(ref))
                stack.append(ref)
    assert len(records) > 20 and len(seen) > 50
    return {"fields": field_names, "in_union": in_union, "as_field": as_field}


def test_lexicon_names_cover_every_sdk_record_field(sdk_record_models: dict[str, Any]) -> None:
    """The SDK's alias generator is `to_camel(name).removesuffix("_")`: our table must agree."""
    expected = {}
    for name in sdk_record_models["fields"]:
        alias = to_camel(name).removesuffix("_")
        if alias != name:
            expected[name] = alias
    assert expected == LEXICON_NAMES


def test_untyped_defs_are_the_sdk_defs_never_in_a_union(sdk_record_models: dict[str, Any]) -> None:
    only_as_field = sdk_record_models["as_field"] - sdk_record_models["in_union"] - {"blob"}
    assert only_as_field == UNTYPED_DEFS
    assert "app.bsky.embed.record" in sdk_record_models["in_union"] & sdk_record_models["as_field"]
