"""The SQL a request sends grows with the depth of the query, not with the rows it returns.

Counted where it happens: pg_stat_statements on the server, for the test's own database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.demo.load import load_demo
from graph.migrate import migrate
from graph.settings import Settings
from tests.conftest import LiveServer, gql
from tests.golden_sql import COLLABORATORS, PAGES
from tests.held_pool import held_pool

FILMS_WITH_DIRECTORS = """
query($n: Int!) {
  films(first: $n) {
    nodes {
      title
      directors {
        name
        filmography(role: DIRECTOR, first: 10) { totalCount nodes { title year } }
      }
    }
  }
}
"""

# 60 directors with 3 films each, credited as DIRECTOR; some also write.
SEED = """
insert into person (slug, name)
select 'director-' || i, 'Director ' || i from generate_series(1, 60) i;
insert into film (slug, title, year)
select 'film-' || i, 'Film ' || lpad(i::text, 3, '0'), 1950 + i % 70 from generate_series(1, 180) i;
insert into credit (film_id, person_id, role)
select f.id, p.id, 'DIRECTOR'
from film f join person p on p.slug = 'director-' || (1 + (substr(f.slug, 6)::int - 1) % 60);
insert into credit (film_id, person_id, role)
select film_id, person_id, 'WRITER' from credit where person_id % 2 = 0;
"""

# Every statement executed in the test's database, but for the counting itself and asyncpg's
# housekeeping: its once-per-connection type introspection (which switches JIT off and on
# around it) and the reset it sends when a connection goes back to the pool. Those depend on
# how many connections the pool has opened so far, not on the request. And the data version's
# listener (a connection of its own, graph/dataversion.py), which reads it now and then.
COUNT = """
select coalesce(sum(s.calls), 0)::int
from pg_stat_statements s
join pg_database d on d.oid = s.dbid
where d.datname = $1
  and s.query not like '%pg_stat_statements%'
  and s.query not like '%pg_advisory_unlock_all()%'
  and s.query not like '%typeinfo_tree%'
  and s.query not like '%current_setting($1) AS cur%'
  and s.query not like '%set_config($2, $1, $3)%'
  and s.query not like '%from data_version%'
  and s.query not like 'LISTEN %'
"""


class Counted:
    """The API on a seeded database, and the statements one request makes it run."""

    def __init__(self, client: httpx.AsyncClient, admin: asyncpg.Connection, database: str):
        self.client, self.admin, self.database = client, admin, database

    async def run(self, query: str, variables: dict[str, Any]) -> tuple[dict[str, Any], int]:
        await self.admin.execute("select pg_stat_statements_reset()")
        data = await gql(self.client, query, variables)
        count: int = await self.admin.fetchval(COUNT, self.database)
        return data, count


async def seeded(admin: asyncpg.Connection) -> str:
    """Migrate and seed the test's database (SEED), with pg_stat_statements; its name."""
    await migrate(admin)
    await admin.execute(SEED)
    await admin.execute("create extension if not exists pg_stat_statements")
    database: str = await admin.fetchval("select current_database()")
    return database


@pytest.fixture(params=["resolvers"])
async def counted(empty_dsn: str, request: pytest.FixtureRequest) -> AsyncIterator[Counted]:
    """The API on the seeded database, on the execution path the test asks for (the loaders'
    batching by default)."""
    settings = dataclasses.replace(Settings(), execution=request.param)
    admin = await asyncpg.connect(empty_dsn)
    try:
        database = await seeded(admin)
        with LiveServer(create_app(settings, empty_dsn), settings) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                yield Counted(client, admin, database)
    finally:
        await admin.close()


async def test_statement_count_does_not_grow_with_rows(counted: Counted) -> None:
    counts = {}
    for n in (50, 5):
        data, counts[n] = await counted.run(FILMS_WITH_DIRECTORS, {"n": n})
        films = data["films"]["nodes"]
        assert len(films) == n
        assert all(len(f["directors"]) == 1 for f in films)
        assert all(f["directors"][0]["filmography"]["totalCount"] == 3 for f in films)
        assert all(len(f["directors"][0]["filmography"]["nodes"]) == 3 for f in films)
    # films page, directors of those films, filmographies of those directors.
    assert counts[50] == 3, f"50 films took {counts[50]} statements"
    assert counts[5] == counts[50]


async def test_nodes_are_fetched_in_one_statement_per_type(counted: Counted) -> None:
    page, _ = await counted.run(
        "{ films(first: 30) { nodes { id } } people(first: 30) { nodes { id } } }", {}
    )
    ids = [n["id"] for n in page["films"]["nodes"] + page["people"]["nodes"]]
    data, count = await counted.run("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert [n["id"] for n in data["nodes"]] == ids
    assert count == 2, f"60 nodes of two types took {count} statements"


# Everything the server runs for a request but the counting itself and asyncpg's
# once-per-connection type introspection: the pool's reset on release included.
EVERY_STATEMENT = """
select coalesce(sum(s.calls), 0)::int
from pg_stat_statements s
join pg_database d on d.oid = s.dbid
where d.datname = $1
  and s.query not like '%pg_stat_statements%'
  and s.query not like '%typeinfo_tree%'
  and s.query not like '%current_setting($1) AS cur%'
  and s.query not like '%set_config($2, $1, $3)%'
  -- The data-version listener's own connection reads the version every 5 s (graph/dataversion.py).
  and s.query not like '%from data_version%'
  and s.query not like 'LISTEN %'
"""

FILM_PAGE = (Path(__file__).parent.parent / "examples" / "film-page.graphql").read_text()


@pytest.mark.parametrize(("execution", "expected"), [("resolvers", 7), ("compiled", 1)])
async def test_film_page_uses_one_connection_and_no_reset(
    empty_dsn: str, execution: str, expected: int
) -> None:
    """On the resolvers, the film page's seven queries run on one connection, released without
    the four reset statements (RESET ALL, UNLISTEN *, CLOSE ALL, pg_advisory_unlock_all()) per
    query; compiled, it is one statement, every statement on the server counted."""
    admin = await asyncpg.connect(empty_dsn)
    try:
        await migrate(admin)
        await load_demo(admin)
        await admin.execute("create extension if not exists pg_stat_statements")
        database = await admin.fetchval("select current_database()")
        # Utility statements (RESET ALL, BEGIN, SET LOCAL...) counted too, for the API's
        # connections (the suite's server leaves them out).
        await admin.execute(f"alter database {database} set pg_stat_statements.track_utility = on")
        with LiveServer(create_app(Settings(execution=execution), empty_dsn)) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                variables = {"slug": "refusenik-2007", "region": "US"}
                await gql(client, FILM_PAGE, variables)  # connections opened and introspected
                await admin.execute("select pg_stat_statements_reset()")
                data = await gql(client, FILM_PAGE, variables)
                count: int = await admin.fetchval(EVERY_STATEMENT, database)
    finally:
        await admin.close()
    assert data["film"]["directors"], data
    # Resolvers: film, genres, directors, their filmographies, writers, offers, providers.
    assert count == expected, f"the film page took {count} statements ({execution})"


FILMOGRAPHY = """query Filmography($slug: String!) { person(slug: $slug) { id name
  filmography(role: DIRECTOR, first: 50) { totalCount nodes { id title year
    genres { name } offers(region: "US") { kind price currency provider { name } } } } } }"""
TOP_RATED = """query TopRated { films(orderBy: [{field: RATING, direction: DESC}], first: 100) {
  totalCount nodes { id title year imdbRating directors { name } genres { name } } } }"""
FILM_PAGE_SIMILAR = PAGES["film_page_similar"][0]
FILTERED = """{ films(filter: {year: {min: 1990}, runtimeMinutes: {max: 200}}, first: 5) {
  totalCount nodes { title } } }"""


@pytest.mark.parametrize("counted", ["compiled"], indirect=True)
async def test_a_compiled_request_is_one_statement(counted: Counted) -> None:
    pages: list[tuple[str, dict[str, Any]]] = [
        (FILM_PAGE, {"slug": "film-7", "region": "US"}),
        (FILMOGRAPHY, {"slug": "director-7"}),
        (TOP_RATED, {}),
        (FILMS_WITH_DIRECTORS, {"n": 50}),
        # The graph questions are embedded statements (graph/compiled/embedded.py).
        (FILM_PAGE_SIMILAR, {"slug": "film-7", "region": "US"}),
        (COLLABORATORS, {"slug": "director-7", "people": ["UGVyc29uOjE=", "UGVyc29uOjI="]}),
    ]
    for query, variables in pages:
        _, count = await counted.run(query, variables)
        assert count == 1, f"{query[:30]!r} took {count} statements"
    # A filter is planned for its values, by a statement prepared afresh: still one.
    _, count = await counted.run(FILTERED, {})
    assert count == 1, f"a filtered page took {count} statements"


async def test_coalesced_requests_run_at_most_one_statement_each(empty_dsn: str) -> None:
    """Compiled requests asked at once share statements (graph/compiled/coalesce.py): the
    server runs at most one per request, and each request gets its own page."""
    settings = Settings(pool_max_size=1, explain_execution=False, coalesce=True)
    admin = await asyncpg.connect(empty_dsn)
    try:
        database = await seeded(admin)
        app = create_app(settings, empty_dsn)
        with LiveServer(app, settings) as live:
            limits = httpx.Limits(max_connections=30)
            async with httpx.AsyncClient(base_url=live.url, timeout=30, limits=limits) as client:
                films = [f"film-{i}" for i in range(1, 21)]
                await gql(client, FILM_PAGE, {"slug": films[0], "region": "US"})  # compiled
                # The pool's one connection held by another statement waiting on a lock, so
                # that the film pages all wait for it, in batches.
                async with held_pool(app, client, empty_dsn) as held:
                    asked = await held.burst(
                        [
                            functools.partial(
                                gql, client, FILM_PAGE, {"slug": slug, "region": "US"}
                            )
                            for slug in films
                        ]
                    )
                    await admin.execute("select pg_stat_statements_reset()")
                requests = 1 + len(films)
                async with asyncio.timeout(30):
                    pages = await asyncio.gather(*asked)
                count: int = await admin.fetchval(COUNT, database)
                shared: int = await admin.fetchval(
                    "select coalesce(sum(calls), 0)::int from pg_stat_statements"
                    " where query like 'select b.i, s.data, s.ok%'"
                )
    finally:
        await admin.close()
    assert [page["film"]["title"] for page in pages] == [f"Film {i:03d}" for i in range(1, 21)]
    assert count <= requests, f"{requests} requests took {count} statements"
    # The holder's, and the 20 film pages' in batches of at most 16.
    assert shared >= 1 and count <= 1 + 2, (count, shared)
