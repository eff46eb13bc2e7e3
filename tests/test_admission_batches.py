"""Attacks on admission (graph/admission.py) where it counts a batch of compiled requests
(graph/compiled/coalesce.py) as one turn of the pool: what one document can make the server
queue behind a stuck pool is bounded (a batch takes BATCH_SIZE requests at most), and once
the batches end, however they end (answered, their pool wait run out, their clients gone),
nothing stays counted: a burst of distinct documents is refused past the queue, at once."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import signal
import threading
import time
from typing import Any

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.cli import STOP_MARGIN_S, _Server
from graph.compiled.coalesce import BATCH_SIZE
from graph.server import server_config
from graph.settings import Settings
from tests.conftest import LiveServer
from tests.held_pool import Held, film, held_pool, pool_stuck, until

# A queue small enough that its bound in batches (BATCH_SIZE each) is a modest burst.
QUEUE = 4


async def slugs(dsn: str, n: int) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("select slug from film order by id limit $1", n)
    finally:
        await conn.close()
    found = [r["slug"] for r in rows]
    return [found[i % len(found)] for i in range(n)]


def settings_for(pool_timeout_ms: int) -> Settings:
    return Settings(
        explain_execution=False,
        coalesce=True,
        pool_min_size=1,
        pool_max_size=1,
        pool_queue=QUEUE,
        pool_timeout_ms=pool_timeout_ms,
        statement_timeout_ms=20_000,
    )


async def in_waves(
    held: Held, requests: list[Any], wave: int
) -> list[asyncio.Future[httpx.Response]]:
    """`requests` sent `wave` at a time, each wave once those before it wait in batches or
    have been answered (refused)."""
    coalescer = held.app.state.pool.coalescer
    asked: list[asyncio.Future[httpx.Response]] = []

    async def settled() -> bool:
        await held.look()
        done = sum(request.done() for request in asked)
        return bool(coalescer.waiting() + done >= len(asked))

    for start in range(0, len(requests), wave):
        asked += [asyncio.ensure_future(r()) for r in requests[start : start + wave]]
        await until(settled, 30)
    return asked


def refused_at_once(answer: httpx.Response) -> bool:
    return (
        answer.status_code == 503
        and "retry-after" in answer.headers
        and answer.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        and answer.elapsed.total_seconds() < 1.0
    )


@pytest.mark.parametrize("ending", ["answered", "pool wait runs out", "clients hang up"])
async def test_one_document_queues_at_most_its_batches_and_leaves_nothing_counted(
    dsn: str, ending: str
) -> None:
    """Behind a stuck pool, one document is queued in batches only up to the queue's worth of
    batches (QUEUE * BATCH_SIZE requests); the rest are refused at once. However those
    batches end, afterwards nothing is counted as sharing a turn, and distinct documents
    behind the stuck pool are refused past the queue at once, as before any batch."""
    # A pool wait that runs out while the pool is held (after the burst is sent), or one that
    # outlasts the hold. Short: a stuck pool shows once no connection came back for a fifth
    # of it (QUEUE + 1 turns).
    wait_ms = 3_000 if ending == "pool wait runs out" else 5_000
    settings = settings_for(wait_ms)
    total = 2 * QUEUE * BATCH_SIZE
    films = await slugs(dsn, total)
    app = create_app(settings, dsn)
    with LiveServer(app, settings) as live:
        limits = httpx.Limits(max_connections=total + 8)
        async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
            await client.post("/graphql", json=film(films[0]))  # compiled before
            pool, admission = app.state.pool, app.state.admission
            coalescer = pool.coalescer

            stuck = pool_stuck(pool, client, QUEUE)

            async with held_pool(app, client, dsn) as held:
                await until(stuck, 30)
                same = await in_waves(
                    held,
                    [functools.partial(client.post, "/graphql", json=film(s)) for s in films],
                    QUEUE // 2,
                )
                queued = [a for a in same if not a.done()]
                refused = [a.result() for a in same if a.done()]
                # Bounded: the queue's worth of batches at most, the rest refused at once.
                assert QUEUE < len(queued) <= QUEUE * BATCH_SIZE, len(queued)
                assert len(refused) >= total - QUEUE * BATCH_SIZE
                assert all(refused_at_once(a) for a in refused), [
                    (a.status_code, a.elapsed) for a in refused if not refused_at_once(a)
                ]
                if ending == "clients hang up":
                    for answer in queued:
                        answer.cancel()
                    await asyncio.gather(*queued, return_exceptions=True)

                    async def left() -> bool:
                        await held.look()
                        return bool(coalescer.sharing() == 0 and coalescer.waiting() == 0)

                    await until(left, 30)
                elif ending == "pool wait runs out":
                    async with asyncio.timeout(30):
                        out = await asyncio.gather(*queued)
                    assert {a.status_code for a in out} == {503}, [a.content for a in out][:3]
            if ending == "answered":
                async with asyncio.timeout(30):
                    served = await asyncio.gather(*queued)
                assert [a.status_code for a in served] == [200] * len(queued)

            async def quiet() -> bool:
                await client.get("/healthz")
                return bool(
                    coalescer.sharing() == 0
                    and coalescer.waiting() == 0
                    and pool.holding == 0
                    and admission.in_progress == 0
                )

            await until(quiet, 30)
            refusals = admission.refusals
            distinct = [
                functools.partial(
                    client.post,
                    "/graphql",
                    json={"query": f'{{ page{i}: film(slug: "{slug}") {{ title }} }}'},
                )
                for i, slug in enumerate(films[: 3 * QUEUE])
            ]
            async with held_pool(app, client, dsn) as held:
                await until(stuck, 30)
                started = time.monotonic()
                apart = [asyncio.ensure_future(r()) for r in distinct]

                async def answered_or_waiting() -> bool:
                    await held.look()
                    return sum(a.done() for a in apart) >= len(apart) - QUEUE

                await until(answered_or_waiting, 30)
                refused_apart = [a.result() for a in apart if a.done()]
                took = time.monotonic() - started
            async with asyncio.timeout(30):
                await asyncio.gather(*apart, return_exceptions=True)
    # Nothing of the batches left counted: as many refused as without them.
    assert len(refused_apart) >= len(distinct) - QUEUE
    assert all(refused_at_once(a) for a in refused_apart)
    assert admission.refusals - refusals >= len(distinct) - QUEUE
    assert took < 5, took


async def test_a_drain_cut_answers_a_queued_burst_of_one_document(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A server stopping (graph/draining.py) while one document's burst waits in batches
    behind a stuck pool: at the drain's deadline each request of the burst is cut and
    answered 503 SERVICE_UNAVAILABLE with Retry-After, as a new one would be, no batch
    outlives it, nothing is logged as an error, and the server stops."""
    settings = dataclasses.replace(settings_for(20_000), drain_timeout_ms=300)
    films = await slugs(dsn, 3 * BATCH_SIZE)
    app = create_app(settings, dsn)
    live = LiveServer(app, settings)
    # As `filmgraph serve` runs it: a server that drains before it stops.
    server = live.server = _Server(live.server.config, announce="")
    assert server.drain is not None
    live.thread = threading.Thread(target=live.server.run, kwargs={"sockets": [live.sock]})
    with live:
        limits = httpx.Limits(max_connections=len(films) + 8)
        async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
            await client.post("/graphql", json=film(films[0]))  # compiled before
            coalescer = app.state.pool.coalescer
            async with held_pool(app, client, dsn) as held:
                queued = await in_waves(
                    held,
                    [functools.partial(client.post, "/graphql", json=film(s)) for s in films],
                    QUEUE // 2,
                )
                assert not any(a.done() for a in queued)
                assert coalescer.sharing() == len(films) - 1 - (len(films) - 1) // BATCH_SIZE
                server.drain.start()
                async with asyncio.timeout(30):
                    cut = await asyncio.gather(*queued)
                    holders = await asyncio.gather(*held.holders)
                held.released = True  # the holders were cut, not answered
                await held.lock.rollback()
        async with asyncio.timeout(30):
            await asyncio.to_thread(live.thread.join)
    assert [a.status_code for a in cut] == [503] * len(cut)
    assert all(a.headers.get("retry-after") == "2" for a in cut)
    assert {a.json()["errors"][0]["extensions"]["code"] for a in cut} == {"SERVICE_UNAVAILABLE"}
    assert [a.status_code for a in holders] == [503] * len(holders)
    assert coalescer.sharing() == 0 and not coalescer._live
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


SEARCH = """query Search($q: String!) { films(filter: {query: $q}, first: 20) { nodes { id title
  year imdbRating } } search(query: $q, first: 10) { __typename ... on Film { id title }
  ... on Person { id name } } }"""


def search(q: str) -> dict[str, Any]:
    return {"query": SEARCH, "variables": {"q": q}}


async def test_one_document_that_runs_alone_is_refused_past_the_queue(dsn: str) -> None:
    """A document whose statement has no batched form (the search's text[] parameter) runs
    each request alone: behind a stuck pool, a burst of it is refused past the queue at once,
    as distinct documents are, however alike its requests look."""
    settings = settings_for(5_000)
    total = 3 * QUEUE
    app = create_app(settings, dsn)
    with LiveServer(app, settings) as live:
        limits = httpx.Limits(max_connections=total + 8)
        async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
            first = await client.post("/graphql", json=search("a"))
            assert first.status_code == 200 and "errors" not in first.json(), first.text
            pool, admission = app.state.pool, app.state.admission

            stuck = pool_stuck(pool, client, QUEUE)

            async with held_pool(app, client, dsn) as held:
                await until(stuck, 30)
                asked = [
                    asyncio.ensure_future(client.post("/graphql", json=search(f"q{i}")))
                    for i in range(total)
                ]

                async def refused_past_the_queue() -> bool:
                    await held.look()
                    return sum(a.done() for a in asked) >= total - QUEUE

                await until(refused_past_the_queue, 30)
                refused = [a.result() for a in asked if a.done()]
                waiting = [a for a in asked if not a.done()]
                assert pool.coalescer.sharing() == 0
            async with asyncio.timeout(30):
                served = await asyncio.gather(*waiting)
    assert all(refused_at_once(a) for a in refused), [(a.status_code, a.text) for a in refused]
    assert admission.refusals == len(refused) >= total - QUEUE
    assert all(a.status_code == 200 for a in served)


async def test_a_second_stop_signal_answers_requests_in_flight_as_a_drain_cut_does(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A second SIGTERM while a burst waits in batches behind a stuck pool: what is still
    running gets STOP_MARGIN_S, then uvicorn cancels it; each request is answered 503
    SERVICE_UNAVAILABLE with Retry-After, as a drain cut is (it was 500, uvicorn's answer to
    a cancelled app, with a traceback logged for each)."""
    settings = settings_for(20_000)
    films = await slugs(dsn, 2 * BATCH_SIZE)
    app = create_app(settings, dsn)
    live = LiveServer(app, settings)
    # As `filmgraph serve` runs it (graph/cli.py's _run_server).
    config = server_config(
        app,
        settings,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=STOP_MARGIN_S,
    )
    server = live.server = _Server(config, announce="")
    live.thread = threading.Thread(target=live.server.run, kwargs={"sockets": [live.sock]})
    with live:
        limits = httpx.Limits(max_connections=len(films) + 8)
        async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
            await client.post("/graphql", json=film(films[0]))  # compiled before
            async with held_pool(app, client, dsn) as held:
                queued = await in_waves(
                    held,
                    [functools.partial(client.post, "/graphql", json=film(s)) for s in films],
                    QUEUE // 2,
                )
                # SIGTERM twice (signal handlers are the main thread's: called as they are).
                server.handle_exit(signal.SIGTERM, None)
                server.handle_exit(signal.SIGTERM, None)
                async with asyncio.timeout(30):
                    cut = await asyncio.gather(*queued, *held.holders)
                held.released = True  # the holders were cut, not answered
                await held.lock.rollback()
        async with asyncio.timeout(30):
            await asyncio.to_thread(live.thread.join)
    assert {a.status_code for a in cut} == {503}, {a.status_code for a in cut}
    assert all(a.headers.get("retry-after") == "2" for a in cut)
    assert {a.json()["errors"][0]["extensions"]["code"] for a in cut} == {"SERVICE_UNAVAILABLE"}
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]


async def test_one_document_in_batches_of_one_is_refused_past_the_queue(dsn: str) -> None:
    """A statement whose recent cost is high beside statement_timeout runs in batches of one
    (graph/compiled/coalesce.py's `size`): each request of a burst of it takes a turn of its
    own, and behind a stuck pool the burst is refused past the queue at once."""
    settings = dataclasses.replace(settings_for(3_000), statement_timeout_ms=4_000)
    films = await slugs(dsn, 3 * QUEUE)
    app = create_app(settings, dsn)
    admin, locker = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        with LiveServer(app, settings) as live:
            limits = httpx.Limits(max_connections=len(films) + 8)
            async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
                pool, admission = app.state.pool, app.state.admission
                # The film page's first statement waits on a lock for over a quarter of
                # statement_timeout, then is cancelled: its cost per request, the first
                # remembered, allows batches of one.
                async with locker.transaction():
                    await locker.execute("lock table film in access exclusive mode")
                    slow = asyncio.ensure_future(client.post("/graphql", json=film(films[0])))

                    async def slow_enough() -> bool:
                        cancelled: int = await admin.fetchval(
                            "select count(pg_cancel_backend(pid)) from pg_stat_activity"
                            " where application_name = 'filmgraph'"
                            " and wait_event_type = 'Lock'"
                            " and clock_timestamp() - query_start > interval '1.2 seconds'"
                        )
                        return bool(cancelled)

                    await until(slow_enough)
                    async with asyncio.timeout(30):
                        await slow

                stuck = pool_stuck(pool, client, QUEUE)

                async with held_pool(app, client, dsn) as held:
                    await until(stuck, 30)
                    same = await in_waves(
                        held,
                        [functools.partial(client.post, "/graphql", json=film(s)) for s in films],
                        QUEUE // 2,
                    )
                    refused = [a.result() for a in same if a.done()]
                    queued = [a for a in same if not a.done()]
                    sharing = pool.coalescer.sharing()
                async with asyncio.timeout(30):
                    await asyncio.gather(*queued)
    finally:
        await admin.close()
        await locker.close()
    assert sharing == 0
    assert len(queued) <= QUEUE
    assert all(refused_at_once(a) for a in refused), [(a.status_code, a.text) for a in refused]
    assert admission.refusals == len(refused) >= len(films) - QUEUE
