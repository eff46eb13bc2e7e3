"""Read replicas (graph/replicas.py), for real: a primary of this module's own and a streaming
replica of it (`pg_basebackup -R`), both on the suite's PostgreSQL binaries. Reads are
counted on each server (pg_stat_statements, which each server keeps for itself)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from graph.app import create_app
from graph.demo.load import load_demo
from graph.embedded import EmbeddedPostgres
from graph.migrate import migrate
from graph.settings import Settings
from tests.conftest import LiveServer, _with_database, gql
from tests.importing import filmgraph_import, wait_until
from tests.test_import_movielens import movielens

SERVER_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track_utility": "off",
    "fsync": "off",
    "synchronous_commit": "off",
}
# Statements that read the graph's tables (the film table, on every path), not those of the
# checks, the data version's listener or this count.
READS = r"""select coalesce(sum(calls), 0)::bigint from pg_stat_statements
            where dbid = (select oid from pg_database where datname = current_database())
              and query ~ '\mfilm\M'"""
FILM = "query Film($slug: String!) { film(slug: $slug) { title year } }"
MAX_LAG_MS = 1_000


class Servers:
    def __init__(self, primary: EmbeddedPostgres, replica: EmbeddedPostgres) -> None:
        self.primary = primary
        self.replica = replica
        self.primary_dsn = _with_database(primary.dsn, "films")
        self.replica_dsn = _with_database(replica.dsn, "films")


@pytest.fixture(scope="module")
def servers(server_binaries: Path | None) -> Iterator[Servers]:
    with tempfile.TemporaryDirectory(prefix="filmgraph-replicas-") as tmp:
        primary = EmbeddedPostgres(
            Path(tmp) / "primary", binaries=server_binaries, settings=SERVER_SETTINGS
        )
        primary.start()
        replica: EmbeddedPostgres | None = None
        try:
            asyncio.run(_films_database(primary.dsn))
            replica = primary.standby(Path(tmp) / "replica", SERVER_SETTINGS)
            replica.start()
            yield Servers(primary, replica)
        finally:
            if replica is not None:
                replica.stop()
            primary.stop()


async def _films_database(server_dsn: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    await conn.execute("create database films")
    await conn.close()
    conn = await asyncpg.connect(_with_database(server_dsn, "films"))
    try:
        await migrate(conn)
        await load_demo(conn)
        await conn.execute("create extension pg_stat_statements")
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def live_replicas(servers: Servers) -> Iterator[LiveServer]:
    settings = Settings(
        replica_urls=(servers.replica_dsn,),
        replica_max_lag_ms=MAX_LAG_MS,
        replica_check_ms=100,
        # Statements waiting on a lock, below, are not cut short.
        statement_timeout_ms=10_000,
        request_timeout_ms=20_000,
    )
    with LiveServer(create_app(settings, servers.primary_dsn), settings) as server:
        yield server


@pytest.fixture
async def api(live_replicas: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_replicas.url, timeout=30) as c:
        yield c


async def one(dsn: str, query: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def replica_state(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/readyz")
    assert response.status_code == 200, response.text
    (replica,) = response.json()["replicas"]
    state: dict[str, Any] = replica
    return state


async def until_replica(api: httpx.AsyncClient, **expected: Any) -> dict[str, Any]:
    """/readyz's report of the replica, once it says `expected` (within 20 s)."""
    found: dict[str, Any] = {}

    async def says() -> bool:
        nonlocal found
        found = await replica_state(api)
        return all(found[k] == v for k, v in expected.items())

    await wait_until(says, f"replica {expected}", within_s=20)
    return found


async def test_reads_land_on_the_replica_and_readyz_reports_it(
    api: httpx.AsyncClient, servers: Servers
) -> None:
    state = await until_replica(api, state="ok", serving=True)
    assert state["database"] == f"host=127.0.0.1 port={servers.replica.port} database=films"
    assert 0 <= state["lag_ms"] <= MAX_LAG_MS
    ready = (await api.get("/readyz")).text
    assert servers.replica.password not in ready and "postgresql://" not in ready

    on_replica = await one(servers.replica_dsn, READS)
    on_primary = await one(servers.primary_dsn, READS)
    for _ in range(10):
        assert await gql(api, FILM, {"slug": "amelie-2001"}) == {
            "film": {"title": "Amélie", "year": 2001}
        }
    assert await one(servers.replica_dsn, READS) - on_replica >= 10
    assert await one(servers.primary_dsn, READS) == on_primary


async def test_an_import_on_the_primary_is_read_from_the_replica(
    api: httpx.AsyncClient, servers: Servers, scratch_dir: Path
) -> None:
    files = movielens(
        scratch_dir / "ml",
        "movieId,title,genres\n1,Replicated (2026),Drama\n",
        "movieId,imdbId,tmdbId\n1,7777777,777777\n",
    )
    result = filmgraph_import(servers.primary_dsn, "movielens", files)
    assert result.returncode == 0, result.stderr
    version = await one(servers.primary_dsn, "select version from data_version")

    # Replicated: the replica has the import, and serves once it has replayed its version.
    await until_replica(api, data_version=version, serving=True)
    on_replica = await one(servers.replica_dsn, READS)
    data = await gql(api, FILM, {"slug": "replicated-2026"})
    assert data == {"film": {"title": "Replicated", "year": 2026}}
    assert await one(servers.replica_dsn, READS) > on_replica


async def test_a_version_is_not_read_from_a_replica_that_has_not_replayed_it(
    api: httpx.AsyncClient, servers: Servers
) -> None:
    replica = await asyncpg.connect(_with_database(servers.replica.dsn, "postgres"))
    try:
        await replica.execute("select pg_wal_replay_pause()")
        await wait_until(lambda: _paused(replica), "the replica's replay to pause", within_s=20)
        await one(
            servers.primary_dsn,
            "update film set title = 'Refusenik, revised' where slug = 'refusenik-2007'",
        )
        # The server learns the new version from the primary; the replica is behind it.
        state = await until_replica(api, serving=False)
        assert state["state"] in ("ok", "lagging")

        on_replica = await one(servers.replica_dsn, READS)
        get = await api.get(
            "/graphql", params={"query": FILM, "variables": '{"slug": "refusenik-2007"}'}
        )
        assert get.status_code == 200
        assert get.json()["data"] == {"film": {"title": "Refusenik, revised", "year": 2007}}
        etag = get.headers["etag"]
        assert await gql(api, FILM, {"slug": "refusenik-2007"}) == get.json()["data"]
        assert await one(servers.replica_dsn, READS) == on_replica  # all from the primary
        # ... because the replica still has the old title.
        title = "select title from film where slug = 'refusenik-2007'"
        assert await one(servers.replica_dsn, title) == "Refusenik"

        # A replica that stays behind for longer than the bound is reported lagging.
        await until_replica(api, state="lagging", serving=False)
    finally:
        await replica.execute("select pg_wal_replay_resume()")
        await replica.close()

    await until_replica(api, state="ok", serving=True)
    on_replica = await one(servers.replica_dsn, READS)
    assert await gql(api, FILM, {"slug": "refusenik-2007"}) == get.json()["data"]
    assert await one(servers.replica_dsn, READS) > on_replica
    again = await api.get(
        "/graphql",
        params={"query": FILM, "variables": '{"slug": "refusenik-2007"}'},
        headers={"if-none-match": etag},
    )
    assert again.status_code == 304


async def _paused(conn: asyncpg.Connection) -> bool:
    state = await conn.fetchval("select pg_get_wal_replay_pause_state()")
    return bool(state == "paused")


async def test_the_api_answers_while_the_replica_stops_and_starts(
    api: httpx.AsyncClient, servers: Servers
) -> None:
    await until_replica(api, state="ok", serving=True)
    answers: list[tuple[int, Any, Any]] = []
    done = asyncio.Event()

    async def traffic() -> None:
        while not done.is_set():
            response = await api.post(
                "/graphql", json={"query": FILM, "variables": {"slug": "amelie-2001"}}
            )
            body = response.json()
            answers.append((response.status_code, body.get("errors"), body.get("data")))

    async def answered(more: int) -> None:
        target = len(answers) + more
        await wait_until(lambda: _true(len(answers) >= target), f"{more} answers")

    clients = [asyncio.create_task(traffic()) for _ in range(4)]
    try:
        await answered(20)
        # Requests caught on the replica as it stops: the primary locks the film table, the
        # replica replays the lock, and requests wait for it there; stopping the replica
        # ends their statements, and they are answered again from the primary, which waits
        # for the lock too until the primary lets it go.
        primary = await asyncpg.connect(servers.primary_dsn)
        try:
            async with primary.transaction():
                await primary.execute("lock table film in access exclusive mode")
                await wake_wal_writer(servers)
                await wait_until(
                    lambda: _waiting(servers.replica_dsn, 2), "requests waiting on the replica"
                )
                await asyncio.to_thread(servers.replica.stop)
        finally:
            await primary.close()
        down = await until_replica(api, serving=False)
        assert down["state"] == "unreachable"
        await answered(20)  # from the primary
        started = time.monotonic()
        await asyncio.to_thread(servers.replica.start)
        await until_replica(api, state="ok", serving=True)
        assert time.monotonic() - started < 20
        on_replica = await one(servers.replica_dsn, READS)
        await answered(20)
        assert await one(servers.replica_dsn, READS) - on_replica >= 10
    finally:
        done.set()
        await asyncio.gather(*clients)
    expected = (200, None, {"film": {"title": "Amélie", "year": 2001}})
    assert [a for a in answers if a != expected] == []
    assert len(answers) >= 60


async def wake_wal_writer(servers: Servers) -> None:
    """Have the primary send its WAL now: a lock, unlike a commit, does not wake the WAL
    writer (with synchronous_commit off it may sleep for seconds). A commit does."""
    await one(servers.primary_dsn, "select txid_current()")


async def _true(value: bool) -> bool:
    return value


async def test_requests_holding_a_replicas_connections_are_not_refused_for_load(
    api: httpx.AsyncClient, servers: Servers
) -> None:
    """Admission (FILMGRAPH_POOL_QUEUE) counts a request holding a replica's connection as
    served: it refused requests once 20 were in progress, the primary's pool looking idle."""
    await until_replica(api, state="ok", serving=True)
    primary = await asyncpg.connect(servers.primary_dsn)
    try:
        async with primary.transaction():
            # Held on both servers: 10 requests wait on the replica with its every connection,
            # 15 in its line, which send them to the primary after the pool wait (2 s), where
            # they wait again, 10 with a connection.
            await primary.execute("lock table film in access exclusive mode")
            await wake_wal_writer(servers)
            await wait_until(lambda: _lock_replayed(servers), "the lock on the replica")

            def request() -> asyncio.Task[httpx.Response]:
                body = {"query": FILM, "variables": {"slug": "amelie-2001"}}
                return asyncio.create_task(api.post("/graphql", json=body))

            # Not all at once: 25 requests arriving together at an idle pool are a burst that
            # admission refuses, replicas or not.
            requests = [request() for _ in range(10)]
            await wait_until(lambda: _waiting(servers.replica_dsn, 10), "requests on the replica")
            requests += [request() for _ in range(15)]
            await wait_until(lambda: _waiting(servers.primary_dsn, 10), "requests on the primary")
            assert not [r.result().text for r in requests if r.done()]
    finally:
        await primary.close()
    for response in await asyncio.gather(*requests):
        assert response.status_code == 200, response.text
        assert response.json()["data"] == {"film": {"title": "Amélie", "year": 2001}}


async def _lock_replayed(servers: Servers) -> bool:
    locks = await one(
        servers.replica_dsn,
        """select count(*) from pg_locks
           where relation = 'film'::regclass and mode = 'AccessExclusiveLock' and granted""",
    )
    return bool(locks)


async def _waiting(dsn: str, count: int) -> bool:
    waiting = await one(
        dsn,
        """select count(*) from pg_stat_activity
           where application_name = 'filmgraph' and wait_event_type = 'Lock'""",
    )
    return bool(waiting >= count)


async def test_a_request_answered_again_from_the_primary_is_charged_and_counted_once(
    api: httpx.AsyncClient, servers: Servers
) -> None:
    """A request the replica failed under is answered again from the primary: its client is
    not charged a second time for it (it was refused 429 when its first charge had spent its
    points), and /metrics counts the answer the client got, not the one thrown away."""
    query = 'query Once { film(slug: "amelie-2001") { title } }'
    cost = (await api.post("/graphql", json={"query": query})).json()["extensions"]["cost"]
    # Exactly what the request is charged: one point up front and its cost (its body is
    # smaller than a point).
    settings = Settings(
        replica_urls=(servers.replica_dsn,),
        replica_check_ms=100,
        replica_max_lag_ms=MAX_LAG_MS,
        statement_timeout_ms=10_000,
        request_timeout_ms=20_000,
        rate_limit=True,
        rate_limit_points=1 + cost,
    )
    app = create_app(settings, servers.primary_dsn)
    with LiveServer(app, settings) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as c:
            await until_replica(c, state="ok", serving=True)
            primary = await asyncpg.connect(servers.primary_dsn)
            try:
                async with primary.transaction():
                    await primary.execute("lock table film in access exclusive mode")
                    await wake_wal_writer(servers)
                    await wait_until(lambda: _lock_replayed(servers), "the lock on the replica")
                    request = asyncio.create_task(c.post("/graphql", json={"query": query}))
                    await wait_until(
                        lambda: _waiting(servers.replica_dsn, 1), "the request on the replica"
                    )
                    # The replica ends the request's statement (as a restart would).
                    await one(
                        servers.replica_dsn,
                        """select count(pg_terminate_backend(pid)) from pg_stat_activity
                           where application_name = 'filmgraph' and wait_event_type = 'Lock'""",
                    )

                    async def on_primary_or_answered() -> bool:
                        return request.done() or await _waiting(servers.primary_dsn, 1)

                    await wait_until(on_primary_or_answered, "the request on the primary")
            finally:
                await primary.close()
            response = await request
            assert response.status_code == 200, response.text
            assert response.json()["data"] == {"film": {"title": "Amélie"}}
            scraped = await c.get("/metrics")
    counted = {
        (s.labels["operation"], s.labels["code"]): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
        if s.name == "filmgraph_requests_total"
    }
    assert counted == {("Once", "OK"): 1.0}
