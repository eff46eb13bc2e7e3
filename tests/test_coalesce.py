"""Coalescing (graph/compiled/coalesce.py, FILMGRAPH_COALESCE): concurrent compiled requests
for different films share statements and each gets its own page, byte for byte the page a
server without coalescing gives; a batch that fails leaves each request to run alone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from graph.app import create_app
from graph.compiled.coalesce import batched
from graph.settings import Settings
from tests.conftest import LiveServer

FILM_PAGE = (Path(__file__).parent.parent / "examples" / "film-page.graphql").read_text()
GOLDEN = Path(__file__).parent / "sql"


def film(slug: str) -> dict[str, Any]:
    return {"query": FILM_PAGE, "variables": {"slug": slug, "region": "US"}}


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


async def test_concurrent_film_pages_each_get_their_own_page(dsn: str) -> None:
    films = await slugs(dsn, 40)
    settings = Settings(explain_execution=False)
    with LiveServer(create_app(settings, dsn), settings) as plain:
        expected = await pages(plain.url, films)
    assert len({body for _, body in expected}) == len(films)
    # One connection: requests that come while a batch runs make the next batch.
    settings = Settings(explain_execution=False, coalesce=True, pool_max_size=1)
    app = create_app(settings, dsn)
    with LiveServer(app, settings) as coalescing:
        got = await pages(coalescing.url, films)
        coalescer = app.state.pool.coalescer
        assert got == expected
        assert coalescer.failed == 0
        assert coalescer.answered >= len(films)
        assert coalescer.batches < coalescer.answered  # some batch answered several


async def test_a_failed_batch_runs_each_request_alone(dsn: str) -> None:
    films = await slugs(dsn, 12)
    settings = Settings(explain_execution=False)
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
