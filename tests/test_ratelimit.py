"""Rate limiting per client in cost points per minute: 429 with Retry-After when exhausted."""

from __future__ import annotations

import asyncio
import math
import secrets
import time

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.ratelimit import PRUNE_AT, RateLimiter
from graph.settings import Settings
from tests.conftest import LiveServer, extensions
from tests.test_serve_schema import Serve

QUERY = '{ film(slug: "refusenik-2007") { title directors { name } } }'  # 1 + cost 11
CHEAP = '{ film(slug: "refusenik-2007") { title } }'  # 1 + cost 1


async def test_a_client_past_its_points_gets_429(dsn: str) -> None:
    settings = Settings(
        rate_limit=True, rate_limit_points=25, api_keys=frozenset({"alpha", "beta"})
    )
    with LiveServer(create_app(settings, dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            for _ in range(2):
                ok = await client.post("/graphql", json={"query": QUERY})
                assert ok.status_code == 200
                assert ok.json()["extensions"] == {"cost": 11, "execution": "compiled"}
            refused = await client.post("/graphql", json={"query": QUERY})
            assert refused.status_code == 429
            wait = int(refused.headers["retry-after"])
            assert 1 <= wait <= 60
            body = refused.json()
            assert "data" not in body
            assert extensions(body["errors"][0]) == {"code": "RATE_LIMITED", "retryAfter": wait}
            assert body["extensions"] == {"cost": 11}  # costed, then refused for its cost
            assert "25 cost points per minute" in body["errors"][0]["message"]

            # A configured API key is a client of its own; so is another one.
            for key in ("alpha", "beta"):
                keyed = await client.post(
                    "/graphql", json={"query": QUERY}, headers={"x-api-key": key}
                )
                assert keyed.status_code == 200, keyed.text
            # A key made up on the spot buys no fresh bucket: it counts as the address.
            forged = await client.post(
                "/graphql", json={"query": QUERY}, headers={"x-api-key": "made-up"}
            )
            assert forged.status_code == 429


async def test_documents_that_never_run_are_charged_too(dsn: str) -> None:
    settings = Settings(rate_limit=True, rate_limit_points=10)
    with LiveServer(create_app(settings, dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            statuses = []
            for _ in range(15):
                response = await client.post("/graphql", json={"query": "{ nope }"})
                statuses.append(response.status_code)
                code = response.json()["errors"][0]["extensions"]["code"]
                assert code == (
                    "RATE_LIMITED" if response.status_code == 429 else ("GRAPHQL_VALIDATION_FAILED")
                )
            # 10 points, one per operation (and a sixth of a point refilled each second).
            assert statuses[:10] == [200] * 10 and statuses[-1] == 429, statuses


async def test_rate_limiting_is_off_in_development(client: httpx.AsyncClient) -> None:
    for _ in range(20):
        response = await client.post("/graphql", json={"query": QUERY})
        assert response.status_code == 200


def test_on_by_default_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILMGRAPH_RATE_LIMIT", raising=False)
    monkeypatch.setenv("FILMGRAPH_ENV", "production")
    assert Settings.from_env().rate_limit is True
    monkeypatch.setenv("FILMGRAPH_ENV", "development")
    assert Settings.from_env().rate_limit is False


def test_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(600, clock=lambda: now[0])  # 10 points a second
    assert limiter.take("a", 600) is None
    assert limiter.take("a", 10) == 1
    now[0] = 1.0
    assert limiter.take("a", 10) is None
    assert limiter.take("a", 50) == 5
    assert limiter.take("b", 50) is None
    # A request costlier than a whole minute is charged the whole minute, not refused forever.
    now[0] = 100.0
    assert limiter.take("a", 10_000) is None
    assert limiter.take("a", 1) == 1


def test_many_clients_at_once_do_not_each_scan_every_bucket() -> None:
    """Past PRUNE_AT clients, a bucket that is not full is kept; when none is (many clients
    within a minute: an IPv6 network's addresses), each new client scanned all of them, a
    cost growing with their square. The scans now come as the number of buckets doubles."""
    limiter = RateLimiter(600, clock=lambda: 0.0)  # nothing refills
    scans = 0
    prune = limiter._prune

    def counted(now: float) -> None:
        nonlocal scans
        scans += 1
        prune(now)

    limiter._prune = counted  # type: ignore[method-assign]
    for i in range(4 * PRUNE_AT):
        assert limiter.take(f"address:2001:db8::{i:x}", 1) is None
    assert len(limiter.buckets) == 4 * PRUNE_AT
    assert scans <= 3, scans


async def test_a_request_is_charged_for_its_size_before_it_is_read(dsn: str) -> None:
    # Reading, decoding and parsing a request costs the server in proportion to its size
    # before its cost is known: one point per 100 bytes, charged on arrival.
    settings = Settings(rate_limit=True, rate_limit_points=1_000, api_keys=frozenset({"other"}))
    body = b'{"query": "{ __typename }", "pad": "' + b"x" * 39_962 + b'"}'
    assert len(body) == 40_000  # 400 points
    with LiveServer(create_app(settings, dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            headers = {"content-type": "application/json"}
            for _ in range(2):
                ok = await client.post("/graphql", content=body, headers=headers)
                assert ok.status_code == 200, ok.text
            # 1 + 400 points each: 198 left, not enough for another 400 ...
            refused = await client.post("/graphql", content=body, headers=headers)
            assert refused.status_code == 429, refused.text
            wait = int(refused.headers["retry-after"])
            assert 1 <= wait <= 60
            (error,) = refused.json()["errors"]
            assert extensions(error) == {"code": "RATE_LIMITED", "retryAfter": wait}
            assert "1000 cost points per minute" in error["message"]
            # ... while a short request still gets through, and another client is untouched.
            small = await client.post("/graphql", json={"query": "{ __typename }"})
            assert small.status_code == 200, small.text
            other = await client.post(
                "/graphql", content=body, headers={**headers, "x-api-key": "other"}
            )
            assert other.status_code == 200, other.text

        # Refused before the body is read: a client that declares 40,000 bytes and sends none
        # is answered all the same (within the second the refusal is held), then disconnected.
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        try:
            writer.write(
                b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: 40000\r\n\r\n"
            )
            await writer.drain()
            async with asyncio.timeout(10):
                answer = await reader.read()  # to the end: the server closes the connection
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 429 "), answer[:200]
        assert b"RATE_LIMITED" in answer


async def test_two_servers_share_one_limit_in_postgres(dsn: str) -> None:
    """FILMGRAPH_RATE_LIMIT_STORE=postgres: two server processes on one database admit, between
    them, no more than the one limit (graph/sharedlimit.py); each alone would admit it all."""
    key = f"shared-{secrets.token_hex(4)}"  # a bucket no other test has touched
    env = {
        "FILMGRAPH_RATE_LIMIT": "1",
        "FILMGRAPH_RATE_LIMIT_STORE": "postgres",
        "FILMGRAPH_RATE_LIMIT_POINTS": "120",  # 2 points a second
        "FILMGRAPH_RATE_LIMIT_LEASE_POINTS": "10",
        "FILMGRAPH_API_KEYS": key,
    }
    servers = [Serve(dsn, **env), Serve(dsn, **env)]
    admitted = [0, 0]
    refusals: list[httpx.Response] = []
    try:
        for serve in servers:
            serve.wait_for("Uvicorn running on")
        started = time.monotonic()
        for i in range(100):  # 2 points each (1 up front, cost 1): 200 points asked for
            response = servers[i % 2].http.post(
                "/graphql", json={"query": CHEAP}, headers={"x-api-key": key}
            )
            if response.status_code == 200:
                assert response.json()["data"] == {"film": {"title": "Refusenik"}}
                admitted[i % 2] += 1
            else:
                refusals.append(response)
        elapsed = time.monotonic() - started
    finally:
        codes = [serve.stop() for serve in servers]
    assert codes == [0, 0], [serve.seen for serve in servers]
    # The bucket's 120 points, what it refilled meanwhile, and what one lease may still hold
    # from before the window: 60 requests and one per second, give or take a lease each.
    assert sum(admitted) <= 60 + math.ceil(elapsed) + 1, (admitted, elapsed)
    assert sum(admitted) >= 60 - 10, admitted
    assert min(admitted) > 0, admitted
    for refused in refusals:
        assert refused.status_code == 429, refused.text
        wait = int(refused.headers["retry-after"])
        (error,) = refused.json()["errors"]
        assert extensions(error) == {"code": "RATE_LIMITED", "retryAfter": wait}
        assert 1 <= wait <= 60


async def test_the_shared_limit_keeps_no_api_key_in_the_database(dsn: str) -> None:
    """The shared buckets (FILMGRAPH_RATE_LIMIT_STORE=postgres) are named by a digest of the
    client: the table is in every pg_dump, and readable by any role that reads the database,
    which would otherwise hold each configured API key in the clear."""
    key = f"secret-key-{secrets.token_hex(8)}"
    settings = Settings(rate_limit=True, rate_limit_store="postgres", api_keys=frozenset({key}))
    with LiveServer(create_app(settings, dsn), settings) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            ok = await client.post("/graphql", json={"query": CHEAP}, headers={"x-api-key": key})
            assert ok.status_code == 200, ok.text
            assert (await client.post("/graphql", json={"query": CHEAP})).status_code == 200
    conn = await asyncpg.connect(dsn)
    try:
        clients = [r["client"] for r in await conn.fetch("select client from rate_limit_bucket")]
    finally:
        await conn.close()
    assert clients  # the module's other tests may have left buckets of their own
    assert not [c for c in clients if key in c or "127.0.0.1" in c], clients


async def test_a_stuck_shared_store_does_not_hold_every_request(dsn: str) -> None:
    """When the shared buckets do not answer (the table locked by a stray transaction, a
    primary that hangs), a request waits a short while for its lease, then the process limits
    on its own for a moment: requests are not each held for the statement timeout."""
    settings = Settings(
        rate_limit=True,
        rate_limit_store="postgres",
        rate_limit_points=600,
        rate_limit_lease_points=2,  # a lease per request or so
        statement_timeout_ms=60_000,
        request_timeout_ms=60_000,
    )
    with LiveServer(create_app(settings, dsn), settings) as live:
        # Each request must be answered well before the statement timeout.
        async with httpx.AsyncClient(base_url=live.url, timeout=15) as client:
            assert (await client.post("/graphql", json={"query": CHEAP})).status_code == 200
            locker = await asyncpg.connect(dsn)
            try:
                async with locker.transaction():
                    await locker.execute("lock table rate_limit_bucket in access exclusive mode")
                    for _ in range(10):
                        response = await client.post("/graphql", json={"query": CHEAP})
                        assert response.status_code == 200, response.text
                        assert response.json()["data"] == {"film": {"title": "Refusenik"}}
            finally:
                await locker.close()
