"""Planning across batches: how a shard splits a batch by repository and merges what several batches
queued for it (app.indexing.plan)."""

from __future__ import annotations

from app.indexing.plan import merge, plan_commits, split_by_repo
from app.indexing.registry import registry
from tests.support.events import DID_A, DID_B, DID_C, commit, like_record, op, uri

LIKE = "app.bsky.feed.like"
POST_URI = uri(DID_C, "app.bsky.feed.post", "3kpost0000000")


def test_a_batch_splits_by_repository_with_the_accounts_each_part_names() -> None:
    plan = plan_commits(
        [
            commit(DID_A, [op("create", LIKE, "3klike0000000", like_record(POST_URI))], 1),
            commit(DID_B, [op("delete", LIKE, "3klike0000001")], 2),
            commit("not-a-did", [op("delete", LIKE, "3klike0000002")], 3),
        ],
        registry().lookup,
    )
    parts = split_by_repo(plan, 2, lambda did: 0 if did == DID_A else 1)
    assert [[planned.ref.did for planned in part.ops] for part in parts] == [[DID_A], [DID_B]]
    assert [part.dids for part in parts] == [{DID_A, DID_C}, {DID_B}]
    assert all(not part.dead_letters for part in parts) and len(plan.dead_letters) == 1


def test_merged_batches_keep_the_newest_op_of_each_record() -> None:
    lookup = registry().lookup
    created = commit(DID_A, [op("create", LIKE, "3klike0000000", like_record(POST_URI))], 5)
    deleted = commit(DID_A, [op("delete", LIKE, "3klike0000000")], 7)
    other = commit(DID_A, [op("delete", LIKE, "3klike0000001")], 6)
    for batches in ([[deleted], [created, other]], [[created, other], [deleted]], [[deleted], [deleted]]):
        plans = [plan_commits(batch, lookup) for batch in batches]
        merged = merge(plans)
        newest = {planned.ref.uri: (planned.action, planned.ref.version) for planned in merged.ops}
        assert newest[uri(DID_A, LIKE, "3klike0000000")] == ("delete", 7)
        assert len(merged.ops) == len(newest), "one statement would touch a record twice"
        assert merged.superseded == sum(len(plan.ops) for plan in plans) - len(newest)
