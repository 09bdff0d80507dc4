"""A polite HTTP client for PDSes, the relay and the PLC directory.

What holds, per host (`host:port` of the URL):
- at most `per_host_concurrency` requests in flight, and at most `concurrency` over all hosts;
- at most `host_requests_per_5min` requests sent in any 300-second window (PDSes answer 429 past
  about 3,000), counted when sent, retries included;
- after a `Retry-After` (on 429 or 503) or a `RateLimit-Remaining: 0` with its `RateLimit-Reset`,
  nothing is sent to that host before the time it named. A wait longer than `max_retry_after_s`
  is not spent holding a slot: `RateLimited` is raised with the wait, for the caller to
  reschedule.

A request waiting for its host's budget holds that host's slot but not an overall one, so one
rate-limited host never starves the others.

Timeouts: `timeout_s` bounds the connection and every read (a stalled body fails even when the
transfer as a whole may take long: a big CAR streams for minutes). Transient failures
(connection errors, timeouts, 408, 429, 5xx) are retried `retries` times with exponential,
jittered backoff capped at `backoff_max_s`; then `TransientError`. Other 4xx raise `XrpcError`
(permanent) with the XRPC error name from the body when there is one. Redirects are not
followed: XRPC endpoints and well-known documents answer in place, and a redirect could lead a
request anywhere.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson

from app.backfill.errors import PermanentError, RateLimited, TransientError
from app.backfill.settings import BackfillSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

WINDOW_S = 300.0
_BACKOFF_BASE_S = 0.5
_ERROR_BODY_LIMIT = 64 * 1024
_CHUNK = 256 * 1024
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_HOSTS = 10_000  # hosts remembered before idle ones are forgotten
_USER_AGENT = "appview-indexer-backfill"


class XrpcError(PermanentError):
    """A non-transient error answer: HTTP `status`, the XRPC `error` name (or "") and `message`."""

    def __init__(self, url: str, status: int, error: str, message: str) -> None:
        shown = f"{error}: {message}" if error else message
        super().__init__(f"GET {url} answered {status}" + (f" ({shown})" if shown else ""))
        self.status = status
        self.error = error
        self.message = message


@dataclass
class _Host:
    slots: asyncio.Semaphore
    sent: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    users: int = 0  # requests holding or waiting for a slot


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """`Retry-After` in seconds from now: delta-seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now_wall)


def parse_rate_limit_reset(value: str | None, now_wall: float) -> float | None:
    """`RateLimit-Reset` in seconds from now. atproto PDSes send a Unix time; the IETF draft a
    delta: a value past 10^9 is taken as a Unix time."""
    if not value:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number != number or number < 0:  # NaN or negative
        return None
    return max(0.0, number - now_wall) if number > 1e9 else number


class PoliteClient:
    """One per process (or per backfill run); `async with PoliteClient(settings) as client`."""

    def __init__(
        self,
        settings: BackfillSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._all = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, _Host] = {}
        self._session: aiohttp.ClientSession | None = None
        self.requests_sent = 0
        self.rate_limited = 0
        self.retried = 0

    async def __aenter__(self) -> PoliteClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=self.settings.timeout_s,
                sock_connect=self.settings.timeout_s,
                sock_read=self.settings.timeout_s,
            )
            self._session = aiohttp.ClientSession(
                timeout=timeout,
                headers={"User-Agent": _USER_AGENT},
                connector=aiohttp.TCPConnector(limit=self.settings.concurrency),
            )
        return self._session

    def _host(self, url: str) -> _Host:
        key = urlsplit(url).netloc.lower()
        host = self._hosts.get(key)
        if host is None:
            if len(self._hosts) >= _MAX_HOSTS:
                self._forget_idle_hosts()
            host = self._hosts[key] = _Host(asyncio.Semaphore(self.settings.per_host_concurrency))
        return host

    def _forget_idle_hosts(self) -> None:
        """Drop hosts with nothing in flight, nothing sent in the window and no block pending: what
        they hold is then the state of a new host, so forgetting them changes no limit."""
        now = self._clock()
        for key, host in list(self._hosts.items()):
            if (
                host.users == 0
                and host.blocked_until <= now
                and (not host.sent or host.sent[-1] <= now - WINDOW_S)
            ):
                del self._hosts[key]

    # --- public calls ------------------------------------------------------------------------------

    async def get_json(
        self, url: str, params: Mapping[str, str] | None = None, *, max_bytes: int = 1024 * 1024
    ) -> Any:
        """GET → the decoded JSON body (at most `max_bytes`); `PermanentError` if it is not JSON."""

        async def read(response: aiohttp.ClientResponse) -> Any:
            body = await _read_limited(response, max_bytes, url)
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise PermanentError(f"GET {url}: the answer is not JSON") from exc

        return await self.request(url, params, read)

    async def download(
        self, url: str, params: Mapping[str, str] | None, dest: Path, *, max_bytes: int
    ) -> int:
        """GET streamed into `dest` (rewritten on each attempt) → bytes written. The body never
        sits in memory whole: it goes to disk in chunks as it arrives."""

        async def write(response: aiohttp.ClientResponse) -> int:
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise PermanentError(f"GET {url}: {declared} bytes announced, over the {max_bytes} limit")
            written = 0
            with dest.open("wb") as out:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise PermanentError(f"GET {url}: body over the {max_bytes}-byte limit")
                    out.write(chunk)
            return written

        return await self.request(url, params, write)

    async def request(
        self,
        url: str,
        params: Mapping[str, str] | None,
        handle: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    ) -> T:
        """GET `url` politely and give a 2xx response to `handle`; retries as the module says."""
        host = self._host(url)
        attempt = 0
        while True:
            try:
                return await self._attempt(host, url, params, handle)
            except RateLimited as exc:
                self.rate_limited += 1
                if attempt >= self.settings.retries:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
                if wait > self.settings.max_retry_after_s:
                    raise
                host.blocked_until = max(host.blocked_until, self._clock() + wait)
            except TransientError as exc:
                if attempt >= self.settings.retries:
                    raise
                log.debug("retrying GET %s after: %s", url, exc)
                await self._sleep(self._backoff(attempt))
            attempt += 1
            self.retried += 1

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.backoff_max_s, _BACKOFF_BASE_S * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    # --- one attempt -------------------------------------------------------------------------------

    async def _attempt(
        self,
        host: _Host,
        url: str,
        params: Mapping[str, str] | None,
        handle: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    ) -> T:
        host.users += 1
        try:
            return await self._attempt_in_slot(host, url, params, handle)
        finally:
            host.users -= 1

    async def _attempt_in_slot(
        self,
        host: _Host,
        url: str,
        params: Mapping[str, str] | None,
        handle: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    ) -> T:
        async with host.slots:
            await self._wait_for_budget(host, url)
            async with self._all:
                self.requests_sent += 1
                try:
                    async with self._session_now().get(url, params=params, allow_redirects=False) as response:
                        self._note_rate_limit(host, response)
                        if 200 <= response.status < 300:
                            return await handle(response)
                        await self._raise_for(url, response)
                        raise AssertionError("unreachable")  # _raise_for always raises
                except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                    raise TransientError(f"GET {url}: no answer within {self.settings.timeout_s} s") from exc
                except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
                    raise TransientError(f"GET {url}: connection broke: {exc}") from exc
                except aiohttp.InvalidURL as exc:
                    raise PermanentError(f"GET {url}: invalid URL") from exc
                except (aiohttp.ClientError, OSError) as exc:
                    raise TransientError(f"GET {url}: {type(exc).__name__}: {exc}") from exc

    async def _wait_for_budget(self, host: _Host, url: str) -> None:
        budget = self.settings.host_requests_per_5min
        while True:
            now = self._clock()
            while host.sent and host.sent[0] <= now - WINDOW_S:
                host.sent.popleft()
            wait = 0.0
            if host.blocked_until > now:
                wait = host.blocked_until - now
            elif len(host.sent) >= budget:
                wait = host.sent[0] + WINDOW_S - now
            if wait <= 0:
                host.sent.append(now)
                return
            if wait > self.settings.max_retry_after_s:
                raise RateLimited(f"GET {url}: host rate-limited for {wait:.0f} s more", retry_after=wait)
            await self._sleep(wait)

    def _note_rate_limit(self, host: _Host, response: aiohttp.ClientResponse) -> None:
        remaining = response.headers.get("RateLimit-Remaining")
        if remaining is None or remaining.strip() != "0":
            return
        reset = parse_rate_limit_reset(response.headers.get("RateLimit-Reset"), time.time())
        if reset is not None:
            host.blocked_until = max(host.blocked_until, self._clock() + reset)

    async def _raise_for(self, url: str, response: aiohttp.ClientResponse) -> None:
        status = response.status
        if status in {429, 503}:
            wait = parse_retry_after(response.headers.get("Retry-After"), time.time())
            if status == 429 or wait is not None:
                raise RateLimited(f"GET {url} answered {status}", retry_after=wait)
        if status in _TRANSIENT_STATUS:
            raise TransientError(f"GET {url} answered {status}")
        error, message = "", ""
        try:
            body = orjson.loads(await _read_limited(response, _ERROR_BODY_LIMIT, url))
        except (orjson.JSONDecodeError, PermanentError, aiohttp.ClientError, TimeoutError):
            body = None
        if isinstance(body, dict):
            error = body.get("error") if isinstance(body.get("error"), str) else ""
            message = body.get("message") if isinstance(body.get("message"), str) else ""
        raise XrpcError(url, status, error[:100], message[:300])


async def _read_limited(response: aiohttp.ClientResponse, max_bytes: int, url: str) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise PermanentError(f"GET {url}: {declared} bytes announced, over the {max_bytes} limit")
    parts: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise PermanentError(f"GET {url}: body over the {max_bytes}-byte limit")
        parts.append(chunk)
    return b"".join(parts)
