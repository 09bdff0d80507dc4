"""One repository snapshot (a getRepo CAR on disk) → its commit and a stream of its records.

`RepoSnapshot(path, did)` opens the CAR, indexes its blocks (`CarFile`) and checks the commit,
the block the CAR's root names: present, a commit map (`did`, `version` 3, `data`, `rev`,
`sig`), of the DID asked for, with a valid TID as `rev`. A failure there is a `CarError` and
nothing is yielded. The signature is not checked.

`records()` walks the MST (`app.backfill.mst`) and yields, in key order, a `RepoRecord` for each
record decoded to lexicon JSON, or a `RejectedRecord` for a record block that is not a DAG-CBOR
map: that one record is rejected (the caller dead-letters it) and the walk goes on. A broken
tree, a block missing, a block whose bytes do not hash to its CID stop the walk with their
`CarError`: the snapshot is then not a whole repository, and whoever indexes it as the truth
must not delete what it seemed to lack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.backfill.carfile import CarFile
from app.backfill.errors import CarError, CommitMismatch, MissingBlock, UnsupportedRepoVersion
from app.backfill.mst import walk
from app.codec import CodecError
from app.codec.dagcbor import decode_lexicon, decode_raw
from app.records.syntax import is_did, is_tid


@dataclass(frozen=True, slots=True)
class RepoCommit:
    did: str
    version: int
    data: str  # CID of the MST root
    rev: str  # a TID: the snapshot's version
    prev: str | None
    sig: bytes
    cid: str  # CID of the commit block (the CAR root)


@dataclass(frozen=True, slots=True)
class RepoRecord:
    collection: str
    rkey: str
    cid: str
    record: dict[str, Any]  # lexicon JSON

    @property
    def path(self) -> str:
        return f"{self.collection}/{self.rkey}"


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    collection: str
    rkey: str
    cid: str
    error: str

    @property
    def path(self) -> str:
        return f"{self.collection}/{self.rkey}"


def parse_commit(value: Any, cid: str, expected_did: str | None) -> RepoCommit:
    """A decoded commit block → RepoCommit; `CommitMismatch` saying what is wrong."""
    if not isinstance(value, dict):
        raise CommitMismatch(f"the CAR root {cid} is not a commit (not a map)")
    did, version, data, rev, sig = (value.get(k) for k in ("did", "version", "data", "rev", "sig"))
    prev = value.get("prev")
    if not isinstance(did, str) or not is_did(did):
        raise CommitMismatch(f"the commit {cid} has no valid 'did'")
    if expected_did is not None and did != expected_did:
        raise CommitMismatch(f"the commit {cid} is of {did}, not of {expected_did}")
    if version == 2:
        raise UnsupportedRepoVersion(f"the commit {cid} is of a version 2 repository, which names no rev")
    if version != 3 or isinstance(version, bool):
        raise CommitMismatch(f"the commit {cid} has version {version!r} (3 expected)")
    if not isinstance(data, str):
        raise CommitMismatch(f"the commit {cid} has no 'data' link")
    if not isinstance(rev, str) or not is_tid(rev):
        raise CommitMismatch(f"the commit {cid} has no valid 'rev'")
    if not isinstance(sig, bytes):
        raise CommitMismatch(f"the commit {cid} has no 'sig'")
    if prev is not None and not isinstance(prev, str):
        raise CommitMismatch(f"the commit {cid} has a 'prev' that is not a link")
    return RepoCommit(did=did, version=version, data=data, rev=rev, prev=prev, sig=sig, cid=cid)


class RepoSnapshot:
    """`with RepoSnapshot(path, did) as snapshot: snapshot.commit; for item in snapshot.records()`."""

    def __init__(self, path: str | Path, expected_did: str | None = None) -> None:
        self.car = CarFile(path)
        try:
            self.commit = self._read_commit(expected_did)
        except BaseException:
            self.car.close()
            raise

    def __enter__(self) -> RepoSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.car.close()

    def _read_commit(self, expected_did: str | None) -> RepoCommit:
        if not self.car.roots:
            raise CommitMismatch(f"{self.car.path.name}: the CAR has no root")
        root = self.car.roots[0]
        try:
            block = self.car.get(root)
        except MissingBlock:
            raise CommitMismatch(f"{self.car.path.name}: the root block {root} is not in the CAR") from None
        try:
            value = decode_raw(block)
        except CodecError as exc:
            raise CommitMismatch(f"the CAR root {root} does not decode: {exc}") from exc
        return parse_commit(value, root, expected_did)

    def keys(self) -> Iterator[tuple[str, str, str]]:
        """(collection, rkey, record CID) of every record, in key order, without reading records."""
        for key, cid in walk(self.car.get, self.commit.data):
            collection, _, rkey = key.partition("/")  # walk yields only valid `collection/rkey` keys
            yield collection, rkey, cid

    def records(self) -> Iterator[RepoRecord | RejectedRecord]:
        """Every record in key order, decoded to lexicon JSON (or rejected alone)."""
        for collection, rkey, cid in self.keys():
            block = self.car.get(cid)
            try:
                record = decode_lexicon(block)
            except CodecError as exc:
                yield RejectedRecord(collection, rkey, cid, f"record is not DAG-CBOR: {exc}")
                continue
            if not isinstance(record, dict):
                yield RejectedRecord(collection, rkey, cid, "record is not a map")
                continue
            yield RepoRecord(collection, rkey, cid, record)


__all__ = [
    "CarError",
    "RejectedRecord",
    "RepoCommit",
    "RepoRecord",
    "RepoSnapshot",
    "parse_commit",
]
