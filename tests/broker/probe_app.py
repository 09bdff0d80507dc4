"""A worker app for the transport tests: the production app's shape with probe handlers.

`.venv/bin/faust -A tests.broker.probe_app worker` with the usual settings in the environment plus
`PROBE_PREFIX`, the Redis key prefix of the test, and optionally `PROBE_REDIS_URL` (default
`REDIS_URL`; another Redis when the stream's Redis is restarted by the test). The handlers record
what they handle durably in Redis (`HINCRBY <prefix>handled <entry id> 1`, and per worker
`HINCRBY <prefix>workers <CONSUMER_ID> <n>`, before returning, so it survives a kill -9) and obey
the test through the content of entries and through Redis keys:

- a commit of repo `did:plc:poison` raises a permanent error; of repo `did:plc:reject` is given
  back as a dead letter by the handler;
- an event of `did:plc:hold` (repo or did) waits until the key `<prefix>release` exists, after
  setting `<prefix>holding` to its entry id;
- each batch decrements `<prefix>transient` and fails with a transient error while the result is
  not negative (so setting it to n makes the next n batches fail);
- while `<prefix>barrier` holds n, each batch counts itself in `<prefix>barrier:arrived` and waits
  (20 s at most) until n batches have arrived, then counts itself in `<prefix>barrier:passed`;
- `PROBE_DELAY_MS` in the environment makes every batch take that long.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence

import redis.asyncio as aioredis

from app.application import build_app
from app.events import AccountEvent, CommitEvent, DeadLetter, IdentityEvent, StreamEvent
from app.settings import Settings

HOLD_DID = "did:plc:hold"
POISON_REPO = "did:plc:poison"
REJECT_REPO = "did:plc:reject"
BARRIER_TIMEOUT_S = 20.0


class ProbeHandlers:
    def __init__(self, redis_url: str, prefix: str, worker: str, delay_s: float) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.worker = worker
        self.delay_s = delay_s
        self.client: aioredis.Redis | None = None

    @property
    def redis(self) -> aioredis.Redis:
        assert self.client is not None, "handlers not started"
        return self.client

    async def start(self) -> None:
        self.client = aioredis.from_url(self.redis_url)

    async def stop(self) -> None:
        await self.redis.incr(f"{self.prefix}stopped")
        await self.redis.aclose()

    async def commits(self, events: list[CommitEvent]) -> Sequence[DeadLetter]:
        if any(event.repo == POISON_REPO for event in events):
            raise ValueError("probe: poison entry")
        await self._common(events, [event.repo for event in events])
        return [
            DeadLetter.of(event, "commit", "probe: rejected") for event in events if event.repo == REJECT_REPO
        ]

    async def identities(self, events: list[IdentityEvent]) -> Sequence[DeadLetter]:
        await self._common(events, [event.did for event in events])
        return []

    async def accounts(self, events: list[AccountEvent]) -> Sequence[DeadLetter]:
        await self._common(events, [event.did for event in events])
        return []

    async def _common(self, events: Sequence[StreamEvent], subjects: list[str]) -> None:
        prefix, client = self.prefix, self.redis
        if (
            int(await client.get(f"{prefix}transient") or 0) > 0
            and await client.decr(f"{prefix}transient") >= 0
        ):
            raise ConnectionError("probe: transient failure")
        barrier = await client.get(f"{prefix}barrier")
        if barrier is not None:
            await client.incr(f"{prefix}barrier:arrived")
            deadline = time.monotonic() + BARRIER_TIMEOUT_S
            while int(await client.get(f"{prefix}barrier:arrived") or 0) < int(barrier):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
            else:
                await client.incr(f"{prefix}barrier:passed")
        for event, subject in zip(events, subjects, strict=True):
            if subject == HOLD_DID:
                await client.set(f"{prefix}holding", event.entry_id)
                while not await client.exists(f"{prefix}release"):
                    await asyncio.sleep(0.02)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        async with client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.hincrby(f"{prefix}handled", event.entry_id, 1)
            pipe.hincrby(f"{prefix}workers", self.worker, len(events))
            pipe.incr(f"{prefix}batches")
            await pipe.execute()


_settings = Settings.from_env()
app = build_app(
    _settings,
    ProbeHandlers(
        os.environ.get("PROBE_REDIS_URL") or _settings.redis_url,
        os.environ.get("PROBE_PREFIX", "probe:"),
        _settings.consumer_id,
        float(os.environ.get("PROBE_DELAY_MS", "0")) / 1000,
    ),
)
