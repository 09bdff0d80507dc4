"""The relay capture as stream entries: the entry format of DIRECTION §1 in both dialects, counts
that match the capture's manifest, and the decoders agreeing with the SDK and with Jetstream."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.capture import (
    capture_entries,
    cid_string,
    expected_events,
    expected_records,
    frames,
    manifest,
)


@pytest.fixture(scope="module", params=["lexicon", "sdk"])
def entries(request: pytest.FixtureRequest, fixtures_dir: Path) -> list[dict[str, str]]:
    return capture_entries(fixtures_dir, request.param)


def commit_ops(entries: list[dict[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    """(repo, op) of every commit op, in stream order."""
    out: list[tuple[str, dict[str, Any]]] = []
    for entry in entries:
        if entry["type"] == "commit":
            data = json.loads(entry["data"])
            out.extend((data["repo"], op) for op in data["ops"])
    return out


def blob_refs(value: Any) -> list[Any]:
    """The `ref` of every blob in a JSON value, whatever the dialect."""
    if isinstance(value, dict):
        own = [value["ref"]] if "blob" in (value.get("$type"), value.get("py_type")) else []
        return own + [ref for item in value.values() for ref in blob_refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in blob_refs(item)]
    return []


def test_frames_are_all_there(fixtures_dir: Path) -> None:
    assert len(frames(fixtures_dir)) == manifest(fixtures_dir)["frames"] == 150


def test_entry_counts_per_type_match_the_manifest(fixtures_dir: Path, entries: list[dict[str, str]]) -> None:
    expected = manifest(fixtures_dir)
    counts = Counter(entry["type"] for entry in entries)
    assert counts == {
        "commit": expected["commit_frames"],
        "identity": expected["identity"],
        "account": expected["account"],
    }
    actions = Counter(op["action"] for _, op in commit_ops(entries))
    assert actions == {
        "create": expected["creates"],
        "update": expected["updates"],
        "delete": expected["deletes"],
    }


def test_entries_have_the_stream_format(fixtures_dir: Path, entries: list[dict[str, str]]) -> None:
    expected = manifest(fixtures_dir)
    seqs = [int(entry["seq"]) for entry in entries]
    assert seqs == list(range(expected["seq_first"], expected["seq_last"] + 1))
    for entry in entries:
        assert set(entry) == {"type", "data", "seq"}
        assert all(isinstance(value, str) for value in entry.values())
        data = json.loads(entry["data"])
        if entry["type"] == "commit":
            assert isinstance(data["repo"], str) and isinstance(data["ops"], list)
            for op in data["ops"]:
                assert op["action"] in ("create", "update", "delete")
                collection, rkey = op["path"].split("/")
                assert collection and rkey
                if op["action"] == "delete":
                    assert set(op) == {"action", "path"}
                else:
                    assert set(op) == {"action", "path", "cid", "record"}
        elif entry["type"] == "identity":
            assert set(data) == {"did", "handle"}
        else:
            assert {"did", "active"} <= set(data) <= {"did", "active", "status"}


def test_the_sdk_dialect_is_the_readers(fixtures_dir: Path) -> None:
    entries = capture_entries(fixtures_dir, "sdk")
    commits = [json.loads(entry["data"]) for entry in entries if entry["type"] == "commit"]
    assert all(set(data) == {"repo", "ops"} for data in commits)
    records = [op["record"] for _, op in commit_ops(entries) if "record" in op]
    modelled = [record for record in records if "py_type" in record]
    assert modelled and all(record["$type"] == record["py_type"] for record in modelled)
    assert any("created_at" in record for record in modelled)
    hex_refs = [ref for record in records for ref in blob_refs(record)]
    assert len(hex_refs) == 6 and all(ref.startswith("01551220") for ref in hex_refs)
    unmodelled = [record for record in records if "py_type" not in record]
    assert [record["$type"] for record in unmodelled] == ["fm.teal.alpha.actor.status"]
    account = next(json.loads(entry["data"]) for entry in entries if entry["type"] == "account")
    assert "status" not in account  # the reader drops it


def test_the_lexicon_dialect_carries_rev_time_and_account_status(fixtures_dir: Path) -> None:
    entries = capture_entries(fixtures_dir, "lexicon")
    commits = [json.loads(entry["data"]) for entry in entries if entry["type"] == "commit"]
    assert all({"rev", "time"} <= set(data) for data in commits)
    jetstream_account = next(event for event in expected_events(fixtures_dir) if event["kind"] == "account")
    account = next(json.loads(entry["data"]) for entry in entries if entry["type"] == "account")
    assert account["active"] == jetstream_account["account"]["active"]
    assert account.get("status") == jetstream_account["account"].get("status")


def test_identity_matches_jetstream(fixtures_dir: Path, entries: list[dict[str, str]]) -> None:
    jetstream = next(event for event in expected_events(fixtures_dir) if event["kind"] == "identity")
    identity = next(entry for entry in entries if entry["type"] == "identity")
    data = json.loads(identity["data"])
    assert data == {"did": jetstream["identity"]["did"], "handle": jetstream["identity"].get("handle")}
    assert int(identity["seq"]) == jetstream["identity"]["seq"]


def test_every_jetstream_op_is_in_the_capture_with_its_cid(
    fixtures_dir: Path, entries: list[dict[str, str]]
) -> None:
    ops = {(repo, op["path"], op["action"]): op for repo, op in commit_ops(entries)}
    expected = expected_records(fixtures_dir)
    assert len(expected) == len(ops) == 150
    for jetstream in expected:
        op = ops[(jetstream.did, f"{jetstream.collection}/{jetstream.rkey}", jetstream.operation)]
        assert op.get("cid") == jetstream.cid


def test_cid_string() -> None:
    binary = bytes.fromhex("0155122012fbae18fa56950c6109936c1ee20188e2720edf96dd22b9b7c6c9e05e2bcad1")
    assert cid_string(binary) == "bafkreias7oxbr6swsuggccmtnqpoeami4jza5x4w3urltn6gzhqf4k6k2e"


def test_capture_entries_are_fresh_copies(fixtures_dir: Path) -> None:
    first = capture_entries(fixtures_dir, "lexicon")
    first[0]["type"] = "changed"
    assert capture_entries(fixtures_dir, "lexicon")[0]["type"] != "changed"
