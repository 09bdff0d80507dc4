"""DID → PDS endpoint and handle, from the DID document, with a bounded in-process cache.

- `did:plc:<24 base32>`: the document comes from the PLC directory, `GET {PLC_URL}/{did}`
  (404 or 410 — a tombstoned DID — means it does not resolve).
- `did:web:<host>`: `GET https://<host>/.well-known/did.json`. Only a bare hostname is accepted
  (no port, no path), as atproto allows for did:web.

Everything in a document is untrusted: its `id` must be the DID asked for, the PDS is the
service with id `#atproto_pds` (or `<did>#atproto_pds`) of type `AtprotoPersonalDataServer`, and
its endpoint must be an https URL of a public host. The handle is the first `at://` entry of
`alsoKnownAs`, lower-cased when it is a valid handle: it is what the document claims, not
verified against the handle's own DNS/well-known record.

The test-only setting `BACKFILL_ALLOW_HTTP_LOOPBACK` lets did:web documents (`did:web:localhost%3A<port>`)
and PDS endpoints be served over plain http by loopback addresses; nothing else changes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from app.backfill.errors import (
    DidNotFound,
    IdentityError,
    InvalidDid,
    InvalidDidDocument,
    PermanentError,
)
from app.backfill.http import PoliteClient, XrpcError
from app.backfill.settings import BackfillSettings
from app.records.syntax import is_did, is_handle

_DOCUMENT_LIMIT = 256 * 1024
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
PDS_SERVICE_TYPE = "AtprotoPersonalDataServer"


@dataclass(frozen=True, slots=True)
class Identity:
    did: str
    pds: str  # base URL of the PDS, e.g. https://morel.us-east.host.bsky.network
    handle: str | None  # claimed by the document, lower-cased; None when absent or invalid


def _is_loopback_host(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_service_url(raw: Any, allow_http_loopback: bool) -> str:
    """An endpoint from a DID document → its base URL (`scheme://host[:port]`), or
    `InvalidDidDocument`: https only (http on loopback in test mode), no credentials, query or
    path, and no IP literal of a private, loopback or reserved range."""
    if not isinstance(raw, str) or len(raw) > 512:
        raise InvalidDidDocument("PDS endpoint is not a URL string")
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as exc:
        raise InvalidDidDocument(f"PDS endpoint {raw!r} is not a valid URL") from exc
    if not host or parts.username is not None or parts.query or parts.fragment or parts.path not in {"", "/"}:
        raise InvalidDidDocument(f"PDS endpoint {raw!r} is not a bare http(s) origin")
    loopback_ok = allow_http_loopback and _is_loopback_host(host)
    if parts.scheme == "http" and not loopback_ok:
        raise InvalidDidDocument(f"PDS endpoint {raw!r} is not https")
    if parts.scheme not in {"http", "https"}:
        raise InvalidDidDocument(f"PDS endpoint {raw!r} is not https")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and not address.is_global and not loopback_ok:
        raise InvalidDidDocument(f"PDS endpoint {raw!r} is a non-public address")
    if address is None and not (loopback_ok or is_handle(host)):
        raise InvalidDidDocument(f"PDS endpoint {raw!r} has an invalid host name")
    netloc = f"[{host}]" if address is not None and address.version == 6 else host
    return f"{parts.scheme}://{netloc}" + (f":{port}" if port is not None else "")


def did_web_document_url(did: str, allow_http_loopback: bool) -> str:
    """The well-known URL of a did:web; `InvalidDid` unless it is a bare valid hostname (a
    `%3A<port>` only on localhost in test mode)."""
    rest = did.removeprefix("did:web:")
    host, _, port = unquote(rest).partition(":")
    if allow_http_loopback and host == "localhost" and port.isdigit() and 0 < int(port) < 65536:
        return f"http://localhost:{int(port)}/.well-known/did.json"
    if port or not is_did(did) or not is_handle(host):
        raise InvalidDid(f"{did!r} is not a did:web of a bare hostname")
    return f"https://{host.lower()}/.well-known/did.json"


def parse_did_document(did: str, document: Any, allow_http_loopback: bool) -> Identity:
    """A DID document (decoded JSON) → Identity, or `InvalidDidDocument` saying what is wrong."""
    if not isinstance(document, dict):
        raise InvalidDidDocument(f"{did}: the DID document is not a JSON object")
    if document.get("id") != did:
        raise InvalidDidDocument(f"{did}: the DID document is for {str(document.get('id'))[:100]!r}")
    handle = None
    aka = document.get("alsoKnownAs")
    if isinstance(aka, list):
        for name in aka:
            if isinstance(name, str) and name.startswith("at://"):
                candidate = name.removeprefix("at://")
                handle = candidate.lower() if is_handle(candidate) else None
                break
    services = document.get("service")
    if not isinstance(services, list):
        raise InvalidDidDocument(f"{did}: the DID document has no service list")
    for service in services:
        if not isinstance(service, dict):
            continue
        if service.get("id") not in {"#atproto_pds", f"{did}#atproto_pds"}:
            continue
        if service.get("type") != PDS_SERVICE_TYPE:
            raise InvalidDidDocument(f"{did}: #atproto_pds is not of type {PDS_SERVICE_TYPE}")
        try:
            pds = check_service_url(service.get("serviceEndpoint"), allow_http_loopback)
        except InvalidDidDocument as exc:
            raise InvalidDidDocument(f"{did}: {exc}") from None
        return Identity(did=did, pds=pds, handle=handle)
    raise InvalidDidDocument(f"{did}: the DID document has no #atproto_pds service")


class IdentityResolver:
    """Resolves DIDs through a `PoliteClient`; results are cached (LRU of `identity_cache_size`
    entries, each kept `identity_cache_ttl_s`). Concurrent resolutions of one DID share one
    request. Failures are not cached."""

    def __init__(
        self,
        client: PoliteClient,
        settings: BackfillSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Identity]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[Identity]] = {}
        self.hits = 0
        self.misses = 0

    def forget(self, did: str) -> None:
        """Drop a cached identity (e.g. after the PDS said the repository moved)."""
        self._cache.pop(did, None)

    async def resolve(self, did: str) -> Identity:
        cached = self._cache.get(did)
        if cached is not None:
            expires, identity = cached
            if expires > self._clock():
                self._cache.move_to_end(did)
                self.hits += 1
                return identity
            del self._cache[did]
        pending = self._pending.get(did)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if pending.cancelled():  # the task resolving it was cancelled, not this one
                    return await self.resolve(did)
                raise
        self.misses += 1
        future: asyncio.Future[Identity] = asyncio.get_running_loop().create_future()
        self._pending[did] = future
        try:
            identity = await self._fetch(did)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a future nobody else awaits does not warn
            raise
        finally:
            self._pending.pop(did, None)
        future.set_result(identity)
        self._cache[did] = (self._clock() + self._settings.identity_cache_ttl_s, identity)
        while len(self._cache) > self._settings.identity_cache_size:
            self._cache.popitem(last=False)
        return identity

    async def _fetch(self, did: str) -> Identity:
        if not isinstance(did, str) or not is_did(did):
            raise InvalidDid(f"{str(did)[:100]!r} is not a valid DID")
        if did.startswith("did:plc:"):
            url = f"{self._settings.plc_url}/{quote(did)}"
        elif did.startswith("did:web:"):
            url = did_web_document_url(did, self._settings.allow_http_loopback)
        else:
            raise InvalidDid(f"{did}: only did:plc and did:web are supported")
        try:
            document = await self._client.get_json(url, max_bytes=_DOCUMENT_LIMIT)
        except XrpcError as exc:
            if exc.status in {404, 410}:
                raise DidNotFound(f"{did} does not resolve ({url} answered {exc.status})") from None
            raise IdentityError(f"{did}: {exc}") from None
        except PermanentError as exc:
            raise InvalidDidDocument(f"{did}: {exc}") from None
        return parse_did_document(did, document, self._settings.allow_http_loopback)
