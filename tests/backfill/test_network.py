"""Resolution, fetching and listing against the fake PLC directory / PDS / relay on loopback."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from app.backfill.errors import (
    CorruptCar,
    DidNotFound,
    InvalidDid,
    InvalidDidDocument,
    PermanentError,
    RateLimited,
    RepoInactive,
    TransientError,
)
from app.backfill.http import PoliteClient, XrpcError
from app.backfill.identity import IdentityResolver, check_service_url
from app.backfill.settings import BackfillSettings
from app.backfill.snapshot import RepoSnapshot
from app.backfill.sync import RepoFetcher, iter_repo_pages, list_repos
from tests.support.fake_network import FakeNetwork, Fault
from tests.support.repos import build_repo, random_did, sample_records

GET_REPO = "/xrpc/com.atproto.sync.getRepo"


@pytest.fixture
async def net():
    async with FakeNetwork() as network:
        yield network


@pytest.fixture
def settings(net: FakeNetwork, tmp_path: Path) -> BackfillSettings:
    return BackfillSettings(
        plc_url=net.url,
        relay_url=net.url,
        allow_http_loopback=True,
        timeout_s=2.0,
        retries=2,
        backoff_max_s=0.05,
        spool_dir=str(tmp_path / "spool"),
    )


def add(net: FakeNetwork, n: int, records: int = 30, handle: str | None = None) -> str:
    did = random_did(n)
    net.add_repo(did, build_repo(did, sample_records(did, records, seed=n)).car(), handle=handle)
    return did


async def fetch(settings: BackfillSettings, did: str) -> list[str]:
    """Resolve, fetch, walk: the record paths; the spool file is gone afterwards."""
    async with PoliteClient(settings) as client:
        fetcher = RepoFetcher(client, IdentityResolver(client, settings), settings)
        with await fetcher.fetch(did) as spooled:
            with RepoSnapshot(spooled.path, did) as snapshot:
                paths = [item.path for item in snapshot.records()]
            path = spooled.path
    assert not path.exists()
    return paths


# --- resolution -------------------------------------------------------------------------------------


async def test_did_plc_through_the_directory(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 1, handle="Alice.Example.COM")
    async with PoliteClient(settings) as client:
        resolver = IdentityResolver(client, settings)
        identity = await resolver.resolve(did)
        assert (identity.did, identity.pds, identity.handle) == (did, net.url, "alice.example.com")
        assert await resolver.resolve(did) == identity
    assert len(net.served(f"/{did}")) == 1
    assert (resolver.hits, resolver.misses) == (1, 1)


async def test_did_web_through_its_well_known_document(net: FakeNetwork, settings: BackfillSettings):
    did = net.web_did
    net.add_repo(did, build_repo(did, sample_records(did, 12)).car(), handle="web.example.com")
    assert len(await fetch(settings, did)) == 12
    assert len(net.served("/.well-known/did.json")) == 1


async def test_loopback_did_web_needs_the_test_setting(net: FakeNetwork, settings: BackfillSettings):
    async with PoliteClient(settings) as client:
        with pytest.raises(InvalidDid, match="bare hostname"):
            await IdentityResolver(client, replace(settings, allow_http_loopback=False)).resolve(net.web_did)
    assert net.requests == []


def test_service_endpoints_are_checked():
    assert check_service_url("https://pds.example.com/", False) == "https://pds.example.com"
    assert check_service_url("http://127.0.0.1:8080", True) == "http://127.0.0.1:8080"
    for bad in (
        "http://pds.example.com",
        "http://127.0.0.1:8080",
        "https://10.0.0.1",
        "https://169.254.169.254",
        "https://user:pw@pds.example.com",
        "https://pds.example.com/path",
        "ftp://pds.example.com",
        42,
    ):
        with pytest.raises(InvalidDidDocument):
            check_service_url(bad, False)
    with pytest.raises(InvalidDidDocument, match="not https"):
        check_service_url("http://pds.example.com", True)


async def test_dids_that_do_not_resolve(net: FakeNetwork, settings: BackfillSettings):
    unknown = random_did(100)
    wrong_id, no_pds, bad_endpoint = random_did(101), random_did(102), random_did(103)
    net.documents[wrong_id] = net.document(unknown)
    net.documents[no_pds] = {"id": no_pds, "service": []}
    net.documents[bad_endpoint] = net.document(bad_endpoint, pds="http://pds.example.com")
    async with PoliteClient(settings) as client:
        resolver = IdentityResolver(client, settings)
        with pytest.raises(DidNotFound, match="answered 404"):
            await resolver.resolve(unknown)
        with pytest.raises(InvalidDidDocument, match="is for"):
            await resolver.resolve(wrong_id)
        with pytest.raises(InvalidDidDocument, match="no #atproto_pds"):
            await resolver.resolve(no_pds)
        with pytest.raises(InvalidDidDocument, match="not https"):
            await resolver.resolve(bad_endpoint)
        for bad in ("did:plc:short", "did:plc:" + "A" * 24, "did:key:zabc", "not a did", "did:web:a%2Fb"):
            with pytest.raises(InvalidDid):
                await resolver.resolve(bad)


async def test_identity_cache_is_bounded_and_expires(net: FakeNetwork, settings: BackfillSettings):
    dids = [add(net, 200 + i, records=2) for i in range(3)]
    now = [1000.0]
    small = replace(settings, identity_cache_size=2, identity_cache_ttl_s=60.0)
    async with PoliteClient(small) as client:
        resolver = IdentityResolver(client, small, clock=lambda: now[0])
        for did in dids:
            await resolver.resolve(did)
        await resolver.resolve(dids[0])  # evicted by the third: fetched again
        assert len(net.served(f"/{dids[0]}")) == 2
        await resolver.resolve(dids[2])  # still cached
        assert len(net.served(f"/{dids[2]}")) == 1
        now[0] += 61
        await resolver.resolve(dids[2])  # expired
        assert len(net.served(f"/{dids[2]}")) == 2


# --- fetching ---------------------------------------------------------------------------------------


async def test_fetch_spools_and_walks(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 2, records=400)
    paths = await fetch(settings, did)
    assert len(paths) == 400 and paths == sorted(paths)
    assert list(Path(settings.spool_dir).iterdir()) == []


async def test_429_with_retry_after_is_honoured(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 3)
    net.faults[did] = Fault(rate_limited=1, retry_after="1")
    assert len(await fetch(settings, did)) == 30
    first, second = net.served(GET_REPO, did)
    assert second.at - first.at >= 0.95


async def test_a_retry_after_too_long_is_handed_to_the_caller(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 4)
    net.faults[did] = Fault(rate_limited=5, retry_after="600")
    with pytest.raises(RateLimited) as caught:
        await fetch(settings, did)
    assert caught.value.retry_after == 600
    assert len(net.served(GET_REPO, did)) == 1


async def test_rate_limit_remaining_zero_holds_the_host(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 5)
    net.faults[did] = Fault(rate_limit_reset_s=2)
    async with PoliteClient(settings) as client:
        fetcher = RepoFetcher(client, IdentityResolver(client, settings), settings)
        (await fetcher.fetch(did)).remove()
        started = time.monotonic()
        (await fetcher.fetch(did)).remove()
    assert time.monotonic() - started >= 0.9


async def test_a_stalled_pds_times_out(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 6)
    net.faults[did] = Fault(stall_s=1.5)
    quick = replace(settings, timeout_s=0.3, retries=1)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"no answer within 0\.3 s"):
        await fetch(quick, did)
    assert time.monotonic() - started < 1.4
    assert len(net.served(GET_REPO, did)) == 2
    assert list(Path(settings.spool_dir).iterdir()) == []


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("RepoDeactivated", "deactivated"),
        ("RepoTakendown", "takendown"),
        ("RepoSuspended", "suspended"),
        ("RepoNotFound", "not_found"),
    ],
)
async def test_inactive_repositories(net: FakeNetwork, settings: BackfillSettings, error: str, status: str):
    did = add(net, 7)
    net.faults[did] = Fault(status=400, error=error)
    with pytest.raises(RepoInactive) as caught:
        await fetch(settings, did)
    assert (caught.value.did, caught.value.status) == (did, status)
    assert len(net.served(GET_REPO, did)) == 1  # not retried


async def test_server_errors_are_retried_then_transient(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 8)
    net.faults[did] = Fault(status=502, error="")
    with pytest.raises(TransientError, match="answered 502"):
        await fetch(settings, did)
    assert len(net.served(GET_REPO, did)) == 1 + settings.retries


async def test_other_client_errors_are_permanent(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 9)
    net.faults[did] = Fault(status=400, error="InvalidRequest")
    with pytest.raises(XrpcError, match="InvalidRequest") as caught:
        await fetch(settings, did)
    assert caught.value.status == 400
    assert len(net.served(GET_REPO, did)) == 1


async def test_a_corrupt_car_from_the_pds(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 10)
    net.repos[did] = net.repos[did][:-7]
    with pytest.raises(CorruptCar):
        await fetch(settings, did)


async def test_a_car_over_the_size_limit(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 11, records=200)
    with pytest.raises(PermanentError, match="limit"):
        await fetch(replace(settings, max_car_bytes=1000), did)
    assert list(Path(settings.spool_dir).iterdir()) == []


async def test_per_host_concurrency(net: FakeNetwork, settings: BackfillSettings):
    dids = [add(net, 300 + i) for i in range(6)]
    for did in dids:
        net.faults[did] = Fault(stall_s=0.2)
    limited = replace(settings, per_host_concurrency=2)
    async with PoliteClient(limited) as client:
        fetcher = RepoFetcher(client, IdentityResolver(client, limited), limited)
        spooled = await asyncio.gather(*(fetcher.fetch(did) for did in dids))
    for item in spooled:
        item.remove()
    assert net.max_in_flight == 2


async def test_the_per_host_budget_spaces_requests_over_five_minutes(
    net: FakeNetwork, settings: BackfillSettings
):
    dids = [add(net, 400 + i, records=2) for i in range(3)]
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = replace(settings, host_requests_per_5min=2, max_retry_after_s=1000)
    async with PoliteClient(budget, clock=lambda: now[0], sleep=fake_sleep) as client:
        for did in dids:
            await client.get_json(f"{net.url}/{did}")
    assert slept == [300.0]
    assert client.requests_sent == 3


# --- listing ----------------------------------------------------------------------------------------


async def test_list_repos_pages_with_a_cursor_to_resume_from(net: FakeNetwork, settings: BackfillSettings):
    dids = sorted(add(net, 500 + i, records=1) for i in range(25))
    async with PoliteClient(settings) as client:
        pages = [page async for page in iter_repo_pages(client, net.url, limit=10)]
        assert [len(page.repos) for page in pages] == [10, 10, 5]
        assert [ref.did for page in pages for ref in page.repos] == dids
        assert pages[-1].cursor is None
        resumed = await list_repos(client, net.url, cursor=pages[0].cursor, limit=10)
        assert [ref.did for ref in resumed.repos] == dids[10:20]
        assert Counter(ref.active for page in pages for ref in page.repos) == {True: 25}


async def test_list_repos_leaves_out_invalid_entries(net: FakeNetwork, settings: BackfillSettings):
    did = add(net, 600, records=1)
    net.bad_list_entries = [{"did": "did:plc:short"}, "not an object", {"head": "x"}]
    async with PoliteClient(settings) as client:
        page = await list_repos(client, net.url)
    assert [ref.did for ref in page.repos] == [did]
    assert (page.skipped, page.cursor) == (3, None)


async def test_concurrent_resolutions_of_one_did_share_one_request(
    net: FakeNetwork, settings: BackfillSettings
):
    did = add(net, 601, records=1)
    async with PoliteClient(settings) as client:
        resolver = IdentityResolver(client, settings)
        identities = await asyncio.gather(*(resolver.resolve(did) for _ in range(5)))
    assert len(set(identities)) == 1
    assert len(net.served(f"/{did}")) == 1


async def test_idle_hosts_are_forgotten_busy_ones_kept(
    monkeypatch: pytest.MonkeyPatch, settings: BackfillSettings
):
    import app.backfill.http as http

    monkeypatch.setattr(http, "_MAX_HOSTS", 3)
    now = [0.0]
    client = PoliteClient(settings, clock=lambda: now[0])
    for n in range(3):
        client._host(f"https://pds{n}.example.com/xrpc/x").sent.append(0.0)
    client._host("https://pds0.example.com/").blocked_until = 1000.0
    now[0] = 301.0
    client._host("https://new.example.com/")
    assert sorted(client._hosts) == ["new.example.com", "pds0.example.com"]
    await client.close()
