"""app.bsky.feed.threadgate: who may reply to a thread, one gate per post (`thread_gates.post_uri`).

`allow` absent means anyone may reply: the three allow flags and the list URIs stay null. An empty
`allow` means nobody may: every flag false, no list. Otherwise a flag is true when a rule of its kind is
present, and `allow_list_uris` holds the lists of the `#listRule`s. (The worker we replace read an
absent `allow` as nobody.) `#followerRule` (replies from the post author's followers) goes to our own
column `allow_followers`, which the original schema lacks. Rules of kinds unknown to us are ignored, as
the union is open.

The lexicon gives a gate the record key of its post, in the same repository, and the table is keyed
by the post: a gate naming any other post would gate someone else's thread, so it is invalid and its
op is dead-lettered. `posts.has_thread_gate` follows the gate, whichever of the two arrives first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.indexing.collection import Collection, RecordRef, Row
from app.indexing.collections.post import refresh_gate_flags
from app.records import validate
from app.records.syntax import parse_record_uri
from models import ThreadGate

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
        "allow_mentions": None,
        "allow_following": None,
        "allow_list_members": None,
        "allow_followers": None,
        "allow_list_uris": None,
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


COLLECTION = Collection(
    nsid="app.bsky.feed.threadgate",
    table=ThreadGate.__table__,
    parse=parse,
    author_column="owner_did",
    after_insert=refresh_posts,
    after_delete=refresh_posts,
)
