"""Person.filmography at any size: a page reads its own rows, not the person's whole
filmography, and its order and totalCount follow every write to films and credits
(migration 0009 keeps each credit's copy of its film's sort key and a count per role)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import parse
from graphql.execution.values import get_variable_values

from graph.app import create_app
from graph.batches import BATCHES
from graph.compiled.arguments import Arguments
from graph.compiled.plan import operation_of
from graph.compiled.sql import compile_operation
from graph.schema import create_schema
from graph.settings import Settings
from tests.conftest import LiveServer, gql

FILMS = 400  # the prolific director's films; a page of 10 must not read them all

PAGE = """query($slug: String!, $role: CreditRole, $first: Int, $after: String) {
  person(slug: $slug) { filmography(role: $role, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { title year } } } }"""

# The filmography's order and count, from the films themselves (not from credit's copies).
EXPECTED = """
select f.title, f.year from film f
where exists (select from credit c where c.film_id = f.id and c.person_id = $1
              and ($2::text is null or c.role = $2))
order by f.year desc nulls last, f.release_date desc nulls last, f.title, f.id"""


async def _prolific(conn: asyncpg.Connection) -> int:
    """A director of FILMS films (some also written by her, one year unknown, titles tied
    within a year) and another person credited on a few of them."""
    person = await conn.fetchval(
        "insert into person (slug, name) values ('prolific', 'Pro Lific') returning id"
    )
    await conn.execute(
        """insert into film (slug, title, year, release_date)
           select 'prolific-' || i, 'Take ' || (i % 7),
                  case when i = 1 then null else 1950 + i % 60 end,
                  case when i % 3 = 0 then make_date(1950 + i % 60, 1 + i % 12, 1) end
           from generate_series(1, $1::int) i""",
        FILMS,
    )
    await conn.execute(
        """insert into credit (film_id, person_id, role)
           select f.id, $1, r.role from film f
           cross join (values ('DIRECTOR'), ('WRITER')) r(role)
           where f.slug like 'prolific-%'
             and (r.role = 'DIRECTOR' or split_part(f.slug, '-', 2)::int % 5 = 0)""",
        person,
    )
    return int(person)


@pytest.fixture
async def prolific_dsn(writable_dsn: str) -> tuple[str, int]:
    conn = await asyncpg.connect(writable_dsn)
    try:
        person = await _prolific(conn)
        # A catalogue at rest, as autovacuum leaves it: statistics, and a visibility map that
        # lets an index answer alone.
        await conn.execute("vacuum (analyze)")
    finally:
        await conn.close()
    return writable_dsn, person


async def _answers(url: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The whole filmography, page by page, as the server answers it."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        nodes: list[dict[str, Any]] = []
        after = None
        while True:
            data = await gql(client, PAGE, {**variables, "first": 100, "after": after})
            page = data["person"]["filmography"]
            nodes += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return {"totalCount": page["totalCount"], "nodes": nodes}
            after = page["pageInfo"]["endCursor"]


async def _expected(conn: asyncpg.Connection, person: int, role: str | None) -> dict[str, Any]:
    rows = await conn.fetch(EXPECTED, person, role)
    return {"totalCount": len(rows), "nodes": [dict(r) for r in rows]}


async def _check(dsn: str, person: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        expected = {role: await _expected(conn, person, role) for role in ("DIRECTOR", None)}
    finally:
        await conn.close()
    for execution in ("compiled", "resolvers"):
        with LiveServer(create_app(Settings(execution=execution), dsn)) as server:
            for role, want in expected.items():
                got = await _answers(server.url, {"slug": "prolific", "role": role})
                assert got == want, (execution, role)


async def test_order_and_count_follow_every_write(prolific_dsn: tuple[str, int]) -> None:
    dsn, person = prolific_dsn
    await _check(dsn, person)
    conn = await asyncpg.connect(dsn)
    try:
        # The oldest film becomes the newest, another is renamed, one loses its date.
        await conn.execute("update film set year = 2030 where slug = 'prolific-60'")
        await conn.execute("update film set title = 'A Retitled Take' where slug = 'prolific-7'")
        await conn.execute("update film set release_date = null where slug = 'prolific-9'")
        # A copy written by hand is overwritten with the film's own values.
        await conn.execute(
            "update credit set film_year = 1800, film_title = 'wrong' where film_id = "
            "(select id from film where slug = 'prolific-11')"
        )
        # Credits come and go, and a film goes with its credits.
        await conn.execute(
            "delete from credit where role = 'DIRECTOR' and film_id in "
            "(select id from film where slug in ('prolific-2', 'prolific-5'))"
        )
        await conn.execute("delete from film where slug = 'prolific-3'")
        await conn.execute(
            """insert into credit (film_id, person_id, role)
               select id, $1, 'DIRECTOR' from film where slug = 'refusenik-2007'""",
            person,
        )
    finally:
        await conn.close()
    await _check(dsn, person)


def _compiled(query: str, variables: dict[str, Any]) -> tuple[str, list[Any]]:
    schema = create_schema()
    document = parse(query)
    operation = operation_of(document, None)
    coerced = get_variable_values(schema._schema, operation.variable_definitions or (), variables)
    assert not isinstance(coerced, list), coerced
    args = Arguments(schema._schema, coerced)
    args.memo["cursor_key"] = b"test"
    statement = compile_operation(schema, document, None, args)
    return statement.sql, [source(args) for source in statement.sources]


def _credit_rows(node: dict[str, Any]) -> int:
    """The rows all scans of credit returned, over all their loops."""
    read = 0
    if node.get("Relation Name") == "credit":
        read += node["Actual Rows"] * node["Actual Loops"]
    for child in node.get("Plans", []):
        read += _credit_rows(child)
    return read


async def _read(conn: asyncpg.Connection, sql: str, params: list[Any]) -> int:
    async with conn.transaction():
        # Whether an index can serve the page in its order, whatever the statistics say: with
        # a few credits per person on average (here), reading all of one person's and sorting
        # them looks as cheap as a walk; at 1M films (14 a person) the planner walks by itself
        # (bench/peers/run --scale). As in tests/test_indexes.py, whole-table reads and joins
        # that read a whole side are priced out, and here sorts too: a sort that cannot be
        # avoided still runs.
        for setting in ("seqscan", "hashjoin", "mergejoin", "bitmapscan", "sort"):
            await conn.execute(f"set local enable_{setting} = off")
        plan = await conn.fetchval(f"explain (analyze, format json) {sql}", *params)
    return _credit_rows(json.loads(plan)[0]["Plan"])


async def test_a_page_reads_its_size_not_the_filmography(
    prolific_dsn: tuple[str, int],
) -> None:
    """The film page's "other films by this director": ten films and a count, for a director
    of FILMS films. Before migration 0009 both paths read every one of her credits (twice)."""
    dsn, person = prolific_dsn
    query = """query($slug: String!) { person(slug: $slug) {
      filmography(role: DIRECTOR, first: 10) { totalCount nodes { title } } } }"""
    sql, params = _compiled(query, {"slug": "prolific"})
    conn = await asyncpg.connect(dsn)
    try:
        compiled = await _read(conn, sql, params)
        batch = BATCHES["filmography_page_by_person_id"].sql
        resolvers = await _read(conn, batch, [0, None, 10, None, [person], "DIRECTOR"])
        # The tenth page: the walk reads to its end, still not the whole filmography.
        tenth = await _read(conn, batch, [90, None, 10, None, [person], "DIRECTOR"])
    finally:
        await conn.close()
    assert compiled <= 20, compiled
    assert resolvers <= 20, resolvers
    assert tenth <= 110, tenth
