"""Compiled execution (graph/compiled/): an operation the compiler takes is answered by one SQL
statement, with the same response the resolvers give; anything else, and every argument the
resolvers would refuse, goes to the resolvers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import parse

from graph.app import create_app
from graph.compiled.cache import signature, steering_variables
from graph.settings import Settings
from tests.conftest import LiveServer
from tests.golden_sql import GOLDEN, PAGES, batches, golden
from tests.markdown import Block
from tests.test_doc_examples import EXAMPLES

ROOT = Path(__file__).parent.parent
FILM_PAGE = (ROOT / "examples" / "film-page.graphql").read_text()
FILMOGRAPHY = """query Filmography($slug: String!) { person(slug: $slug) { id name
  filmography(role: DIRECTOR, first: 50) { totalCount nodes { id title year
    genres { name } offers(region: "US") { kind price currency provider { name } } } } } }"""
TOP_RATED = """query TopRated { films(orderBy: [{field: RATING, direction: DESC}], first: 100) {
  totalCount nodes { id title year imdbRating directors { name } genres { name } } } }"""


# Both servers seal keyset cursors with the same key, so that their cursors compare.
SECRET = "compiled-test"


@pytest.fixture(scope="session")
def compiled_live(dsn: str) -> Iterator[LiveServer]:
    settings = dataclasses.replace(Settings(), cursor_secret=SECRET)
    with LiveServer(create_app(settings, dsn), settings) as server:
        yield server


@pytest.fixture(scope="session")
def resolvers_live(dsn: str) -> Iterator[LiveServer]:
    settings = dataclasses.replace(Settings(), execution="resolvers", cursor_secret=SECRET)
    with LiveServer(create_app(settings, dsn), settings) as server:
        yield server


@pytest.fixture
async def client(compiled_live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=compiled_live.url, timeout=30) as c:
        yield c


@pytest.fixture
async def reference(resolvers_live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=resolvers_live.url, timeout=30) as c:
        yield c


async def both(
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    body = {"query": query, "variables": variables or {}}
    compiled = (await client.post("/graphql", json=body)).json()
    resolved = (await reference.post("/graphql", json=body)).json()
    return compiled, resolved


def same(compiled: dict[str, Any], resolved: dict[str, Any], path: str = "compiled") -> None:
    """Identical responses, key order and number types included, but for which path served."""
    assert compiled["extensions"].pop("execution") == path
    assert resolved["extensions"].pop("execution") == "resolvers"
    assert json.dumps(compiled) == json.dumps(resolved)


async def test_film_page_compiled_as_resolved(
    client: httpx.AsyncClient, reference: httpx.AsyncClient
) -> None:
    for slug in ("refusenik-2007", "no-such-film-1900"):
        compiled, resolved = await both(
            client, reference, FILM_PAGE, {"slug": slug, "region": "US"}
        )
        same(compiled, resolved)


async def test_filmography_and_list_pages_compiled_as_resolved(
    client: httpx.AsyncClient, reference: httpx.AsyncClient
) -> None:
    compiled, resolved = await both(client, reference, FILMOGRAPHY, {"slug": "laura-bialis"})
    same(compiled, resolved)
    compiled, resolved = await both(client, reference, TOP_RATED)
    same(compiled, resolved)


def test_golden_sql_is_current() -> None:
    """tests/sql/*.sql are what the compiler makes today: run scripts/golden-sql after a change
    and read the difference."""
    for name in PAGES:
        assert (GOLDEN / f"{name}.sql").read_text() == golden(name), f"tests/sql/{name}.sql"
    assert (GOLDEN / "batches.sql").read_text() == batches(), "tests/sql/batches.sql"


async def test_ratings_print_as_python_floats(dsn: str) -> None:
    """imdbRating is numeric(3,1) in the table and a Float in GraphQL: the compiled path writes
    numeric's JSON text, which must be the text json.dumps gives the float the resolvers
    return, for every value the column can hold."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select v, to_json(v)::text as t from (select (i / 10.0)::numeric(3,1) as v "
            "from generate_series(0, 100) i) s"
        )
    finally:
        await conn.close()
    assert len(rows) == 101
    for row in rows:
        assert row["t"] == json.dumps(float(row["v"]))


FALLBACKS: list[tuple[str, dict[str, Any]]] = [
    # Arguments the resolvers refuse: the compiled path steps aside, their error stands.
    (FILM_PAGE, {"slug": "refusenik-2007", "region": "USA"}),
    (FILM_PAGE.replace("first: 10", "first: 500"), {"slug": "refusenik-2007", "region": "US"}),
    ('{ film(id: "bm9wZQ==") { title } }', {}),
    ('{ film(id: "UGVyc29uOjE=") { title } }', {}),
    ('{ film(slug: "refusenik-2007", imdbId: "tt1") { title } }', {}),
    ('{ film(slug: "refusenik-2007") { credits(first: 0) { role } } }', {}),
    ('{ film(slug: "refusenik-2007") { offers(kinds: []) { kind } } }', {}),
    ('{ film(slug: "a\\u0000b") { title } }', {}),
    ('{ films(filter: {genresAny: ["no-such-genre"]}) { nodes { title } } }', {}),
    ("{ films(filter: {year: {min: 3000}}) { nodes { title } } }", {}),
    ("{ films(orderBy: []) { nodes { title } } }", {}),
    ('{ films(after: "nope") { nodes { title } } }', {}),
    ('{ nodes(ids: ["RmlsbTox", "x"]) { id } }', {}),
    ('{ search(query: "  ") { __typename } }', {}),
    ('{ search(query: "refusenik", types: []) { __typename } }', {}),
    ('{ suggest(prefix: "re", first: 51) { __typename } }', {}),
    ('{ film(slug: "fargo-1996") { similar(first: 0) { score } } }', {}),
    ('{ film(slug: "fargo-1996") { availability(regions: []) { region } } }', {}),
    ('{ film(slug: "fargo-1996") { availability(regions: ["USA"]) { region } } }', {}),
    ('{ film(slug: "fargo-1996") { bestOffer(region: "U") { cost } } }', {}),
    ('{ film(slug: "fargo-1996") { bestOffer(region: "US", subscriptions: ["x"]) { cost } } }', {}),
    ('{ resolveIds(ids: ["tt0068646", "imdb:tt1"]) { id } }', {}),
    ('{ film(imdbId: "tt1") { title } }', {}),
    ('{ person(imdbId: "tt0068646") { name } }', {}),
    ("{ commonFilms(people: []) { totalCount } }", {}),
    ('{ commonFilms(people: ["UGVyc29uOjE=", "RmlsbTox"]) { totalCount } }', {}),
    ('{ commonFilms(people: ["UGVyc29uOjE="], first: 101) { totalCount } }', {}),
    ('{ person(slug: "joel-coen") { collaborators(first: 0) { totalCount } } }', {}),
    ('{ person(slug: "joel-coen") { collaborators { nodes { films(first: 21) { slug } } } } }', {}),
    # Fields the compiler leaves to the resolvers.
    ("{ films(last: 2, first: 2) { nodes { title } } }", {}),
    ('{ person(slug: "joel-coen") { collaborators(after: "x") { totalCount } } }', {}),
    ('{ commonFilms(people: ["UGVyc29uOjE="], after: "x") { totalCount } }', {}),
    ('{ path(from: "UGVyc29uOjE=", to: "UGVyc29uOjI=") { length } }', {}),
    ('{ genres(first: 2, after: "x") { nodes { name } } }', {}),
]


@pytest.mark.parametrize(("query", "variables"), FALLBACKS)
async def test_what_the_compiler_leaves_to_the_resolvers(
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
) -> None:
    compiled, resolved = await both(client, reference, query, variables)
    for error in compiled.get("errors", []) + resolved.get("errors", []):
        error["extensions"].pop("requestId", None)
    same(compiled, resolved, path="resolvers")


# The graph questions (issue 13), with their reasons, groups and external ids.
QUESTIONS = """query Questions($slug: String!, $first: Int!, $regions: [String!]!,
  $region: String!, $held: [ID!]) { film(slug: $slug) { title
  similar(first: $first) { score film { id title year directors { name } }
    reasons { __typename ... on SharedPeople { people { id name } }
      ... on SharedGenres { genres { name } } ... on YearDistance { years } } }
  availability(regions: $regions) { region offers { kind price currency quality
    availableFrom provider { name } } }
  bestOffer(region: $region, subscriptions: $held) { __typename reason cost
    offer { kind price quality provider { name } } } } }"""

COMPILED: list[tuple[str, dict[str, Any]]] = [
    *[
        (
            QUESTIONS,
            {"slug": slug, "first": first, "regions": regions, "region": region, "held": held},
        )
        for slug, first, regions, region, held in [
            ("fargo-1996", 10, ["US", "gb", "US", "DE"], "US", None),
            ("the-godfather-part-ii-1974", 20, ["GB"], "US", ["UHJvdmlkZXI6OQ=="]),
            ("the-godfather-part-ii-1974", 3, ["FR"], "GB", []),
            ("refusenik-2007", 1, ["XX"], "XX", None),
            ("no-such-film", 5, ["US"], "US", None),
        ]
    ],
    (
        """{ film(slug: "fargo-1996") { similar(first: 3) { reasons {
           ... on YearDistance { years } } } a: similar { __typename score } } }""",
        {},
    ),
    (
        """query($ids: [String!]!) { resolveIds(ids: $ids) { __typename id
           ... on Film { title similar(first: 2) { film { title } } } ... on Person { name } } }""",
        {"ids": ["tt0068646", "nm0000338", "Q25188", "tmdb:movie:680", "tt9999999", "Q1"]},
    ),
    ("{ resolveIds(ids: []) { id } }", {}),
    (
        """{ films(first: 5) { nodes { title similar(first: 2) { score film { title } }
           availability(regions: ["US"]) { offers { kind } } bestOffer(region: "US") {
           reason } } } }""",
        {},
    ),
    (
        """{ films(last: 3, orderBy: [{field: YEAR, direction: DESC}]) { totalCount
           pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
           edges { cursor node { title year } } } }""",
        {},
    ),
    ("{ films(first: 60) { edges { cursor node { title } } pageInfo { endCursor } } }", {}),
    (
        """{ films(orderBy: [{field: RATING, direction: DESC}, {field: YEAR, direction: ASC}],
           filter: {minRating: 7}, first: 3) { pageInfo { startCursor endCursor hasNextPage }
           edges { cursor } } people(filter: {query: "laura"}, first: 2) { edges { cursor } } }""",
        {},
    ),
    (PAGES["search"][0], {"q": "refusenik"}),
    (PAGES["search"][0], {"q": "the"}),
    (
        """query($types: [SearchType!]) { search(query: "laura", first: 5, types: $types) {
           __typename ... on Node { id } ... on Person { name } ... on Genre { slug } } }""",
        {"types": ["PERSON", "GENRE"]},
    ),
    ('{ suggest(prefix: "r", first: 7) { ... on Film { title } ... on Person { name } } }', {}),
    (FILM_PAGE, {"slug": "refusenik-2007", "region": "us"}),
    ('{ film(imdbId: "tt0000001") { title } }', {}),
    ("query($id: ID) { film(id: $id) { id __typename slug releaseDate } }", {"id": "RmlsbTox"}),
    (
        """{ a: film(slug: "refusenik-2007") { ...F b: cast(first: 3) { character billingOrder
           person { name } } credits { role film { title } } alternativeTitles { title types
           isOriginal } providers(region: "US") { name } } }
           fragment F on Film { t: title ... on Node { id } }""",
        {},
    ),
    (
        """query($skip: Boolean!) { node(id: "RmlsbTox") { __typename ... on Film { title
           genres @skip(if: $skip) { name } } ... on Person { name } } }""",
        {"skip": True},
    ),
    ('{ nodes(ids: ["RmlsbTox", "UGVyc29uOjE=", "R2VucmU6MQ==", "RmlsbTo5OTk5OTk="]) { id } }', {}),
    (
        """{ genres(first: 3) { totalCount edges { cursor node { name films(first: 2) {
           totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
           edges { cursor node { title } } } } } pageInfo { endCursor } } }""",
        {},
    ),
    (
        """{ person(slug: "laura-bialis") { credits(roles: [DIRECTOR, WRITER], first: 3) {
           totalCount edges { cursor node { role film { title } } } } } }""",
        {},
    ),
    (
        """{ providers(first: 2) { nodes { name offers(region: "US", first: 2) { totalCount
           nodes { kind price availableFrom availableUntil film { title } } } films(first: 2) {
           pageInfo { endCursor } nodes { title } } } } }""",
        {},
    ),
    (
        """{ films(filter: {query: "refusenik"}, first: 3) { totalCount nodes { title } }
           people(filter: {roles: [DIRECTOR]}, orderBy: [{field: NAME, direction: DESC}],
           first: 3) { totalCount pageInfo { hasNextPage hasPreviousPage } nodes { name } } }""",
        {},
    ),
]


@pytest.mark.parametrize(("query", "variables"), COMPILED)
async def test_compiled_as_resolved(
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
) -> None:
    compiled, resolved = await both(client, reference, query, variables)
    same(compiled, resolved)


async def test_switched_off(dsn: str) -> None:
    """FILMGRAPH_EXECUTION=resolvers: every operation runs through the resolvers, and
    production does not say which path served it."""
    settings = dataclasses.replace(Settings(), execution="resolvers", explain_execution=False)
    with LiveServer(create_app(settings, dsn), settings) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as c:
            body = {"query": FILM_PAGE, "variables": {"slug": "refusenik-2007", "region": "US"}}
            response = (await c.post("/graphql", json=body)).json()
    assert "execution" not in response["extensions"]
    assert response["data"]["film"]["title"] == "Refusenik"


@pytest.mark.parametrize(
    ("block", "variables"),
    [(block, variables) for block, variables, _ in EXAMPLES],
    ids=[block.where for block, _, _ in EXAMPLES],
)
async def test_doc_examples_compiled_as_resolved(
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    block: Block,
    variables: dict[str, Any] | None,
) -> None:
    """Every example of the docs gives the same answer on both paths, errors included."""
    compiled, resolved = await both(client, reference, block.text, variables)
    for error in compiled.get("errors", []) + resolved.get("errors", []):
        error.get("extensions", {}).pop("requestId", None)
    path = compiled.get("extensions", {}).pop("execution", None)
    resolved.get("extensions", {}).pop("execution", None)
    assert json.dumps(compiled) == json.dumps(resolved), path


async def test_keyset_pages_follow_on_both_paths(
    client: httpx.AsyncClient, reference: httpx.AsyncClient
) -> None:
    """A cursor from the compiled path pages on the resolvers and back: they are the same."""
    query = """query($after: String) { films(orderBy: [{field: RATING, direction: DESC}],
      first: 5, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
      nodes { title imdbRating } } }"""
    after = None
    for _ in range(3):
        compiled, resolved = await both(client, reference, query, {"after": after})
        same(compiled, resolved)
        after = compiled["data"]["films"]["pageInfo"]["endCursor"]
        assert after
    back = query.replace("first: 5, after: $after", "last: 4, before: $after")
    compiled, resolved = await both(client, reference, back, {"after": after})
    same(compiled, resolved)
    assert compiled["data"]["films"]["pageInfo"]["hasPreviousPage"] is True


def test_one_statement_serves_every_value_of_a_parameter() -> None:
    """Only whether a variable is null is part of the cache key, unless it steers the SQL
    (@include/@skip, node ids, films/people arguments): then its value is."""
    document = parse(
        """query($slug: String, $id: ID!, $more: Boolean!, $f: FilmFilter) {
           film(slug: $slug) { title genres @include(if: $more) { name } }
           node(id: $id) { id } films(filter: $f) { totalCount } }"""
    )
    steering = steering_variables(document)
    assert steering == {"id", "more", "f"}
    key = {"slug": "a", "id": "RmlsbTox", "more": True, "f": None}
    assert signature(key, steering) == signature({**key, "slug": "b"}, steering)
    assert signature(key, steering) != signature({**key, "slug": None}, steering)
    assert signature(key, steering) != signature({**key, "more": False}, steering)
    assert signature(key, steering) != signature({**key, "id": "RmlsbToy"}, steering)
    assert signature(key, steering) != signature({**key, "f": {"minVotes": 1}}, steering)
