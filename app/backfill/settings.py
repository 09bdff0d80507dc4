"""Environment → typed settings of the repository backfill.

These names are ours: PublicAppView's `BACKFILL_*` variables mean a firehose replay, another thing,
so none of theirs is read here. Parsing reuses the helpers of `app.settings`, so a bad value stops
the command with the same one-line `ConfigurationError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.settings import ConfigurationError, _float, _int

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _base_url(env: Mapping[str, str], name: str, default: str) -> str:
    """An http(s) base URL without query or fragment, trailing slash removed."""
    raw = (env.get(name) or default).strip()
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ConfigurationError(f"{name} must be an http(s) URL such as {default}, got {raw!r}")
    return raw.rstrip("/")


@dataclass(frozen=True)
class BackfillSettings:
    plc_url: str = "https://plc.directory"
    relay_url: str = "https://bsky.network"
    concurrency: int = 32
    per_host_concurrency: int = 4
    host_requests_per_5min: int = 2_500
    timeout_s: float = 60.0
    retries: int = 4
    backoff_max_s: float = 60.0
    max_retry_after_s: float = 300.0
    spool_dir: str = ""
    max_car_bytes: int = 4 * 1024**3
    identity_cache_size: int = 100_000
    identity_cache_ttl_s: float = 3_600.0
    allow_http_loopback: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BackfillSettings:
        env = os.environ if env is None else env
        return cls(
            plc_url=_base_url(env, "PLC_URL", "https://plc.directory"),
            relay_url=_base_url(env, "BACKFILL_RELAY_URL", "https://bsky.network"),
            concurrency=_int(env, "BACKFILL_CONCURRENCY", 32, minimum=1),
            per_host_concurrency=_int(env, "BACKFILL_PER_HOST_CONCURRENCY", 4, minimum=1),
            host_requests_per_5min=_int(env, "BACKFILL_HOST_REQUESTS_PER_5MIN", 2_500, minimum=1),
            timeout_s=_float(env, "BACKFILL_TIMEOUT_S", 60.0, minimum=0.1),
            retries=_int(env, "BACKFILL_RETRIES", 4, minimum=0),
            backoff_max_s=_float(env, "BACKFILL_BACKOFF_MAX_S", 60.0, minimum=0.0),
            max_retry_after_s=_float(env, "BACKFILL_MAX_RETRY_AFTER_S", 300.0, minimum=0.0),
            spool_dir=env.get("BACKFILL_SPOOL_DIR") or "",
            max_car_bytes=_int(env, "BACKFILL_MAX_CAR_BYTES", 4 * 1024**3, minimum=1),
            identity_cache_size=_int(env, "BACKFILL_IDENTITY_CACHE_SIZE", 100_000, minimum=1),
            identity_cache_ttl_s=_float(env, "BACKFILL_IDENTITY_CACHE_TTL_S", 3_600.0, minimum=0.0),
            allow_http_loopback=_bool(env, "BACKFILL_ALLOW_HTTP_LOOPBACK", False),
        )
