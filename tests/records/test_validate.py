"""The record-validation toolkit: values back when the lexicon is kept, InvalidRecord naming the field
and the problem when it is not."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.records.validate import (
    FORMATS,
    InvalidRecord,
    StrongRef,
    blob_cid,
    clean_json,
    count_graphemes,
    datetime_,
    did,
    ensure_record,
    obj,
    obj_list,
    record_uri,
    string_list,
    strong_ref,
    text,
    type_matches,
)
from tests.records.samples import ALICE, CREATED, IMAGE_CID, LIST_URI, POST_CID, ROOT_URI, blob

FAMILY = "👩\u200d👩\u200d👧\u200d👦"  # one grapheme, seven code points, 25 UTF-8 bytes


def raises(problem: str, path: str) -> Any:
    """`pytest.raises` for an InvalidRecord whose message is `"<path>: …<problem>…"`."""
    return pytest.raises(InvalidRecord, match=f"^{re.escape(path)}: .*{re.escape(problem)}")


# --- text ----------------------------------------------------------------------------------


def test_text_returns_the_string() -> None:
    assert text({"text": "hello"}, "text", required=True) == "hello"
    assert text({"text": ""}, "text", required=True) == ""


def test_text_absent_or_null() -> None:
    assert text({}, "description", required=False) is None
    assert text({"description": None}, "description", required=False) is None
    with raises("required field is missing", "text"):
        text({}, "text", required=True)
    with raises("required field is missing", "reply.text"):
        text({"text": None}, "text", required=True, path="reply")


@pytest.mark.parametrize("value", [5, 1.5, True, ["a"], {"a": 1}])
def test_text_of_the_wrong_type(value: Any) -> None:
    with raises("expected a string", "text"):
        text({"text": value}, "text", required=True)


def test_text_strips_nul_bytes() -> None:
    assert text({"text": "a\x00b\x00"}, "text", required=True) == "ab"


def test_post_text_limits_bytes_and_graphemes() -> None:
    def post_text(value: str) -> str:
        return text({"text": value}, "text", required=True, max_bytes=3000, max_graphemes=300)

    assert post_text("a" * 300) == "a" * 300
    assert post_text("é" * 300) == "é" * 300  # 600 bytes
    assert post_text(FAMILY * 120) == FAMILY * 120  # 840 code points, 3,000 bytes, 120 graphemes
    with raises("301 graphemes, over the limit of 300", "text"):
        post_text("a" * 301)
    with raises("3025 bytes, over the limit of 3000", "text"):
        post_text(FAMILY * 121)
    with raises("301 graphemes", "text"):
        post_text("e\u0301" * 301)  # 602 code points, 301 graphemes
    assert post_text("e\u0301" * 300) == "e\u0301" * 300


def test_grapheme_counting() -> None:
    assert count_graphemes(FAMILY) == 1
    assert count_graphemes("🇫🇷🇩🇪") == 2  # regional-indicator pairs
    assert count_graphemes("e\u0301") == 1
    assert count_graphemes("\r\n") == 1
    assert count_graphemes("") == 0


@given(st.text(max_size=50))
def test_graphemes_never_exceed_code_points(value: str) -> None:
    assert count_graphemes(value) <= len(value)


# --- datetime, did, uri, strong ref -----------------------------------------------------------


def test_datetime_naive_utc() -> None:
    assert datetime_({"createdAt": "2024-05-01T12:00:00+02:00"}, "createdAt") == datetime(2024, 5, 1, 10)
    assert datetime_({"createdAt": "1800-01-01T00:00:00Z"}, "createdAt") == datetime(1800, 1, 1)  # kept
    assert datetime_({}, "indexedAt", required=False) is None


@pytest.mark.parametrize(
    "value", ["2024-13-01T00:00:00Z", "yesterday", "2024-05-01 12:00:00", "0000-01-01T00:00:00Z"]
)
def test_invalid_datetimes(value: str) -> None:
    with raises("not a valid datetime", "createdAt"):
        datetime_({"createdAt": value}, "createdAt")


def test_datetime_wrong_type_and_missing() -> None:
    with raises("expected a datetime string, got integer", "createdAt"):
        datetime_({"createdAt": 1700000000}, "createdAt")
    with raises("required field is missing", "createdAt"):
        datetime_({}, "createdAt")


def test_did() -> None:
    assert did({"subject": ALICE}, "subject") == ALICE
    assert did({}, "subject", required=False) is None
    for bad in ["did:plc:short", "alice.bsky.social", 5, f"at://{ALICE}"]:
        with raises("not a valid DID", "subject"):
            did({"subject": bad}, "subject")


def test_record_uri() -> None:
    assert record_uri({"subject": LIST_URI}, "subject", collection="app.bsky.graph.list") == LIST_URI
    assert record_uri({"post": ROOT_URI}, "post") == ROOT_URI
    with raises("expected a app.bsky.graph.list record, got app.bsky.feed.post", "list"):
        record_uri({"list": ROOT_URI}, "list", collection="app.bsky.graph.list")
    for bad in ["at://alice.bsky.social/app.bsky.feed.post/3k", f"at://{ALICE}", "https://x.y/z", 7]:
        with raises("not a valid record AT-URI", "subject"):
            record_uri({"subject": bad}, "subject")
    assert record_uri({}, "subject", required=False) is None


def test_strong_ref() -> None:
    ref = strong_ref({"subject": {"uri": ROOT_URI, "cid": POST_CID}}, "subject")
    assert ref == StrongRef(ROOT_URI, POST_CID)
    uri, cid = ref
    assert (uri, cid) == (ROOT_URI, POST_CID)
    assert strong_ref({}, "via", required=False) is None


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        ("at://x", "subject", "expected an object, got string"),
        ({"cid": POST_CID}, "subject.uri", "required field is missing"),
        ({"uri": ROOT_URI}, "subject.cid", "required field is missing"),
        ({"uri": "at://alice.test/app.bsky.feed.post/3k", "cid": POST_CID}, "subject.uri", "AT-URI"),
        ({"uri": ROOT_URI, "cid": "not a cid"}, "subject.cid", "not a valid CID"),
        ({"uri": ROOT_URI, "cid": 42}, "subject.cid", "not a valid CID"),
    ],
)
def test_invalid_strong_refs(value: Any, path: str, problem: str) -> None:
    with raises(problem, path):
        strong_ref({"subject": value}, "subject")


def test_strong_ref_path_prefix() -> None:
    with raises("not a valid CID", "reply.parent.cid"):
        strong_ref({"parent": {"uri": ROOT_URI, "cid": "x"}}, "parent", path="reply")


# --- blobs, lists, objects ------------------------------------------------------------------------


def test_blob_cid() -> None:
    assert blob_cid({"avatar": blob(IMAGE_CID, "image/png", 5)}, "avatar") == IMAGE_CID
    assert blob_cid({"avatar": {"cid": IMAGE_CID, "mimeType": "image/png"}}, "avatar") == IMAGE_CID  # legacy
    assert blob_cid({}, "avatar") is None
    with raises("required field is missing", "avatar"):
        blob_cid({}, "avatar", required=True)


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        ("bafkrei", "avatar", "expected an object"),
        ({"$type": "app.bsky.embed.images"}, "avatar", "expected a blob"),
        ({"$type": "blob", "ref": IMAGE_CID, "mimeType": "image/png", "size": 1}, "avatar", "valid CID"),
        ({"$type": "blob", "ref": {"$link": "nope"}, "mimeType": "image/png"}, "avatar", "valid CID"),
        ({"$type": "blob", "ref": {"$link": IMAGE_CID}, "size": 1}, "avatar.mimeType", "mimeType"),
        ({"mimeType": "image/png"}, "avatar", "valid CID"),
    ],
)
def test_invalid_blobs(value: Any, path: str, problem: str) -> None:
    with raises(problem, path):
        blob_cid({"avatar": value}, "avatar")


def test_string_list() -> None:
    assert string_list({"langs": ["en", "pt-BR"]}, "langs", max_items=3, item_format="language") == [
        "en",
        "pt-BR",
    ]
    assert string_list({}, "tags", max_items=8) is None
    assert string_list({"tags": ["a\x00b"]}, "tags", max_items=8, max_bytes=640, max_graphemes=64) == ["ab"]
    with raises("4 items, over the limit of 3", "langs"):
        string_list({"langs": ["en"] * 4}, "langs", max_items=3)
    with raises("not a valid language", "langs[1]"):
        string_list({"langs": ["en", "English"]}, "langs", max_items=3, item_format="language")
    with raises("65 graphemes", "tags[0]"):
        string_list({"tags": ["x" * 65]}, "tags", max_items=8, max_graphemes=64)
    with raises("expected a string, got integer", "tags[0]"):
        string_list({"tags": [1]}, "tags", max_items=8)
    with raises("expected an array, got string", "tags"):
        string_list({"tags": "cats"}, "tags", max_items=8)


def test_every_format_has_a_validator() -> None:
    samples = {
        "at-uri": ROOT_URI,
        "cid": POST_CID,
        "datetime": CREATED,
        "did": ALICE,
        "handle": "alice.bsky.social",
        "language": "en",
        "nsid": "app.bsky.feed.post",
        "record-key": "self",
        "tid": "3jzfcijpj2z2a",
    }
    assert set(samples) == set(FORMATS)
    for name, value in samples.items():
        assert FORMATS[name](value)
        assert not FORMATS[name]("not valid!")


def test_obj_and_obj_list() -> None:
    reply = {"root": {}, "parent": {}}
    assert obj({"reply": reply}, "reply") is reply
    assert obj({}, "reply") is None
    with raises("expected an object, got array", "reply"):
        obj({"reply": []}, "reply")
    with raises("required field is missing", "embed.record"):
        obj({}, "record", required=True, path="embed")
    rules = [{"$type": "app.bsky.feed.threadgate#mentionRule"}]
    assert obj_list({"allow": rules}, "allow", max_items=5) is rules
    assert obj_list({}, "allow") is None
    with raises("expected an object, got string", "allow[0]"):
        obj_list({"allow": ["x"]}, "allow")
    with raises("6 items, over the limit of 5", "allow"):
        obj_list({"allow": rules * 6}, "allow", max_items=5)
    with raises("expected an array, got object", "allow"):
        obj_list({"allow": {}}, "allow")


# --- the record itself --------------------------------------------------------------------------


def test_type_matches() -> None:
    assert type_matches({"$type": "app.bsky.feed.like"}, "app.bsky.feed.like")
    assert type_matches({}, "app.bsky.feed.like")
    assert not type_matches({"$type": "app.bsky.feed.post"}, "app.bsky.feed.like")


def test_ensure_record() -> None:
    like = {"$type": "app.bsky.feed.like"}
    assert ensure_record(like, "app.bsky.feed.like") is like
    with raises("'app.bsky.feed.post' in collection app.bsky.feed.like", "$type"):
        ensure_record({"$type": "app.bsky.feed.post"}, "app.bsky.feed.like")
    with raises("expected an object, got array", "record"):
        ensure_record([], "app.bsky.feed.like")


def test_invalid_record_message_and_attributes() -> None:
    error = InvalidRecord("reply.parent.uri", "not a valid record AT-URI: 'x'")
    assert str(error) == "reply.parent.uri: not a valid record AT-URI: 'x'"
    assert (error.path, error.problem) == ("reply.parent.uri", "not a valid record AT-URI: 'x'")
    assert isinstance(error, ValueError)
    assert str(InvalidRecord("", "nested too deeply")) == "record: nested too deeply"


def test_long_offending_values_are_shortened_in_messages() -> None:
    with pytest.raises(InvalidRecord) as caught:
        did({"subject": "x" * 5000}, "subject")
    assert len(str(caught.value)) < 150


# --- clean_json -----------------------------------------------------------------------------------


def test_clean_json_without_nul_returns_the_same_object() -> None:
    embed = {
        "$type": "app.bsky.embed.external",
        "external": {"uri": "https://x", "title": "t", "n": [1, 2.5, None]},
    }
    assert clean_json(embed) is embed


def test_clean_json_strips_nul_everywhere() -> None:
    value = {"a\x00": ["x\x00y", {"b": "\x00"}], "n": 1, "t": True, "z": None}
    assert clean_json(value) == {"a": ["xy", {"b": ""}], "n": 1, "t": True, "z": None}
    assert value["a\x00"][0] == "x\x00y"  # not mutated


def test_clean_json_keeps_a_literal_backslash_u0000() -> None:
    value = {"text": "\\u0000 is how JSON spells NUL"}
    assert clean_json(value) == value


def test_clean_json_refuses_what_jsonb_cannot_hold() -> None:
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    with raises("not storable as JSON", "record"):
        clean_json(deep)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


@given(json_values)
def test_clean_json_leaves_no_nul(value: Any) -> None:
    cleaned = clean_json(value)
    assert not has_nul(cleaned)
    if not has_nul(value):
        assert cleaned is value
