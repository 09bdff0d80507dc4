"""A seeded, realistic firehose workload in the stream format of DIRECTION §1, and its expected totals.

    python -m bench.workload --events 200000 --dialect sdk --seed 1 --stream bench:firehose --replace

pushes 200,000 entries (`type`, `data`, `seq`) with pipelined XADDs — no MAXLEN: every pushed entry
must be read — prints the push rate, and writes the totals the tables must hold once the entries are
indexed (bench/model.py) as JSON. The same seed and size give the same entries, byte for byte.

The mix follows published figures on the Bluesky firehose (shares of repository operations): likes
about half, follows 13 %, posts 12 % (a third of them replies; facets, image/external/quote/video
embeds), reposts 8 %, deletes 4 % (of earlier records of every kind, chosen among the author's live
records), then blocks, profile updates, lists and list items, thread and post gates, starter packs,
feed generators, verifications, labelers, chat declarations and third-party lexicons in small
numbers. Identity and account events are 1 % of entries; a tenth of the account events delete the
account. Popularity is heavy-tailed by preferential attachment: a like, repost, reply or quote
copies the subject of an earlier one with probability 0.55, follows likewise, and authors repeat
earlier authors (Yule-Simon, i.e. Zipf-like, distributions, at O(1) per pick). About 7 % of post
subjects are posts that never appear in the stream. About 0.5 % of entries are exact duplicates of
earlier ones (single re-adds and replayed runs, as a reader reconnecting from an old cursor makes),
0.3 % are malformed entries and 0.2 % of ops are malformed records inside otherwise good commits.

Dialects: `lexicon` is Jetstream-like (compact JSON, `rev` and `time` on commits, `status` on
account events); `sdk` is what the existing Python reader pushes — records as the `atproto` SDK's
`model_dump()` (bench/sdk.py), `json.dumps` spacing, commits with `repo` and `ops` only, identity
`{did, handle}`, account `{did, active}`: that reader drops `status`, so in this dialect no account
event says `deleted` and no account is purged.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
import redis

from bench.ids import Ids, rfc3339, tid
from bench.model import Effect, Model, Record
from bench.sdk import SdkDialect

Dialect = Literal["lexicon", "sdk"]
Fields = dict[str, str | bytes]

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
FOLLOW = "app.bsky.graph.follow"
BLOCK = "app.bsky.graph.block"
PROFILE = "app.bsky.actor.profile"
LIST = "app.bsky.graph.list"
LIST_ITEM = "app.bsky.graph.listitem"
LIST_BLOCK = "app.bsky.graph.listblock"
THREADGATE = "app.bsky.feed.threadgate"
POSTGATE = "app.bsky.feed.postgate"
STARTER_PACK = "app.bsky.graph.starterpack"
FEED_GENERATOR = "app.bsky.feed.generator"
VERIFICATION = "app.bsky.graph.verification"
LABELER = "app.bsky.labeler.service"
CHAT_DECLARATION = "chat.bsky.actor.declaration"
THIRD_PARTY = (
    "xyz.statusphere.status",
    "fyi.unravel.frontpage.post",
    "social.grain.favorite",
    "sh.tangled.feed.star",
    "community.lexicon.calendar.event",
)

# Shares of repository operations (weights, normalised by random.choices).
OP_MIX: tuple[tuple[str, float], ...] = (
    ("like", 50.0),
    ("follow", 13.0),
    ("post", 11.5),
    ("repost", 8.0),
    ("delete", 4.0),
    ("third_party", 2.0),
    ("list_item", 1.6),
    ("block", 1.5),
    ("profile", 1.2),
    ("threadgate", 0.9),
    ("postgate", 0.3),
    ("chat_declaration", 0.3),
    ("list", 0.25),
    ("list_block", 0.15),
    ("starter_pack", 0.1),
    ("verification", 0.05),
    ("feed_generator", 0.03),
    ("labeler", 0.01),
)
# Shares of stream entries besides plain commits.
P_DUPLICATE = 0.0038  # a single earlier entry re-added
P_REPLAY = 0.00005  # a run of 10-40 earlier entries re-added (≈ 0.12 % of entries)
P_MALFORMED_ENTRY = 0.003
P_UNKNOWN_TYPE = 0.0005
P_IDENTITY = 0.006
P_ACCOUNT = 0.004
P_MALFORMED_OP = 0.002  # per op of a commit
P_MULTI_OP = 0.12  # commits with 2-6 ops
P_COPY_SUBJECT = 0.5  # preferential attachment of posts and followed accounts
COPY_WINDOW = 50_000  # ... among this many recent picks: popularity fades, hot posts rotate
P_SECOND_RECORD = 0.003  # a like/repost/follow/block of a pair that already has a live record
P_COPY_AUTHOR = 0.6
P_PHANTOM_POST = 0.07

EVENTS_PER_ACCOUNT = 25  # accounts in the population: events / 25 (at least 200)
EVENT_RATE = 1_500.0  # virtual events per second: spaces the records' timestamps
START_MICROS = 1_740_787_200_000_000  # 2025-03-01T00:00:00Z
RECENT_POSTS = 3_000  # mean distance back, in posts, of a fresh subject
DUPLICATE_WINDOW = 5_000  # entries a duplicate may repeat
FIRST_SEQ = 5_000_000_000
MAX_BASE_TEXT = 160

_VOCABULARY = (
    "the a to and of is in it you that for on this my be was with just like so but have are not at "
    "what all new post today people time really good know think one day get now love more thread "
    "bluesky sky art photo news music book game cat dog coffee rain sun world work code open source "
    "café naïve über 日本語 こんにちは 🎉 ✨ 🦋 ❤️ 😂 olá señor Straße"
)
_WORDS = tuple(_VOCABULARY.split())
_TAGS = ("art", "photography", "news", "bookclub", "gamedev", "python", "rust", "music", "cats", "science")
_STATUSES = ("👍", "🦋", "😊", "🔥", "💙", "🎉")
_MIMES = ("image/jpeg", "image/png", "image/webp")


@dataclass(frozen=True, slots=True)
class Op:
    action: str
    path: str
    cid: str | None = None
    record: Any = None  # a lexicon record (or, for malformed ops, anything)


@dataclass(frozen=True, slots=True)
class PostRef:
    uri: str
    cid: str

    @property
    def did(self) -> str:
        return self.uri[5:].split("/", 1)[0]

    def strong_ref(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


T = TypeVar("T")


def _uri(ref: PostRef) -> str:
    return ref.uri


def _same(did: str) -> str:
    return did


class Workload:
    """Generates the entries of one workload and keeps the model of what indexing them must give."""

    def __init__(self, events: int, dialect: Dialect = "lexicon", seed: int = 1) -> None:
        if dialect not in ("lexicon", "sdk"):
            raise ValueError(f"dialect must be lexicon or sdk, not {dialect!r}")
        self.events = events
        self.dialect = dialect
        self.seed = seed
        self.rng = random.Random(seed)
        self.ids = Ids(seed)
        self.model = Model()
        self.sdk = SdkDialect() if dialect == "sdk" else None
        self.counts: dict[str, int] = dict.fromkeys(
            ("commit", "identity", "account", "unknown", "duplicate", "malformed_entry", "malformed_op"), 0
        )
        self.op_counts: dict[str, int] = {}
        population = max(200, events // EVENTS_PER_ACCOUNT)
        self.dids = [self.ids.did(index) for index in range(population)]
        self.deleted_accounts: set[str] = set()
        self._op_kinds = [kind for kind, _ in OP_MIX]
        self._op_cum = list(itertools.accumulate(weight for _, weight in OP_MIX))
        self._builders: dict[str, Callable[[str], list[Op]]] = {
            kind: getattr(self, f"_op_{kind}") for kind in self._op_kinds
        }
        self._now = START_MICROS  # the virtual clock
        self._last_tid = START_MICROS
        self._seq = FIRST_SEQ
        self._record_ids = itertools.count()
        self._recent: deque[Fields] = deque(maxlen=DUPLICATE_WINDOW)  # what duplicates repeat
        # Popularity: lists that grow with every pick, so that copying a random element is
        # preferential attachment.
        self._authors_seen: list[str] = []
        self._engaged: list[PostRef] = []
        self._followed: list[str] = []
        self._posts: list[PostRef] = []
        self._phantoms = 0
        self._root_of: dict[str, PostRef] = {}
        # Per-author state for ops that need an earlier record of the author.
        self._singletons: dict[tuple[str, str], int] = {}
        self._own_posts: dict[str, list[tuple[int, PostRef]]] = {}
        self._own_lists: dict[str, list[str]] = {}
        self._all_lists: list[str] = []
        self._feed_generators: list[PostRef] = []
        self._gated: set[tuple[str, int]] = set()
        self._unique_pairs: set[tuple[str, str, str]] = set()

    # -- the stream ---------------------------------------------------------------------------------

    def entries(self) -> Iterator[Fields]:
        """The workload's entries, in stream order; `expected()` is complete once it is exhausted."""
        produced = 0
        rng = self.rng
        while produced < self.events:
            self._now += int(rng.expovariate(EVENT_RATE) * 1_000_000) + 1
            roll = rng.random()
            if roll < P_REPLAY and len(self._recent) >= 50:
                run = self._replay(min(rng.randint(10, 40), self.events - produced))
                self.counts["duplicate"] += len(run)
                produced += len(run)
                yield from run
                continue
            produced += 1
            roll -= P_REPLAY
            if roll < P_DUPLICATE and self._recent:
                self.counts["duplicate"] += 1
                yield rng.choice(self._recent)
                continue
            roll -= P_DUPLICATE
            if roll < P_MALFORMED_ENTRY:
                self.counts["malformed_entry"] += 1
                self.model.dead_letter()
                yield self._malformed_entry()
                continue
            roll -= P_MALFORMED_ENTRY
            if roll < P_UNKNOWN_TYPE:
                self.counts["unknown"] += 1
                yield self._entry("sync", self._json({"did": self._author(), "rev": self._tid()}))
                continue
            roll -= P_UNKNOWN_TYPE
            if roll < P_IDENTITY:
                self.counts["identity"] += 1
                yield self._remember(self._identity())
                continue
            roll -= P_IDENTITY
            if roll < P_ACCOUNT:
                self.counts["account"] += 1
                yield self._remember(self._account())
                continue
            self.counts["commit"] += 1
            fields, clean = self._commit()
            yield self._remember(fields) if clean else fields

    def expected(self) -> dict[str, Any]:
        """The totals the tables must hold, with what the workload contained (JSON-ready)."""
        return {
            "seed": self.seed,
            "dialect": self.dialect,
            "entries": self.events,
            "entry_kinds": dict(self.counts),
            "ops": dict(sorted(self.op_counts.items())),
            "accounts": len(self.dids),
            "deleted_accounts": len(self.deleted_accounts),
            **self.model.expected(),
        }

    def _remember(self, fields: Fields) -> Fields:
        """Only valid entries are repeated (no malformed entry, no commit holding a malformed op): a
        duplicate must change nothing, and a repeated bad op would be one more dead letter."""
        self._recent.append(fields)
        return fields

    def _replay(self, length: int) -> list[Fields]:
        """Consecutive earlier entries, as a reader reconnecting from an old cursor re-adds them."""
        start = self.rng.randrange(len(self._recent) - length + 1) if len(self._recent) > length else 0
        return list(itertools.islice(self._recent, start, start + length))

    def _entry(self, kind: str, data: str | bytes) -> Fields:
        self._seq += 1
        return {"type": kind, "data": data, "seq": str(self._seq)}

    def _json(self, value: Any) -> str | bytes:
        """Envelope JSON as each dialect's reader writes it (Jetstream compact; Python json.dumps)."""
        return orjson.dumps(value) if self.sdk is None else json.dumps(value)

    # -- identifiers and time -------------------------------------------------------------------------

    def _tid(self) -> str:
        """A fresh TID, unique in the workload: record keys never collide."""
        self._last_tid = max(self._last_tid + 1, self._now)
        return tid(self._last_tid, self.rng.randrange(1024))

    def _created_at(self) -> str:
        """The record's own timestamp: a little before the event, sometimes far off (still valid)."""
        rng = self.rng
        roll = rng.random()
        micros = self._now - int(rng.random() * 2_000_000)
        if roll < 0.005:
            micros -= rng.randrange(1, 400) * 86_400_000_000  # backdated (imports, old clients)
        elif roll < 0.006:
            micros += rng.randrange(1, 48) * 3_600_000_000  # a clock in the future
        style = 0 if roll < 0.9 else (1 if roll < 0.95 else 2)
        return rfc3339(micros, style)

    def _author(self) -> str:
        """An active, not deleted account; activity is heavy-tailed (preferential attachment)."""
        rng = self.rng
        while True:
            if self._authors_seen and rng.random() < P_COPY_AUTHOR:
                did = rng.choice(self._authors_seen)
            else:
                did = rng.choice(self.dids)
            if did not in self.deleted_accounts:
                self._authors_seen.append(did)
                return did

    def _account_subject(self) -> str:
        """Someone to follow or mention: popular accounts more often (deleted ones too)."""
        rng = self.rng
        if self._followed and rng.random() < P_COPY_SUBJECT:
            did = self._followed[-1 - rng.randrange(min(len(self._followed), COPY_WINDOW))]
        else:
            did = rng.choice(self.dids)
        self._followed.append(did)
        return did

    def _post_subject(self) -> PostRef:
        """A post to like, repost, reply to or quote: popular ones, recent ones, or one never seen."""
        rng = self.rng
        roll = rng.random()
        if self._engaged and roll < P_COPY_SUBJECT:
            ref = self._engaged[-1 - rng.randrange(min(len(self._engaged), COPY_WINDOW))]
        elif self._posts and roll < 1.0 - P_PHANTOM_POST:
            back = min(len(self._posts) - 1, int(rng.expovariate(1.0 / RECENT_POSTS)))
            ref = self._posts[-1 - back]
        else:
            ref = self._phantom_post()
        self._engaged.append(ref)
        return ref

    def _phantom_post(self) -> PostRef:
        """A post from before the stream began: it never appears, but likes and replies name it."""
        self._phantoms += 1
        micros = START_MICROS - self.rng.randrange(1, 365 * 86_400) * 1_000_000
        author = (
            self.rng.choice(self.dids) if self.rng.random() < 0.7 else self.ids.did(f"gone{self._phantoms}")
        )
        rkey = tid(micros, self.rng.randrange(1024))
        return PostRef(f"at://{author}/{POST}/{rkey}", self.ids.record_cid(f"phantom{self._phantoms}"))

    def _blob(self, mime: str, size: int) -> dict[str, Any]:
        return {
            "$type": "blob",
            "ref": {"$link": self.ids.blob_cid(self.rng.getrandbits(48))},
            "mimeType": mime,
            "size": size,
        }

    # -- records the model follows ------------------------------------------------------------------

    def _create(
        self,
        author: str,
        collection: str,
        record: dict[str, Any],
        effects: tuple[Effect, ...],
        rkey: str | None = None,
        pair: str | None = None,
    ) -> tuple[int, Op]:
        """A create op, and the record it makes live in the model."""
        record_id = next(self._record_ids)
        path = f"{collection}/{rkey or self._tid()}"
        cid = self.ids.record_cid(record_id)
        pair_key = (collection, author, pair) if pair is not None else None
        self.model.create(record_id, Record(author, path, ((collection, None), *effects), pair_key))
        return record_id, Op("create", path, cid, record)

    def _notify(self, author: str, recipient: str) -> tuple[Effect, ...]:
        return () if recipient == author else (("notifications", None),)

    # -- one builder per op kind: each returns the ops (usually one) it made ---------------------------

    def _pair_subject(
        self, collection: str, author: str, pick: Callable[[], T], key: Callable[[T], str]
    ) -> T:
        """A subject the author has no live record of in `collection`, except for a small share.

        Clients do not like a post twice, but races and buggy clients do, and the indexer must keep
        the second record aside (DIRECTION §4): `P_SECOND_RECORD` of these ops are such seconds.
        """
        subject = pick()
        if self.rng.random() < P_SECOND_RECORD:
            return subject
        for _ in range(8):
            if not self.model.pair_is_live(collection, author, key(subject)):
                break
            subject = pick()
        return subject

    def _like_subject(self) -> PostRef:
        if self._feed_generators and self.rng.random() < 0.02:
            return self.rng.choice(self._feed_generators)
        return self._post_subject()

    def _op_like(self, author: str) -> list[Op]:
        subject = self._pair_subject(LIKE, author, self._like_subject, _uri)
        record: dict[str, Any] = {
            "$type": LIKE,
            "subject": subject.strong_ref(),
            "createdAt": self._created_at(),
        }
        effects = (("like_count", subject.uri), *self._notify(author, subject.did))
        return [self._create(author, LIKE, record, effects, pair=subject.uri)[1]]

    def _op_repost(self, author: str) -> list[Op]:
        subject = self._pair_subject(REPOST, author, self._post_subject, _uri)
        record = {"$type": REPOST, "subject": subject.strong_ref(), "createdAt": self._created_at()}
        effects = (("repost_count", subject.uri), ("feed_items", None), *self._notify(author, subject.did))
        return [self._create(author, REPOST, record, effects, pair=subject.uri)[1]]

    def _op_follow(self, author: str) -> list[Op]:
        subject = self._pair_subject(FOLLOW, author, self._account_subject, _same)
        record = {"$type": FOLLOW, "subject": subject, "createdAt": self._created_at()}
        return [self._create(author, FOLLOW, record, self._notify(author, subject), pair=subject)[1]]

    def _op_block(self, author: str) -> list[Op]:
        subject = self._pair_subject(BLOCK, author, lambda: self.rng.choice(self.dids), _same)
        record = {"$type": BLOCK, "subject": subject, "createdAt": self._created_at()}
        return [self._create(author, BLOCK, record, (), pair=subject)[1]]

    def _op_post(self, author: str) -> list[Op]:
        rng = self.rng
        effects: list[Effect] = [("feed_items", None)]
        words = [rng.choice(_WORDS) for _ in range(min(40, int(rng.expovariate(1 / 14)) + 1))]
        # At most 160 characters before the facets (each adds under 50): within 300 graphemes.
        text = " ".join(words)[:MAX_BASE_TEXT].strip() or "hello"
        record: dict[str, Any] = {"$type": POST, "text": "", "createdAt": self._created_at()}
        if rng.random() < 0.8:
            record["langs"] = [rng.choice(("en", "ja", "pt", "de", "es"))]
        reply_to: PostRef | None = None
        if rng.random() < 1 / 3:
            reply_to = self._post_subject()
            root = self._root_of.get(reply_to.uri, reply_to)
            record["reply"] = {"root": root.strong_ref(), "parent": reply_to.strong_ref()}
            effects.append(("reply_count", reply_to.uri))
            effects += self._notify(author, reply_to.did)
            if root.did != reply_to.did:
                effects += self._notify(author, root.did)
        facets: list[dict[str, Any]] = []
        mentioned: list[str] = []
        if rng.random() < 0.25:
            for _ in range(rng.randint(1, 3)):
                text, facet, mention = self._facet(text)
                facets.append(facet)
                if mention is not None and mention not in mentioned:
                    mentioned.append(mention)
                    effects += self._notify(author, mention)
            record["facets"] = facets
        if rng.random() < 0.03:
            record["tags"] = rng.sample(_TAGS, 2)
        record["text"] = text
        embed, quoted = self._embed()
        if embed is not None:
            record["embed"] = embed
        if quoted is not None:
            effects += [("quotes", None), ("quote_count", quoted.uri), *self._notify(author, quoted.did)]
        record_id, op = self._create(author, POST, record, tuple(effects))
        ref = PostRef(f"at://{author}/{op.path}", op.cid or "")
        if reply_to is not None:
            self._root_of[ref.uri] = self._root_of.get(reply_to.uri, reply_to)
        self._posts.append(ref)
        own = self._own_posts.setdefault(author, [])
        own.append((record_id, ref))
        del own[:-5]
        return [op]

    def _facet(self, text: str) -> tuple[str, dict[str, Any], str | None]:
        """Append a mention, link or tag to the text; the facet's byte slice points at it."""
        rng = self.rng
        kind = rng.random()
        mention = None
        if kind < 0.5:
            mention = self._account_subject()
            shown = f"@user{mention[8:14]}.bsky.social"
            feature: dict[str, Any] = {"$type": "app.bsky.richtext.facet#mention", "did": mention}
        elif kind < 0.8:
            shown = f"https://example.com/{rng.choice(_WORDS)}/{rng.randrange(10**6)}"
            feature = {"$type": "app.bsky.richtext.facet#link", "uri": shown}
        else:
            tag = rng.choice(_TAGS)
            shown = f"#{tag}"
            feature = {"$type": "app.bsky.richtext.facet#tag", "tag": tag}
        start = len(text.encode()) + 1
        text = f"{text} {shown}"
        facet = {"index": {"byteStart": start, "byteEnd": start + len(shown.encode())}, "features": [feature]}
        return text, facet, mention

    def _images(self) -> dict[str, Any]:
        rng = self.rng
        return {
            "$type": "app.bsky.embed.images",
            "images": [
                {
                    "alt": " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(0, 8))),
                    "image": self._blob(rng.choice(_MIMES), rng.randrange(20_000, 1_000_000)),
                    "aspectRatio": {
                        "width": rng.choice((1000, 1200, 2000)),
                        "height": rng.choice((750, 1000)),
                    },
                }
                for _ in range(rng.choice((1, 1, 1, 2, 3, 4)))
            ],
        }

    def _embed(self) -> tuple[dict[str, Any] | None, PostRef | None]:
        """An embed (35 % of posts), and the quoted post when it quotes one."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.65:
            return None, None
        if roll < 0.80:
            return self._images(), None
        if roll < 0.89:
            external: dict[str, Any] = {
                "uri": f"https://news.example.org/{rng.randrange(10**6)}",
                "title": " ".join(rng.choice(_WORDS) for _ in range(6)),
                "description": " ".join(rng.choice(_WORDS) for _ in range(12)),
            }
            if rng.random() < 0.6:
                external["thumb"] = self._blob("image/jpeg", rng.randrange(5_000, 900_000))
            return {"$type": "app.bsky.embed.external", "external": external}, None
        if roll < 0.91:
            video = {
                "$type": "app.bsky.embed.video",
                "video": self._blob("video/mp4", rng.randrange(10**6, 50 * 10**6)),
                "aspectRatio": {"width": 1080, "height": 1920},
            }
            return video, None
        quoted = self._post_subject()
        if roll < 0.975:
            return {"$type": "app.bsky.embed.record", "record": quoted.strong_ref()}, quoted
        return {
            "$type": "app.bsky.embed.recordWithMedia",
            "record": {"$type": "app.bsky.embed.record", "record": quoted.strong_ref()},
            "media": self._images(),
        }, quoted

    def _op_delete(self, author: str) -> list[Op]:
        """Delete one of the author's live records, of whatever kind (a like when there is none)."""
        ids = self.model.live_ids_of(author)
        for _ in range(4):
            if not ids:
                break
            index = self.rng.randrange(len(ids))
            record_id = ids[index]
            if record_id not in self.model.live:
                ids[index] = ids[-1]
                ids.pop()
                continue
            record = self.model.delete(record_id)
            collection = record.path.split("/", 1)[0]
            self._singletons.pop((author, collection), None)
            if collection == LIST:
                self._forget_list(author, f"at://{author}/{record.path}")
            return [Op("delete", record.path)]
        return self._op_like(author)

    def _forget_list(self, author: str, uri: str) -> None:
        lists = self._own_lists.get(author, [])
        if uri in lists:
            lists.remove(uri)

    def _singleton(self, author: str, collection: str, record: dict[str, Any]) -> list[Op]:
        """Records keyed `self` (profile, labeler, chat declaration): create once, then update."""
        record_id = self._singletons.get((author, collection))
        if record_id is not None and record_id in self.model.live:
            return [
                Op("update", f"{collection}/self", self.ids.record_cid(f"u{next(self._record_ids)}"), record)
            ]
        record_id, op = self._create(author, collection, record, (), rkey="self")
        self._singletons[(author, collection)] = record_id
        return [op]

    def _op_profile(self, author: str) -> list[Op]:
        rng = self.rng
        record: dict[str, Any] = {
            "$type": PROFILE,
            "displayName": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)}",
        }
        if rng.random() < 0.7:
            record["description"] = " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(3, 30)))
        if rng.random() < 0.8:
            record["avatar"] = self._blob("image/jpeg", rng.randrange(10_000, 900_000))
        if rng.random() < 0.4:
            record["banner"] = self._blob("image/jpeg", rng.randrange(10_000, 900_000))
        if rng.random() < 0.5:
            record["createdAt"] = self._created_at()
        own = self._own_posts.get(author)
        if own and rng.random() < 0.15:
            record["pinnedPost"] = own[-1][1].strong_ref()
        return self._singleton(author, PROFILE, record)

    def _op_chat_declaration(self, author: str) -> list[Op]:
        allow = self.rng.choice(("following", "all", "none"))
        return self._singleton(author, CHAT_DECLARATION, {"$type": CHAT_DECLARATION, "allowIncoming": allow})

    def _op_labeler(self, author: str) -> list[Op]:
        values = self.rng.sample(["spam", "nudity", "gore", "rude", "misleading", "ai-generated"], 3)
        record = {"$type": LABELER, "policies": {"labelValues": values}, "createdAt": self._created_at()}
        return self._singleton(author, LABELER, record)

    def _op_list(self, author: str) -> list[Op]:
        rng = self.rng
        purpose = "app.bsky.graph.defs#curatelist" if rng.random() < 0.7 else "app.bsky.graph.defs#modlist"
        record: dict[str, Any] = {
            "$type": LIST,
            "purpose": purpose,
            "name": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)}",
            "createdAt": self._created_at(),
        }
        if rng.random() < 0.5:
            record["description"] = " ".join(rng.choice(_WORDS) for _ in range(8))
        _, op = self._create(author, LIST, record, ())
        uri = f"at://{author}/{op.path}"
        self._own_lists.setdefault(author, []).append(uri)
        self._all_lists.append(uri)
        # A new list comes with its first members, in the same commit.
        return [op, *(item for _ in range(rng.randint(1, 4)) for item in self._list_item(author, uri))]

    def _unique_pair(self, collection: str, owner: str, pick: Callable[[], str]) -> str | None:
        """A subject not yet paired with `owner` in `collection` (these tables stay free of asides)."""
        for _ in range(5):
            subject = pick()
            if (collection, owner, subject) not in self._unique_pairs:
                self._unique_pairs.add((collection, owner, subject))
                return subject
        return None

    def _op_list_item(self, author: str) -> list[Op]:
        lists = self._own_lists.get(author)
        if not lists:
            return self._op_list(author)
        return self._list_item(author, self.rng.choice(lists)) or self._op_like(author)

    def _list_item(self, author: str, list_uri: str) -> list[Op]:
        subject = self._unique_pair(LIST_ITEM, list_uri, self._account_subject)
        if subject is None:
            return []
        record = {"$type": LIST_ITEM, "subject": subject, "list": list_uri, "createdAt": self._created_at()}
        return [self._create(author, LIST_ITEM, record, ())[1]]

    def _op_list_block(self, author: str) -> list[Op]:
        if not self._all_lists:
            return self._op_list(author)
        subject = self._unique_pair(LIST_BLOCK, author, lambda: self.rng.choice(self._all_lists))
        if subject is None:
            return self._op_like(author)
        record = {"$type": LIST_BLOCK, "subject": subject, "createdAt": self._created_at()}
        return [self._create(author, LIST_BLOCK, record, ())[1]]

    def _op_starter_pack(self, author: str) -> list[Op]:
        lists = self._own_lists.get(author)
        if not lists:
            return self._op_list(author)
        record: dict[str, Any] = {
            "$type": STARTER_PACK,
            "name": f"{self.rng.choice(_WORDS)} starter pack",
            "list": lists[-1],
            "createdAt": self._created_at(),
        }
        if self._feed_generators and self.rng.random() < 0.5:
            record["feeds"] = [{"uri": self.rng.choice(self._feed_generators).uri}]
        return [self._create(author, STARTER_PACK, record, ())[1]]

    def _op_feed_generator(self, author: str) -> list[Op]:
        record: dict[str, Any] = {
            "$type": FEED_GENERATOR,
            "did": "did:web:feeds.example.com",
            "displayName": f"{self.rng.choice(_WORDS)} feed",
            "description": " ".join(self.rng.choice(_WORDS) for _ in range(10)),
            "createdAt": self._created_at(),
        }
        rkey = f"feed-{self.rng.getrandbits(32):08x}"
        _, op = self._create(author, FEED_GENERATOR, record, (), rkey=rkey)
        self._feed_generators.append(PostRef(f"at://{author}/{op.path}", op.cid or ""))
        return [op]

    def _op_verification(self, author: str) -> list[Op]:
        subject = self._unique_pair(VERIFICATION, author, lambda: self.rng.choice(self.dids))
        if subject is None:
            return self._op_like(author)
        record = {
            "$type": VERIFICATION,
            "subject": subject,
            "handle": f"user{subject[8:14]}.bsky.social",
            "displayName": self.rng.choice(_WORDS),
            "createdAt": self._created_at(),
        }
        return [self._create(author, VERIFICATION, record, ())[1]]

    def _gate(self, author: str, collection: str) -> tuple[PostRef, str] | None:
        """The author's most recent live post without a gate of this kind, and its record key."""
        for record_id, ref in reversed(self._own_posts.get(author, [])):
            if record_id in self.model.live and (collection, record_id) not in self._gated:
                self._gated.add((collection, record_id))
                return ref, ref.uri.rsplit("/", 1)[1]
        return None

    def _op_threadgate(self, author: str) -> list[Op]:
        gate = self._gate(author, THREADGATE)
        if gate is None:
            return self._op_post(author)
        ref, rkey = gate
        rules = self.rng.choice(
            (
                [],
                [{"$type": "app.bsky.feed.threadgate#mentionRule"}],
                [{"$type": "app.bsky.feed.threadgate#followingRule"}],
                [
                    {"$type": "app.bsky.feed.threadgate#mentionRule"},
                    {"$type": "app.bsky.feed.threadgate#followingRule"},
                ],
            )
        )
        record = {"$type": THREADGATE, "post": ref.uri, "allow": rules, "createdAt": self._created_at()}
        return [self._create(author, THREADGATE, record, (), rkey=rkey)[1]]

    def _op_postgate(self, author: str) -> list[Op]:
        gate = self._gate(author, POSTGATE)
        if gate is None:
            return self._op_post(author)
        ref, rkey = gate
        record = {
            "$type": POSTGATE,
            "post": ref.uri,
            "embeddingRules": [{"$type": "app.bsky.feed.postgate#disableRule"}],
            "createdAt": self._created_at(),
        }
        return [self._create(author, POSTGATE, record, (), rkey=rkey)[1]]

    def _op_third_party(self, author: str) -> list[Op]:
        rng = self.rng
        collection = rng.choice(THIRD_PARTY)
        created_at = self._created_at()
        record: dict[str, Any]
        if collection == "xyz.statusphere.status":
            record = {"status": rng.choice(_STATUSES), "createdAt": created_at}
        elif collection == "fyi.unravel.frontpage.post":
            record = {"title": " ".join(rng.choice(_WORDS) for _ in range(6)), "url": "https://example.net/a"}
            record["createdAt"] = created_at
        elif collection == "community.lexicon.calendar.event":
            record = {"name": f"{rng.choice(_WORDS)} meetup", "createdAt": created_at, "startsAt": created_at}
        else:  # social.grain.favorite, sh.tangled.feed.star: a subject record
            record = {"subject": self._post_subject().uri, "createdAt": created_at}
        return [self._create(author, collection, {"$type": collection, **record}, ())[1]]

    # -- malformed input: each one is exactly one dead letter ------------------------------------------

    def _malformed_op(self, author: str) -> Op:
        """A bad op inside a good commit: dead-lettered alone, its batch-mates applied."""
        rng = self.rng
        rkey = self._tid()
        cid = self.ids.record_cid(f"bad{rkey}")
        created_at = self._created_at()
        subject = self._phantom_post()
        kind = rng.randrange(11)
        if kind == 0:
            bad_subject = {"uri": "at://not-a-did/app.bsky.feed.post/x", "cid": subject.cid}
            return Op(
                "create",
                f"{LIKE}/{rkey}",
                cid,
                {"$type": LIKE, "subject": bad_subject, "createdAt": created_at},
            )
        if kind == 1:
            return Op(
                "create",
                f"{FOLLOW}/{rkey}",
                cid,
                {"$type": FOLLOW, "subject": "did:plc:short", "createdAt": created_at},
            )
        if kind == 2:
            return Op(
                "create", f"{POST}/{rkey}", cid, {"$type": POST, "text": "hi", "createdAt": "yesterday"}
            )
        if kind == 3:
            text = " ".join(["words"] * 70)  # 419 graphemes: over the 300 limit
            return Op("create", f"{POST}/{rkey}", cid, {"$type": POST, "text": text, "createdAt": created_at})
        if kind == 4:
            mismatch = {"$type": REPOST, "subject": subject.strong_ref(), "createdAt": created_at}
            return Op("create", f"{LIKE}/{rkey}", cid, mismatch)
        if kind == 5:
            return Op(
                "create",
                f"{LIKE}/bad$key{rkey}",
                cid,
                {"$type": LIKE, "subject": subject.strong_ref(), "createdAt": created_at},
            )
        if kind == 6:
            return Op(
                "create",
                f"{LIKE}/{rkey}",
                "not a cid!",
                {"$type": LIKE, "subject": subject.strong_ref(), "createdAt": created_at},
            )
        if kind == 7:
            return Op("create", f"{LIKE}/{rkey}", cid, None)
        if kind == 8:
            return Op(
                "create",
                f"{LIKE}/{rkey}",
                cid,
                {"$type": LIKE, "subject": subject.strong_ref(), "createdAt": 1714564800},
            )
        if kind == 9:
            no_cid = {"uri": subject.uri}
            return Op(
                "create", f"{LIKE}/{rkey}", cid, {"$type": LIKE, "subject": no_cid, "createdAt": created_at}
            )
        return Op("create", f"not_an_nsid/{rkey}", cid, {"text": "x", "createdAt": created_at})

    def _malformed_entry(self) -> Fields:
        """An entry the adapter or the planner rejects whole: exactly one dead letter."""
        rng = self.rng
        did = rng.choice(self.dids)
        fresh = self.ids.did(f"fresh{self._seq}")  # a DID no valid event names: nothing else is lost
        like = {"action": "create", "path": f"{LIKE}/{self._tid()}", "cid": self.ids.record_cid("x")}
        kind = rng.randrange(14)
        if kind == 0:
            return self._entry("commit", self._json({"repo": did, "ops": [like]})[:-7])
        if kind == 1:
            return self._entry("commit", "[1, 2, 3]")
        if kind == 2:
            return self._entry("commit", b'{"repo": "' + did.encode() + b'", "ops": [], "x": "\xff\xfe"}')
        if kind == 3:
            return self._entry("commit", self._json({"repo": did, "ops": {"action": "create"}}))
        if kind == 4:
            return self._entry(
                "commit", self._json({"repo": did, "ops": [{**like, "action": "upsert", "record": {}}]})
            )
        if kind == 5:
            self._seq += 1
            return {"type": "commit", "seq": str(self._seq)}
        if kind == 6:
            entry = self._entry("commit", self._json({"repo": did, "ops": []}))
            entry["seq"] = "12ab"
            return entry
        if kind == 7:
            return self._entry("account", self._json({"did": fresh, "active": "yes"}))
        if kind == 8:
            return self._entry("identity", self._json({"did": "did:plc:TOOSHORT", "handle": "x.bsky.social"}))
        if kind == 9:
            record = {
                "$type": LIKE,
                "subject": self._phantom_post().strong_ref(),
                "createdAt": self._created_at(),
            }
            return self._entry(
                "commit", self._json({"repo": "did:plc:abc", "ops": [{**like, "record": record}]})
            )
        if kind == 10:
            return self._entry("account", self._json({"did": fresh, "active": False, "status": "banned"}))
        if kind == 11:
            return self._entry(
                "commit",
                self._json({"repo": did, "ops": [{"action": "create", "path": like["path"], "record": {}}]}),
            )
        if kind == 12:
            return self._entry("commit", self._json({"repo": did, "ops": [{**like, "record": "hello"}]}))
        return self._entry("commit", self._json({"repo": did, "ops": [{**like, "path": LIKE, "record": {}}]}))

    # -- events ------------------------------------------------------------------------------------------

    def _commit(self) -> tuple[Fields, bool]:
        """A commit entry, and whether every op of it is valid."""
        rng = self.rng
        author = self._author()
        size = 1 if rng.random() >= P_MULTI_OP else rng.randint(2, 6)
        if rng.random() < 0.0005:
            size = 0  # `"ops": []` is valid and does nothing
        ops: list[Op] = []
        clean = True
        for _ in range(size):
            if rng.random() < P_MALFORMED_OP:
                self.counts["malformed_op"] += 1
                self.model.dead_letter()
                ops.append(self._malformed_op(author))
                clean = False
                continue
            kind = rng.choices(self._op_kinds, cum_weights=self._op_cum)[0]
            made = self._builders[kind](author)
            for op in made:
                name = op.action if op.action == "delete" else op.path.split("/", 1)[0]
                self.op_counts[name] = self.op_counts.get(name, 0) + 1
            ops.extend(made)
        return self._entry("commit", self._commit_data(author, ops)), clean

    def _commit_data(self, repo: str, ops: list[Op]) -> str | bytes:
        if self.sdk is None:
            return lexicon_commit_data(repo, self._tid(), rfc3339(self._now), ops)
        return sdk_commit_data(self.sdk, repo, ops)

    def _identity(self) -> Fields:
        did = self._author()
        roll = self.rng.random()
        handle = None if roll < 0.1 else (f"user{did[8:14]}.bsky.social" if roll < 0.95 else "not a handle")
        return self._entry("identity", self._json({"did": did, "handle": handle}))

    def _account(self) -> Fields:
        """An account event; in the lexicon dialect a tenth delete the account (its records purged)."""
        did = self._author()
        roll = self.rng.random()
        if roll < 0.1:
            active, status = False, "deleted"
        elif roll < 0.4:
            active, status = False, self.rng.choice(("deactivated", "takendown", "suspended"))
        else:
            active, status = True, None
        if self.sdk is not None:
            return self._entry("account", self._json({"did": did, "active": active}))
        if status == "deleted":
            self.deleted_accounts.add(did)
            self.model.purge(did)
        data = (
            {"did": did, "active": active}
            if status is None
            else {"did": did, "active": active, "status": status}
        )
        return self._entry("account", self._json(data))


def lexicon_commit_data(repo: str, rev: str, when: str, ops: list[Op]) -> bytes:
    """A commit's `data` as a Jetstream-like reader writes it: compact JSON with `rev` and `time`."""
    return orjson.dumps(
        {
            "repo": repo,
            "rev": rev,
            "time": when,
            "ops": [
                {"action": op.action, "path": op.path}
                if op.action == "delete"
                else {"action": op.action, "path": op.path, "cid": op.cid, "record": op.record}
                for op in ops
            ],
        }
    )


def sdk_commit_data(sdk: SdkDialect, repo: str, ops: list[Op]) -> str:
    """A commit's `data` exactly as the existing Python reader writes it: `json.dumps` of
    `{"repo", "ops"}`, each op `{"action", "path"}` plus `cid` and the SDK-dumped `record` for
    creates and updates. Written piecewise so that each record's text comes from its SDK template.

    A record the SDK refuses (only malformed ones) goes as lexicon JSON: the reader would have lost
    it, but the point of a malformed op is to reach the indexer.
    """
    texts = []
    for op in ops:
        head = f'{{"action": "{op.action}", "path": {encode_basestring_ascii(op.path)}'
        if op.action == "delete":
            texts.append(head + "}")
            continue
        record = sdk.record_json(op.record) if isinstance(op.record, dict) else None
        cid = "null" if op.cid is None else encode_basestring_ascii(op.cid)
        texts.append(f'{head}, "cid": {cid}, "record": {record or json.dumps(op.record)}}}')
    return f'{{"repo": {encode_basestring_ascii(repo)}, "ops": [{", ".join(texts)}]}}'


# -- pushing ------------------------------------------------------------------------------------------


@dataclass
class PushReport:
    entries: int
    generate_s: float
    push_s: float

    @property
    def push_rate(self) -> float:
        return self.entries / self.push_s if self.push_s else 0.0

    @property
    def overall_rate(self) -> float:
        total = self.generate_s + self.push_s
        return self.entries / total if total else 0.0

    def line(self) -> str:
        return (
            f"pushed {self.entries:,} entries: XADD {self.push_rate:,.0f}/s ({self.push_s:.1f} s), "
            f"generated and pushed {self.overall_rate:,.0f}/s ({self.generate_s + self.push_s:.1f} s)"
        )


CHUNK = 2_000  # XADDs per pipeline round trip


def push(client: redis.Redis, stream: str, entries: Iterable[Fields], chunk: int = CHUNK) -> PushReport:
    """XADD every entry (no MAXLEN: nothing may be trimmed unread), `chunk` per round trip."""
    report = PushReport(0, 0.0, 0.0)
    iterator = iter(entries)
    while True:
        started = time.perf_counter()
        batch = list(itertools.islice(iterator, chunk))
        generated = time.perf_counter()
        if not batch:
            break
        pipe = client.pipeline(transaction=False)
        for fields in batch:
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        pipe.execute()
        report.entries += len(batch)
        report.generate_s += generated - started
        report.push_s += time.perf_counter() - generated
    return report


def default_expected_path(events: int, dialect: str, seed: int) -> Path:
    return Path(__file__).parent / "results" / f"expected-{dialect}-{events}-seed{seed}.json"


def write_expected(path: Path, expected: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(expected, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="stream entries to push")
    parser.add_argument("--dialect", choices=("lexicon", "sdk"), default="lexicon")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stream", default="bench:firehose", help="stream key (default: bench:firehose)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--expected", type=Path, help="where to write the expected totals (JSON)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--replace", action="store_true", help="delete the stream (and its groups) first")
    mode.add_argument("--append", action="store_true", help="add to a stream that already has entries")
    args = parser.parse_args(argv)
    client = redis.Redis.from_url(args.redis_url)
    existing = client.xlen(args.stream) if client.exists(args.stream) else 0
    if existing and not (args.replace or args.append):
        print(
            f"stream {args.stream!r} already has {existing:,} entries: pass --replace or --append",
            file=sys.stderr,
        )
        return 2
    if args.replace:
        client.delete(args.stream)
    workload = Workload(args.events, args.dialect, args.seed)
    report = push(client, args.stream, workload.entries())
    print(report.line())
    path = args.expected or default_expected_path(args.events, args.dialect, args.seed)
    write_expected(path, workload.expected())
    print(f"expected totals: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
