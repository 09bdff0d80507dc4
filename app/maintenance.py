"""Periodic work of a running worker, beside the agents.

Every worker runs it: expiring tombstones is idempotent, so several workers doing it cost a few
empty DELETEs and need no leader election (which would need a Kafka topic).
"""

from __future__ import annotations

import logging

import faust

from app.broker.retry import describe, is_transient
from app.indexing.handlers import IndexingHandlers

log = logging.getLogger(__name__)


def schedule_tombstone_expiry(app: faust.App, handlers: IndexingHandlers, interval_s: float) -> None:
    async def expire_tombstones() -> None:
        try:
            await handlers.expire()
        except Exception as exc:
            # A database outage is the agents' to report; the next tick tries again.
            if not is_transient(exc):
                log.exception("tombstone expiry failed: %s", describe(exc))

    app.timer(interval=interval_s, name="tombstone-expiry")(expire_tombstones)
