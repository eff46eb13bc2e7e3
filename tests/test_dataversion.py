"""The data version (migration 0008, graph/dataversion.py): raised once by each committed
writing transaction, announced to every server process, which then stops serving what it
had cached."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.dataversion import DataVersion
from graph.embedded import free_port
from graph.settings import Settings
from tests.child import Child, run
from tests.conftest import LiveServer, version_known

TITLE = "query Title($slug: String!) { film(slug: $slug) { id title } }"
GET = {"query": TITLE, "variables": json.dumps({"slug": "refusenik-2007"})}
STARTED = "Uvicorn running on"


async def version(conn: asyncpg.Connection) -> int:
    found: int = await conn.fetchval("select version from data_version")
    return found


async def test_a_transaction_raises_the_version_once_at_commit(writable_dsn: str) -> None:
    conn = await asyncpg.connect(writable_dsn)
    try:
        before = await version(conn)
        async with conn.transaction():
            await conn.execute("update film set year = year where slug = 'refusenik-2007'")
            await conn.execute(
                "update person set name = name where id = (select min(id) from person)"
            )
            await conn.execute("delete from offer where false")
            assert await version(conn) == before, "raised at commit, not at each write"
        assert await version(conn) == before + 1
        rolled_back = conn.transaction()
        await rolled_back.start()
        await conn.execute("update film set year = year where slug = 'refusenik-2007'")
        await rolled_back.rollback()
        assert await version(conn) == before + 1, "a rolled back write raises nothing"
        await conn.execute("select count(*) from film")
        assert await version(conn) == before + 1, "a read raises nothing"
        # A writer whose search_path does not name our schema (a restore script's).
        await conn.execute("set search_path = ''")
        await conn.execute("update public.film set year = year where slug = 'amelie-2001'")
        await conn.execute("reset search_path")
        assert await version(conn) == before + 2
        assert await conn.fetchval("select count(*) from data_change") == 0
    finally:
        await conn.close()


async def test_writers_do_not_wait_for_each_other_on_the_version(writable_dsn: str) -> None:
    """Each writing transaction holds the version's row only while it commits: two open
    writers both go on (a raise at each write would make the second wait for the first)."""
    first, second = await asyncpg.connect(writable_dsn), await asyncpg.connect(writable_dsn)
    try:
        await second.execute("set lock_timeout = '1s'")
        one, two = first.transaction(), second.transaction()
        await one.start()
        await two.start()
        await first.execute("update film set year = year where slug = 'refusenik-2007'")
        await second.execute("update film set year = year where slug = 'amelie-2001'")
        before = await version(second)
        await one.commit()
        await two.commit()
        assert await version(second) == before + 2
    finally:
        await first.close()
        await second.close()


async def test_every_commit_is_announced_with_its_version(writable_dsn: str) -> None:
    listener, writer = await asyncpg.connect(writable_dsn), await asyncpg.connect(writable_dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.add_listener("filmgraph_data_version", lambda *a: heard.put_nowait(a[3]))
        before = await version(writer)
        await writer.execute("truncate film_alternative_title")
        async with asyncio.timeout(5):
            assert await heard.get() == str(before + 1)
    finally:
        await listener.close()
        await writer.close()


async def test_the_listener_comes_back_after_losing_its_connection(
    writable_dsn: str, server_dsn: str
) -> None:
    changes: asyncio.Queue[int | None] = asyncio.Queue()
    known = DataVersion(writable_dsn, on_change=changes.put_nowait)
    known.start()
    name = writable_dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(server_dsn)
    try:
        async with asyncio.timeout(5):
            assert await changes.get() is not None
            await admin.execute(f'alter database "{name}" allow_connections false')
            await admin.execute(
                """select pg_terminate_backend(pid) from pg_stat_activity
                   where datname = $1 and application_name = 'filmgraph data version'""",
                name,
            )
            assert await changes.get() is None
            assert known.current is None
            await admin.execute(f'alter database "{name}" allow_connections true')
            back = await changes.get()
        conn = await asyncpg.connect(writable_dsn)
        try:
            assert back == await version(conn)
        finally:
            await conn.close()
    finally:
        await admin.execute(f'alter database "{name}" allow_connections true')
        await admin.close()
        await known.stop()


async def test_a_process_that_does_not_know_the_version_does_not_cache(
    writable_dsn: str, server_dsn: str
) -> None:
    name = writable_dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(server_dsn)
    settings = Settings(pool_min_size=1)
    try:
        with LiveServer(create_app(settings, writable_dsn), settings) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                await version_known(client)
                assert "etag" in (await client.get("/graphql", params=GET)).headers
                # The listener goes, and cannot come back; the pool keeps its connection.
                await admin.execute(f'alter database "{name}" allow_connections false')
                await admin.execute(
                    """select pg_terminate_backend(pid) from pg_stat_activity
                       where datname = $1 and application_name = 'filmgraph data version'""",
                    name,
                )
                deadline = time.monotonic() + 5
                while True:
                    response = await client.get("/graphql", params=GET)
                    if "etag" not in response.headers:
                        break
                    assert time.monotonic() < deadline, "still caching without a version"
                assert response.headers["cache-control"] == "no-store"
                assert response.json()["data"]["film"]["title"] == "Refusenik"
                await admin.execute(f'alter database "{name}" allow_connections true')
                deadline = time.monotonic() + 5
                while "etag" not in (await client.get("/graphql", params=GET)).headers:
                    assert time.monotonic() < deadline, "caching did not come back"
    finally:
        await admin.execute(f'alter database "{name}" allow_connections true')
        await admin.close()


# Two server processes on one database.


class Serve(Child):
    def __init__(self, dsn: str) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")}
        # One secret and one public address, as two processes behind one balancer have: both
        # seal cursors alike and name the same JSON-LD @ids, so their ETags agree (without
        # FILMGRAPH_PUBLIC_URL, each names its own port).
        env.update(
            DATABASE_URL=dsn,
            FILMGRAPH_CURSOR_SECRET="shared",
            FILMGRAPH_PUBLIC_URL="https://films.example.org",
        )
        super().__init__(["serve", "--port", str(self.port)], env)
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", timeout=30, trust_env=False
        )

    def stop(self) -> int:
        self.http.close()
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=60)
        self.drain()
        return code


@pytest.fixture
def two(writable_dsn: str) -> Iterator[tuple[Serve, Serve]]:
    a, b = Serve(writable_dsn), Serve(writable_dsn)
    try:
        for serve in (a, b):
            serve.wait_for(STARTED)
            deadline = time.monotonic() + 10
            while "etag" not in serve.http.get("/graphql", params=GET).headers:
                assert time.monotonic() < deadline, "the data version is still unknown"
        yield a, b
    finally:
        for serve in (a, b):
            assert serve.stop() == 0, "".join(serve.seen)
            assert "Traceback" not in "".join(serve.seen)


def title_on(serve: Serve) -> tuple[str, httpx.Response]:
    response = serve.http.get("/graphql", params=GET)
    assert response.status_code == 200, response.text
    title: str = response.json()["data"]["film"]["title"]
    return title, response


def until_title(serve: Serve, title: str, deadline_s: float) -> httpx.Response:
    deadline = time.monotonic() + deadline_s
    while True:
        seen, response = title_on(serve)
        if seen == title:
            return response
        assert time.monotonic() < deadline, f"{seen!r}, not {title!r}, after {deadline_s} s"


def test_a_write_reaches_every_process_within_a_second(
    two: tuple[Serve, Serve], writable_dsn: str
) -> None:
    a, b = two
    title, cached = title_on(b)
    assert title == "Refusenik"
    # Cached on B (the same ETag again), and the same ETag on A: one data version.
    assert title_on(b)[1].headers["etag"] == cached.headers["etag"]
    assert title_on(a)[1].headers["etag"] == cached.headers["etag"]

    # A write through psql's way in: a plain SQL connection.
    asyncio.run(
        _write(writable_dsn, "update film set title = 'Refusenik 2' where slug = 'refusenik-2007'")
    )
    fresh = until_title(b, "Refusenik 2", deadline_s=1.0)
    assert fresh.headers["etag"] != cached.headers["etag"]
    until_title(a, "Refusenik 2", deadline_s=1.0)

    # The demo load (a process of its own) raises the version too, even where it adds
    # nothing: both processes stop serving what they cached.
    result = run(
        "load-demo",
        env={**{k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")},
             "DATABASE_URL": writable_dsn},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for serve in (a, b):
        deadline = time.monotonic() + 1.0
        while title_on(serve)[1].headers["etag"] == fresh.headers["etag"]:
            assert time.monotonic() < deadline, "the demo load was not noticed within 1 s"


async def _write(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
