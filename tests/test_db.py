"""One request, one pooled connection at most, which comes back to the pool as it left it."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from graph.app import create_app
from graph.demo.load import load_demo
from graph.discovery.pages import fetch
from graph.migrate import migrate
from graph.settings import Settings
from tests.conftest import LiveServer, gql

FILM_PAGE = (Path(__file__).parent.parent / "examples" / "film-page.graphql").read_text()
FILM = {"slug": "refusenik-2007", "region": "US"}
FILTERED = """
{ films(filter: {year: {min: 1990}}, first: 3) { totalCount nodes { title } } }
"""


@pytest.fixture
async def one_connection(dsn: str) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app, with a pool of one connection, in this test's event loop (so that the test
    can use that connection after a request)."""
    app = create_app(Settings(pool_min_size=1, pool_max_size=1), dsn)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield app, client


async def test_custom_plans_do_not_outlive_their_statement(
    one_connection: tuple[Starlette, httpx.AsyncClient],
) -> None:
    """A filtered page is planned for its parameters (plan_cache_mode = force_custom_plan) in
    its own transaction: the next user of the connection, which is not reset on release, finds
    the server's default."""
    app, client = one_connection
    pool = app.state.pool
    before = await pool.fetchval("select pg_backend_pid()")
    data = await gql(client, FILTERED)
    assert data["films"]["nodes"]
    assert data["films"]["totalCount"] >= len(data["films"]["nodes"])
    async with pool.acquire() as conn:
        assert await conn.fetchval("select pg_backend_pid()") == before  # the same connection
        assert await conn.fetchval("select current_setting('plan_cache_mode')") == "auto"
        assert not conn.is_in_transaction()


async def test_a_clean_connection_is_kept_and_a_failed_one_goes_back_through_asyncpg(
    one_connection: tuple[Starlette, httpx.AsyncClient],
) -> None:
    """A connection whose user saw no error is kept by the pool for the next take, past
    asyncpg's acquire and release; one whose statement failed goes back through asyncpg's
    release, which resets it. Either way it counts as idle."""
    app, client = one_connection
    pool = app.state.pool
    await gql(client, FILM_PAGE, FILM)
    assert (pool.pool.get_idle_size(), pool.idle()) == (0, 1)  # kept, not asyncpg's
    async with pool.acquire() as first:
        pass
    async with pool.acquire() as again:
        assert again is first
    with pytest.raises(asyncpg.DivisionByZeroError):
        async with pool.acquire() as conn:
            await conn.execute("select 1/0")
    assert (pool.pool.get_idle_size(), pool.idle()) == (1, 1)  # back in asyncpg's queue
    assert not pool.saturated()
    assert (await gql(client, FILM_PAGE, FILM))["film"]["title"] == "Refusenik"


async def test_a_client_hanging_up_mid_request_leaves_no_trace(
    empty_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that hangs up while its request waits on the database: no warning is logged
    (it logged "coroutine ... was never awaited"), and the connection comes back to the pool,
    idle, for the next request."""
    # A database of its own: the only API connections to it are this server's.
    dsn = empty_dsn
    admin = await asyncpg.connect(dsn)
    await migrate(admin)
    await load_demo(admin)
    settings = Settings(pool_min_size=1, pool_max_size=1)
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            LiveServer(create_app(settings, dsn), settings) as live,
        ):
            warnings.simplefilter("always")
            body = json.dumps({"query": FILM_PAGE, "variables": FILM}).encode()
            for _ in range(3):
                # The credits wait for the lock: the request is mid-way, its film read.
                async with admin.transaction():
                    await admin.execute("lock table credit in access exclusive mode")
                    _, writer = await asyncio.open_connection("127.0.0.1", live.port)
                    writer.write(
                        b"POST /graphql HTTP/1.1\r\nhost: api\r\n"
                        b"content-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(body), body)
                    )
                    await writer.drain()
                    await _until(admin, WAITING_ON_A_LOCK, 1)
                    writer.close()
                    await writer.wait_closed()
                    await _until(admin, WAITING_ON_A_LOCK, 0)
            # The connection is back in the pool, out of any transaction: the next request
            # gets it (a pool of one, waited for at most 2 s).
            states = await admin.fetch(
                "select state from pg_stat_activity where application_name = 'filmgraph'"
                " and datname = current_database()"
            )
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                data = await gql(client, FILM_PAGE, FILM)
            assert data["film"]["title"] == "Refusenik"
            gc.collect()
    finally:
        await admin.close()
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "never awaited" in m], messages
    assert [s["state"] for s in states] == ["idle"]


# Statements of this database waiting for a lock (other tests' servers use other databases).
# pg_locks, not pg_stat_activity, which a transaction sees as it was at its first look.
WAITING_ON_A_LOCK = """
select count(*) from pg_locks
where not granted and database = (select oid from pg_database where datname = current_database())
"""


async def _until(conn: asyncpg.Connection, query: str, value: int) -> None:
    """Ask `query` again until it gives `value`, for at most 10 s (each a round trip)."""
    async with asyncio.timeout(10):
        while await conn.fetchval(query) != value:
            pass


async def test_filtered_statements_are_planned_for_their_values_every_time(dsn: str) -> None:
    """discovery.fetch with custom_plan: however often a statement runs, PostgreSQL plans it
    for its values (a generic plan of a filter can be 25 times slower, see graph/discovery/
    pages.py), with no setting and no transaction left on the connection."""
    conn = await asyncpg.connect(dsn)
    try:
        sql = "select count(*) from film where year > $1::int"
        for year in range(1990, 2002):
            rows = await fetch(conn, sql, [year], True)
            assert rows[0][0] >= 0
            generic = await conn.fetchval(
                "select coalesce(sum(generic_plans), 0) from pg_prepared_statements "
                "where statement = $1",
                sql,
            )
            assert generic == 0
        assert await conn.fetchval("select current_setting('plan_cache_mode')") == "auto"
        assert not conn.is_in_transaction()
        # What the check sees: the same statement from asyncpg's cache goes generic.
        for year in range(1990, 2002):
            await conn.fetch(sql, year)
        generic = await conn.fetchval(
            "select coalesce(sum(generic_plans), 0) from pg_prepared_statements "
            "where statement = $1",
            sql,
        )
        assert generic > 0
    finally:
        await conn.close()
