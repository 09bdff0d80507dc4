"""Typed events for indexing tests, built the way the source adapter builds them."""

from __future__ import annotations

import itertools
import json
from typing import Any

from app.events import AccountEvent, CommitEvent, IdentityEvent, Op

_entry_ids = itertools.count(1)

DID_A = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
DID_B = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
DID_C = "did:plc:cccccccccccccccccccccccc"
CID_1 = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
CID_2 = "bafyreif6n7x4p6ys2t5xkkjzvbspyfmqvmvh7zvn2mw6r3kv2u5wxhk4b4"
BLOB_CID = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"


def uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def op(action: str, collection: str, rkey: str, record: dict[str, Any] | None = None, cid: str = CID_1) -> Op:
    if action == "delete":
        return Op(action="delete", collection=collection, rkey=rkey)
    return Op(action=action, collection=collection, rkey=rkey, cid=cid, record=record)


def commit(repo: str, ops: list[Op], version: int) -> CommitEvent:
    entry = next(_entry_ids)
    data = json.dumps(
        {
            "repo": repo,
            "ops": [
                {"action": o.action, "path": f"{o.collection}/{o.rkey}", "cid": o.cid, "record": o.record}
                for o in ops
            ],
        }
    )
    return CommitEvent(
        entry_id=f"{entry}-0", version=version, seq=str(version), data=data, deliveries=1, repo=repo, ops=ops
    )


def identity(did: str, handle: str | None, version: int) -> IdentityEvent:
    data = json.dumps({"did": did, "handle": handle})
    entry = next(_entry_ids)
    return IdentityEvent(
        entry_id=f"{entry}-0",
        version=version,
        seq=str(version),
        data=data,
        deliveries=1,
        did=did,
        handle=handle,
    )


def account(did: str, active: bool, status: str | None, version: int) -> AccountEvent:
    data = json.dumps({"did": did, "active": active, "status": status})
    entry = next(_entry_ids)
    return AccountEvent(
        entry_id=f"{entry}-0",
        version=version,
        seq=str(version),
        data=data,
        deliveries=1,
        did=did,
        active=active,
        status=status,
    )


def post_record(
    text: str = "hello", created_at: str = "2024-05-01T12:00:00.000Z", **extra: Any
) -> dict[str, Any]:
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": created_at, **extra}


def strong_ref(target: str, cid: str = CID_2) -> dict[str, str]:
    return {"uri": target, "cid": cid}


def like_record(subject: str, created_at: str = "2024-05-01T12:00:00.000Z") -> dict[str, Any]:
    return {"$type": "app.bsky.feed.like", "subject": strong_ref(subject), "createdAt": created_at}


def repost_record(subject: str, created_at: str = "2024-05-01T12:00:00.000Z") -> dict[str, Any]:
    return {"$type": "app.bsky.feed.repost", "subject": strong_ref(subject), "createdAt": created_at}


def follow_record(subject: str, created_at: str = "2024-05-01T12:00:00.000Z") -> dict[str, Any]:
    return {"$type": "app.bsky.graph.follow", "subject": subject, "createdAt": created_at}


def block_record(subject: str, created_at: str = "2024-05-01T12:00:00.000Z") -> dict[str, Any]:
    return {"$type": "app.bsky.graph.block", "subject": subject, "createdAt": created_at}
