"""The normaliser on real data: both dialects of a relay capture give Jetstream's records.

The lexicon dialect must come out exactly as production Jetstream served it. The SDK dialect
must too, except for what it cannot carry (see app/records/normalise.py): a `$type` that an
author wrote on an object that needs none — the capture holds one, on an
`app.bsky.embed.external#external` — so Jetstream's side is compared without those.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.records.normalise import UNTYPED_DEFS, to_lexicon
from tests.support.capture import Dialect, JetstreamOp, capture_entries, expected_records


def records_by_op(fixtures_dir: Path, dialect: Dialect) -> dict[tuple[str, str, str], Any]:
    out: dict[tuple[str, str, str], Any] = {}
    for entry in capture_entries(fixtures_dir, dialect):
        if entry["type"] != "commit":
            continue
        data = json.loads(entry["data"])
        for op in data["ops"]:
            if op["action"] != "delete":
                out[(data["repo"], op["path"], op["action"])] = op.get("record")
    return out


def without_redundant_types(value: Any, top: bool = True) -> Any:
    """Jetstream's record as the SDK dialect can carry it: no `$type` on untyped definitions."""
    if isinstance(value, dict):
        return {
            key: without_redundant_types(item, False)
            for key, item in value.items()
            if not (key == "$type" and not top and item in UNTYPED_DEFS)
        }
    if isinstance(value, list):
        return [without_redundant_types(item, False) for item in value]
    return value


def creates_and_updates(fixtures_dir: Path) -> list[JetstreamOp]:
    ops = [op for op in expected_records(fixtures_dir) if op.record is not None]
    assert len(ops) == 146
    return ops


@pytest.mark.parametrize("dialect", ["lexicon", "sdk"])
def test_capture_normalises_to_jetstreams_records(fixtures_dir: Path, dialect: Dialect) -> None:
    captured = records_by_op(fixtures_dir, dialect)
    mismatches = []
    for op in creates_and_updates(fixtures_dir):
        record = captured[(op.did, f"{op.collection}/{op.rkey}", op.operation)]
        expected = op.record if dialect == "lexicon" else without_redundant_types(op.record)
        if to_lexicon(record) != expected:
            mismatches.append((op.collection, op.rkey))
    assert mismatches == []


def test_lexicon_dialect_records_are_returned_as_they_are(fixtures_dir: Path) -> None:
    for record in records_by_op(fixtures_dir, "lexicon").values():
        assert to_lexicon(record) is record


def test_the_sdk_dialect_loses_only_the_redundant_type(fixtures_dir: Path) -> None:
    """Pins the one place where the capture shows the SDK dialect's loss, so it stays known."""
    lossy = [
        op for op in creates_and_updates(fixtures_dir) if without_redundant_types(op.record) != op.record
    ]
    assert [(op.collection, json.dumps(op.record).count("#external")) for op in lossy] == [
        ("app.bsky.actor.status", 1)
    ]
