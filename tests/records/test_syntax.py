"""The validators against every line of the atproto-interop-tests syntax fixtures, read in place,
plus generated cases and the rules DIRECTION §4 adds to the grammar."""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.records.syntax import (
    MAX_IDENTIFIER_BYTES,
    AtUri,
    RecordUri,
    is_at_uri,
    is_cid,
    is_datetime,
    is_did,
    is_handle,
    is_language,
    is_nsid,
    is_record_key,
    is_tid,
    normalise_handle,
    parse_at_uri,
    parse_datetime,
    parse_record_uri,
)

SYNTAX = Path("atproto-interop-tests/syntax")


def fixture_values(fixtures_dir: Path, name: str) -> list[str]:
    """One value per line; `#` comments and empty lines skipped; other whitespace is significant
    (lines such as `" at://did:plc:asdf123"` test it), so lines are not stripped."""
    text = (fixtures_dir / SYNTAX / name).read_text(encoding="utf-8")
    values = [line for line in text.split("\n") if line and not line.startswith("#")]
    assert values, f"{name} holds no values"
    return values


def at_identifier(s: str) -> bool:
    return is_did(s) or is_handle(s)


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "did": is_did,
    "handle": is_handle,
    "nsid": is_nsid,
    "aturi": is_at_uri,
    "recordkey": is_record_key,
    "tid": is_tid,
    "cid": is_cid,
    "datetime": is_datetime,
    "language": is_language,
    "atidentifier": at_identifier,
}


@pytest.mark.parametrize("kind", sorted(VALIDATORS))
def test_every_valid_fixture_line_is_accepted(fixtures_dir: Path, kind: str) -> None:
    check = VALIDATORS[kind]
    refused = [
        value for value in fixture_values(fixtures_dir, f"{kind}_syntax_valid.txt") if not check(value)
    ]
    assert refused == []


@pytest.mark.parametrize("kind", sorted(VALIDATORS))
def test_every_invalid_fixture_line_is_refused(fixtures_dir: Path, kind: str) -> None:
    check = VALIDATORS[kind]
    accepted = [value for value in fixture_values(fixtures_dir, f"{kind}_syntax_invalid.txt") if check(value)]
    assert accepted == []


def test_datetime_parse_invalid_lines_do_not_parse(fixtures_dir: Path) -> None:
    parsed = {v: parse_datetime(v) for v in fixture_values(fixtures_dir, "datetime_parse_invalid.txt")}
    assert {v: p for v, p in parsed.items() if p is not None} == {}


def test_language_parse_invalid_lines_are_refused(fixtures_dir: Path) -> None:
    accepted = [v for v in fixture_values(fixtures_dir, "language_parse_invalid.txt") if is_language(v)]
    assert accepted == []


def test_valid_datetimes_parse_unless_python_cannot_hold_them(fixtures_dir: Path) -> None:
    for value in fixture_values(fixtures_dir, "datetime_syntax_valid.txt"):
        parsed = parse_datetime(value)
        if value.startswith("0000-"):
            assert parsed is None, value  # year 0 exists in ISO 8601, not in Python
        else:
            assert isinstance(parsed, datetime) and parsed.tzinfo is None, value


def test_invalid_datetimes_do_not_parse(fixtures_dir: Path) -> None:
    parsed = [v for v in fixture_values(fixtures_dir, "datetime_syntax_invalid.txt") if parse_datetime(v)]
    assert parsed == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1985-04-12T23:20:50.123Z", datetime(1985, 4, 12, 23, 20, 50, 123000)),
        ("1985-04-12T23:20:50Z", datetime(1985, 4, 12, 23, 20, 50)),
        ("1985-04-12T23:20:50.1Z", datetime(1985, 4, 12, 23, 20, 50, 100000)),
        ("1985-04-12T23:20:50.1234Z", datetime(1985, 4, 12, 23, 20, 50, 123400)),
        ("1985-04-12T23:20:50.12345Z", datetime(1985, 4, 12, 23, 20, 50, 123450)),
        ("1985-04-12T23:20:50.1234567Z", datetime(1985, 4, 12, 23, 20, 50, 123456)),
        ("1985-04-12T23:20:50.123+00:00", datetime(1985, 4, 12, 23, 20, 50, 123000)),
        ("1985-04-12T23:20:50.123456789012Z", datetime(1985, 4, 12, 23, 20, 50, 123456)),  # truncated
        ("1985-04-12T23:20:50.123-07:00", datetime(1985, 4, 13, 6, 20, 50, 123000)),  # to UTC
        ("1985-04-12T23:20:50.123+01:45", datetime(1985, 4, 12, 21, 35, 50, 123000)),
        ("2026-01-01T00:30:00+01:00", datetime(2025, 12, 31, 23, 30)),  # across a year
        ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1)),
    ],
)
def test_parse_datetime_gives_naive_utc(value: str, expected: datetime) -> None:
    assert parse_datetime(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:00:00-01:00",  # after year 9999 in UTC
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-01-01T23:59:60Z",  # leap second: valid ISO, not a Python datetime
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00+01:60",
        "2024-01-01T00:00:00-00:00",
        "",
    ],
)
def test_parse_datetime_refuses_what_cannot_be_stored(value: str) -> None:
    assert parse_datetime(value) is None


def test_leap_year_day_parses() -> None:
    assert parse_datetime("2024-02-29T12:00:00Z") == datetime(2024, 2, 29, 12)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("did:plc:ewvi7nxzyoun6zhxrhs64oiz", True),
        ("did:plc:ewvi7nxzyoun6zhxrhs64oi", False),  # 23 characters
        ("did:plc:ewvi7nxzyoun6zhxrhs64oizz", False),  # 25
        ("did:plc:ewvi7nxzyoun6zhxrhs64oi1", False),  # 1 is not base32
        ("did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ", False),  # upper case
        ("did:plc:ewvi7nxzyoun6zhxrhs64oi8", False),
        ("did:web:example.com", True),
        ("did:web:sub.example.co.uk", True),
        ("did:web:localhost%3A1234", True),
        ("did:web:example.com%3A8080", True),
        ("did:web:example.com:user:alice", False),  # paths are not supported by atproto
        ("did:web:example", False),  # not a hostname of the network
        ("did:web:127.0.0.1", False),
        ("did:web:-example.com", False),
        ("did:web:example.com%3A", False),
        ("did:web:exa_mple.com", False),
        ("did:key:zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N", True),  # other methods: syntax only
    ],
)
def test_did_method_rules(value: str, valid: bool) -> None:
    assert is_did(value) is valid


def test_identifiers_over_the_btree_limit_are_refused() -> None:
    long_did = "did:example:" + "a" * (MAX_IDENTIFIER_BYTES - len("did:example:"))
    assert is_did(long_did)
    assert not is_did(long_did + "a")
    did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
    prefix = f"at://{did}/app.bsky.feed.post/"
    assert parse_record_uri(prefix + "a" * 512) is not None
    assert not is_at_uri(f"at://did:example:{'a' * 1990}/app.bsky.feed.post/abc")
    assert parse_record_uri(f"at://did:web:{'a' * 60}.{'b' * 60}.com/a.b.c/" + "o" * 512) is not None


def test_normalise_handle() -> None:
    assert normalise_handle("Alice.BSKY.Social") == "alice.bsky.social"
    assert normalise_handle("alice.test") == "alice.test"
    assert normalise_handle("alice") is None
    assert normalise_handle("did:plc:ewvi7nxzyoun6zhxrhs64oiz") is None
    assert normalise_handle("handle.invalid") == "handle.invalid"


def test_parse_at_uri_parts() -> None:
    assert parse_at_uri("at://did:plc:asdf123") == AtUri("did:plc:asdf123", None, None)
    assert parse_at_uri("at://user.bsky.social/app.bsky.feed.post") == AtUri(
        "user.bsky.social", "app.bsky.feed.post", None
    )
    assert parse_at_uri("at://did:abc:123/io.nsid.someFunc/record-key") == AtUri(
        "did:abc:123", "io.nsid.someFunc", "record-key"
    )
    assert parse_at_uri("at://did:plc:asdf123/app.bsky.feed.post/abc#frag") is None
    assert parse_at_uri("at://did:plc:asdf123/app.bsky.feed.post/abc?q=1") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3mpsjbtci2c2o",
            RecordUri("did:plc:ewvi7nxzyoun6zhxrhs64oiz", "app.bsky.feed.post", "3mpsjbtci2c2o"),
        ),
        (
            "at://did:web:example.com/app.bsky.feed.generator/whats-hot",
            RecordUri("did:web:example.com", "app.bsky.feed.generator", "whats-hot"),
        ),
        ("at://did:plc:asdf123/app.bsky.feed.post/3mpsjbtci2c2o", None),  # not a did:plc
        ("at://alice.bsky.social/app.bsky.feed.post/3mpsjbtci2c2o", None),  # handle authority
        ("at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post", None),  # no record key
        ("at://did:plc:ewvi7nxzyoun6zhxrhs64oiz", None),
        ("at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3k/extra", None),
        ("at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/..", None),
        ("at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/not_an_nsid/3k", None),
        ("https://bsky.app/profile/alice/post/3k", None),
        ("", None),
    ],
)
def test_parse_record_uri(value: str, expected: RecordUri | None) -> None:
    assert parse_record_uri(value) == expected


# --- generated cases ---------------------------------------------------------------------------

BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
plc_dids = st.text(alphabet=BASE32, min_size=24, max_size=24).map(lambda s: f"did:plc:{s}")
tids = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("234567abcdefghij"),
    st.text(alphabet="234567abcdefghijklmnopqrstuvwxyz", min_size=12, max_size=12),
)
label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
tld = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
handles = st.builds(
    lambda labels, last: ".".join([*labels, last]), st.lists(label, min_size=1, max_size=4), tld
)
record_keys = st.text(
    alphabet=string.ascii_letters + string.digits + "._:~-", min_size=1, max_size=64
).filter(lambda s: s not in (".", ".."))
nsids = st.builds(
    lambda labels, name: ".".join([*labels, name]), st.lists(tld, min_size=2, max_size=4), tld
).map(lambda s: s.replace("-", ""))
forbidden = st.sampled_from([" ", "/", "#", "?", "@", "!", "\x00", "é", "💩", "\n", "*"])


@given(plc_dids)
def test_generated_plc_dids_are_accepted(value: str) -> None:
    assert is_did(value)


@given(plc_dids, st.integers(min_value=8, max_value=31), forbidden)
def test_plc_dids_with_a_forbidden_character_are_refused(value: str, index: int, bad: str) -> None:
    assert not is_did(value[:index] + bad + value[index + 1 :])


@given(plc_dids, st.sampled_from(BASE32))
def test_plc_dids_of_the_wrong_length_are_refused(value: str, extra: str) -> None:
    assert not is_did(value + extra)
    assert not is_did(value[:-1])


@given(handles)
def test_generated_handles_are_accepted_and_did_web_too(value: str) -> None:
    assert is_handle(value)
    assert normalise_handle(value.upper()) == value
    assert is_did(f"did:web:{value}")


@given(handles, forbidden)
def test_handles_with_a_forbidden_character_are_refused(value: str, bad: str) -> None:
    index = len(value) // 2
    assert not is_handle(value[:index] + bad + value[index:])


def test_handle_length_limit() -> None:
    at_limit = ".".join(["a" * 63] * 3) + "." + "b" * 57 + ".com"
    assert len(at_limit) == 253 and is_handle(at_limit)
    assert not is_handle("b" + at_limit)
    assert not is_handle("a" * 64 + ".com")


@given(tids)
def test_generated_tids_are_accepted(value: str) -> None:
    assert is_tid(value)
    assert is_record_key(value)


@given(tids, st.sampled_from("klmnopqrstuvwxyz"))
def test_tids_with_the_high_bit_set_are_refused(value: str, first: str) -> None:
    assert not is_tid(first + value[1:])


@given(tids, forbidden)
def test_tids_with_a_forbidden_character_are_refused(value: str, bad: str) -> None:
    assert not is_tid(value[:5] + bad + value[6:])


@given(plc_dids, nsids, record_keys)
def test_generated_record_uris_parse(did: str, nsid: str, rkey: str) -> None:
    uri = f"at://{did}/{nsid}/{rkey}"
    assert is_nsid(nsid)
    assert parse_record_uri(uri) == RecordUri(did, nsid, rkey)
    assert parse_at_uri(uri) == AtUri(did, nsid, rkey)


@given(plc_dids, nsids, record_keys, forbidden)
def test_record_uris_with_a_forbidden_character_in_the_key_are_refused(
    did: str, nsid: str, rkey: str, bad: str
) -> None:
    assert parse_record_uri(f"at://{did}/{nsid}/{rkey}{bad}") is None


@given(st.text(max_size=40))
def test_validators_never_raise_on_arbitrary_text(value: str) -> None:
    for check in (*VALIDATORS.values(), parse_at_uri, parse_record_uri, parse_datetime, normalise_handle):
        check(value)


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_formatted_datetimes_round_trip(value: datetime) -> None:
    text = value.isoformat(timespec="microseconds") + "Z"
    assert is_datetime(text)
    assert parse_datetime(text) == value
