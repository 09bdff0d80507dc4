"""What the agents hand their batches to, and the interface the indexing side implements."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import faust
from mode import Service

from app.broker.envelope import ACCOUNT, COMMIT, IDENTITY
from app.broker.ledger import Batch
from app.broker.retry import DEFAULT_BACKOFF, Backoff, apply_batch
from app.broker.transport import RedisConsumer
from app.events import (
    AccountBatch,
    AccountEvent,
    CommitBatch,
    CommitEvent,
    DeadLetter,
    IdentityBatch,
    IdentityEvent,
    StreamEvent,
)
from app.settings import ConfigurationError

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=StreamEvent)


class BatchHandlers(Protocol):
    """Applies typed batches; the indexing side implements it (app.indexing.handlers).

    Each method applies the events it accepts and commits them before returning the dead letters
    of the entries or ops it rejected. Raising means nothing of the call was applied: a transient
    error (app.broker.retry.is_transient) is retried on the same events, any other error makes the
    runner bisect the batch to isolate the entry that causes it.
    """

    async def start(self) -> None:
        """Open pools etc.; called once when the worker starts, before any batch."""

    async def stop(self) -> None:
        """Close what `start` opened; called once after the last batch."""

    async def commits(self, events: list[CommitEvent]) -> Sequence[DeadLetter]: ...

    async def identities(self, events: list[IdentityEvent]) -> Sequence[DeadLetter]: ...

    async def accounts(self, events: list[AccountEvent]) -> Sequence[DeadLetter]: ...


class HandlersService(Service):
    """Runs `BatchHandlers.start`/`stop` as part of the app: started before the agents, stopped
    after them (app.application puts it first among the app's services)."""

    def __init__(self, handlers: BatchHandlers, **kwargs: object) -> None:
        self.handlers = handlers
        self.handlers_started = False
        super().__init__(**kwargs)  # type: ignore[arg-type]

    async def on_start(self) -> None:
        try:
            await self.handlers.start()
        except ConfigurationError as exc:
            # Something only the operator can fix (a schema behind, a missing setting): one line
            # saying what to do, exit status 1, no traceback.
            logger.critical("Cannot start: %s", exc)
            raise SystemExit(1) from None
        self.handlers_started = True

    async def on_stop(self) -> None:
        # mode stops every child of a stopping app, also those a failed start never reached.
        if self.handlers_started:
            self.handlers_started = False
            await self.handlers.stop()


class BatchObserver(Protocol):
    """Told of every settled batch (app.observability.Observability): metrics, the progress line."""

    def batch_settled(
        self, kind: str, events: Sequence[StreamEvent], letters: Sequence[DeadLetter], seconds: float
    ) -> None: ...


class BatchRunner:
    """What each agent calls with its batch: apply it, write its dead letters, mark it done.

    Marking it done (`RedisConsumer.settle`) is what allows the transport to acknowledge its
    entries once Faust commits past it; a batch that never gets here is never acknowledged.
    """

    def __init__(
        self,
        app: faust.App,
        handlers: BatchHandlers,
        observer: BatchObserver,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self._app = app
        self._handlers = handlers
        self._observer = observer
        self._backoff = backoff

    async def commits(self, batch: CommitBatch) -> None:
        await self._run(batch, COMMIT, batch.events, self._handlers.commits)

    async def identities(self, batch: IdentityBatch) -> None:
        await self._run(batch, IDENTITY, batch.events, self._handlers.identities)

    async def accounts(self, batch: AccountBatch) -> None:
        await self._run(batch, ACCOUNT, batch.events, self._handlers.accounts)

    async def _run(
        self,
        batch: Batch,
        kind: str,
        events: list[E],
        handle: Callable[[list[E]], Awaitable[Sequence[DeadLetter]]],
    ) -> None:
        started = time.perf_counter()
        consumer = self._app.consumer
        if not isinstance(consumer, RedisConsumer):
            raise TypeError(f"batches come from the redis:// transport, not {type(consumer).__name__}")
        letters = await apply_batch(
            handle, events, kind=kind, backoff=self._backoff, on_hold=lambda: consumer.batch_held(batch)
        )
        await consumer.settle(batch, letters)
        self._observer.batch_settled(kind, events, letters, time.perf_counter() - started)
