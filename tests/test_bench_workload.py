"""The benchmark's workload generator (bench/workload.py): format, determinism, mix, SDK dialect, model.

Only the generator is tested here; benchmark figures are printed by `make bench`, never asserted.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import redis

from app.records.syntax import is_cid, is_datetime, is_did, is_tid
from bench.model import Model, Record
from bench.sdk import SdkDialect
from bench.workload import (
    LIKE,
    POST,
    Op,
    Workload,
    lexicon_commit_data,
    push,
    sdk_commit_data,
)
from tests.support.dialects import sdk_dump, sdk_json


def _data(fields: dict[str, Any]) -> Any:
    """The entry's decoded `data`, or None for an entry malformed below that level."""
    raw = fields.get("data")
    try:
        return json.loads(raw if isinstance(raw, str) else raw.decode())
    except (AttributeError, UnicodeDecodeError, json.JSONDecodeError):
        return None


@pytest.fixture(scope="module")
def lexicon_workload() -> tuple[Workload, list[dict[str, Any]]]:
    workload = Workload(12_000, "lexicon", seed=7)
    return workload, list(workload.entries())


def test_same_seed_same_entries_and_totals() -> None:
    first, second = Workload(3_000, "sdk", seed=3), Workload(3_000, "sdk", seed=3)
    assert list(first.entries()) == list(second.entries())
    assert first.expected() == second.expected()
    assert list(Workload(3_000, "sdk", seed=4).entries()) != list(Workload(3_000, "sdk", seed=3).entries())


def test_entries_follow_the_stream_contract(lexicon_workload: tuple[Workload, list[dict[str, Any]]]) -> None:
    """`type`, `data` (a JSON object), decimal `seq`; DIDs, TIDs, CIDs and datetimes valid, except in the
    deliberately malformed entries and ops."""
    workload, entries = lexicon_workload
    assert len(entries) == 12_000
    bad_entries = bad_ops = 0
    for fields in entries:
        data = _data(fields)
        if not fields["seq"].isdigit() or not isinstance(data, dict):
            bad_entries += 1
            continue
        if fields["type"] != "commit":
            continue
        if not is_did(data["repo"]) or not isinstance(data["ops"], list) or not is_tid(str(data.get("rev"))):
            bad_entries += 1
            continue
        assert is_datetime(data["time"])
        bad_ops += sum(not _valid_op(op) for op in data["ops"])
    kinds = workload.counts
    assert 0 < bad_entries <= kinds["malformed_entry"]
    assert 0 < bad_ops <= kinds["malformed_op"] + kinds["malformed_entry"]
    assert sum(kinds.values()) - kinds["malformed_op"] == 12_000


def test_duplicates_repeat_only_valid_entries() -> None:
    """A duplicate must change nothing: no malformed entry, and no commit holding a bad op, is repeated
    (each delivery of a bad op is one more dead letter, which the expected totals do not count)."""
    workload = Workload(30_000, "lexicon", seed=1)
    entries = list(workload.entries())  # kept alive: a duplicate is the very same object again
    seen: set[int] = set()
    repeated = []
    for fields in entries:
        if id(fields) in seen:
            repeated.append(fields)
        seen.add(id(fields))
    assert len(repeated) == workload.counts["duplicate"] > 0
    for fields in repeated:
        data = _data(fields)
        assert fields["seq"].isdigit() and isinstance(data, dict)
        if fields["type"] == "commit":
            assert is_did(data["repo"]) and all(_valid_op(op) for op in data["ops"])
            assert all(len(str(op.get("record", {}).get("text", ""))) <= 300 for op in data["ops"])


def _valid_op(op: Any) -> bool:
    if not isinstance(op, dict) or op.get("action") not in ("create", "update", "delete"):
        return False
    collection, _, rkey = str(op.get("path")).partition("/")
    if not (is_tid(rkey) or rkey == "self" or rkey.startswith("feed-")):
        return False
    if op["action"] == "delete":
        return True
    record = op.get("record")
    if not isinstance(record, dict) or record.get("$type") != collection or not is_cid(str(op.get("cid"))):
        return False
    if "createdAt" in record and not is_datetime(str(record["createdAt"])):
        return False
    subject = record.get("subject")
    if isinstance(subject, dict):
        return is_cid(str(subject.get("cid"))) and is_did(
            str(subject.get("uri")).removeprefix("at://").split("/")[0]
        )
    return not isinstance(subject, str) or not subject.startswith("did:") or is_did(subject)


def test_mix_is_within_the_published_ranges(lexicon_workload: tuple[Workload, list[dict[str, Any]]]) -> None:
    workload, entries = lexicon_workload
    ops = workload.op_counts
    total = sum(ops.values())
    share = {name: count / total for name, count in ops.items()}
    assert 0.45 <= share[LIKE] <= 0.56
    assert 0.10 <= share["app.bsky.graph.follow"] <= 0.20
    assert 0.11 <= share[POST] <= 0.13
    assert 0.06 <= share["app.bsky.feed.repost"] <= 0.10
    assert 0.02 <= share["delete"] <= 0.06
    kinds = workload.counts
    assert (kinds["identity"] + kinds["account"]) / len(entries) < 0.02
    assert 0.002 <= kinds["duplicate"] / len(entries) <= 0.01
    assert 0.002 <= (kinds["malformed_entry"] + kinds["malformed_op"]) / len(entries) <= 0.01
    posts = [
        op["record"]
        for fields in entries
        if fields["type"] == "commit" and fields["seq"].isdigit()
        for op in _ops(fields)
        if op["path"].startswith(f"{POST}/") and isinstance(op.get("record"), dict)
    ]
    replies = sum("reply" in post for post in posts) / len(posts)
    assert 0.25 <= replies <= 0.42
    embeds = Counter(post["embed"]["$type"] for post in posts if "embed" in post)
    assert {"app.bsky.embed.images", "app.bsky.embed.external", "app.bsky.embed.record"} <= set(embeds)
    assert "app.bsky.embed.recordWithMedia" in embeds


def _ops(fields: dict[str, Any]) -> list[dict[str, Any]]:
    data = _data(fields)
    ops = data.get("ops") if isinstance(data, dict) else None
    return [op for op in ops if isinstance(op, dict) and "path" in op] if isinstance(ops, list) else []


def test_sdk_dialect_is_exactly_what_the_reader_writes(
    lexicon_workload: tuple[Workload, list[dict[str, Any]]],
) -> None:
    """Template-filled SDK text equals the SDK's own dump, record by record and commit by commit."""
    _, entries = lexicon_workload
    sdk = SdkDialect()
    compared = 0
    for fields in entries[:3_000]:
        if fields["type"] != "commit":
            continue
        data = _data(fields) if fields["seq"].isdigit() else None
        if not isinstance(data, dict) or not isinstance(data.get("ops"), list):
            continue
        ops = [Op(op["action"], op["path"], op.get("cid"), op.get("record")) for op in _ops(fields)]
        if len(ops) != len(data["ops"]):
            continue
        records = [op.record for op in ops if op.action != "delete" and isinstance(op.record, dict)]
        try:
            dumped = [sdk_dump(record) for record in records]
        except ValueError:
            continue  # a malformed record the SDK refuses
        reader_ops = []
        for op in ops:
            op_data: dict[str, Any] = {"action": op.action, "path": op.path}
            if op.action != "delete":
                op_data["cid"] = op.cid
                op_data["record"] = dumped.pop(0) if isinstance(op.record, dict) else op.record
            reader_ops.append(op_data)
        assert sdk_commit_data(sdk, data["repo"], ops) == sdk_json({"repo": data["repo"], "ops": reader_ops})
        compared += len(records)
    assert compared > 2_000
    assert sdk.shapes < compared  # templates are shared, not one per record


def test_lexicon_commit_data_round_trips() -> None:
    ops = [
        Op("create", f"{LIKE}/3kabcdefghijk", "bafyreib", {"$type": LIKE, "createdAt": "x"}),
        Op("delete", f"{LIKE}/3kabcdefghijl"),
    ]
    data = json.loads(lexicon_commit_data("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "3kabcdefghijm", "t", ops))
    assert data["ops"][0]["record"] == {"$type": LIKE, "createdAt": "x"}
    assert data["ops"][1] == {"action": "delete", "path": f"{LIKE}/3kabcdefghijl"}


def test_model_counts_a_pair_once_and_promotes_the_second() -> None:
    model = Model()
    effects = (("app.bsky.feed.like", None), ("like_count", "at://p"))
    model.create(1, Record("did:a", f"{LIKE}/1", effects, (LIKE, "did:a", "at://p")))
    model.create(2, Record("did:a", f"{LIKE}/2", effects, (LIKE, "did:a", "at://p")))
    assert model.totals["like_count"] == 1
    model.delete(1)
    assert model.totals["like_count"] == 1 and model.totals["like_count_sq"] == 1
    model.create(3, Record("did:b", f"{LIKE}/3", effects, (LIKE, "did:b", "at://p")))
    assert model.totals["like_count_sq"] == 4
    assert model.purge("did:a") == 1
    assert model.totals["like_count"] == 1 and model.totals["app.bsky.feed.like"] == 1


def test_deleted_accounts_only_in_the_lexicon_dialect() -> None:
    """The Python reader drops `status`, so an SDK-dialect stream never deletes an account."""
    lexicon, sdk = Workload(20_000, "lexicon", seed=2), Workload(20_000, "sdk", seed=2)
    for workload in (lexicon, sdk):
        for _ in workload.entries():
            pass
    assert lexicon.expected()["deleted_accounts"] > 0
    assert sdk.expected()["deleted_accounts"] == 0


def test_push_adds_every_entry_untrimmed(servers: Any, redis_prefix: str) -> None:
    client = redis.Redis.from_url(servers.redis_url)
    try:
        stream = f"{redis_prefix}bench"
        entries = list(Workload(700, "sdk", seed=5).entries())
        report = push(client, stream, entries, chunk=250)
        assert report.entries == 700
        stored = client.xrange(stream)
        assert len(stored) == 700
        first = {key.decode(): value for key, value in stored[0][1].items()}
        expected = {
            key: value if isinstance(value, bytes) else value.encode() for key, value in entries[0].items()
        }
        assert first == expected
    finally:
        client.close()
