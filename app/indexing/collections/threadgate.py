"""app.bsky.feed.threadgate: who may reply to a thread, one gate per post (`thread_gates.post_uri`).

An empty `allow` means nobody may reply: every flag false, no list. Otherwise a flag is true when a
rule of its kind is present, and `allow_list_uris` holds the lists of the `#listRule`s. Rules of kinds
unknown to us are ignored, as the union is open. What PublicAppView's columns cannot say is ours, in
`indexer.thread_gate_rules`: `#followerRule` (replies from the post author's followers) as
`allow_followers`, and an absent `allow` (anyone may reply; the worker we replace read it as nobody)
as a null `allow_followers`, while the public row holds the columns' defaults (NOT NULL there).

The lexicon gives a gate the record key of its post, in the same repository, and the table is keyed
by the post: a gate naming any other post would gate someone else's thread, so it is invalid and its
op is dead-lettered. So the gate's URI follows from its post's and back (`gate_uri`, `gated_post_uri`):
rows are inserted and deleted by the post URI, which is the table's key. `posts.has_thread_gate`
follows the gate, whichever of the two arrives first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.indexing.collection import Collection, RecordRef, Row
from app.indexing.collections.post import refresh_gate_flags
from app.indexing.sql import rows_param, rows_select
from app.records import validate
from app.records.syntax import parse_record_uri
from models import ThreadGate, ThreadGateRule

if TYPE_CHECKING:
    from app.indexing.batch import BatchWriter

POST = "app.bsky.feed.post"
MENTION_RULE = "app.bsky.feed.threadgate#mentionRule"
FOLLOWING_RULE = "app.bsky.feed.threadgate#followingRule"
LIST_RULE = "app.bsky.feed.threadgate#listRule"
FOLLOWER_RULE = "app.bsky.feed.threadgate#followerRule"


def gated_post(ref: RecordRef, record: dict[str, Any]) -> str:
    """The post a gate record gates: same repository, same record key (post and post gates alike)."""
    post_uri = validate.record_uri(record, "post", collection=POST)
    post = parse_record_uri(post_uri)
    if post is None or post.did != ref.did or post.rkey != ref.rkey:
        raise validate.InvalidRecord("post", f"a gate must name the post {ref.did}/{POST}/{ref.rkey}")
    return post_uri


def gated_post_uri(gate_uri: str) -> str:
    """The post URI of a (thread or post) gate's URI: same repository, same record key."""
    did, _, rkey = gate_uri[5:].split("/", 2)
    return f"at://{did}/{POST}/{rkey}"


async def insert_gates(writer: BatchWriter, table: Table, rows: list[Row]) -> list[Row]:
    """Gate rows keyed by post URI; what came in comes back keyed by the gate URI, as every table's."""
    gate_of = {row["post_uri"]: row["uri"] for row in rows}
    inserted = await writer.insert_ignoring_conflicts(table, rows, returning="post_uri")
    return [{"uri": gate_of[post_uri], "post_uri": post_uri} for post_uri in inserted]


async def delete_gates(writer: BatchWriter, table: Table, uris: list[str]) -> list[Row]:
    deleted = await writer.delete_by(table, "post_uri", [gated_post_uri(uri) for uri in uris])
    gate_of = {gated_post_uri(uri): uri for uri in uris}
    return [row | {"uri": gate_of[row["post_uri"]]} for row in deleted]


def union_members(
    record: dict[str, Any], key: str, max_items: int
) -> list[tuple[str, dict[str, Any]]] | None:
    """An array of open-union members, each with the `$type` a union member must carry."""
    members = validate.obj_list(record, key, max_items=max_items)
    if members is None:
        return None
    typed: list[tuple[str, dict[str, Any]]] = []
    for index, member in enumerate(members):
        member_type = member.get("$type")
        if not isinstance(member_type, str):
            raise validate.InvalidRecord(f"{key}[{index}].$type", "a union member needs a $type")
        typed.append((member_type, member))
    return typed


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    post_uri = gated_post(ref, record)
    validate.string_list(record, "hiddenReplies", max_items=300, item_format="at-uri")
    rules = union_members(record, "allow", max_items=5)
    row: Row = {
        "post_uri": post_uri,
        "uri": ref.uri,
        "owner_did": ref.did,
        # An absent `allow`: the columns' defaults here, a null `allow_followers` in our rules.
        "allow_mentions": True,
        "allow_following": True,
        "allow_list_members": False,
        "allow_followers": None,
        "allow_list_uris": [],
        "created_at": validate.datetime_(record, "createdAt"),
    }
    if rules is not None:
        kinds = {kind for kind, _ in rules}
        row["allow_mentions"] = MENTION_RULE in kinds
        row["allow_following"] = FOLLOWING_RULE in kinds
        row["allow_list_members"] = LIST_RULE in kinds
        row["allow_followers"] = FOLLOWER_RULE in kinds
        row["allow_list_uris"] = [
            validate.record_uri(rule, "list", path=f"allow[{index}]")
            for index, (kind, rule) in enumerate(rules)
            if kind == LIST_RULE
        ]
    return row


async def refresh_posts(writer: BatchWriter, rows: list[Row]) -> None:
    """After gates come or go, the gated posts' flags follow (posts do the same when they come)."""
    await refresh_gate_flags(writer, [row["post_uri"] for row in rows])


_RULE_NAMES = ("post_uri", "allow_followers")


async def after_insert(writer: BatchWriter, rows: list[Row]) -> None:
    table = ThreadGateRule.__table__
    upsert = pg_insert(table).from_select(_RULE_NAMES, rows_select(table, _RULE_NAMES))
    statement = upsert.on_conflict_do_update(
        index_elements=["post_uri"], set_={"allow_followers": upsert.excluded.allow_followers}
    )
    await writer.conn.execute(
        statement, rows_param(_RULE_NAMES, sorted(rows, key=lambda row: row["post_uri"]))
    )
    await refresh_posts(writer, rows)


async def after_delete(writer: BatchWriter, rows: list[Row]) -> None:
    await writer.delete_by(ThreadGateRule.__table__, "post_uri", [row["post_uri"] for row in rows])
    await refresh_posts(writer, rows)


COLLECTION = Collection(
    nsid="app.bsky.feed.threadgate",
    table=ThreadGate.__table__,
    parse=parse,
    author_column="owner_did",
    insert_rows=lambda writer, rows: insert_gates(writer, ThreadGate.__table__, rows),
    delete_rows=lambda writer, uris: delete_gates(writer, ThreadGate.__table__, uris),
    after_insert=after_insert,
    after_delete=after_delete,
)
