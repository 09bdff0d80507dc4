"""Identifier and datetime validators written from the AT Protocol grammar.

They run on every op of the firehose, so each is a length guard plus one precompiled regular
expression (or a split and two or three of them); none allocates more than it must. Inputs are
untrusted: every function accepts any `str` and answers, never raises.

Two levels of strictness, on purpose:
- the `is_*` syntax checks follow the protocol grammar, as the conformance fixtures
  (atproto-interop-tests/syntax) pin it, so `is_at_uri("at://did:plc:asdf123")` is true;
- `is_did` adds the per-method rules of DIRECTION §4 (`did:plc:` + 24 base32 characters,
  `did:web:` + a hostname), and `parse_record_uri` — what the indexer uses for subjects of likes,
  reposts, list items… — accepts only `at://<strict DID>/<NSID>/<record key>`.

Every identifier longer than `MAX_IDENTIFIER_BYTES` is rejected, whatever its grammar allows: a
btree index entry cannot hold much more (PostgreSQL's limit is about a third of an 8 kB page).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import NamedTuple

MAX_IDENTIFIER_BYTES = 2000

# Generic DID syntax (W3C DID core, as the atproto spec restricts it): lower-case method, then an
# identifier of unreserved characters, ':' and %-escapes, not ending with ':' or '%'.
_DID_SYNTAX = re.compile(r"did:[a-z]+:(?:[a-zA-Z0-9._:-]|%[0-9A-Fa-f]{2})*(?:[a-zA-Z0-9._-]|%[0-9A-Fa-f]{2})")
_DID_PLC = re.compile(r"did:plc:[a-z2-7]{24}")
# did:web carries a hostname, with the port's ':' percent-encoded; atproto supports no paths.
_DID_WEB = re.compile(r"did:web:(?P<host>[a-zA-Z0-9.-]+)(?:%3[Aa][0-9]{1,5})?")

# Handles: DNS names of two labels or more, the last not starting with a digit (no IP addresses).
_HANDLE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
)
_MAX_HANDLE = 253

# NSIDs: a reversed domain authority (first label starts with a letter) and a name segment of
# letters and digits starting with a letter.
_NSID = re.compile(
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
    r"\.[a-zA-Z][a-zA-Z0-9]{0,62}"
)
_MAX_NSID = 317

_RECORD_KEY = re.compile(r"[a-zA-Z0-9._:~-]{1,512}")
_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
# The "loose" CID syntax of the spec: a multibase string; CIDv0 (`Qm…`) is not supported.
_CID = re.compile(r"[a-zA-Z0-9+=]{8,256}")

# RFC 3339 and ISO 8601 at once: upper-case T and Z, seconds required, a time zone required
# (`-00:00` is RFC 3339's "unknown offset", not ISO 8601, so it is refused separately).
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,20}))?"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)

# BCP 47 (RFC 5646) language tags. The primary subtag must be lower case, as the fixtures want
# ("JA" and four-letter "jaja" are refused); other subtags are case-insensitive.
_LANGUAGE = re.compile(
    r"(?:"
    r"(?:[a-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[a-z]{5,8})"  # language, with up to three extlangs
    r"(?:-[A-Za-z]{4})?"  # script
    r"(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"  # region
    r"(?P<variants>(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*)"
    r"(?P<extensions>(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*)"
    r"(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?"  # private use
    r"|[xX](?:-[A-Za-z0-9]{1,8})+"  # private use only
    r"|en-GB-oed|i-ami|i-bnn|i-default|i-enochian|i-hak|i-klingon|i-lux|i-mingo|i-navajo|i-pwn"
    r"|i-tao|i-tay|i-tsu|sgn-BE-FR|sgn-BE-NL|sgn-CH-DE"  # grandfathered, irregular
    r"|art-lojban|cel-gaulish|no-bok|no-nyn|zh-guoyu|zh-hakka|zh-min|zh-min-nan|zh-xiang"  # regular
    r")"
)
_MAX_LANGUAGE = 128


class AtUri(NamedTuple):
    """The parts of an AT-URI; `collection` and `rkey` are None when the URI stops before them."""

    authority: str
    collection: str | None
    rkey: str | None


class RecordUri(NamedTuple):
    """`at://<did>/<collection>/<rkey>`: the URI of one record, its authority a DID."""

    did: str
    collection: str
    rkey: str


def _did_syntax(s: str) -> bool:
    return len(s) <= MAX_IDENTIFIER_BYTES and _DID_SYNTAX.fullmatch(s) is not None


def is_did(s: str) -> bool:
    """DID syntax, plus the rules of the methods the network uses.

    `did:plc:` + 24 base32 characters; `did:web:` + a handle-shaped hostname (or `localhost`,
    which the conformance fixtures accept) with an optional `%3A` port; other methods: syntax.
    """
    if s.startswith("did:plc:"):
        return _DID_PLC.fullmatch(s) is not None
    if s.startswith("did:web:"):
        match = _DID_WEB.fullmatch(s)
        if match is None:
            return False
        host = match.group("host")
        return host == "localhost" or is_handle(host)
    return _did_syntax(s)


def is_handle(s: str) -> bool:
    """Handle syntax (a DNS name); reserved TLDs such as `.test` are syntactically valid."""
    return len(s) <= _MAX_HANDLE and _HANDLE.fullmatch(s) is not None


def normalise_handle(s: str) -> str | None:
    """The handle lower-cased (handles are case-insensitive), or None when it is not one."""
    return s.lower() if is_handle(s) else None


def is_nsid(s: str) -> bool:
    return len(s) <= _MAX_NSID and _NSID.fullmatch(s) is not None


def is_record_key(s: str) -> bool:
    return _RECORD_KEY.fullmatch(s) is not None and s != "." and s != ".."


def is_tid(s: str) -> bool:
    return _TID.fullmatch(s) is not None


def is_cid(s: str) -> bool:
    """The spec's loose CID syntax: what a multibase CID string can look like, CIDv0 refused."""
    return _CID.fullmatch(s) is not None and not s.startswith("Qm")


def _split_at_uri(s: str) -> list[str] | None:
    if len(s) > MAX_IDENTIFIER_BYTES or not s.startswith("at://"):
        return None
    parts = s[5:].split("/")
    return parts if len(parts) <= 3 else None


def parse_at_uri(s: str) -> AtUri | None:
    """Parse the restricted AT-URI syntax: `at://<DID or handle>[/<NSID>[/<record key>]]`.

    No query, no fragment, no trailing slash. The authority is checked with the generic DID
    syntax (as the conformance fixtures do); `parse_record_uri` is the strict one.
    """
    parts = _split_at_uri(s)
    if parts is None:
        return None
    authority = parts[0]
    if not (_did_syntax(authority) if authority.startswith("did:") else is_handle(authority)):
        return None
    collection = parts[1] if len(parts) > 1 else None
    rkey = parts[2] if len(parts) > 2 else None
    if collection is not None and not is_nsid(collection):
        return None
    if rkey is not None and not is_record_key(rkey):
        return None
    return AtUri(authority, collection, rkey)


def is_at_uri(s: str) -> bool:
    return parse_at_uri(s) is not None


def parse_record_uri(s: str) -> RecordUri | None:
    """Parse `at://<did>/<nsid>/<rkey>` with a DID that passes `is_did`; None for anything else."""
    parts = _split_at_uri(s)
    if parts is None or len(parts) != 3:
        return None
    did, collection, rkey = parts
    if is_did(did) and is_nsid(collection) and is_record_key(rkey):
        return RecordUri(did, collection, rkey)
    return None


def is_datetime(s: str) -> bool:
    """Datetime *syntax* (RFC 3339 ∩ ISO 8601). A month 13 passes here; `parse_datetime` refuses it."""
    match = _DATETIME.fullmatch(s)
    return match is not None and match.group(0)[-6:] != "-00:00"


def parse_datetime(s: str) -> datetime | None:
    """A valid datetime as a naive UTC `datetime` (microseconds, extra digits truncated).

    None when the syntax is wrong, when a field is out of range (month 0, minute 99, a leap
    second, which Python cannot hold), or when the instant falls outside years 1 to 9999 once
    converted to UTC (`0000-01-01T00:00:00Z`, `0001-01-01T00:00:00+01:00`).
    """
    match = _DATETIME.fullmatch(s)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, offset_hours, offset_minutes = match.groups()
    try:
        if sign is None and (fraction is None or len(fraction) <= 6):
            # The usual `…Z` with at most microseconds: the C parser, twice as fast, once the
            # grammar above has been checked (it accepts forms the grammar does not).
            return datetime.fromisoformat(s[:-1])
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int(fraction[:6].ljust(6, "0")) if fraction else 0,
        )
        if sign is None:
            return value
        hours, minutes = int(offset_hours), int(offset_minutes)
        if hours > 23 or minutes > 59 or (sign == "-" and hours == 0 and minutes == 0):
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        return value - offset if sign == "+" else value + offset
    except (ValueError, OverflowError):
        return None


def is_language(s: str) -> bool:
    """A well-formed BCP 47 tag whose variants and extension singletons are not repeated."""
    if len(s) > _MAX_LANGUAGE:
        return False
    match = _LANGUAGE.fullmatch(s)
    if match is None:
        return False
    variants, extensions = match.group("variants"), match.group("extensions")
    if variants:
        subtags = variants.lower().split("-")[1:]
        if len(set(subtags)) != len(subtags):
            return False
    if extensions:
        singletons = [tag for tag in extensions.lower().split("-") if len(tag) == 1]
        if len(set(singletons)) != len(singletons):
            return False
    return True
