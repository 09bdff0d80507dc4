"""What the tables must hold once a workload is indexed: a plain-Python model of DIRECTION §4.

Independent of the indexer on purpose (it shares no code with app/), so that a run whose tables
match it shows the indexer right, not merely self-consistent. The generator tells the model every
record it makes live or removes, in stream order; the rules the model applies:

- a record contributes its *effects* (a row in its table, a feed item, counters on its subject,
  notifications) while it is live; a delete, or the purge of its author's account, removes them;
- for tables unique per (author, subject) — likes, reposts, follows, blocks — a second live record
  of the same pair is kept aside, not counted: a pair contributes its effects once while at least
  one of its records is live, whichever of them the indexer holds in the table at the end;
- duplicate entries and stale replays change nothing, and are never reported to the model;
- a bad entry, or a bad op inside a good commit, is one dead letter (`dead_letter`).

Counters are keyed by the subject's URI whether or not the subject exists (DIRECTION §4), so the
model keeps a count per subject and the totals hold both the sum over subjects and the sum of the
squares, which a counter credited to the wrong post would change.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

# An effect is (total name, subject): subject None adds to the total itself; a subject URI adds to
# that subject's counter as well (totals `<name>` and `<name>_sq`).
Effect = tuple[str, str | None]

# The post_aggregations columns the model follows per subject.
SUBJECT_COUNTERS = ("like_count", "repost_count", "reply_count", "quote_count")


@dataclass(slots=True)
class Record:
    """A live record as the model knows it."""

    author: str
    path: str  # <collection>/<rkey>, for the delete op
    effects: tuple[Effect, ...]
    pair: tuple[str, str, str] | None = None  # (collection, author, subject) of a pair table


@dataclass
class Model:
    totals: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    live: dict[int, Record] = field(default_factory=dict)
    _pairs: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    _by_author: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    _per_subject: dict[str, Counter[str]] = field(
        default_factory=lambda: {name: Counter() for name in SUBJECT_COUNTERS}
    )

    def create(self, record_id: int, record: Record) -> None:
        """A record became live (a create the indexer will apply)."""
        self.live[record_id] = record
        self._by_author[record.author].append(record_id)
        if record.pair is not None:
            self._pairs[record.pair] += 1
            if self._pairs[record.pair] > 1:
                return  # kept aside: the pair already counts
        self._apply(record.effects, +1)

    def delete(self, record_id: int) -> Record:
        """A live record was deleted (or purged)."""
        record = self.live.pop(record_id)
        if record.pair is not None:
            self._pairs[record.pair] -= 1
            if self._pairs[record.pair] > 0:
                return record  # another record of the pair takes its place
            del self._pairs[record.pair]
        self._apply(record.effects, -1)
        return record

    def pair_is_live(self, collection: str, author: str, subject: str) -> bool:
        return (collection, author, subject) in self._pairs

    def live_pairs(self, collection: str) -> set[tuple[str, str]]:
        """(author, subject) of every pair of `collection` with a live record: the rows its table holds."""
        return {(author, subject) for name, author, subject in self._pairs if name == collection}

    def purge(self, author: str) -> int:
        """An account was deleted: every live record it wrote goes. Returns how many."""
        purged = 0
        for record_id in self._by_author.pop(author, []):
            if record_id in self.live:
                self.delete(record_id)
                purged += 1
        return purged

    def live_ids_of(self, author: str) -> list[int]:
        """The author's record ids, possibly with dead ones (callers check `live`); pruned here."""
        ids = self._by_author.get(author)
        if ids is None:
            return []
        if len(ids) > 64:
            ids[:] = [record_id for record_id in ids if record_id in self.live]
        return ids

    def dead_letter(self, count: int = 1) -> None:
        self.dead_letters += count

    def _apply(self, effects: tuple[Effect, ...], sign: int) -> None:
        totals = self.totals
        for name, subject in effects:
            totals[name] += sign
            if subject is not None:
                counts = self._per_subject[name]
                before = counts[subject]
                after = before + sign
                if after:
                    counts[subject] = after
                else:
                    del counts[subject]
                totals[f"{name}_sq"] += after * after - before * before

    def expected(self) -> dict[str, Any]:
        """The totals as the end-to-end run checks them (bench/run.py `CHECKS`)."""
        totals = self.totals
        return {
            "tables": {
                "posts": totals["app.bsky.feed.post"],
                "likes": totals["app.bsky.feed.like"],
                "reposts": totals["app.bsky.feed.repost"],
                "follows": totals["app.bsky.graph.follow"],
                "blocks": totals["app.bsky.graph.block"],
                "feed_items": totals["feed_items"],
                "quotes": totals["quotes"],
                "notifications": totals["notifications"],
                "profiles": totals["app.bsky.actor.profile"],
            },
            "post_aggregations": {
                name: totals[name] for counter in SUBJECT_COUNTERS for name in (counter, f"{counter}_sq")
            },
            # Every collection the workload wrote to (NSIDs have dots; the other totals do not).
            "records": {name: count for name, count in sorted(totals.items()) if "." in name},
            "dead_letters": self.dead_letters,
        }
