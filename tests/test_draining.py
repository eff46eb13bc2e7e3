"""Stopping under load: SIGTERM turns /readyz 503 and refuses new requests with 503 while the
requests in flight finish; then the server exits 0 (graph/draining.py)."""

from __future__ import annotations

import asyncio
import signal
import time

import asyncpg
import httpx
import pytest

from tests.test_serve_schema import Serve

FILM = '{ film(slug: "refusenik-2007") { title } }'
SLOW = 3  # requests held in flight by a lock while the server is asked to stop


async def _waiting_on_lock(dsn: str, count: int) -> None:
    """Until `count` sessions wait for the lock the test holds (at most 60 s). Asked on a
    connection of its own: pg_stat_activity stays the same within the lock's transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 60
        while True:
            waiting = await conn.fetchval(
                "select count(*) from pg_stat_activity "
                "where wait_event_type = 'Lock' and datname = current_database()"
            )
            if waiting >= count:
                return
            assert time.monotonic() < deadline, f"{waiting} of {count} requests reached the lock"
            await asyncio.sleep(0.05)  # polling, with the deadline above
    finally:
        await conn.close()


async def _until_stopping(client: httpx.AsyncClient) -> httpx.Response:
    """/readyz once it says the server is stopping (at most 30 s after SIGTERM)."""
    deadline = time.monotonic() + 30
    while True:
        ready = await client.get("/readyz", headers={"connection": "close"})
        if ready.status_code == 503:
            return ready
        assert time.monotonic() < deadline, ready.text
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one", "two-workers"])
async def test_sigterm_drains_requests_in_flight_and_refuses_new_ones(
    dsn: str, workers: list[str]
) -> None:
    serve = Serve(dsn, *workers, FILMGRAPH_DRAIN_TIMEOUT_MS="60000")
    lock = await asyncpg.connect(dsn)
    base = serve.http.base_url
    try:
        serve.wait_for("Uvicorn running on")
        async with httpx.AsyncClient(base_url=base, timeout=60, trust_env=False) as client:
            assert (await client.get("/readyz")).status_code == 200
            # The film table locked: the film pages sent now wait in the database.
            transaction = lock.transaction()
            await transaction.start()
            await lock.execute("lock table film in access exclusive mode")
            # One after the other: asked together, they could share one statement
            # (graph/compiled/coalesce.py), and fewer than SLOW would wait on the lock.
            slow = []
            for held in range(1, SLOW + 1):
                slow.append(asyncio.create_task(client.post("/graphql", json={"query": FILM})))
                await _waiting_on_lock(dsn, held)

            serve.proc.send_signal(signal.SIGTERM)
            ready = await _until_stopping(client)
            assert ready.json() == {"status": "unavailable", "server": "stopping"}
            assert ready.headers["retry-after"] == "2"
            refused = await _new_request_while_draining(client)
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "2"
            assert refused.json()["errors"][0]["extensions"] == {"code": "SERVICE_UNAVAILABLE"}
            # Still draining: the slow requests hold it open.
            assert serve.proc.poll() is None
            assert not any(task.done() for task in slow)

            await transaction.rollback()
            for answer in await asyncio.gather(*slow):
                assert answer.status_code == 200, answer.text
                assert answer.json()["data"] == {"film": {"title": "Refusenik"}}
        code = await asyncio.to_thread(serve.proc.wait, 60)
    finally:
        await lock.close()
        serve.http.close()
        if serve.proc.poll() is None:
            serve.proc.kill()
            serve.proc.wait(timeout=60)
        serve.drain()
    output = "".join(serve.seen)
    assert code == 0, output
    assert "Traceback" not in output


async def _new_request_while_draining(client: httpx.AsyncClient) -> httpx.Response:
    """A new request to a stopping server, on a new connection. With two workers, the one
    with nothing in flight stops at once: a connection it accepted just before that is closed
    unanswered (a client retries it), and the next one reaches the worker still draining."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return await client.post(
                "/graphql", json={"query": FILM}, headers={"connection": "close"}
            )
        except httpx.TransportError:
            assert time.monotonic() < deadline, "no worker answered a new request"


async def test_the_drain_is_bounded(dsn: str) -> None:
    """A request still running past FILMGRAPH_DRAIN_TIMEOUT_MS does not keep the server up:
    it is cancelled and answered 503, as a new one would be."""
    serve = Serve(dsn, FILMGRAPH_DRAIN_TIMEOUT_MS="300")
    lock = await asyncpg.connect(dsn)
    try:
        serve.wait_for("Uvicorn running on")
        async with httpx.AsyncClient(base_url=serve.http.base_url, timeout=60) as client:
            async with lock.transaction():
                await lock.execute("lock table film in access exclusive mode")
                stuck = asyncio.create_task(client.post("/graphql", json={"query": FILM}))
                await _waiting_on_lock(dsn, 1)
                started = time.monotonic()
                serve.proc.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(serve.proc.wait, 60)
                stopped = time.monotonic() - started
            cut = await stuck
    finally:
        await lock.close()
        serve.http.close()
        if serve.proc.poll() is None:
            serve.proc.kill()
            serve.proc.wait(timeout=60)
        serve.drain()
    output = "".join(serve.seen)
    assert code == 0, output
    assert "Traceback" not in output
    assert cut.status_code == 503, cut.text
    assert cut.headers["retry-after"] == "2"
    assert cut.json()["errors"][0]["extensions"] == {"code": "SERVICE_UNAVAILABLE"}
    # It stopped while the lock was still held: the statement never finished.
    assert stopped < 30, stopped
