"""app.firehose.translate on single messages: what each frame or Jetstream event becomes."""

from __future__ import annotations

import orjson

from app.firehose.translate import jetstream_event, relay_frame
from tests.support.fake_relay import commit_frame, error_frame
from tests.support.fake_relay import relay_frame as frame

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def data(translated, index: int = 0) -> dict:
    return orjson.loads(translated.entries[index].data)


def test_commit_with_a_delete_and_a_create() -> None:
    record = {
        "$type": "app.bsky.feed.like",
        "createdAt": "2026-07-04T14:40:00.000Z",
        "subject": {"uri": "at://x", "cid": "y"},
    }
    translated = relay_frame(
        commit_frame(
            7,
            DID,
            "3mptbzzzzzz2a",
            [("delete", "app.bsky.feed.like/1", None), ("create", "app.bsky.feed.like/2", record)],
        )
    )
    assert translated.dead_letter is None and translated.cursor == 7
    entry = translated.entries[0]
    assert (entry.type, entry.seq) == ("commit", "7")
    ops = data(translated)["ops"]
    assert ops[0] == {"action": "delete", "path": "app.bsky.feed.like/1"}
    assert ops[1]["record"] == record and ops[1]["cid"].startswith("bafyrei")
    assert {"repo", "rev", "since", "time"} <= set(data(translated))


def test_identity_and_account() -> None:
    identity = relay_frame(frame("#identity", {"seq": 5, "did": DID, "time": "2026-07-04T14:38:07.877Z"}))
    assert data(identity) == {"did": DID, "handle": None, "time": "2026-07-04T14:38:07.877Z", "seq": 5}
    account = relay_frame(
        frame(
            "#account",
            {"seq": 6, "did": DID, "active": False, "status": "takendown", "time": "2026-07-04T14:38:07Z"},
        )
    )
    assert data(account) == {
        "did": DID,
        "active": False,
        "status": "takendown",
        "time": "2026-07-04T14:38:07Z",
        "seq": 6,
    }
    assert relay_frame(frame("#account", {"seq": 6, "did": DID, "active": "yes"})).dead_letter


def test_notices_and_unknown_frames() -> None:
    assert relay_frame(error_frame("ConsumerTooSlow", "bye")).notice.kind == "error"
    info = relay_frame(frame("#info", {"name": "OutdatedCursor"})).notice
    assert (info.kind, info.name) == ("info", "OutdatedCursor")
    unknown = relay_frame(frame("#tombstone", {"seq": 9, "did": DID}))
    assert (unknown.entries, unknown.cursor, unknown.notice.kind) == ([], 9, "unknown")
    assert relay_frame(frame("#identity", {"did": DID})).dead_letter  # no seq
    assert relay_frame(b"\xa2bopbt").dead_letter


def test_jetstream_events() -> None:
    delete = jetstream_event(
        b'{"did":"%s","time_us":17,"kind":"commit","commit":{"rev":"3m","operation":"delete",'
        b'"collection":"app.bsky.graph.follow","rkey":"3x"}}' % DID.encode()
    )
    assert delete.cursor == 17 and delete.entries[0].seq == ""
    assert data(delete) == {
        "repo": DID,
        "rev": "3m",
        "ops": [{"action": "delete", "path": "app.bsky.graph.follow/3x"}],
    }
    account = jetstream_event(
        b'{"did":"%s","time_us":18,"kind":"account","account":{"active":false,"did":"%s","seq":4,'
        b'"status":"deleted","time":"t"}}' % (DID.encode(), DID.encode())
    )
    assert data(account) == {"did": DID, "active": False, "status": "deleted", "time": "t", "seq": 4}
    assert jetstream_event(b"{not json").dead_letter
    assert jetstream_event(b'{"kind":"commit"}').dead_letter  # no time_us
    assert jetstream_event(b'{"time_us":1,"kind":"later"}').notice.kind == "unknown"
