"""A fake PLC directory, did:web host, PDS and relay in one aiohttp server on a loopback port.

- `GET /{did:plc:...}` → the DID document registered for it (404 otherwise)
- `GET /.well-known/did.json` → the document of `net.web_did` (`did:web:localhost%3A<port>`)
- `GET /xrpc/com.atproto.sync.getRepo?did=` → the registered CAR bytes (streamed in chunks)
- `GET /xrpc/com.atproto.sync.listRepos?limit=&cursor=` → pages over the registered DIDs in order

Faults on demand, per DID (`net.faults[did] = Fault(...)`): an XRPC error (e.g. RepoDeactivated),
429 with `Retry-After` for the first n requests, a stall longer than the client's timeout after
part of the body, or a `RateLimit-Remaining: 0` with its reset. Every request is logged with its
time, for tests to assert what the client did.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    status: int = 0  # an error answer: HTTP status with `error` as the XRPC error name
    error: str = ""
    rate_limited: int = 0  # answer 429 to this many requests first
    retry_after: str = "1"
    stall_s: float = 0.0  # send half the body, then sleep this long
    rate_limit_reset_s: float = 0.0  # answer with RateLimit-Remaining: 0, reset after this many s


@dataclass
class Request:
    path: str
    did: str | None
    at: float  # time.monotonic()


@dataclass
class FakeNetwork:
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    repos: dict[str, bytes] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    web_document: dict[str, Any] | None = None
    bad_list_entries: list[Any] = field(default_factory=list)  # added to the first listRepos page
    in_flight: int = 0
    max_in_flight: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def web_did(self) -> str:
        return f"did:web:localhost%3A{self.port}"

    def document(self, did: str, pds: str | None = None, handle: str | None = None) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": did,
            "alsoKnownAs": [f"at://{handle}"] if handle else [],
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": pds or self.url,
                }
            ],
        }

    def add_repo(self, did: str, car: bytes, handle: str | None = None) -> None:
        """Register a repository and a PLC (or did:web) document pointing at this server."""
        self.repos[did] = car
        doc = self.document(did, handle=handle)
        if did == self.web_did:
            self.web_document = doc
        else:
            self.documents[did] = doc

    def served(self, path: str, did: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.path == path and (did is None or r.did == did)]

    async def __aenter__(self) -> FakeNetwork:
        app = web.Application()
        app.router.add_get("/.well-known/did.json", self._well_known)
        app.router.add_get("/xrpc/com.atproto.sync.getRepo", self._get_repo)
        app.router.add_get("/xrpc/com.atproto.sync.listRepos", self._list_repos)
        app.router.add_get("/{did}", self._plc)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _log(self, request: web.Request, did: str | None) -> None:
        self.requests.append(Request(request.path, did, time.monotonic()))

    async def _plc(self, request: web.Request) -> web.StreamResponse:
        did = request.match_info["did"]
        self._log(request, did)
        document = self.documents.get(did)
        if document is None:
            return web.json_response({"message": "DID not registered"}, status=404)
        return web.json_response(document)

    async def _well_known(self, request: web.Request) -> web.StreamResponse:
        self._log(request, None)
        if self.web_document is None:
            return web.json_response({}, status=404)
        return web.json_response(self.web_document)

    def _fault_answer(self, did: str) -> web.StreamResponse | None:
        fault = self.faults.get(did)
        if fault is None:
            return None
        if fault.rate_limited > 0:
            fault.rate_limited -= 1
            return web.json_response(
                {"error": "RateLimitExceeded", "message": "slow down"},
                status=429,
                headers={"Retry-After": fault.retry_after},
            )
        if fault.status:
            return web.json_response(
                {"error": fault.error, "message": f"fake {fault.error}"}, status=fault.status
            )
        return None

    async def _get_repo(self, request: web.Request) -> web.StreamResponse:
        did = request.query.get("did", "")
        self._log(request, did)
        answer = self._fault_answer(did)
        if answer is not None:
            return answer
        car = self.repos.get(did)
        if car is None:
            return web.json_response({"error": "RepoNotFound", "message": "no such repo"}, status=400)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._send_car(request, car, self.faults.get(did, Fault()))
        finally:
            self.in_flight -= 1

    async def _send_car(self, request: web.Request, car: bytes, fault: Fault) -> web.StreamResponse:
        headers = {"Content-Type": "application/vnd.ipld.car"}
        if fault.rate_limit_reset_s:
            headers["RateLimit-Limit"] = "3000"
            headers["RateLimit-Remaining"] = "0"
            headers["RateLimit-Reset"] = str(int(time.time() + fault.rate_limit_reset_s))
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        half = len(car) // 2
        await response.write(car[:half])
        if fault.stall_s:
            await asyncio.sleep(fault.stall_s)
        for at in range(half, len(car), 64 * 1024):
            await response.write(car[at : at + 64 * 1024])
        await response.write_eof()
        return response

    async def _list_repos(self, request: web.Request) -> web.StreamResponse:
        self._log(request, None)
        limit = int(request.query.get("limit", "500"))
        cursor = request.query.get("cursor", "")
        dids = sorted(did for did in self.repos if did > cursor)
        page = dids[:limit]
        body: dict[str, Any] = {
            "repos": [
                {"did": did, "head": "bafyreihead", "rev": "3kabcdefghij2", "active": True} for did in page
            ]
        }
        if not cursor:
            body["repos"] += self.bad_list_entries
        if len(dids) > limit:
            body["cursor"] = page[-1]
        return web.json_response(body)
