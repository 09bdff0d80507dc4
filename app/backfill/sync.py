"""`com.atproto.sync.listRepos` pages and `com.atproto.sync.getRepo` spooled to disk.

`list_repos` returns one page and its cursor, so the caller persists the cursor with whatever it
did with the page and a restart goes on from there. `RepoFetcher.fetch` resolves a DID to its
PDS and streams the repository's CAR into a file under the spool directory: the CAR is never
held in memory whole, whatever its size.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.backfill.errors import PermanentError, RepoInactive
from app.backfill.http import PoliteClient, XrpcError
from app.backfill.identity import Identity, IdentityResolver
from app.backfill.settings import BackfillSettings
from app.records.syntax import is_did, is_tid

log = logging.getLogger(__name__)

LIST_REPOS_MAX = 1000
_PAGE_LIMIT_BYTES = 16 * 1024 * 1024

# XRPC error names that end a repository as inactive (the status it ends with).
INACTIVE_ERRORS = {
    "RepoDeactivated": "deactivated",
    "RepoTakendown": "takendown",
    "RepoSuspended": "suspended",
    "RepoNotFound": "not_found",
}


@dataclass(frozen=True, slots=True)
class RepoRef:
    """One entry of listRepos. `head` is the commit CID, `rev` its revision; `status` is the
    relay's word when `active` is false (takendown, suspended, deactivated, ...)."""

    did: str
    head: str | None
    rev: str | None
    active: bool
    status: str | None


@dataclass(frozen=True, slots=True)
class ListReposPage:
    repos: list[RepoRef]
    cursor: str | None  # None on the last page
    skipped: int  # entries of the page that were not valid (no valid DID): left out


def _repo_ref(entry: Any) -> RepoRef | None:
    if not isinstance(entry, dict):
        return None
    did = entry.get("did")
    if not isinstance(did, str) or not is_did(did):
        return None
    head = entry.get("head")
    rev = entry.get("rev")
    active = entry.get("active")
    status = entry.get("status")
    return RepoRef(
        did=did,
        head=head if isinstance(head, str) and len(head) <= 256 else None,
        rev=rev if isinstance(rev, str) and is_tid(rev) else None,
        active=active is not False,  # absent means active (older relays do not send it)
        status=status if isinstance(status, str) and len(status) <= 64 else None,
    )


async def list_repos(
    client: PoliteClient, host_url: str, cursor: str | None = None, limit: int = LIST_REPOS_MAX
) -> ListReposPage:
    """One page of `com.atproto.sync.listRepos` from a relay or PDS at `host_url`."""
    params = {"limit": str(max(1, min(limit, LIST_REPOS_MAX)))}
    if cursor:
        params["cursor"] = cursor
    url = f"{host_url.rstrip('/')}/xrpc/com.atproto.sync.listRepos"
    body = await client.get_json(url, params, max_bytes=_PAGE_LIMIT_BYTES)
    if not isinstance(body, dict) or not isinstance(body.get("repos"), list):
        raise PermanentError(f"GET {url}: the answer has no repos list")
    repos = [ref for ref in map(_repo_ref, body["repos"]) if ref is not None]
    next_cursor = body.get("cursor")
    if not isinstance(next_cursor, str) or not next_cursor or not body["repos"]:
        next_cursor = None
    elif next_cursor == cursor:
        raise PermanentError(f"GET {url}: the cursor did not move ({cursor!r})")
    return ListReposPage(repos=repos, cursor=next_cursor, skipped=len(body["repos"]) - len(repos))


async def iter_repo_pages(
    client: PoliteClient, host_url: str, cursor: str | None = None, limit: int = LIST_REPOS_MAX
) -> AsyncIterator[ListReposPage]:
    """Every page from `cursor` on; each page's `cursor` is where the next one starts."""
    while True:
        page = await list_repos(client, host_url, cursor, limit)
        yield page
        if page.cursor is None:
            return
        cursor = page.cursor


@dataclass
class SpooledRepo:
    """A repository CAR on disk; `remove()` (or `with`) deletes the file."""

    did: str
    pds: str
    handle: str | None
    path: Path
    size: int

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> SpooledRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def spool_directory(settings: BackfillSettings) -> Path:
    path = (
        Path(settings.spool_dir) if settings.spool_dir else Path(tempfile.gettempdir()) / "appview-backfill"
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


async def get_repo(client: PoliteClient, identity: Identity, spool_dir: Path, max_bytes: int) -> SpooledRepo:
    """`com.atproto.sync.getRepo` of `identity.did` from its PDS, streamed into a spool file.

    `RepoInactive` when the PDS names the repository deactivated, taken down, suspended or not
    found; the spool file is removed on any failure.
    """
    fd, name = tempfile.mkstemp(dir=spool_dir, prefix="repo-", suffix=".car")
    os.close(fd)
    path = Path(name)
    url = f"{identity.pds}/xrpc/com.atproto.sync.getRepo"
    try:
        size = await client.download(url, {"did": identity.did}, path, max_bytes=max_bytes)
    except XrpcError as exc:
        path.unlink(missing_ok=True)
        status = INACTIVE_ERRORS.get(exc.error)
        if status is not None:
            raise RepoInactive(identity.did, status, exc.message) from None
        raise
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SpooledRepo(did=identity.did, pds=identity.pds, handle=identity.handle, path=path, size=size)


class RepoFetcher:
    """DID → its repository CAR spooled on disk: resolution (cached) then getRepo."""

    def __init__(self, client: PoliteClient, resolver: IdentityResolver, settings: BackfillSettings) -> None:
        self._client = client
        self._resolver = resolver
        self._settings = settings
        self._spool = spool_directory(settings)

    async def fetch(self, did: str) -> SpooledRepo:
        identity = await self._resolver.resolve(did)
        return await get_repo(self._client, identity, self._spool, self._settings.max_car_bytes)
