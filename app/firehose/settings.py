"""Environment → typed settings of the firehose reader (`python -m app firehose`).

The reader shares `REDIS_URL`, `REDIS_STREAM_KEY`, `REDIS_CONSUMER_GROUP` and `LOG_LEVEL` with the
worker, and keeps the names of the reader it replaces (PublicAppView's `firehose_consumer.py`):
`RELAY_URL`, `REDIS_CURSOR_KEY`, `REDIS_MAX_STREAM_LEN`. Its own additions start with `READER_`.
All are documented in the README ("Configuration", "Firehose reader").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import Enum
from urllib.parse import urlsplit, urlunsplit

from app.settings import ConfigurationError, _float, _int, _log_level, mask_redis_url

SUBSCRIBE_REPOS = "/xrpc/com.atproto.sync.subscribeRepos"
JETSTREAM_SUBSCRIBE = "/subscribe"


class SourceMode(Enum):
    """What `RELAY_URL` points at: a relay (DAG-CBOR frames, cursor = seq) or a Jetstream (JSON,
    cursor = time_us)."""

    RELAY = "relay"
    JETSTREAM = "jetstream"


@dataclass(frozen=True)
class Source:
    mode: SourceMode
    #: The websocket endpoint without query string; the reader adds `?cursor=`.
    endpoint: str


def source(relay_url: str) -> Source:
    """`RELAY_URL` → mode and endpoint.

    Jetstream mode when the path is `/subscribe` or the host name contains `jetstream`
    (`wss://jetstream2.us-east.bsky.network` gets `/subscribe`). Otherwise a relay: a bare host
    (`wss://bsky.network`, what the replaced reader took) or a path ending in `/xrpc` gets
    `/xrpc/com.atproto.sync.subscribeRepos`; a full subscribeRepos path is kept.
    """
    parts = urlsplit(relay_url.strip())
    if parts.scheme not in {"ws", "wss"} or not parts.hostname:
        raise ConfigurationError(f"RELAY_URL must be a ws:// or wss:// URL, got {relay_url!r}")
    if parts.query or parts.fragment:
        raise ConfigurationError("RELAY_URL must not carry a query string; the reader sets the cursor")
    path = parts.path.rstrip("/")
    if path.endswith(JETSTREAM_SUBSCRIBE) or (not path and "jetstream" in parts.hostname):
        path = path or JETSTREAM_SUBSCRIBE
        return Source(SourceMode.JETSTREAM, urlunsplit((parts.scheme, parts.netloc, path, "", "")))
    if path.endswith("/xrpc"):
        path += SUBSCRIBE_REPOS.removeprefix("/xrpc")
    elif not path:
        path = SUBSCRIBE_REPOS
    elif not path.endswith(SUBSCRIBE_REPOS):
        raise ConfigurationError(
            f"RELAY_URL path must be empty, /xrpc, {SUBSCRIBE_REPOS} or (Jetstream) {JETSTREAM_SUBSCRIBE}, "
            f"got {parts.path!r}"
        )
    return Source(SourceMode.RELAY, urlunsplit((parts.scheme, parts.netloc, path, "", "")))


@dataclass(frozen=True)
class ReaderSettings:
    redis_url: str = "redis://localhost:6379"
    stream_key: str = "firehose:events"
    consumer_group: str = "firehose-processors"
    log_level: str = "INFO"
    relay_url: str = "wss://bsky.network"
    cursor_key: str = "firehose:python_cursor"
    max_stream_len: int = 500_000
    # Our own settings (README "Firehose reader").
    dead_letter_stream: str = "firehose:reader-dead-letters"
    dead_letter_maxlen: int = 10_000
    batch_size: int = 500
    flush_interval_ms: int = 50
    reconnect_max_s: float = 30.0
    trim_interval_s: float = 1.0
    web_host: str = "127.0.0.1"
    web_port: int = 6067

    def __repr__(self) -> str:
        """Safe to log: the Redis URL is shown with its password masked."""
        shown = []
        for item in fields(self):
            value = getattr(self, item.name)
            shown.append(f"{item.name}={mask_redis_url(value) if item.name == 'redis_url' else value!r}")
        return f"ReaderSettings({', '.join(shown)})"

    @property
    def source(self) -> Source:
        return source(self.relay_url)

    @property
    def stored_cursor_key(self) -> str:
        """Where the cursor lives: `REDIS_CURSOR_KEY` for a relay (a seq, the replaced reader's key and
        format), `<REDIS_CURSOR_KEY>:jetstream` for a Jetstream (a time in microseconds: another scale,
        kept apart so that switching modes never resumes from a number of the other one)."""
        if self.source.mode is SourceMode.JETSTREAM:
            return f"{self.cursor_key}:jetstream"
        return self.cursor_key

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReaderSettings:
        env = os.environ if env is None else env
        settings = cls(
            redis_url=env.get("REDIS_URL") or "redis://localhost:6379",
            stream_key=env.get("REDIS_STREAM_KEY") or "firehose:events",
            consumer_group=env.get("REDIS_CONSUMER_GROUP") or "firehose-processors",
            log_level=_log_level(env),
            relay_url=env.get("RELAY_URL") or "wss://bsky.network",
            cursor_key=env.get("REDIS_CURSOR_KEY") or "firehose:python_cursor",
            max_stream_len=_int(env, "REDIS_MAX_STREAM_LEN", 500_000, minimum=1),
            dead_letter_stream=env.get("READER_DEAD_LETTER_STREAM") or "firehose:reader-dead-letters",
            dead_letter_maxlen=_int(env, "READER_DEAD_LETTER_MAXLEN", 10_000, minimum=1),
            batch_size=_int(env, "READER_BATCH_SIZE", 500, minimum=1),
            flush_interval_ms=_int(env, "READER_FLUSH_INTERVAL_MS", 50, minimum=1),
            reconnect_max_s=_float(env, "READER_RECONNECT_MAX_S", 30.0, minimum=0.1),
            trim_interval_s=_float(env, "READER_TRIM_INTERVAL_S", 1.0, minimum=0.05),
            web_host=env.get("READER_WEB_HOST") or "127.0.0.1",
            web_port=_int(env, "READER_WEB_PORT", 6067, minimum=0, maximum=65535),
        )
        settings.source  # noqa: B018 (validates RELAY_URL now, with a message naming it)
        return settings
