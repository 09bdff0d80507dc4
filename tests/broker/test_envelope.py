"""The envelope decoder: bytes, UTF-8, JSON and envelope checks, one entry at a time."""

from __future__ import annotations

import orjson
import pytest

from app.broker.envelope import Accepted, Rejected, Unknown, build, decode_entry
from app.events import AccountEvent, CommitEvent, IdentityEvent, Op, version_of

ENTRY_ID = "1700000000000-7"


def fields(kind: str | bytes, data: object, seq: str | bytes | None = "42") -> dict[bytes, bytes]:
    raw: dict[bytes, bytes] = {
        b"type": kind if isinstance(kind, bytes) else kind.encode(),
        b"data": data if isinstance(data, bytes) else orjson.dumps(data),
    }
    if seq is not None:
        raw[b"seq"] = seq if isinstance(seq, bytes) else seq.encode()
    return raw


def accepted(raw: dict[bytes, bytes], deliveries: int = 1) -> Accepted:
    decoded = decode_entry(ENTRY_ID, raw, deliveries)
    assert isinstance(decoded, Accepted), decoded
    return decoded


def rejected(raw: dict[bytes, bytes]) -> str:
    decoded = decode_entry(ENTRY_ID, raw, 1)
    assert isinstance(decoded, Rejected), decoded
    return decoded.error


COMMIT = {
    "repo": "did:plc:abc",
    "rev": "3kabc",
    "time": "2024-01-01T00:00:00Z",
    "blocks": "ignored",
    "ops": [
        {"action": "create", "path": "app.bsky.feed.post/3k1", "cid": "bafyrei1", "record": {"text": "hi"}},
        {"action": "update", "path": "app.bsky.actor.profile/self", "cid": None, "record": None},
        {"action": "delete", "path": "app.bsky.feed.like/3k2"},
    ],
}


def test_commit_becomes_a_typed_event_with_its_ops_version_and_original_data() -> None:
    raw = fields("commit", COMMIT)
    decoded = accepted(raw, deliveries=3)
    event = decoded.event
    assert decoded.kind == "commit"
    assert isinstance(event, CommitEvent)
    assert (event.repo, event.rev, event.time) == ("did:plc:abc", "3kabc", "2024-01-01T00:00:00Z")
    assert (event.entry_id, event.seq, event.version, event.deliveries) == (ENTRY_ID, "42", 42, 3)
    assert event.data == raw[b"data"].decode()
    create, update, delete = event.ops
    assert (create.action, create.collection, create.rkey) == ("create", "app.bsky.feed.post", "3k1")
    assert (create.cid, create.record) == ("bafyrei1", {"text": "hi"})
    assert (update.cid, update.record) == (None, None)
    assert (delete.action, delete.collection, delete.rkey, delete.cid, delete.record) == (
        "delete",
        "app.bsky.feed.like",
        "3k2",
        None,
        None,
    )


def test_without_seq_the_version_is_the_entry_id() -> None:
    for seq in (None, ""):
        event = accepted(fields("commit", {"repo": "did:plc:abc", "ops": []}, seq=seq)).event
        assert event.seq == ""
        assert event.version == version_of(ENTRY_ID, "")


def test_identity_and_account_events() -> None:
    identity = accepted(fields("identity", {"did": "did:plc:abc", "handle": "alice.test"})).event
    assert isinstance(identity, IdentityEvent)
    assert (identity.did, identity.handle) == ("did:plc:abc", "alice.test")
    assert accepted(fields("identity", {"did": "did:plc:abc", "handle": None})).event.handle is None
    assert accepted(fields("identity", {"did": "did:plc:abc"})).event.handle is None

    account = accepted(
        fields("account", {"did": "did:plc:abc", "active": False, "status": "takendown"})
    ).event
    assert isinstance(account, AccountEvent)
    assert (account.did, account.active, account.status) == ("did:plc:abc", False, "takendown")
    assert accepted(fields("account", {"did": "did:plc:abc", "active": True})).event.status is None


def test_identifier_syntax_is_not_the_adapters_business() -> None:
    """Invalid DIDs, NSIDs and record keys pass the envelope; the planner dead-letters them."""
    event = accepted(
        fields("commit", {"repo": "not a did", "ops": [{"action": "delete", "path": "!!/??"}]})
    ).event
    assert event.repo == "not a did"
    assert (event.ops[0].collection, event.ops[0].rkey) == ("!!", "??")


def test_unknown_types_are_reported_not_rejected() -> None:
    assert decode_entry(ENTRY_ID, fields("labels", b"not even json"), 1) == Unknown("labels")
    assert decode_entry(ENTRY_ID, {b"type": b"sync"}, 1) == Unknown("sync")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({b"data": b"{}"}, "missing field type"),
        ({b"type": b"\xffcommit", b"data": b"{}"}, "type is not valid UTF-8"),
        ({b"type": b"commit"}, "missing field data"),
        (fields("commit", b'{"repo": "\xff"}'), "data is not valid UTF-8"),
        (fields("commit", b"{not json"), "data is not JSON"),
        (fields("commit", [1, 2]), "data must be a JSON object, got array"),
        (fields("commit", "text"), "data must be a JSON object, got string"),
        (fields("commit", {"repo": "did:plc:a", "ops": []}, seq=b"\xfe"), "seq is not valid UTF-8"),
        (fields("commit", {"repo": "did:plc:a", "ops": []}, seq="12a"), "seq must be a decimal number"),
        (fields("commit", {"repo": "did:plc:a", "ops": []}, seq="-1"), "seq must be a decimal number"),
        (fields("commit", {"ops": []}), "repo must be a string, got null"),
        (fields("commit", {"repo": 7, "ops": []}), "repo must be a string, got number"),
        (fields("commit", {"repo": "did:plc:a"}), "ops must be an array, got null"),
        (fields("commit", {"repo": "did:plc:a", "ops": {}}), "ops must be an array, got object"),
        (fields("commit", {"repo": "did:plc:a", "ops": ["x"]}), "ops[0] must be an object, got string"),
        (
            fields("commit", {"repo": "did:plc:a", "ops": [{"action": "upsert", "path": "a/b"}]}),
            "ops[0].action must be create, update or delete",
        ),
        (
            fields("commit", {"repo": "did:plc:a", "ops": [{"action": "delete", "path": 3}]}),
            "ops[0].path must be a string, got number",
        ),
        (
            fields("commit", {"repo": "did:plc:a", "ops": [{"action": "delete", "path": "a/b/c"}]}),
            "ops[0].path must be <collection>/<rkey>",
        ),
        (
            fields("commit", {"repo": "did:plc:a", "ops": [{"action": "delete", "path": "ab"}]}),
            "ops[0].path must be <collection>/<rkey>",
        ),
        (
            fields("commit", {"repo": "did:plc:a", "ops": [{"action": "create", "path": "a/b", "cid": "c"}]}),
            "ops[0].record is missing for create",
        ),
        (
            fields(
                "commit", {"repo": "did:plc:a", "ops": [{"action": "update", "path": "a/b", "record": {}}]}
            ),
            "ops[0].cid is missing for update",
        ),
        (
            fields(
                "commit",
                {"repo": "did:plc:a", "ops": [{"action": "create", "path": "a/b", "cid": 1, "record": {}}]},
            ),
            "ops[0].cid must be a string or null, got number",
        ),
        (
            fields(
                "commit",
                {"repo": "did:plc:a", "ops": [{"action": "create", "path": "a/b", "cid": "c", "record": []}]},
            ),
            "ops[0].record must be an object or null, got array",
        ),
        (fields("commit", {"repo": "did:plc:a", "ops": [], "rev": 5}), "rev must be a string or null"),
        (fields("commit", {"repo": "did:plc:a", "ops": [], "time": {}}), "time must be a string or null"),
        (fields("identity", {"handle": "a.test"}), "did must be a string, got null"),
        (
            fields("identity", {"did": "did:plc:a", "handle": 1}),
            "handle must be a string or null, got number",
        ),
        (fields("account", {"did": "did:plc:a"}), "active must be a boolean, got null"),
        (fields("account", {"did": "did:plc:a", "active": 1}), "active must be a boolean, got number"),
        (fields("account", {"active": True}), "did must be a string, got null"),
        (
            fields("account", {"did": "did:plc:a", "active": False, "status": 3}),
            "status must be a string or null, got number",
        ),
    ],
)
def test_envelope_violations_are_rejected_with_a_reason(raw: dict[bytes, bytes], error: str) -> None:
    assert rejected(raw).startswith(error)


def test_a_commit_without_ops_is_valid() -> None:
    assert accepted(fields("commit", {"repo": "did:plc:a", "ops": []})).event.ops == []


def test_records_built_without_init_equal_those_init_builds() -> None:
    """`envelope.build` skips faust.Record's generated `__init__`; the records must be the same."""
    op = {"action": "create", "collection": "c", "rkey": "r", "cid": "x", "record": {"a": 1}}
    common = {"entry_id": "1-1", "version": 1, "seq": "", "data": "{}", "deliveries": 2}
    cases: list[tuple[type, dict[str, object]]] = [
        (Op, op),
        (Op, {**op, "action": "delete", "cid": None, "record": None}),
        (CommitEvent, {**common, "repo": "r", "ops": [Op(**op)], "rev": None, "time": "t"}),
        (IdentityEvent, {**common, "did": "d", "handle": None}),
        (AccountEvent, {**common, "did": "d", "active": False, "status": "deleted"}),
    ]
    for cls, values in cases:
        fast, slow = build(cls, dict(values)), cls(**values)
        assert fast.__dict__ == slow.__dict__, cls
        assert fast == slow
        assert fast.asdict() == slow.asdict()
        assert set(values) == set(cls._options.fields), f"{cls.__name__} gained a field: build() needs it"
