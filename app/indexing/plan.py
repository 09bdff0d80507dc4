"""Planning a batch of commits: check every op, parse its record, keep the newest op per record URI.

Pure Python, no database: a bad op becomes a dead letter of its own (with its op index) while the
valid ops of the same commit go on; a commit whose repo is not a valid DID is dead-lettered whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.events import CommitEvent, DeadLetter
from app.indexing.collection import Collection, RecordRef, Row
from app.indexing.widths import DID_WIDTH, fit_derived, fit_row
from app.records.normalise import to_lexicon
from app.records.syntax import is_cid, is_did, is_nsid, is_record_key, parse_datetime
from app.records.validate import InvalidRecord

# PostgreSQL's btree refuses index entries over about 2,700 bytes; URIs stay well below.
MAX_URI_BYTES = 2_000


@dataclass(slots=True)
class PlannedOp:
    ref: RecordRef
    action: str  # create | update | delete
    collection: Collection
    row: Row | None  # the parsed row of a create/update
    order: int  # position in the batch: among ops of one version, the later wins


@dataclass
class CommitPlan:
    ops: list[PlannedOp] = field(default_factory=list)
    dids: set[str] = field(default_factory=set)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    superseded: int = 0  # ops replaced by a newer op on the same URI within the batch
    truncated: int = 0  # free-text values cut to fit their columns (app.indexing.widths)


def plan_commits(events: Iterable[CommitEvent], lookup: Callable[[str], Collection]) -> CommitPlan:
    plan = CommitPlan()
    newest: dict[str, PlannedOp] = {}
    order = 0
    for event in events:
        if not is_did(event.repo):
            plan.dead_letters.append(DeadLetter.of(event, "commit", f"invalid repo DID {event.repo[:100]!r}"))
            continue
        if len(event.repo) > DID_WIDTH:
            error = f"repo DID of {len(event.repo)} characters, longer than users.did (varchar({DID_WIDTH}))"
            plan.dead_letters.append(DeadLetter.of(event, "commit", error))
            continue
        commit_time = parse_datetime(event.time) if isinstance(event.time, str) else None
        rev = event.rev if isinstance(event.rev, str) and len(event.rev) <= 64 else None
        for index, op in enumerate(event.ops):
            order += 1
            try:
                planned = _plan_op(event, op, lookup, commit_time, rev, order)
                if planned.row is not None:
                    plan.truncated += fit_row(planned.collection.table, planned.row)
                    fit_derived(planned.collection, planned.row)
            except InvalidRecord as exc:
                plan.dead_letters.append(DeadLetter.of(event, "commit", str(exc), op_index=index))
                continue
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                # A record shaped in a way no check foresaw: still this op's fault, not the batch's.
                error = f"malformed record: {exc.__class__.__name__}: {str(exc)[:200]}"
                plan.dead_letters.append(DeadLetter.of(event, "commit", error, op_index=index))
                continue
            current = newest.get(planned.ref.uri)
            if current is None or current.ref.version <= planned.ref.version:
                plan.superseded += current is not None
                newest[planned.ref.uri] = planned
            else:
                plan.superseded += 1
    plan.ops = list(newest.values())
    plan.dids = dids_named(plan.ops)
    return plan


def dids_named(ops: Iterable[PlannedOp]) -> set[str]:
    """The accounts the ops' rows refer to (repositories and subjects): each needs a `users` row."""
    dids: set[str] = set()
    for planned in ops:
        dids.add(planned.ref.did)
        if planned.row is not None and planned.collection.named_dids is not None:
            dids.update(planned.collection.named_dids(planned.row))
    return dids


def split_by_repo(plan: CommitPlan, parts: int, part_of: Callable[[str], int]) -> list[CommitPlan]:
    """The plan's ops in `parts` plans by repository (`part_of(did)`); dead letters stay behind."""
    ops: list[list[PlannedOp]] = [[] for _ in range(parts)]
    for planned in plan.ops:
        ops[part_of(planned.ref.did)].append(planned)
    return [CommitPlan(ops=part, dids=dids_named(part)) for part in ops]


def merge(plans: Sequence[CommitPlan]) -> CommitPlan:
    """One plan of the ops of several, keeping the newest op per record URI (one statement may not
    touch a row twice); on a tie of versions (the same entry delivered twice) the later plan wins."""
    if len(plans) == 1:
        return plans[0]
    newest: dict[str, PlannedOp] = {}
    merged = CommitPlan()
    for plan in plans:
        merged.dids.update(plan.dids)
        for planned in plan.ops:
            current = newest.get(planned.ref.uri)
            if current is None or current.ref.version <= planned.ref.version:
                newest[planned.ref.uri] = planned
            merged.superseded += current is not None
    merged.ops = list(newest.values())
    return merged


def _plan_op(
    event: CommitEvent,
    op: Any,
    lookup: Callable[[str], Collection],
    commit_time: Any,
    rev: str | None,
    order: int,
) -> PlannedOp:
    if not is_nsid(op.collection):
        raise InvalidRecord("path", f"invalid collection NSID {op.collection[:100]!r}")
    if not is_record_key(op.rkey):
        raise InvalidRecord("path", f"invalid record key {op.rkey[:100]!r}")
    uri = f"at://{event.repo}/{op.collection}/{op.rkey}"
    if len(uri.encode()) > MAX_URI_BYTES:
        raise InvalidRecord("path", "record URI longer than 2000 bytes")
    collection = lookup(op.collection)
    if op.action == "delete":
        ref = RecordRef(uri, event.repo, op.collection, op.rkey, None, event.version, commit_time, rev)
        return PlannedOp(ref, "delete", collection, None, order)
    if not isinstance(op.cid, str) or not is_cid(op.cid):
        raise InvalidRecord("cid", f"invalid record CID {str(op.cid)[:100]!r}")
    if not isinstance(op.record, dict):
        raise InvalidRecord("record", "create/update without a record object")
    record = to_lexicon(op.record)
    record_type = record.get("$type")
    if record_type is not None and record_type != op.collection:
        raise InvalidRecord("$type", f"{str(record_type)[:100]!r} contradicts collection {op.collection!r}")
    ref = RecordRef(uri, event.repo, op.collection, op.rkey, op.cid, event.version, commit_time, rev)
    return PlannedOp(ref, op.action, collection, collection.parse(ref, record), order)
