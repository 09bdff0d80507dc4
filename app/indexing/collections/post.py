"""app.bsky.feed.post: the post row, its feed item, reply and quote counters, and the notifications of
replies, mentions and quotes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, text, update

from app.indexing.collection import (
    Collection,
    Counter,
    FeedItemOf,
    Notify,
    RecordRef,
    Row,
    collection_of,
    did_of,
)
from app.indexing.sql import array_param
from app.records import validate
from app.records.syntax import is_did, is_language
from models import Post, PostGate, Quote, ThreadGate

if TYPE_CHECKING:
    from app.indexing.batch import BatchWriter

# Advisory transaction locks of the gate flags: (this class, hash of the post URI), taken in URI order.
GATE_FLAGS_LOCK_CLASS = 0x67617465  # "gate"
GATE_FLAGS_LOCKS = text(
    "SELECT pg_advisory_xact_lock(:lock_class, hashtext(uri)) FROM unnest(CAST(:uris AS text[])) AS uri"
)
POST = "app.bsky.feed.post"
QUOTE_EMBEDS = {"app.bsky.embed.record", "app.bsky.embed.recordWithMedia"}
MENTION = "app.bsky.richtext.facet#mention"


def parse(ref: RecordRef, record: dict[str, Any]) -> Row:
    text = validate.text(record, "text", required=True, max_bytes=3_000, max_graphemes=300)
    created_at = validate.datetime_(record, "createdAt")
    parent_uri = parent_cid = root_uri = root_cid = None
    reply = record.get("reply")
    if reply is not None:
        if not isinstance(reply, dict):
            raise validate.InvalidRecord("reply", "not an object")
        parent_uri, parent_cid = validate.strong_ref(reply, "parent")
        root_uri, root_cid = validate.strong_ref(reply, "root")
    embed = record.get("embed")
    if embed is not None and not isinstance(embed, dict):
        raise validate.InvalidRecord("embed", "not an object")
    facets = record.get("facets")
    if facets is not None and not isinstance(facets, list):
        raise validate.InvalidRecord("facets", "not an array")
    langs = validate.string_list(record, "langs", max_items=3, max_bytes=128)
    return {
        "uri": ref.uri,
        "cid": ref.cid,
        "author_did": ref.did,
        "text": text,
        "langs": [lang for lang in langs if is_language(lang)] if langs is not None else None,
        "parent_uri": parent_uri,
        "parent_cid": parent_cid,
        "root_uri": root_uri,
        "root_cid": root_cid,
        "embed": validate.clean_json(embed) if embed is not None else None,
        "facets": validate.clean_json(facets) if facets is not None else None,
        "tags": _tags(record),
        "created_at": created_at,
        **ref.commit_columns(),
        # Not columns: what the effects below need.
        "quote": _quoted(embed),
        "mentions": _mentions(facets or []),
    }


def _quoted(embed: dict[str, Any] | None) -> tuple[str, str] | None:
    """The post a record embed quotes. An embed of another record (a feed generator, list, starter
    pack, labeler) is checked as a strong reference but quotes nothing: no row, count or notice."""
    if embed is None or embed.get("$type") not in QUOTE_EMBEDS:
        return None
    holder = embed.get("record")
    if embed["$type"] == "app.bsky.embed.recordWithMedia":
        holder = holder.get("record") if isinstance(holder, dict) else None
    if not isinstance(holder, dict):
        raise validate.InvalidRecord("embed.record", "not a strong reference")
    ref = validate.strong_ref({"record": holder}, "record")
    return ref if collection_of(ref.uri) == POST else None


def _features(facets: list[Any]) -> list[dict[str, Any]]:
    return [
        feature
        for facet in facets
        if isinstance(facet, dict) and isinstance(facet.get("features"), list)
        for feature in facet["features"]
        if isinstance(feature, dict)
    ]


def _mentions(facets: list[Any]) -> list[str]:
    dids = (feature.get("did") for feature in _features(facets) if feature.get("$type") == MENTION)
    return list(dict.fromkeys(did for did in dids if isinstance(did, str) and is_did(did)))


def _tags(record: dict[str, Any]) -> list[str]:
    """The record's own `tags`, hashtags besides those in the text's facets (PublicAppView's API passes
    the column on as the record's `tags`, so facet hashtags are not copied in)."""
    tags = validate.string_list(record, "tags", max_items=8, max_bytes=640) or []
    return list(dict.fromkeys(tag for tag in tags if tag))


def notify(row: Row) -> list[Notify]:
    notes = []
    if row["parent_uri"]:
        parent_author, root_author = did_of(row["parent_uri"]), did_of(row["root_uri"])
        notes.append(Notify("reply", parent_author, row["parent_uri"], f"-reply-{parent_author}"))
        if root_author != parent_author:
            notes.append(Notify("reply", root_author, row["root_uri"], f"-reply-{root_author}"))
    notes.extend(Notify("mention", did, row["uri"], f"-mention-{did}") for did in row.get("mentions", ()))
    if row.get("quote"):
        quoted_uri = row["quote"][0]
        notes.append(Notify("quote", did_of(quoted_uri), quoted_uri, "-quote"))
    return notes


def feed_item(row: Row) -> FeedItemOf:
    return FeedItemOf(post_uri=row["uri"], type="post", created_at=row["created_at"])


def named_dids(row: Row) -> list[str]:
    dids = list(row.get("mentions", ()))
    if row["parent_uri"]:
        dids += [did_of(row["parent_uri"]), did_of(row["root_uri"])]
    if row.get("quote"):
        dids.append(did_of(row["quote"][0]))
    return dids


async def after_insert(writer: BatchWriter, rows: list[Row]) -> None:
    """A quote row per quote post (counted on the quoted post), and gate flags for gates that came first."""
    quotes = [
        {
            "uri": f"{row['uri']}#quote",
            "cid": row["cid"],
            "post_uri": row["uri"],
            "quoted_uri": row["quote"][0],
            "quoted_cid": row["quote"][1],
            "created_at": row["created_at"],
        }
        for row in rows
        if row.get("quote")
    ]
    for quoted_uri in await writer.insert_ignoring_conflicts(Quote.__table__, quotes, returning="quoted_uri"):
        writer.counter_deltas[("post_aggregations", "quote_count")][quoted_uri] += 1
    await refresh_gate_flags(writer, [row["uri"] for row in rows])


async def after_delete(writer: BatchWriter, rows: list[Row]) -> None:
    for quote in await writer.delete_by(Quote.__table__, "post_uri", [row["uri"] for row in rows]):
        writer.counter_deltas[("post_aggregations", "quote_count")][quote["quoted_uri"]] -= 1


async def refresh_gate_flags(writer: BatchWriter, post_uris: list[str]) -> None:
    """`has_thread_gate` / `has_post_gate` are true exactly while the gate exists, whichever came first.

    Two batches committing side by side (a post in one, its gate in the other) would each miss the
    other's uncommitted row. So each first takes a transaction lock per post URI: the later one waits
    for the earlier to commit, and its update, reading what is committed by then, sees both."""
    if not post_uris:
        return
    uris = sorted(set(post_uris))
    await writer.conn.execute(GATE_FLAGS_LOCKS, {"lock_class": GATE_FLAGS_LOCK_CLASS, "uris": uris})
    posts = Post.__table__
    thread_gate = exists().where(ThreadGate.__table__.c.post_uri == posts.c.uri)
    post_gate = exists().where(PostGate.__table__.c.post_uri == posts.c.uri)
    statement = (
        update(posts)
        .where(posts.c.uri == func.any(array_param("uris")))
        .where(
            (posts.c.has_thread_gate != thread_gate.correlate(posts))
            | (posts.c.has_post_gate != post_gate.correlate(posts))
        )
        .values(has_thread_gate=thread_gate.correlate(posts), has_post_gate=post_gate.correlate(posts))
    )
    await writer.conn.execute(statement, {"uris": uris})


COLLECTION = Collection(
    nsid=POST,
    table=Post.__table__,
    parse=parse,
    author_column="author_did",
    counters=(Counter("post_aggregations", "reply_count", "parent_uri"),),
    notify=notify,
    feed_item=feed_item,
    named_dids=named_dids,
    after_insert=after_insert,
    after_delete=after_delete,
)
