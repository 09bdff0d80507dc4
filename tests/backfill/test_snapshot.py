"""Snapshots built from known records: contents, changes between two snapshots, and every kind
of broken archive with its typed error."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest

from app.backfill.errors import BadMstNode, CommitMismatch, CorruptCar, MissingBlock
from app.backfill.snapshot import RejectedRecord, RepoRecord, RepoSnapshot
from app.codec.dagcbor import cid_string
from tests.support.repos import (
    build_repo,
    build_repo_from_blocks,
    encode,
    height,
    random_did,
    raw_block,
    sample_records,
    tid,
)

DID = random_did(7)


def write(tmp_path: Path, data: bytes, name: str = "repo.car") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def records_of(path: Path, did: str = DID) -> list[RepoRecord | RejectedRecord]:
    with RepoSnapshot(path, did) as snapshot:
        return list(snapshot.records())


def test_several_collections_round_trip(tmp_path: Path):
    records = sample_records(DID, 500, seed=1)
    records["app.bsky.feed.post/3kzzzzzzzzzz2"] = {
        "$type": "app.bsky.feed.post",
        "text": "with an image",
        "createdAt": "2024-02-01T00:00:00.000Z",
        "embed": {
            "$type": "app.bsky.embed.images",
            "images": [
                {
                    "alt": "",
                    "image": {
                        "$type": "blob",
                        "ref": {"$link": "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},
                        "mimeType": "image/jpeg",
                        "size": 1234,
                    },
                }
            ],
        },
    }
    repo = build_repo(DID, records, rev="3kbbbbbbbbbb2")
    path = repo.write(tmp_path / "repo.car")
    with RepoSnapshot(path, DID) as snapshot:
        assert snapshot.commit.rev == "3kbbbbbbbbbb2"
        assert snapshot.commit.cid == repo.commit_cid
        assert snapshot.commit.data == repo.data_cid
        items = list(snapshot.records())
    assert [item.path for item in items] == sorted(records)
    assert {item.path: item.record for item in items} == records
    assert {item.path: item.cid for item in items} == repo.record_cids
    assert len({item.collection for item in items}) == 5


def test_empty_repository(tmp_path: Path):
    path = build_repo(DID, {}).write(tmp_path / "empty.car")
    assert records_of(path) == []


def test_two_snapshots_with_updates_and_deletions(tmp_path: Path):
    first = sample_records(DID, 300, seed=2)
    second = dict(first)
    deleted = sorted(first)[10:40]
    for path in deleted:
        del second[path]
    updated = [p for p in sorted(second) if p.startswith("app.bsky.feed.post/")][:5]
    for path in updated:
        second[path] = {**second[path], "text": "edited"}
    block = {"$type": "app.bsky.graph.block", "subject": DID, "createdAt": "2024-03-01T00:00:00.000Z"}
    added = {f"app.bsky.graph.block/3kcccccccc{i}22": block for i in range(2, 7)}
    second.update(added)

    old = {i.path: i for i in records_of(build_repo(DID, first, "3kaaaaaaaaaa2").write(tmp_path / "a.car"))}
    new = {i.path: i for i in records_of(build_repo(DID, second, "3kaaaaaaaab22").write(tmp_path / "b.car"))}
    assert sorted(set(old) - set(new)) == deleted
    assert sorted(set(new) - set(old)) == sorted(added)
    changed = sorted(p for p in set(old) & set(new) if old[p].cid != new[p].cid)
    assert changed == sorted(updated)
    assert all(new[p].record["text"] == "edited" for p in updated)


# --- records that do not decode ---------------------------------------------------------------------


def test_an_undecodable_record_is_rejected_alone(tmp_path: Path):
    blocks = {path: encode(rec, atjson=True) for path, rec in sample_records(DID, 50, seed=3).items()}
    bad_cbor = "app.bsky.feed.post/3kbadbadbad22"
    not_a_map = "app.bsky.feed.post/3kbadbadbae22"
    blocks[bad_cbor] = raw_block(b"\xff\x00garbage")
    blocks[not_a_map] = encode([1, 2, 3])
    path = build_repo_from_blocks(DID, blocks).write(tmp_path / "repo.car")
    items = records_of(path)
    rejected = {item.path: item for item in items if isinstance(item, RejectedRecord)}
    assert set(rejected) == {bad_cbor, not_a_map}
    assert "not DAG-CBOR" in rejected[bad_cbor].error
    assert rejected[not_a_map].error == "record is not a map"
    assert sum(isinstance(item, RepoRecord) for item in items) == 50
    assert [item.path for item in items] == sorted(blocks)


# --- broken archives --------------------------------------------------------------------------------


def test_truncated_and_garbage_archives(tmp_path: Path):
    car = build_repo(DID, sample_records(DID, 100)).car()
    with pytest.raises(CorruptCar, match="runs past the end"):
        RepoSnapshot(write(tmp_path, car[: len(car) - 10]), DID)
    with pytest.raises(CorruptCar, match="CAR header"):
        RepoSnapshot(write(tmp_path, b"\x05hello world"), DID)
    with pytest.raises(CorruptCar, match="no CAR header"):
        RepoSnapshot(write(tmp_path, b""), DID)


def test_a_record_block_that_does_not_hash_to_its_cid(tmp_path: Path):
    repo = build_repo(DID, sample_records(DID, 100))
    target = next(iter(repo.record_cids.values()))
    blocks = [
        (cid, data[:-1] + bytes([data[-1] ^ 1]) if cid_string(cid) == target else data)
        for cid, data in repo.blocks
    ]
    path = write(tmp_path, repo.car(blocks=blocks))
    with pytest.raises(CorruptCar, match="does not hash to its CID"):
        records_of(path)


def test_missing_blocks(tmp_path: Path):
    repo = build_repo(DID, sample_records(DID, 200))
    record = next(iter(repo.record_cids.values()))
    node = next(iter(repo.mst_cids - {repo.data_cid}))
    for missing in (record, node):
        blocks = [(cid, data) for cid, data in repo.blocks if cid_string(cid) != missing]
        with pytest.raises(MissingBlock, match=missing):
            records_of(write(tmp_path, repo.car(blocks=blocks)))


def test_root_that_is_not_the_commit(tmp_path: Path):
    repo = build_repo(DID, sample_records(DID, 20))
    record_cid = next(cid for cid, _ in repo.blocks[1:] if cid_string(cid) in repo.record_cids.values())
    with pytest.raises(CommitMismatch, match="has no valid 'did'"):
        RepoSnapshot(write(tmp_path, repo.car(roots=[record_cid])), DID)
    with pytest.raises(CommitMismatch, match="has no root"):
        RepoSnapshot(write(tmp_path, repo.car(roots=[])), DID)
    with pytest.raises(CommitMismatch, match="is not in the CAR"):
        RepoSnapshot(write(tmp_path, repo.car(blocks=repo.blocks[1:])), DID)
    other = random_did(8)
    with pytest.raises(CommitMismatch, match=f"is of {DID}, not of {other}"):
        RepoSnapshot(repo.write(tmp_path / "ok.car"), other)


def car_with_root_node(tmp_path: Path, root: object, node_data: bytes, *extra: tuple[object, bytes]) -> Path:
    """A CAR whose commit points at the MST node `node_data` (stored under the CID `root`)."""
    commit = {"did": DID, "version": 3, "data": root, "rev": "3kaaaaaaaaaa2", "prev": None, "sig": bytes(64)}
    commit_cid, commit_data = encode(commit)
    blocks = [(bytes(commit_cid), commit_data), (bytes(root), node_data)]  # type: ignore[call-overload]
    blocks += [(bytes(cid), data) for cid, data in extra]  # type: ignore[call-overload]
    return write(tmp_path, build_repo(DID, {}).car(roots=[bytes(commit_cid)], blocks=blocks))


def test_bad_mst_nodes(tmp_path: Path):
    value, record = encode(
        {"$type": "app.bsky.feed.like", "createdAt": "2024-01-01T00:00:00.000Z"}, atjson=True
    )

    def with_root(node: object) -> Path:
        return car_with_root_node(tmp_path, *encode(node), (value, record))

    # Two keys of layer 0, in the wrong order.
    a, b = [key.encode() for key in (f"app.bsky.feed.like/{tid(i)}" for i in range(50)) if height(key) == 0][
        :2
    ]
    out_of_order = {
        "l": None,
        "e": [{"p": 0, "k": b, "v": value, "t": None}, {"p": 0, "k": a, "v": value, "t": None}],
    }
    with pytest.raises(BadMstNode, match="out of order"):
        records_of(with_root(out_of_order))
    with pytest.raises(BadMstNode, match="exactly 'l' and 'e'"):
        records_of(with_root({"e": []}))
    with pytest.raises(BadMstNode, match="prefix length"):
        records_of(with_root({"l": None, "e": [{"p": 3, "k": a, "v": value, "t": None}]}))
    with pytest.raises(BadMstNode, match="not <collection>/<record key>"):
        records_of(with_root({"l": None, "e": [{"p": 0, "k": b"no-slash", "v": value, "t": None}]}))
    with pytest.raises(BadMstNode, match="not DAG-CBOR"):
        records_of(car_with_root_node(tmp_path, *raw_block(b"\xa1")))


# --- memory -----------------------------------------------------------------------------------------


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_large_repository_is_walked_with_bounded_memory(tmp_path: Path):
    did = random_did(9)
    path = build_repo(did, sample_records(did, 50_000, seed=9)).write(tmp_path / "large.car")
    gc.collect()
    before = rss_kb()
    peak = before
    count = 0
    started = time.perf_counter()
    with RepoSnapshot(path, did) as snapshot:
        index_kb = snapshot.car.index_bytes // 1024
        for item in snapshot.records():
            assert isinstance(item, RepoRecord)
            count += 1
            if count % 2_000 == 0:
                peak = max(peak, rss_kb())
    elapsed = time.perf_counter() - started
    assert count == 50_000
    growth_mb = (peak - before) / 1024
    print(
        f"\n50,000 records, CAR {path.stat().st_size / 1e6:.1f} MB: index {index_kb} KB, "
        f"RSS growth {growth_mb:.1f} MB, {count / elapsed:,.0f} records/s"
    )
    assert growth_mb < 100
