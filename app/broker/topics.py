"""The virtual topics: one per event kind, each carrying typed batches straight from the transport.

A topic here names a route inside one Redis stream, not a Kafka topic: the transport splits every
read by `type` and delivers one message per kind to that kind's topic, so each agent sees only its
own kind and each entry is acknowledged when its own agent is done with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import AppT, Message, TopicT

from app.broker.envelope import ACCOUNT, COMMIT, IDENTITY
from app.events import AccountBatch, CommitBatch, IdentityBatch

TOPIC_OF_KIND = {COMMIT: "stream.commit", IDENTITY: "stream.identity", ACCOUNT: "stream.account"}
BATCH_OF_KIND: dict[str, type[CommitBatch | IdentityBatch | AccountBatch]] = {
    COMMIT: CommitBatch,
    IDENTITY: IdentityBatch,
    ACCOUNT: AccountBatch,
}


class PassThroughSchema(faust.Schema):
    """The transport puts the typed batch itself in `Message.value`: there is nothing to decode.

    Encoding the events as JSON only for Faust to parse them again would double the per-entry cost
    for nothing.
    """

    def loads_key(
        self, app: AppT, message: Message, *, loads: Callable[..., Any] | None = None, serializer: Any = None
    ) -> Any:
        return message.key

    def loads_value(
        self, app: AppT, message: Message, *, loads: Callable[..., Any] | None = None, serializer: Any = None
    ) -> Any:
        return message.value


@dataclass(frozen=True)
class Topics:
    commit: TopicT
    identity: TopicT
    account: TopicT


def declare_topics(app: faust.App) -> Topics:
    def topic(kind: str) -> TopicT:
        batch = BATCH_OF_KIND[kind]
        return app.topic(
            TOPIC_OF_KIND[kind], schema=PassThroughSchema(value_type=batch), value_type=batch, partitions=1
        )

    return Topics(commit=topic(COMMIT), identity=topic(IDENTITY), account=topic(ACCOUNT))
