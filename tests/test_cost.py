"""Query cost: nodes a document can return, from first/last, refused past 10,000 before SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.cost import SEARCH_COST, SEARCHES, UNPAGED_SEARCH_FANOUT
from graph.schema import create_schema
from graph.settings import Settings
from tests.conftest import LiveServer, extensions, post
from tests.test_statement_count import COUNT

FILM_PAGE = (Path(__file__).resolve().parent.parent / "examples" / "film-page.graphql").read_text()

NESTED = """
query($n: Int, $m: Int) {
  films(first: $n) { nodes { title directors { filmography(first: $m) { nodes { title } } } } }
}
"""


async def cost_of(client: httpx.AsyncClient, query: str, variables: dict[str, object]) -> int:
    body = await post(client, query, variables)
    assert not body.get("errors"), body["errors"]
    cost: int = body["extensions"]["cost"]
    return cost


async def test_every_answer_carries_its_cost(client: httpx.AsyncClient) -> None:
    # 1 film + 10 genres + 10 directors x (10 films) + 10 writers + 10 offers x (1 provider).
    assert await cost_of(
        client, FILM_PAGE, {"slug": "refusenik-2007", "region": "US"}
    ) == 1 + 10 + (10 + 10 * 10) + 10 + (10 + 10)
    assert await cost_of(client, "{ __typename }", {}) == 0


async def test_connections_multiply_what_they_contain(client: httpx.AsyncClient) -> None:
    # GitHub's formula: 10 films + 10 x 10 directors + 10 x 10 x 5 films.
    assert await cost_of(client, NESTED, {"n": 10, "m": 5}) == 10 + 100 + 500
    # Without first or last, a connection is a page of 20.
    assert await cost_of(client, "{ films { nodes { title } } }", {}) == 20
    assert await cost_of(client, "{ films(last: 7) { nodes { title } } }", {}) == 7
    # Edges and nodes are both answered; pageInfo and totalCount are free.
    both = "{ films(first: 3) { totalCount pageInfo { hasNextPage } edges { node { id } } nodes { id } } }"
    assert await cost_of(client, both, {}) == 6


async def test_fragments_and_inline_fragments_cost_where_they_are_spread(
    client: httpx.AsyncClient,
) -> None:
    direct = await cost_of(client, NESTED, {"n": 4, "m": 3})
    through = """
    query($n: Int, $m: Int) { films(first: $n) { nodes { ...F } } }
    fragment F on Film { title ... on Film { directors { ...P } } }
    fragment P on Person { filmography(first: $m) { nodes { title } } }
    """
    assert await cost_of(client, through, {"n": 4, "m": 3}) == direct == 4 + 40 + 120
    # A fragment spread twice in one place costs twice (its fields merge in the response, but
    # an alias would not).
    twice = "{ films(first: 2) { nodes { ...T ...T } } } fragment T on Film { genres { name } }"
    assert await cost_of(client, twice, {}) == 2 + 2 * 2 * 10


async def test_nodes_and_search_count_what_they_ask_for(client: httpx.AsyncClient) -> None:
    ids = (await post(client, "{ films(first: 3) { nodes { id } } }"))["data"]["films"]["nodes"]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    assert await cost_of(client, query, {"ids": [n["id"] for n in ids]}) == 3
    search = '{ search(query: "refusenik", first: 4) { ... on Film { genres { name } } } }'
    assert await cost_of(client, search, {}) == 4 + 4 * 10


async def test_each_graph_search_costs_its_work_not_only_its_nodes(
    client: httpx.AsyncClient,
) -> None:
    # `similar` under a page of films is one search per film: 100 each beside its nodes.
    similar = "query($n: Int) { films(first: $n) { nodes { similar(first: 1) { score } } } }"
    assert await cost_of(client, similar, {"n": 3}) == 3 + 3 * (SEARCH_COST + 1)
    body = await post(client, similar, {"n": 100})
    (error,) = body["errors"]
    assert extensions(error)["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["cost"] == 100 + 100 * (SEARCH_COST + 1)
    # A connection's totalCount is free, its count is not: collaborators of every director.
    counts = "query($n: Int) { films(first: $n) { nodes { directors { collaborators(first: 1) { totalCount } } } } }"
    # directors has no page size: its searches count as UNPAGED_SEARCH_FANOUT, its nodes as 10.
    assert await cost_of(client, counts, {"n": 1}) == 1 + 10 + UNPAGED_SEARCH_FANOUT * SEARCH_COST
    body = await post(client, counts, {"n": 2})
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    people = await post(client, "{ people(first: 2) { nodes { id } } }")
    ids = [p["id"] for p in people["data"]["people"]["nodes"]]
    common = "query($p: [ID!]!) { commonFilms(people: $p, first: 2) { nodes { title } } }"
    assert await cost_of(client, common, {"p": ids}) == SEARCH_COST + 2
    path = "query($a: ID!, $b: ID!) { path(from: $a, to: $b) { length } }"
    assert await cost_of(client, path, {"a": ids[0], "b": ids[1]}) == SEARCH_COST + 1
    # A lookup by key is no search.
    assert await cost_of(client, "{ films(first: 3) { nodes { title } } }", {}) == 3


def test_every_search_named_is_a_field_of_the_schema() -> None:
    types = create_schema()._schema.type_map
    for type_name, field in SEARCHES:
        assert field in types[type_name].fields, (type_name, field)  # type: ignore[attr-defined]


@pytest.fixture
async def statements(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    yield conn
    await conn.close()


async def test_a_costly_query_is_refused_before_any_sql(
    client: httpx.AsyncClient, statements: asyncpg.Connection
) -> None:
    database = await statements.fetchval("select current_database()")
    await statements.execute("select pg_stat_statements_reset()")
    body = await post(client, NESTED, {"n": 100, "m": 100})
    assert "data" not in body
    (error,) = body["errors"]
    assert extensions(error) == {"code": "QUERY_TOO_COSTLY", "cost": 101_100, "limit": 10_000}
    assert error["message"].startswith(
        "The query costs 101100 (the nodes it can return, and 100 per graph search); at most 10000 is"
    )
    assert body["extensions"] == {"cost": 101_100}
    assert await statements.fetchval(COUNT, database) == 0


async def test_cost_follows_the_variables_of_each_request(client: httpx.AsyncClient) -> None:
    # The same document is validated once and cached; its cost is not.
    for n, m, refused in ((5, 5, False), (100, 8, False), (100, 9, True), (5, 5, False)):
        body = await post(client, NESTED, {"n": n, "m": m})
        assert body["extensions"]["cost"] == n + 10 * n + 10 * n * m
        codes = [e["extensions"]["code"] for e in body.get("errors", [])]
        assert codes == (["QUERY_TOO_COSTLY"] if refused else [])


async def test_out_of_range_page_sizes_are_left_to_the_resolver(client: httpx.AsyncClient) -> None:
    for first in (-1_000_000, 0, 1_000):
        body = await post(client, NESTED, {"n": first, "m": 1})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body


async def test_the_cost_of_a_document_served_again_follows_its_lists(
    client: httpx.AsyncClient,
) -> None:
    """availability(regions:) and resolveIds(ids:) count the items given: a request answered on
    the fast path (graph/compiled/fast.py, the cost kept by what it reads of the variables)
    costs what its own list holds, not what the first request's did."""
    availability = """query($r: [String!]!) { film(slug: "fargo-1996") {
      availability(regions: $r) { region offers { kind } } } }"""
    resolve = "query($ids: [String!]!) { resolveIds(ids: $ids) { id } }"
    for regions, ids in [(["US"], ["tt0068646"]), (["US", "GB", "DE"], []), (["FR"], ["Q1"])]:
        for _ in range(2):  # the second one on the fast path
            # film + each region x (1 + 10 offers); each id.
            assert await cost_of(client, availability, {"r": regions}) == 1 + len(regions) * 11
            assert await cost_of(client, resolve, {"ids": ids}) == len(ids)


async def test_searches_under_a_list_without_a_page_size_are_each_charged(
    writable_dsn: str,
) -> None:
    """`directors` and `writers` take no `first`: the cost counts them as 10 people. A film
    with 40 writers then asked 40 collaborator searches for the price of 10 (real films have
    dozens of writers, IMDb's anthologies hundreds): the charge per search is the contract."""
    writers = 40
    conn = await asyncpg.connect(writable_dsn)
    try:
        film = await conn.fetchrow(
            "select id, year, title, release_date from film where slug = 'refusenik-2007'"
        )
        for i in range(1, writers + 1):
            person = await conn.fetchval(
                "insert into person (slug, name) values ($1, $2) returning id",
                f"writer-{i}",
                f"Writer {i}",
            )
            await conn.execute(
                "insert into credit (film_id, person_id, role, film_year, film_title,"
                " film_release_date) values ($1, $2, 'WRITER', $3, $4, $5)",
                film["id"],
                person,
                film["year"],
                film["title"],
                film["release_date"],
            )
    finally:
        await conn.close()
    query = (
        '{ film(slug: "refusenik-2007") { writers { collaborators(first: 1) { totalCount } } } }'
    )
    with LiveServer(create_app(Settings(), writable_dsn)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            body = await post(client, query)
    assert not body.get("errors"), body["errors"]
    asked = len(body["data"]["film"]["writers"])
    assert asked > writers
    assert body["extensions"]["cost"] >= asked * SEARCH_COST, (asked, body["extensions"])
