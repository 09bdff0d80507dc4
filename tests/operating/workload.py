"""A workload whose final database is known in advance: posts, then likes of them and follows of
their authors (every pair distinct), with identity and account events among them.

The operating tests push it, disturb the worker (outages, SIGTERM) and then assert the exact row and
counter totals below, not only that two runs agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from app.indexing.recount import counter_drift
from tests.broker.harness import Fields
from tests.indexing.test_collections import one
from tests.support.events import CID_1, follow_record, like_record, post_record

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
FOLLOW = "app.bsky.graph.follow"
_DIGITS = "abcdefghij"  # DIDs are base32: decimal digits spelled with letters


def did(role: str, n: int) -> str:
    """A valid `did:plc:` (24 base32 characters) per role and number."""
    return f"did:plc:{role[:8]:z<8}{''.join(_DIGITS[int(d)] for d in str(n)):a>16}"


def commit(repo: str, collection: str, rkey: str, record: dict, seq: int) -> dict[str, str]:
    data = {
        "repo": repo,
        "ops": [{"action": "create", "path": f"{collection}/{rkey}", "cid": CID_1, "record": record}],
    }
    return {"type": "commit", "data": json.dumps(data), "seq": str(seq)}


@dataclass
class Workload:
    entries: list[Fields] = field(default_factory=list)
    posts: int = 0
    likes: int = 0
    follows: int = 0
    identities: int = 0
    accounts: int = 0
    dids: set[str] = field(default_factory=set)

    @property
    def commits(self) -> int:
        return self.posts + self.likes + self.follows

    def post_uri(self, n: int) -> str:
        return f"at://{did('author', n)}/{POST}/3lpost{n:07d}"


def build(posts: int, likes_per_post: int, follows: int, identities: int = 0, accounts: int = 0) -> Workload:
    """`posts` posts, each liked by `likes_per_post` distinct likers; `follows` follows of the
    authors by distinct followers; identity events of likers and account events of followers
    spread evenly through the likes and follows."""
    work = Workload()
    seq = 0

    def add(entry: dict[str, str]) -> None:
        work.entries.append(entry)

    for n in range(posts):
        seq += 1
        author = did("author", n)
        add(commit(author, POST, f"3lpost{n:07d}", post_record(f"post {n}"), seq))
        work.dids.add(author)
    work.posts = posts
    body: list[tuple[str, int]] = [("like", n) for n in range(posts * likes_per_post)]
    body += [("follow", n) for n in range(follows)]
    body.sort(key=lambda item: (item[1] * 7919) % len(body) if body else 0)  # interleave, deterministic
    extra_every = max(1, len(body) // max(1, identities + accounts))
    extras = [("identity", n) for n in range(identities)] + [("account", n) for n in range(accounts)]
    for position, (kind, n) in enumerate(body):
        seq += 1
        if kind == "like":
            liker = did("liker", n // posts)
            add(commit(liker, LIKE, f"3llike{n:07d}", like_record(work.post_uri(n % posts)), seq))
            work.dids.add(liker)
        else:
            follower = did("follower", n // posts)
            add(commit(follower, FOLLOW, f"3lfollow{n:07d}", follow_record(did("author", n % posts)), seq))
            work.dids.add(follower)
        if extras and position % extra_every == 0:
            extra, m = extras.pop()
            seq += 1
            if extra == "identity":
                data = {"did": did("liker", m), "handle": f"liker{m}.test"}
            else:
                data = {"did": did("follower", m), "active": True}
            add({"type": extra, "data": json.dumps(data), "seq": str(seq)})
    assert not extras, "more identity and account events than entries to spread them over"
    work.likes = posts * likes_per_post
    work.follows = follows
    work.identities = identities
    work.accounts = accounts
    return work


async def assert_indexed(engine: AsyncEngine, work: Workload) -> None:
    """The database holds exactly what the workload makes, and every counter equals its rows."""
    likes_per_post = work.likes // work.posts
    found = {
        "posts": await one(engine, "SELECT count(*) FROM posts"),
        "likes": await one(engine, "SELECT count(*) FROM likes"),
        "follows": await one(engine, "SELECT count(*) FROM follows"),
        "feed_items": await one(engine, "SELECT count(*) FROM feed_items"),
        "notifications": await one(engine, "SELECT count(*) FROM notifications"),
        "users": await one(engine, "SELECT count(*) FROM users"),
        "handles": await one(engine, "SELECT count(*) FROM users WHERE handle LIKE 'liker%.test'"),
        "aggregations": await one(engine, "SELECT count(*) FROM post_aggregations"),
        "like_count sum": await one(engine, "SELECT coalesce(sum(like_count), 0) FROM post_aggregations"),
        "like_count off": await one(
            engine,
            "SELECT count(*) FROM post_aggregations WHERE like_count <> :n OR repost_count <> 0 "
            "OR reply_count <> 0 OR quote_count <> 0",
            n=likes_per_post,
        ),
        "aside": await one(engine, "SELECT count(*) FROM indexer.aside_records"),
    }
    expected = {
        "posts": work.posts,
        "likes": work.likes,
        "follows": work.follows,
        "feed_items": work.posts,
        "notifications": work.likes + work.follows,
        "users": len(work.dids),
        "handles": work.identities,
        "aggregations": work.posts,
        "like_count sum": work.likes,
        "like_count off": 0,
        "aside": 0,
    }
    assert found == expected
    async with engine.connect() as conn:
        drift = await counter_drift(conn)
    assert not drift, f"counters differ from live rows: {drift[:10]}"
