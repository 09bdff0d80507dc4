"""The MST builder of tests/support against the interop fixtures, and every fixture CAR walked
with its outcome pinned."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.backfill.carfile import CarFile
from app.backfill.errors import MissingBlock, UnsupportedRepoVersion
from app.backfill.mst import key_height, walk
from app.backfill.snapshot import RepoRecord, RepoSnapshot
from app.codec.dagcbor import decode_raw
from tests.support.repos import build_mst, common_prefix_length, height, raw_block


@pytest.fixture(scope="module")
def mst_dir(fixtures_dir: Path) -> Path:
    path = fixtures_dir / "atproto-interop-tests" / "mst"
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    return path


def test_key_heights_of_the_builder_and_the_walker(mst_dir: Path):
    cases = json.loads((mst_dir / "key_heights.json").read_text())
    assert len(cases) == 9
    for case in cases:
        assert height(case["key"]) == case["height"], case
        assert key_height(case["key"]) == case["height"], case


def test_common_prefix(mst_dir: Path):
    for case in json.loads((mst_dir / "common_prefix.json").read_text()):
        assert common_prefix_length(case["left"].encode(), case["right"].encode()) == case["len"], case


def _raw_walk(blocks: dict[str, bytes], cid: str, out: list[tuple[str, int]]) -> int:
    """Keys in order with the layer of the node holding them; returns the node's layer."""
    node = decode_raw(blocks[cid])
    previous = b""
    layers = set()
    if node["l"]:
        _raw_walk(blocks, node["l"], out)
    for entry in node["e"]:
        key = previous[: entry["p"]] + entry["k"]
        previous = key
        out.append((key.decode(), key_height(key)))
        layers.add(key_height(key))
        if entry["t"]:
            _raw_walk(blocks, entry["t"], out)
    assert len(layers) <= 1, "one layer per node"
    return layers.pop() if layers else -1


def test_builder_lays_out_the_example_keys(mst_dir: Path):
    keys = [line for line in (mst_dir / "example_keys.txt").read_text().split() if line]
    assert len(keys) == 156
    value, _ = raw_block(b"\xa0")
    root, nodes = build_mst(dict.fromkeys(keys, value))
    blocks = {cid.encode(): data for cid, data in nodes}
    out: list[tuple[str, int]] = []
    top = _raw_walk(blocks, root.encode(), out)
    assert [key for key, _ in out] == sorted(keys)
    assert top == max(key_height(key) for key in keys)


# --- fixture CARs -----------------------------------------------------------------------------------


def test_jetstream_repo_walks_to_its_expected_listing(fixtures_dir: Path):
    base = fixtures_dir / "jetstream" / "internal" / "corpus" / "testdata"
    expected = [line.split("\t") for line in (base / "car_expected_records.tsv").read_text().splitlines()]
    commit_text = dict(
        line.split(": ", 1) for line in (base / "car_expected_commit.txt").read_text().splitlines()
    )
    did = commit_text["DID"]
    with RepoSnapshot(base / "repo.car", did) as snapshot:
        items = list(snapshot.records())
        commit = snapshot.commit
    assert all(isinstance(item, RepoRecord) for item in items)
    assert [[item.path, item.cid] for item in items] == expected
    assert len(items) == 23
    assert commit.did == did
    assert commit.data == commit_text["Data CID"]
    assert commit.rev == commit_text["Revision"]
    assert commit.version == int(commit_text["ATProto Repo Spec Version"])
    assert commit.prev is None and commit_text["Prev CID"] == "<nil>"
    profile = next(item for item in items if item.collection == "app.bsky.actor.profile")
    assert profile.record["$type"] == "app.bsky.actor.profile"


INDIGO = "indigo/testing/testdata"
# Version 3 repositories: records per collection from RepoSnapshot.
SNAPSHOTS = {
    f"{INDIGO}/greenground.repo.car": ("did:plc:kzcqyc3unb33eh5sxzsfs25z", {"app.bsky.graph.follow": 2}),
    "rsky/rsky-repo/resources/test/valid_repo.car": (
        "did:plc:r7fdhqmw3h2cifeakw5hmvy6",
        {"app.bsky.actor.profile": 1, "app.bsky.feed.post": 4, "app.bsky.graph.follow": 1},
    ),
}
# Version 2 repositories (no rev): refused as snapshots; their trees still walk, pinned here.
VERSION_2 = {
    f"{INDIGO}/bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car": {
        "app.bsky.actor.profile": 1,
        "app.bsky.feed.post": 5,
    },
    f"{INDIGO}/divy.repo": {"app.bsky.graph.follow": 5, "app.bsky.system.declaration": 1},
    f"{INDIGO}/fakermaker.repo.car": {
        "app.bsky.actor.profile": 1,
        "app.bsky.feed.like": 22,
        "app.bsky.feed.post": 26,
        "app.bsky.feed.repost": 15,
        "app.bsky.graph.follow": 78,
    },
    f"{INDIGO}/paul_staging.repo.car": {
        "app.bsky.actor.profile": 1,
        "app.bsky.feed.like": 60,
        "app.bsky.feed.post": 101,
        "app.bsky.feed.repost": 15,
        "app.bsky.graph.follow": 8,
    },
}


@pytest.mark.parametrize("relative", sorted(SNAPSHOTS))
def test_version_3_fixture_repositories(fixtures_dir: Path, relative: str):
    did, expected = SNAPSHOTS[relative]
    with RepoSnapshot(fixtures_dir / relative, did) as snapshot:
        items = list(snapshot.records())
    assert all(isinstance(item, RepoRecord) for item in items)
    assert Counter(item.collection for item in items) == expected
    assert all(item.record.get("$type") == item.collection for item in items)


@pytest.mark.parametrize("relative", sorted(VERSION_2))
def test_version_2_fixture_repositories_are_refused_and_their_trees_walk(fixtures_dir: Path, relative: str):
    path = fixtures_dir / relative
    with pytest.raises(UnsupportedRepoVersion, match="version 2 repository, which names no rev"):
        RepoSnapshot(path)
    with CarFile(path) as car:
        commit = decode_raw(car.get(car.roots[0]))
        keys = list(walk(car.get, commit["data"]))
        for _, cid in keys:
            car.get(cid)  # every record block is there and hashes to its CID
    assert Counter(key.split("/")[0] for key, _ in keys) == VERSION_2[relative]


def test_repo_slice_is_refused_and_lacks_tree_blocks(fixtures_dir: Path):
    path = fixtures_dir / INDIGO / "repo_slice.car"
    with pytest.raises(UnsupportedRepoVersion):
        RepoSnapshot(path)
    with CarFile(path) as car:
        commit = decode_raw(car.get(car.roots[0]))
        with pytest.raises(MissingBlock, match="is not in the CAR"):
            list(walk(car.get, commit["data"]))


# --- builder and walker on random key sets -----------------------------------------------------------

_RKEY = st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567-_~.:", min_size=1, max_size=20).filter(
    lambda rkey: rkey not in {".", ".."}
)
_KEYS = st.sets(
    st.tuples(
        st.sampled_from(["app.bsky.feed.like", "app.bsky.feed.post", "app.bsky.graph.follow", "a.b.c"]), _RKEY
    ),
    max_size=300,
)


@given(keys=_KEYS)
def test_any_key_set_walks_back_in_order(keys: set[tuple[str, str]]):
    value, _ = raw_block(b"\xa0")
    paths = {f"{collection}/{rkey}" for collection, rkey in keys}
    root, nodes = build_mst(dict.fromkeys(paths, value))
    blocks = {cid.encode(): data for cid, data in nodes}
    assert [key for key, _ in walk(blocks.__getitem__, root.encode())] == sorted(paths)
