"""Environment → typed settings.

The names and defaults of the worker we replace are kept (DIRECTION §2) so that this indexer is a
drop-in: an operator moves over without touching the environment. Our own additions have names of
their own and are documented in the README.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from sqlalchemy.engine import URL, make_url


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message is meant for the operator, one line."""


# asyncpg speaks `ssl=<mode>`; libpq URLs say `sslmode=<mode>`. Options asyncpg does not know would
# make connect() fail with an obscure TypeError, so they are dropped with a warning instead.
_LIBPQ_TO_ASYNCPG = {"sslmode": "ssl"}
_LIBPQ_ONLY = {"sslcert", "sslkey", "sslrootcert", "sslcrl", "connect_timeout", "target_session_attrs"}


def database_url(raw: str) -> URL:
    """Accept `postgres://`, `postgresql://` and `postgresql+asyncpg://` and return an asyncpg URL."""
    if not raw:
        raise ConfigurationError("DATABASE_URL is not set (e.g. postgresql://user:pass@host:5432/appview)")
    try:
        url = make_url(raw)
    except Exception as exc:  # sqlalchemy raises ArgumentError; the message may echo the password
        raise ConfigurationError("DATABASE_URL is not a valid database URL") from exc
    if url.drivername not in {"postgres", "postgresql", "postgresql+asyncpg"}:
        raise ConfigurationError(
            f"DATABASE_URL must be a PostgreSQL URL (postgresql://...), not {url.drivername}://"
        )
    query: dict[str, str | tuple[str, ...]] = {}
    for key, value in url.query.items():
        if key in _LIBPQ_ONLY:
            continue
        query[_LIBPQ_TO_ASYNCPG.get(key, key)] = value
    return url.set(drivername="postgresql+asyncpg", query=query)


# A password may also travel as a query option: redis-py, libpq and SQLAlchemy's asyncpg dialect all
# read `?password=...`.
_SECRET_QUERY_KEYS = frozenset({"password"})


def _mask_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        key = part.partition("=")[0]
        parts.append(f"{key}=***" if key.lower() in _SECRET_QUERY_KEYS else part)
    return "&".join(parts)


def mask_url(url: str | URL) -> str:
    """The URL as it may appear in a log line: password replaced by ***."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception:
        return "<unparseable URL>"
    rendered = parsed.render_as_string(hide_password=True)
    base, sep, query = rendered.partition("?")
    return f"{base}{sep}{_mask_query(query)}" if sep else base


def mask_redis_url(url: str) -> str:
    """Redis URLs are not SQLAlchemy URLs; mask `user:password@` and `?password=` by hand.

    Everything before the last `@` counts as credentials, so an unencoded `@` in a password (or a
    forgotten scheme) still leaks nothing.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    credentials = ""
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
        credentials = f"{user}:***@"
    host, qsep, query = rest.partition("?")
    return f"{scheme}{sep}{credentials}{host}{qsep}{_mask_query(query) if qsep else ''}"


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name, "")
    if raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "")
    if raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, got {raw!r}")
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _log_level(env: Mapping[str, str]) -> str:
    level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigurationError(
            f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {level!r}"
        )
    return level


def default_consumer_id() -> str:
    """Stable across restarts on one host, and never the old worker's `python-worker`."""
    return f"appview-indexer-{socket.gethostname()}"


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://localhost:6379"
    database_url_raw: str = field(default="", repr=False)
    stream_key: str = "firehose:events"
    consumer_group: str = "firehose-processors"
    consumer_id: str = field(default_factory=default_consumer_id)
    db_pool_size: int = 20
    batch_size: int = 1000
    parallel_consumers: int = 5
    log_level: str = "INFO"
    # Our own settings (README "Configuration").
    dead_letter_stream: str = "firehose:dead-letters"
    dead_letter_maxlen: int = 100_000
    metrics_hash_key: str = "cluster:metrics"
    max_deliveries: int = 5
    claim_idle_ms: int = 60_000
    claim_interval_s: float = 15.0
    read_block_ms: int = 1_000
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    shutdown_timeout_s: float = 30.0
    tombstone_horizon_days: float = 7.0
    tombstone_sweep_interval_s: float = 3_600.0

    def __repr__(self) -> str:
        """Safe to log: URLs are shown with their passwords masked."""
        shown = [f"database_url={mask_url(self.database_url_raw) if self.database_url_raw else ''!r}"]
        for item in fields(self):
            if item.repr:
                value = getattr(self, item.name)
                if item.name == "redis_url":
                    value = mask_redis_url(value)
                shown.append(f"{item.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @property
    def database_url(self) -> URL:
        return database_url(self.database_url_raw)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            redis_url=env.get("REDIS_URL") or "redis://localhost:6379",
            database_url_raw=env.get("DATABASE_URL", ""),
            stream_key=env.get("REDIS_STREAM_KEY") or "firehose:events",
            consumer_group=env.get("REDIS_CONSUMER_GROUP") or "firehose-processors",
            consumer_id=env.get("CONSUMER_ID") or default_consumer_id(),
            db_pool_size=_int(env, "DB_POOL_SIZE", 20, minimum=1),
            batch_size=_int(env, "BATCH_SIZE", 1000, minimum=1),
            parallel_consumers=_int(env, "PARALLEL_CONSUMERS", 5, minimum=1),
            log_level=_log_level(env),
            dead_letter_stream=env.get("DEAD_LETTER_STREAM") or "firehose:dead-letters",
            dead_letter_maxlen=_int(env, "DEAD_LETTER_MAXLEN", 100_000, minimum=1),
            metrics_hash_key=env.get("METRICS_HASH_KEY") or "cluster:metrics",
            max_deliveries=_int(env, "MAX_DELIVERIES", 5, minimum=1),
            claim_idle_ms=_int(env, "CLAIM_IDLE_MS", 60_000, minimum=1),
            claim_interval_s=_float(env, "CLAIM_INTERVAL_S", 15.0, minimum=0.1),
            read_block_ms=_int(env, "READ_BLOCK_MS", 1_000, minimum=1),
            web_host=env.get("WEB_HOST") or "127.0.0.1",
            web_port=_int(env, "WEB_PORT", 6066, minimum=0, maximum=65535),
            shutdown_timeout_s=_float(env, "SHUTDOWN_TIMEOUT_S", 30.0, minimum=1.0),
            tombstone_horizon_days=_float(env, "TOMBSTONE_HORIZON_DAYS", 7.0, minimum=0.0),
            tombstone_sweep_interval_s=_float(env, "TOMBSTONE_SWEEP_INTERVAL_S", 3_600.0, minimum=1.0),
        )
