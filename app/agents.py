"""The three agents: one per event kind, each handing its typed batches to the runner."""

from __future__ import annotations

import faust

from app.broker.handlers import BatchRunner
from app.broker.topics import Topics
from app.events import AccountBatch, CommitBatch, IdentityBatch


def register_agents(app: faust.App, topics: Topics, runner: BatchRunner, concurrency: int) -> None:
    """`concurrency` actors per agent, so each pipeline can have a batch of every kind in flight."""

    @app.agent(topics.commit, name="commits", concurrency=concurrency)
    async def commits(batches: faust.StreamT[CommitBatch]) -> None:
        async for batch in batches:
            await runner.commits(batch)

    @app.agent(topics.identity, name="identities", concurrency=concurrency)
    async def identities(batches: faust.StreamT[IdentityBatch]) -> None:
        async for batch in batches:
            await runner.identities(batch)

    @app.agent(topics.account, name="accounts", concurrency=concurrency)
    async def accounts(batches: faust.StreamT[AccountBatch]) -> None:
        async for batch in batches:
            await runner.accounts(batch)
