"""The SQL a request sends grows with the depth of the query, not with the rows it returns.

Counted where it happens: pg_stat_statements on the server, for the test's own database.
"""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.migrate import migrate
from graph.settings import Settings
from tests.conftest import LiveServer, gql

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
# how many connections the pool has opened so far, not on the request.
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
"""


@pytest.fixture
async def seeded(empty_dsn: str) -> str:
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await conn.execute(SEED)
        await conn.execute("create extension if not exists pg_stat_statements")
    finally:
        await conn.close()
    return empty_dsn


async def _statements_for(
    client: httpx.AsyncClient, admin: asyncpg.Connection, database: str, n: int
) -> tuple[int, int]:
    await admin.execute("select pg_stat_statements_reset()")
    data = await gql(client, FILMS_WITH_DIRECTORS, {"n": n})
    films = data["films"]["nodes"]
    assert len(films) == n
    assert all(len(f["directors"]) == 1 for f in films)
    assert all(f["directors"][0]["filmography"]["totalCount"] == 3 for f in films)
    rows = sum(1 + 1 + 3 for _ in films)
    count: int = await admin.fetchval(COUNT, database)
    return count, rows


async def test_statement_count_does_not_grow_with_rows(seeded: str) -> None:
    admin = await asyncpg.connect(seeded)
    database = await admin.fetchval("select current_database()")
    try:
        with LiveServer(create_app(Settings(), seeded)) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                fifty, rows_50 = await _statements_for(client, admin, database, 50)
                five, rows_5 = await _statements_for(client, admin, database, 5)
    finally:
        await admin.close()
    assert rows_50 == 10 * rows_5
    # films page, directors of those films, filmographies of those directors.
    assert fifty == 3, f"50 films took {fifty} statements"
    assert five == fifty


async def test_nodes_are_fetched_in_one_statement_per_type(seeded: str) -> None:
    admin = await asyncpg.connect(seeded)
    database = await admin.fetchval("select current_database()")
    try:
        with LiveServer(create_app(Settings(), seeded)) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                page = await gql(
                    client,
                    "{ films(first: 30) { nodes { id } } people(first: 30) { nodes { id } } }",
                )
                ids = [n["id"] for n in page["films"]["nodes"] + page["people"]["nodes"]]
                await admin.execute("select pg_stat_statements_reset()")
                data = await gql(
                    client, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids}
                )
                count = await admin.fetchval(COUNT, database)
    finally:
        await admin.close()
    assert [n["id"] for n in data["nodes"]] == ids
    assert count == 2, f"60 nodes of two types took {count} statements"
