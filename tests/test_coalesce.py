"""Coalescing (graph/compiled/coalesce.py, FILMGRAPH_COALESCE): concurrent compiled requests
for different films share statements and each gets its own page, byte for byte the page a
server without coalescing gives; a batch that fails leaves each request to run alone."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import json
import logging
from pathlib import Path

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.compiled.coalesce import batched
from graph.settings import Settings
from tests.conftest import LiveServer
from tests.held_pool import film, held_pool, holder, pool_stuck, until
from tests.test_faults import FILM_PAGE as FAULTS_FILM_PAGE
from tests.test_faults import raw_request, roundtrip

GOLDEN = Path(__file__).parent / "sql"


async def slugs(dsn: str, n: int) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("select slug from film order by id limit $1", n)
    finally:
        await conn.close()
    return [r["slug"] for r in rows] + ["no-such-film"]


async def pages(url: str, films: list[str], warm: bool = True) -> list[tuple[int, bytes]]:
    """Every film's page, all asked at once."""
    limits = httpx.Limits(max_connections=len(films))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        if warm:
            await client.post("/graphql", json=film(films[0]))  # compiled before
        answers = await asyncio.gather(*(client.post("/graphql", json=film(s)) for s in films))
    return [(a.status_code, a.content) for a in answers]


async def test_concurrent_film_pages_each_get_their_own_page(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each page is byte for byte the plain server's; each page's figures count its batch's
    statement as its one statement, and the statement's whole time as its sqlMs (the same for
    every request of a batch: docs/observability.md)."""
    films = await slugs(dsn, 40)
    settings = Settings(explain_execution=False, coalesce=False)
    with LiveServer(create_app(settings, dsn), settings) as plain:
        expected = await pages(plain.url, films)
    assert len({body for _, body in expected}) == len(films)
    # One connection, held by a statement waiting on a lock until every film page waits for
    # it: the pages then share batches on every run, however fast the server answers.
    settings = Settings(explain_execution=False, coalesce=True, pool_max_size=1, log_format="json")
    app = create_app(settings, dsn)
    caplog.set_level(logging.INFO, logger="graph.observe")
    with LiveServer(app, settings) as coalescing:
        limits = httpx.Limits(max_connections=len(films) + 1)
        async with httpx.AsyncClient(base_url=coalescing.url, timeout=30, limits=limits) as client:
            await client.post("/graphql", json=film(films[0]))  # compiled before
            async with held_pool(app, client, dsn) as held:
                asked = await held.burst(
                    [functools.partial(client.post, "/graphql", json=film(s)) for s in films]
                )
            async with asyncio.timeout(30):
                answers = await asyncio.gather(*asked)
            got = [(a.status_code, a.content) for a in answers]
            coalescer = app.state.pool.coalescer
    assert got == expected
    assert coalescer.failed == 0
    assert coalescer.answered >= len(films)
    assert coalescer.batches < coalescer.answered  # some batch answered several
    # The burst's log lines (a line is written as its request ends, after its answer).
    ids = {a.headers["x-request-id"] for a in answers}
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "graph.observe"]
    lines = [line for line in lines if line["requestId"] in ids]
    assert len(lines) == len(films)
    assert {line["sqlStatements"] for line in lines} == {1}
    # Batches of at most 16: the 41 pages shared at most three figures, one a batch.
    shared = collections.Counter(line["sqlMs"] for line in lines)
    assert len(shared) <= -(-len(films) // 16) and max(shared.values()) >= 16, shared
    assert all(0 < line["sqlMs"] <= line["durationMs"] for line in lines)


async def test_a_failed_batch_runs_each_request_alone(dsn: str) -> None:
    films = await slugs(dsn, 12)
    settings = Settings(explain_execution=False, coalesce=False)
    with LiveServer(create_app(settings, dsn), settings) as plain:
        expected = await pages(plain.url, films)
    settings = Settings(explain_execution=False, coalesce=True, pool_max_size=2)
    app = create_app(settings, dsn)
    locker = await asyncpg.connect(dsn)
    try:
        with LiveServer(app, settings) as coalescing:
            async with httpx.AsyncClient(base_url=coalescing.url, timeout=30) as client:
                await client.post("/graphql", json=film(films[0]))
            tx = locker.transaction()
            await tx.start()
            await locker.execute("lock table film in access exclusive mode")
            asked = asyncio.ensure_future(pages(coalescing.url, films, warm=False))
            # Batches wait on the lock (all that runs yet): their connections end under them
            # (observed on the server, not timed); the requests they held run alone once the
            # lock goes.
            ended = 0
            async with asyncio.timeout(30):
                while not ended:
                    assert not asked.done()
                    ended = await locker.fetchval(
                        "select count(pg_terminate_backend(pid)) from pg_stat_activity"
                        " where application_name = 'filmgraph' and wait_event_type = 'Lock'"
                    )
            await tx.rollback()
            got = await asyncio.wait_for(asked, 30)
            coalescer = app.state.pool.coalescer
            assert coalescer.failed >= 1
            pool, admission = app.state.pool, app.state.admission

            async def nothing_counted() -> bool:
                # Admission (graph/admission.py) counts no request as sharing a turn, nor in
                # progress, once the failed batches' requests are answered.
                await locker.fetchval("select 1")  # a round trip between looks
                return bool(
                    coalescer.sharing() == 0 and admission.in_progress == 0 and pool.holding == 0
                )

            await until(nothing_counted)
    finally:
        await locker.close()
    assert got == expected


def test_only_statements_of_scalar_parameters_have_a_batched_form() -> None:
    def statement(name: str) -> str:
        text = (GOLDEN / f"{name}.sql").read_text().splitlines()
        return "\n".join(line for line in text if not line.startswith("--"))

    film_page = batched(statement("film_page"))
    assert film_page is not None
    assert film_page.startswith(
        "select b.i, s.data, s.ok\n"
        "from unnest($1::text[], $2::int[], $3::text[]) with ordinality b(p1, p2, p3, i)\n"
    )
    assert "$" not in film_page.split("\n", 2)[2]  # every parameter a column of the batch
    assert batched(statement("search")) is None  # types: a text[] parameter
    assert batched("select 1 as data, true as ok") is None
    assert batched("select $1 as data, true as ok") is None  # no cast


async def batched_backends(admin: asyncpg.Connection, waiting: bool) -> int:
    """The API's backends running a batched statement (graph/compiled/coalesce.py), or only
    those waiting on a lock: observed on the server."""
    count: int = await admin.fetchval(
        "select count(*) from pg_stat_activity where application_name = 'filmgraph'"
        " and state = 'active' and query like 'select b.i, s.data, s.ok%'"
        " and (not $1 or wait_event_type = 'Lock')",
        waiting,
    )
    return count


@pytest.mark.parametrize("leaving", ["all but one", "all"])
async def test_a_batch_runs_for_those_left_and_its_statement_ends_with_the_last(
    dsn: str, leaving: str
) -> None:
    """Requests whose clients hang up leave their batch: the others still get their pages.
    When the last leaves, the batch's statement is cancelled on the server, as a request's
    own statement is alone (tests/test_faults.py)."""
    films = (await slugs(dsn, 4))[:4]
    settings = Settings(
        explain_execution=False,
        coalesce=True,
        pool_min_size=1,
        pool_max_size=1,
        request_timeout_ms=60_000,
        statement_timeout_ms=60_000,
    )
    with LiveServer(create_app(dataclasses.replace(settings, coalesce=False), dsn)) as plain:
        expected = dict(zip(films, await pages(plain.url, films), strict=True))
    app = create_app(settings, dsn)
    admin, film_locker, credit_locker = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        with LiveServer(app, settings) as live:
            limits = httpx.Limits(max_connections=10)
            async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
                await client.post("/graphql", json=film(films[0]))  # compiled before
                # The pool's one connection taken by a statement that waits on `film`, and the
                # film pages, one batch, waiting for it; then the batch's statement waits on
                # `credit`, which the film page reads and the other statement does not.
                film_lock, credit_lock = film_locker.transaction(), credit_locker.transaction()
                await film_lock.start()
                await film_locker.execute("lock table film in access exclusive mode")
                other = asyncio.ensure_future(
                    client.post("/graphql", json={"query": '{ film(slug: "x") { title } }'})
                )
                await until(lambda: _blocked(admin))
                asked = [
                    asyncio.ensure_future(client.post("/graphql", json=film(s))) for s in films
                ]
                coalescer = app.state.pool.coalescer

                async def in_one_batch() -> bool:
                    await admin.fetchval("select 1")  # a round trip between looks
                    return bool(coalescer.waiting() == len(films))

                await until(in_one_batch)
                await credit_lock.start()
                await credit_locker.execute("lock table credit in access exclusive mode")
                await film_lock.rollback()
                assert (await other).status_code == 200
                await until(lambda: _batched_waits(admin))
                gone = asked if leaving == "all" else asked[1:]
                for request in gone:
                    request.cancel()  # the client gives up, and its connection closes
                await asyncio.gather(*gone, return_exceptions=True)

                async def shares_no_turn() -> bool:
                    # Admission (graph/admission.py) no longer counts those gone as sharing
                    # the batch's turn, while its statement still runs (for the one left).
                    await admin.fetchval("select 1")  # a round trip between looks
                    return bool(coalescer.sharing() == 0)

                await until(shares_no_turn)
                if leaving == "all":
                    # The lock is still held, yet the statement no longer waits on it.
                    await until(lambda: _no_batched(admin))
                    await credit_lock.rollback()
                else:
                    await credit_lock.rollback()
                    response = await asyncio.wait_for(asked[0], 30)
                    assert (response.status_code, response.content) == expected[films[0]]
                assert coalescer.batches >= 1
                next_page = await client.post("/graphql", json=film(films[1]))
                assert (next_page.status_code, next_page.content) == expected[films[1]]
                admission, pool = app.state.admission, app.state.pool

                async def nothing_counted() -> bool:
                    await admin.fetchval("select 1")  # a round trip between looks
                    return bool(
                        coalescer.sharing() == 0
                        and admission.in_progress == 0
                        and pool.holding == 0
                    )

                await until(nothing_counted)
    finally:
        for conn in (admin, film_locker, credit_locker):
            await conn.close()


async def _blocked(admin: asyncpg.Connection) -> bool:
    waiting = await admin.fetchval(
        "select count(*) from pg_stat_activity where application_name = 'filmgraph'"
        " and wait_event_type = 'Lock'"
    )
    return bool(waiting)


async def _batched_waits(admin: asyncpg.Connection) -> bool:
    return await batched_backends(admin, waiting=True) == 1


async def _no_batched(admin: asyncpg.Connection) -> bool:
    return await batched_backends(admin, waiting=False) == 0


async def test_a_storm_of_one_statement_waits_for_the_pool_once(dsn: str) -> None:
    """A hundred film pages on a pool of two whose statements time out (a lock): batches
    wait for the pool in turn. A batch that gets no connection within the pool wait refuses
    each of its requests then (SERVICE_UNAVAILABLE), without a second wait; one that times out
    gives each the timeout. No request waits longer than alone: one pool wait, one
    statement_timeout."""
    settings = Settings(
        pool_min_size=2,
        pool_max_size=2,
        pool_timeout_ms=1_000,
        statement_timeout_ms=400,
        pool_queue=1_000,  # every request admitted: the refusals are the pool's
        coalesce=True,
    )
    wait, timeout = settings.pool_timeout_ms / 1000, settings.statement_timeout_ms / 1000
    app = create_app(settings, dsn)
    with LiveServer(app, settings) as live:
        async with asyncio.timeout(30):
            assert (await roundtrip(live.port, raw_request("/graphql", FAULTS_FILM_PAGE)))[0] == 200
        locker = await asyncpg.connect(dsn)
        try:
            tx = locker.transaction()
            await tx.start()
            await locker.execute("lock table credit in access exclusive mode")
            try:
                async with asyncio.timeout(60):
                    answers = await asyncio.gather(
                        *(
                            roundtrip(live.port, raw_request("/graphql", FAULTS_FILM_PAGE))
                            for _ in range(100)
                        )
                    )
            finally:
                await tx.rollback()
        finally:
            await locker.close()
    refusals = [seconds for status, _, seconds in answers if status == 503]
    timeouts = [seconds for status, _, seconds in answers if status == 200]
    assert len(refusals) + len(timeouts) == 100, [status for status, _, _ in answers]
    assert refusals, "no batch waited past the pool wait"
    assert app.state.pool.coalescer.failed >= 1
    # The margin is for a loaded machine, as in tests/test_faults.py. Twice the pool wait (a
    # second wait after a failed batch) would be past it.
    assert max(refusals) < wait + 0.75, sorted(refusals)[-10:]
    assert max(timeouts) < wait + timeout + 0.75, sorted(timeouts)[-10:]


async def test_a_burst_of_one_document_past_the_queue_is_served_not_refused(dsn: str) -> None:
    """Admission (graph/admission.py) counts the pool turns requests in progress are owed: the
    requests of one batch owe one between them. Behind a pool held by a stuck statement,
    twice FILMGRAPH_POOL_QUEUE film pages of one document wait in three batches and are all
    served once it moves; as many documents that share no statement are refused past the
    queue, as they are without coalescing."""
    settings = Settings(
        explain_execution=False,
        coalesce=True,
        pool_min_size=1,
        pool_max_size=1,
        # Long bounds: a stuck pool is what admission looks at, not what ends a request here.
        pool_timeout_ms=5_000,
        statement_timeout_ms=20_000,
    )
    queue = settings.pool_queue
    films = (await slugs(dsn, 2 * queue))[: 2 * queue]
    app = create_app(settings, dsn)
    pool, admission = None, None
    with LiveServer(app, settings) as live:
        limits = httpx.Limits(max_connections=2 * queue + 1)
        async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
            await client.post("/graphql", json=film(films[0]))  # compiled before
            pool, admission = app.state.pool, app.state.admission

            stuck = pool_stuck(pool, client, queue)

            async with held_pool(app, client, dsn) as held:
                await until(stuck, 30)
                same = await held.burst(
                    [functools.partial(client.post, "/graphql", json=film(s)) for s in films]
                )
            async with asyncio.timeout(30):
                served = await asyncio.gather(*same)
            refusals = admission.refusals
            # One statement each (an alias of its own): a turn each.
            distinct = [
                {"query": f'{{ page{i}: film(slug: "{slug}") {{ title }} }}'}
                for i, slug in enumerate(films)
            ]
            async with held_pool(app, client, dsn) as held:
                await until(stuck, 30)
                apart = await held.burst(
                    [functools.partial(client.post, "/graphql", json=d) for d in distinct]
                )
            async with asyncio.timeout(30):
                answered = await asyncio.gather(*apart)
    assert [a.status_code for a in served] == [200] * len(films)
    assert all(a.json()["data"]["film"] is not None for a in served)
    assert refusals == 0
    # The first `queue` wait for the pool; the rest are refused at once, as alone.
    assert [a.status_code for a in answered] == [200] * queue + [503] * (len(films) - queue)
    assert [a.json()["data"] for a in answered[:queue]] != [None] * queue
    assert admission.refusals == len(films) - queue


async def test_a_request_alone_after_its_batch_failed_is_refused_when_its_pool_wait_runs_out(
    dsn: str,
) -> None:
    """A batch that times out has each request run alone within what remains of its bounds
    (its pool wait and statement_timeout, from when it asked). One whose bounds run out while
    it waits for the pool gets what a request waiting too long for the pool gets alone,
    SERVICE_UNAVAILABLE, not TIMEOUT."""
    settings = Settings(
        explain_execution=False,
        coalesce=True,
        pool_min_size=1,
        pool_max_size=1,
        statement_timeout_ms=1_200,
        pool_timeout_ms=1_800,
    )
    statement, wait = settings.statement_timeout_ms / 1000, settings.pool_timeout_ms / 1000
    films = (await slugs(dsn, 4))[:4]
    app = create_app(settings, dsn)
    admin, locker = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        with LiveServer(app, settings) as live:
            limits = httpx.Limits(max_connections=10)
            async with httpx.AsyncClient(base_url=live.url, timeout=30, limits=limits) as client:
                await client.post("/graphql", json=film(films[0]))  # compiled before
                coalescer = app.state.pool.coalescer
                lock = locker.transaction()
                await lock.start()
                await locker.execute("lock table film in access exclusive mode")
                try:
                    # t=0: the first holder takes the pool's connection; its statement waits on
                    # the lock until its statement_timeout (t=1.2).
                    first = asyncio.ensure_future(client.post("/graphql", json=holder(0)))
                    await until(lambda: _blocked(admin))
                    # The film pages, one batch, wait for the connection (asked at t=0+).
                    asked = [
                        asyncio.ensure_future(client.post("/graphql", json=film(s))) for s in films
                    ]

                    async def in_one_batch() -> bool:
                        await admin.fetchval("select 1")  # a round trip between looks
                        return bool(coalescer.waiting() == len(films))

                    await until(in_one_batch)
                    # t=1.2: the batch has the connection; its statement waits on the lock
                    # until t=2.4. The second holder asks for the pool then, before the pages
                    # do again, alone, when the batch times out: it holds the connection from
                    # t=2.4 until t=3.6, past the pages' bounds (t=0+ + 1.8 + 1.2 = 3.0+).
                    await until(lambda: _batched_waits(admin))
                    second = asyncio.ensure_future(client.post("/graphql", json=holder(1)))
                    async with asyncio.timeout(30):
                        pages = await asyncio.gather(*asked)
                        holders = await asyncio.gather(first, second)
                finally:
                    await lock.rollback()
    finally:
        await admin.close()
        await locker.close()
    assert [code(h) for h in holders] == ["TIMEOUT", "TIMEOUT"]
    assert coalescer.failed >= 1
    assert [code(p) for p in pages] == ["SERVICE_UNAVAILABLE"] * len(films)
    for page in pages:
        assert page.status_code == 503 and "retry-after" in page.headers
        # As alone: no longer than one pool wait and one statement timeout (a margin for a
        # loaded machine).
        assert page.elapsed.total_seconds() < wait + statement + 0.75


def code(response: httpx.Response) -> str | None:
    errors = response.json().get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None
