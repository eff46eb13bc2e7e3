"""Adversarial checks of compiled execution (graph/compiled/): documents where the compiled path
and the resolvers might answer differently, hostile input, and what a request leaves behind on
its connection. The resolvers are the reference: every response must be the one they give."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import parse
from graphql.execution.values import get_variable_values

from graph.app import create_app
from graph.compiled.arguments import Arguments
from graph.compiled.cache import StatementCache
from graph.compiled.sql import compile_operation
from graph.schema import create_schema
from graph.settings import Settings
from tests.conftest import LiveServer, post_scope
from tests.test_cancel import _hang_up_after
from tests.test_compiled import both, compiled_live, resolvers_live  # noqa: F401  (fixtures)

FILM = "refusenik-2007"
PERSON = "laura-bialis"


@pytest.fixture
async def compiled_http(compiled_live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    async with httpx.AsyncClient(base_url=compiled_live.url, timeout=30) as c:
        yield c


@pytest.fixture
async def resolvers_http(resolvers_live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    async with httpx.AsyncClient(base_url=resolvers_live.url, timeout=30) as c:
        yield c


async def ascii_both(
    compiled_http: httpx.AsyncClient,
    resolvers_http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both paths' responses, the request written as ASCII JSON (so lone surrogates go as
    `\\ud800` escapes, as a client's JSON may carry them)."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"content-type": "application/json"}
    out = []
    for http in (compiled_http, resolvers_http):
        response = await http.post("/graphql", content=body, headers=headers)
        assert response.status_code < 500, response.text
        out.append(response.json())
    return out[0], out[1]


def strip(response: dict[str, Any]) -> tuple[str | None, str]:
    served = response.get("extensions", {}).pop("execution", None)
    for error in response.get("errors", []):
        error.get("extensions", {}).pop("requestId", None)
    return served, json.dumps(response)


DIFFERENTIAL: list[tuple[str, dict[str, Any]]] = [
    # a page size out of range with only the count selected (the page's size is not in the
    # SQL then, and was not checked: CI found `genres(first: 0) { totalCount }` answered)
    ("{ genres(first: 0) { totalCount } }", {}),
    ("{ providers(first: 101) { totalCount } }", {}),
    ("{ films(first: 0) { totalCount } }", {}),
    ("query($n: Int) { people(first: $n) { totalCount } }", {"n": -1}),
    (f'{{ person(slug: "{PERSON}") {{ filmography(first: 0) {{ totalCount }} }} }}', {}),
    (f'{{ person(slug: "{PERSON}") {{ credits(first: 101) {{ totalCount }} }} }}', {}),
    ('{ genre(slug: "drama") { films(first: 0) { totalCount } } }', {}),
    # the same field under two aliases with different arguments
    (
        f"""{{ a: film(slug: "{FILM}") {{ cast(first: 1) {{ character }} }}
        b: film(slug: "{FILM}") {{ cast(first: 3) {{ character person {{ name }} }} }} }}""",
        {},
    ),
    # fragments spreading one field with different sub-selections (merged)
    (
        f"""{{ film(slug: "{FILM}") {{ ...A ...B genres {{ id }} }} }}
        fragment A on Film {{ genres {{ name }} title }} fragment B on Film {{ genres {{ slug name }} }}""",
        {},
    ),
    (
        f"""{{ film(slug: "{FILM}") {{ ... on Film {{ cast(first: 2) {{ person {{ name }} }} }}
        cast(first: 2) {{ person {{ id }} character }} }} }}""",
        {},
    ),
    ("query($n: Int) { films(first: $n) { totalCount nodes { title } } }", {"n": 0}),
    ("query($n: Int) { films(first: $n) { totalCount nodes { title } } }", {"n": 100}),
    ("query($n: Int) { films(first: $n) { totalCount nodes { title } } }", {"n": 101}),
    ("query($n: Int) { films(first: $n) { totalCount nodes { title } } }", {"n": -1}),
    ("query($n: Int) { films(first: $n) { totalCount nodes { title } } }", {"n": None}),
    ("query($n: Int = 3) { films(first: $n) { nodes { title } } }", {}),
    ("query($n: Int = 3) { films(first: $n) { nodes { title } } }", {"n": None}),
    (f'{{ film(slug: "{FILM}") {{ cast(first: 0) {{ character }} }} }}', {}),
    (f'{{ film(slug: "{FILM}") {{ cast(first: -1) {{ character }} }} }}', {}),
    (f'{{ film(slug: "{FILM}") {{ cast(first: 101) {{ character }} }} }}', {}),
    (f'{{ film(slug: "{FILM}") {{ credits(first: -1) {{ role }} }} }}', {}),
    (f'{{ film(slug: "{FILM}") {{ credits(first: 0) {{ role }} }} }}', {}),
    (f'{{ film(slug: "{FILM}") {{ credits(roles: []) {{ role }} }} }}', {}),
    (
        "query($r: CreditRole) { person(slug: $s) { name } }".replace("$s", f'"{PERSON}"'),
        {"r": "DIRECTOR"},
    ),
    (
        f"""query($r: CreditRole) {{ person(slug: "{PERSON}") {{
        filmography(role: $r, first: 3) {{ totalCount nodes {{ title }} }} }} }}""",
        {"r": "DIRECTOR"},
    ),
    (
        f"""query($r: CreditRole) {{ person(slug: "{PERSON}") {{
        filmography(role: $r, first: 3) {{ totalCount nodes {{ title }} }} }} }}""",
        {"r": None},
    ),
    (
        f"""query($r: [CreditRole!]) {{ person(slug: "{PERSON}") {{
        credits(roles: $r, first: 3) {{ totalCount nodes {{ role }} }} }} }}""",
        {"r": []},
    ),
    # ids of the wrong type, duplicates, garbage
    ("{ node(id: 1) { id } }", {}),
    ('{ node(id: "!!!") { id } }', {}),
    ('{ node(id: "") { id } }', {}),
    ('{ node(id: "Rm9vOjE=") { id } }', {}),
    ('{ node(id: "RmlsbTp4") { id } }', {}),
    ('{ node(id: "RmlsbTotMQ==") { id } }', {}),
    ('{ node(id: "RmlsbTo5OTk5OTk5OTk5OTk5OTk5OTk5OQ==") { id } }', {}),
    ('{ nodes(ids: ["RmlsbTox", "RmlsbTox", 1, "UGVyc29uOjE="]) { id __typename } }', {}),
    ("{ nodes(ids: []) { id } }", {}),
    ('{ nodes(ids: ["x"]) { id } }', {}),
    (
        "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Film { title } } }",
        {"ids": ["RmlsbTox"] * 3},
    ),
    ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": "RmlsbTox"}),
    ('{ film(id: "UGVyc29uOjE=") { title } }', {}),
    ('{ film(id: "RmlsbTox", slug: "x") { title } }', {}),
    ("{ film { title } }", {}),
    ('{ person(id: "RmlsbTox") { name } }', {}),
    ('{ genre(id: "R2VucmU6MQ==") { name films(first: 2) { nodes { title } } } }', {}),
    # @skip/@include with variables
    (
        f"""query($i: Boolean = false) {{ film(slug: "{FILM}") {{ title @include(if: $i)
        year @skip(if: $i) }} }}""",
        {},
    ),
    (
        f"""query($i: Boolean = false) {{ film(slug: "{FILM}") {{ title @include(if: $i)
        year @skip(if: $i) }} }}""",
        {"i": True},
    ),
    (
        f"""query($i: Boolean!) {{ film(slug: "{FILM}") {{ t: title @include(if: $i)
        t: title @skip(if: $i) }} }}""",
        {"i": True},
    ),
    # strings: unicode, NUL, very long
    ("query($s: String) { film(slug: $s) { title } }", {"s": "a\u0000b"}),
    ("query($s: String) { person(slug: $s) { name } }", {"s": "\U0001f600" * 50}),
    ("query($s: String) { film(imdbId: $s) { title } }", {"s": "x" * 100_000}),
    (
        "query($q: String) { films(filter: {query: $q}, first: 2) { nodes { title } } }",
        {"q": "a\u0000"},
    ),
    (
        "query($q: String) { films(filter: {query: $q}, first: 2) { nodes { title } } }",
        {"q": "\U0001f600"},
    ),
    (
        "query($q: String) { films(filter: {query: $q}, first: 2) { nodes { title } } }",
        {"q": "x" * 201},
    ),
    ("query($q: String) { films(filter: {query: $q}, first: 2) { nodes { title } } }", {"q": ""}),
    ("query($q: String!) { search(query: $q) { __typename } }", {"q": "\u0000"}),
    ("query($q: String!) { search(query: $q, first: 0) { __typename } }", {"q": "the"}),
    ("query($q: String!) { search(query: $q, first: -1) { __typename } }", {"q": "the"}),
    ("query($q: String!) { search(query: $q, first: 1000) { __typename } }", {"q": "the"}),
    ("query($q: String!) { suggest(prefix: $q) { __typename } }", {"q": "%"}),
    ("query($q: String!) { suggest(prefix: $q) { __typename } }", {"q": "_"}),
    ("query($q: String!) { suggest(prefix: $q) { __typename } }", {"q": "\\"}),
    ("query($q: String!) { suggest(prefix: $q) { __typename } }", {"q": ""}),
    ('{ offers: film(slug: "\' or 1=1 --") { title } }', {}),
    # lone surrogates: JSON can carry them, UTF-8 (and so PostgreSQL) cannot
    ("query($s: String) { film(slug: $s) { title } }", {"s": "\ud800"}),
    ("query($s: String) { film(imdbId: $s) { title } }", {"s": "a\udfffb"}),
    ("query($q: String!) { search(query: $q) { __typename } }", {"q": "\ud83d"}),
    (
        f'query($r: String) {{ film(slug: "{FILM}") {{ offers(region: $r) {{ kind }} }} }}',
        {"r": "\ud800\ud800"},
    ),
    ('{ film(slug: "\\ud800") { title } }', {}),
    # regions
    (
        f'{{ film(slug: "{FILM}") {{ offers(region: "us") {{ price currency availableFrom }} }} }}',
        {},
    ),
    (f'{{ film(slug: "{FILM}") {{ offers(region: "") {{ price }} }} }}', {}),
    (f'{{ film(slug: "{FILM}") {{ offers(region: "USA") {{ price }} }} }}', {}),
    (f'{{ film(slug: "{FILM}") {{ offers(kinds: []) {{ price }} }} }}', {}),
    (
        f'{{ film(slug: "{FILM}") {{ offers {{ kind region price currency quality url availableFrom availableUntil provider {{ name logoUrl homepage tmdbId }} }} }} }}',
        {},
    ),
    (
        f'{{ film(slug: "{FILM}") {{ providers(region: "zz") {{ name }} alternativeTitles(region: "") {{ title }} }} }}',
        {},
    ),
    # filters
    ("{ films(filter: {minRating: 7.05}, first: 3) { totalCount nodes { imdbRating } } }", {}),
    ("{ films(filter: {minRating: 1e308}, first: 3) { totalCount } }", {}),
    ("{ films(filter: {minRating: -1}, first: 3) { totalCount } }", {}),
    ("{ films(filter: {minVotes: 2147483647}, first: 3) { totalCount } }", {}),
    ("{ films(filter: {year: {min: 2000, max: 1990}}, first: 3) { totalCount } }", {}),
    ("{ films(filter: {genresAny: []}, first: 3) { totalCount } }", {}),
    ('{ films(filter: {genresAll: ["nope"]}, first: 3) { totalCount } }', {}),
    ("{ films(filter: {certifications: []}, first: 3) { totalCount } }", {}),
    ('{ films(filter: {people: [{person: "bogus"}]}, first: 3) { totalCount } }', {}),
    ('{ films(filter: {people: [{person: "RmlsbTox"}]}, first: 3) { totalCount } }', {}),
    ("{ films(filter: {people: []}, first: 3) { totalCount } }", {}),
    ('{ films(filter: {availability: {providers: ["bogus"]}}, first: 3) { totalCount } }', {}),
    ('{ films(filter: {availability: {region: ""}}, first: 3) { totalCount } }', {}),
    ("{ films(filter: {availability: {}}, first: 3) { totalCount } }", {}),
    ("{ films(filter: {}, first: 3) { totalCount } }", {}),
    ("{ films(orderBy: [], first: 3) { nodes { title } } }", {}),
    ("{ films(orderBy: [{field: RELEVANCE, direction: ASC}], first: 3) { nodes { title } } }", {}),
    (
        "{ films(orderBy: [{field: YEAR, direction: ASC}, {field: YEAR, direction: DESC}], first: 3) { nodes { title } } }",
        {},
    ),
    ('{ people(filter: {workedWith: "bogus"}, first: 3) { totalCount } }', {}),
    ("{ people(filter: {roles: []}, first: 3) { totalCount } }", {}),
    (
        "{ people(orderBy: [{field: BIRTH_YEAR, direction: DESC}], first: 3) { nodes { name birthYear } } }",
        {},
    ),
    # pagination arguments
    ("{ films(first: 2, last: 2) { nodes { title } } }", {}),
    ('{ films(first: 2, after: "garbage") { nodes { title } } }', {}),
    ('{ films(first: 2, after: "") { nodes { title } } }', {}),
    ('{ films(last: 2, before: "") { nodes { title } } }', {}),
    ("{ films(last: 0) { nodes { title } pageInfo { hasNextPage hasPreviousPage } } }", {}),
    ("{ films(last: 101) { nodes { title } } }", {}),
    ("{ genres(first: 0) { totalCount nodes { name } } }", {}),
    ("{ providers(first: 100) { totalCount nodes { name } } }", {}),
    # root __typename, aliased typename in unions
    (f'{{ __typename t: __typename film(slug: "{FILM}") {{ __typename }} }}', {}),
    ('{ search(query: "laura", first: 3) { t: __typename ... on Person { t: __typename } } }', {}),
    # dates, decimals, floats
    (
        "{ films(first: 100, orderBy: [{field: RATING, direction: ASC}]) { nodes { releaseDate imdbRating imdbVotes runtimeMinutes } } }",
        {},
    ),
    (
        "{ providers(first: 5) { nodes { offers(first: 50) { nodes { price availableFrom availableUntil quality } } } } }",
        {},
    ),
    # cursors of nested pages: their scope holds the parent and the arguments, normalized
    (
        """{ providers(first: 3) { nodes { offers(region: "us", first: 2) { edges { cursor }
        pageInfo { startCursor endCursor hasNextPage } } films(region: "gb", first: 2) {
        edges { cursor } } o: offers(first: 1) { pageInfo { endCursor } } } } }""",
        {},
    ),
    (
        f"""query($r: [CreditRole!]) {{ person(slug: "{PERSON}") {{ credits(roles: $r, first: 1) {{
        edges {{ cursor }} pageInfo {{ endCursor }} }} filmography(role: DIRECTOR, first: 1) {{
        edges {{ cursor }} }} }} }}""",
        {"r": ["WRITER", "DIRECTOR"]},
    ),
    (
        """{ genres(first: 2) { edges { cursor node { films(first: 1) { edges { cursor }
        pageInfo { hasNextPage endCursor } } } } } }""",
        {},
    ),
    # one response key from different fields by the object's type
    (
        """{ nodes(ids: ["RmlsbTox", "UGVyc29uOjE=", "R2VucmU6MQ==", "RmlsbTox"]) {
        ... on Film { x: title } ... on Person { x: name } ... on Genre { x: slug } } }""",
        {},
    ),
    (
        """{ search(query: "la", first: 20) { ... on Film { x: title } ... on Person { x: name }
        ... on Genre { x: name } ... on Provider { x: slug } ... on Node { id } } }""",
        {},
    ),
    # objects left with no field to select
    (f'{{ film(slug: "{FILM}") {{ title @skip(if: true) }} }}', {}),
    ('{ node(id: "RmlsbTox") { ... on Person { name } } }', {}),
    ('{ nodes(ids: ["RmlsbTox", "UGVyc29uOjE="]) { ... on Person { name } } }', {}),
    ("{ genres(first: 1) { nodes { __typename } edges { __typename } } }", {}),
    (f'{{ film(slug: "{FILM}") {{ ... on Node {{ id }} ... {{ title }} }} }}', {}),
    (
        """query($f: FilmFilter = {minRating: 7}) { films(filter: $f, first: 3) {
        totalCount nodes { title } } }""",
        {},
    ),
    (
        """query($f: FilmFilter = {minRating: 7}) { films(filter: $f, first: 3) {
        totalCount nodes { title } } }""",
        {"f": None},
    ),
    # as many ids as json_build_array takes arguments (100), and one more
    ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ["RmlsbTox"] * 100}),
    ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ["RmlsbTox"] * 101}),
    # operation names
    ("query A { films(first: 1) { totalCount } } query B { genres(first: 1) { totalCount } }", {}),
]


@pytest.mark.parametrize(("query", "variables"), DIFFERENTIAL)
async def test_differential(
    compiled_http: httpx.AsyncClient,
    resolvers_http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
) -> None:
    compiled, resolved = await ascii_both(compiled_http, resolvers_http, query, variables)
    _, c = strip(compiled)
    _, r = strip(resolved)
    assert c == r


# Timeouts: the statement past statement_timeout, on both paths, with the films table locked.
TIMED_OUT: list[str] = [
    # __typename never touches the database: it is "Query" on both paths, never an error.
    f'{{ __typename film(slug: "{FILM}") {{ title }} }}',
    f'{{ a: __typename film(slug: "{FILM}") {{ title }} b: __typename }}',
    # Several root fields: only the one that reads the locked table times out.
    f'{{ __typename film(slug: "{FILM}") {{ title }} genres(first: 1) {{ totalCount }} }}',
    f'{{ __typename film(slug: "{FILM}") {{ title }} genre(slug: "drama") {{ name }} }}',
]


async def test_a_graph_question_timed_out_as_resolved(dsn: str) -> None:
    """A graph question's statement past statement_timeout (credit_tally locked: similar reads
    it, the rest of the document does not): the resolvers time out that field alone, with its
    path; the compiled path hands the operation to them, and the answer is theirs."""
    query = """{ film(slug: "fargo-1996") { title similar(first: 3) { score } }
      genre(slug: "drama") { name } }"""
    single = '{ film(slug: "fargo-1996") { title similar(first: 3) { score } } }'
    for document in (query, single):
        responses = []
        for execution in ("compiled", "resolvers"):
            settings = Settings(
                execution=execution, statement_timeout_ms=300, pool_min_size=1, pool_max_size=1
            )
            locker = await asyncpg.connect(dsn)
            try:
                with LiveServer(create_app(settings, dsn), settings) as live:
                    async with (
                        httpx.AsyncClient(base_url=live.url, timeout=30) as http,
                        locker.transaction(),
                    ):
                        await locker.execute("lock table credit_tally in access exclusive mode")
                        response = await http.post("/graphql", json={"query": document})
            finally:
                await locker.close()
            served, body = strip(response.json())
            assert served == "resolvers", (execution, body)
            responses.append(json.loads(body))
        compiled, resolved = responses
        assert compiled == resolved
        assert [e["path"] for e in compiled["errors"]] == [["film", "similar"]]
        assert compiled["errors"][0]["extensions"]["code"] == "TIMEOUT"


# The graph questions that are connections: the table the question reads first locked, the
# rest of the document reading none of it; (table, document, the path of the error).
QUESTIONS_TIMED_OUT = [
    (
        "collaborator_hub",
        """{ person(slug: "roger-deakins") { name collaborators(first: 2) { totalCount
          nodes { sharedFilms films { title } } } } genre(slug: "drama") { name } }""",
        ["person", "collaborators"],
    ),
    (
        "credit_tally",
        """{ commonFilms(people: ["UGVyc29uOjEzMg==", "UGVyc29uOjEzNQ=="]) { totalCount
          nodes { title } } genre(slug: "drama") { name } }""",
        ["commonFilms"],
    ),
]


@pytest.mark.parametrize(("table", "query", "path"), QUESTIONS_TIMED_OUT)
async def test_a_connection_question_timed_out_as_resolved(
    dsn: str, table: str, query: str, path: list[str]
) -> None:
    """collaborators and commonFilms past statement_timeout: compiled, the operation goes to
    the resolvers, which time out that field alone; the same answer on both paths."""
    responses = []
    for execution in ("compiled", "resolvers"):
        settings = Settings(
            execution=execution, statement_timeout_ms=300, pool_min_size=1, pool_max_size=1
        )
        locker = await asyncpg.connect(dsn)
        try:
            with LiveServer(create_app(settings, dsn), settings) as live:
                async with (
                    httpx.AsyncClient(base_url=live.url, timeout=30) as http,
                    locker.transaction(),
                ):
                    await locker.execute(f"lock table {table} in access exclusive mode")
                    response = await http.post("/graphql", json={"query": query})
        finally:
            await locker.close()
        served, body = strip(response.json())
        assert served == "resolvers", (execution, body)
        responses.append(json.loads(body))
    compiled, resolved = responses
    assert compiled == resolved
    assert [e["path"] for e in compiled["errors"]] == [path]
    assert compiled["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert compiled["data"]["genre"] == {"name": "Drama"}


@pytest.mark.parametrize("query", TIMED_OUT)
async def test_timed_out_as_resolved(dsn: str, query: str) -> None:
    responses = []
    for execution in ("compiled", "resolvers"):
        settings = Settings(
            execution=execution, statement_timeout_ms=300, pool_min_size=1, pool_max_size=1
        )
        locker = await asyncpg.connect(dsn)
        try:
            with LiveServer(create_app(settings, dsn), settings) as live:
                async with (
                    httpx.AsyncClient(base_url=live.url, timeout=30) as http,
                    locker.transaction(),
                ):
                    await locker.execute("lock table film in access exclusive mode")
                    response = await http.post("/graphql", json={"query": query})
            assert response.status_code == 200
            body = response.json()
            served = strip(body)[0]
            # The compiled statement's timeout stands for one root field that reads; for more,
            # the resolvers say which of them timed out.
            reads = 1 if "genre" not in query else 2
            assert served == (execution if reads == 1 else "resolvers")
            responses.append(body)
        finally:
            await locker.close()
    compiled, resolved = responses
    assert compiled == resolved
    assert compiled["data"]["__typename" if "a:" not in query else "a"] == "Query"


# One document, several variable values in turn: the statement cached for the first values must
# not answer for the next ones (graph/compiled/cache.py keys most variables by null or not).
SEQUENCES: list[tuple[str, list[dict[str, Any]]]] = [
    (
        f"""query($r: CreditRole) {{ person(slug: "{PERSON}") {{
        filmography(role: $r, first: 3) {{ totalCount pageInfo {{ endCursor }}
        edges {{ cursor node {{ title }} }} }} }} }}""",
        [{"r": "DIRECTOR"}, {"r": "WRITER"}, {"r": "ACTOR"}, {"r": None}, {}],
    ),
    (
        """query($t: [SearchType!]) { search(query: "laura", types: $t) { __typename
        ... on Node { id } } }""",
        [{"t": ["PERSON"]}, {"t": ["FILM"]}, {"t": None}, {"t": ["GENRE", "PROVIDER"]}, {"t": []}],
    ),
    (
        f"""query($k: [OfferKind!], $reg: String) {{ film(slug: "{FILM}") {{
        offers(kinds: $k, region: $reg) {{ kind region price }}
        providers(region: $reg) {{ name }} }} }}""",
        [
            {"k": ["RENT"]},
            {"k": ["BUY", "RENT"], "reg": "US"},
            {"k": None, "reg": "gb"},
            {"reg": "GB"},
            {"reg": "XX"},
            {"reg": "x"},
        ],
    ),
    (
        "query($f: Int, $l: Int) { genres(first: $f, last: $l) { nodes { name } } }",
        [{"f": 2}, {"l": 2}, {"f": 3}, {"f": None}, {"f": 0}],
    ),
    (
        "query($id: ID, $slug: String) { film(id: $id, slug: $slug) { id title } }",
        [
            {"id": "RmlsbTox"},
            {"id": "RmlsbToy"},
            {"id": "UGVyc29uOjE="},
            {"slug": FILM},
            {"slug": FILM, "id": "RmlsbTox"},
            {"id": "RmlsbTo5OTk5OTk5OTk5OTk5OTk5OTk5OQ=="},
        ],
    ),
    (
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
        [{"ids": ["RmlsbTox"]}, {"ids": ["UGVyc29uOjE="]}, {"ids": ["UGVyc29uOjE=", "x"]}],
    ),
    (
        f"""query($n: Int!) {{ film(slug: "{FILM}") {{ cast(first: $n) {{ character }}
        credits(first: $n) {{ role }} }} }}""",
        [{"n": 1}, {"n": 5}, {"n": 0}, {"n": 100}, {"n": 101}],
    ),
    (
        """query($g: [String!], $y: Int, $q: String) { films(filter: {genresAny: $g,
        year: {min: $y}, query: $q}, first: 3) { totalCount nodes { title } } }""",
        [{"g": ["documentary"]}, {"g": ["nope"]}, {"y": 2000}, {"q": "refusenik"}, {"q": ""}],
    ),
    (
        """query($o: [FilmOrder!]) { films(orderBy: $o, first: 3) { edges { cursor
        node { title year } } } }""",
        [
            {"o": [{"field": "YEAR", "direction": "DESC"}]},
            {"o": [{"field": "TITLE", "direction": "ASC"}]},
            {"o": None},
        ],
    ),
    (
        """query($p: String!, $n: Int!) { suggest(prefix: $p, first: $n) { __typename
        ... on Film { title } ... on Person { name } } }""",
        [{"p": "r", "n": 3}, {"p": "la", "n": 20}, {"p": "R", "n": 1}, {"p": " ", "n": 2}],
    ),
]


@pytest.mark.parametrize(("query", "sequence"), SEQUENCES)
async def test_one_document_many_values(
    compiled_http: httpx.AsyncClient,
    resolvers_http: httpx.AsyncClient,
    query: str,
    sequence: list[dict[str, Any]],
) -> None:
    for variables in sequence:
        compiled, resolved = await both(compiled_http, resolvers_http, query, variables)
        assert strip(compiled)[1] == strip(resolved)[1], variables


def padded(i: int) -> str:
    """A compilable document of 48,000 characters within the token limit (2,000): nearly all
    comments, each a token graphql-core keeps."""
    return "{ __typename }\n" + f"# {i:<20}\n" * 1_990


async def test_padded_documents_are_compiled(compiled_http: httpx.AsyncClient) -> None:
    response = await compiled_http.post("/graphql", json={"query": padded(0)})
    body = response.json()
    assert body.get("data") == {"__typename": "Query"}, body
    assert body["extensions"]["execution"] == "compiled"


def test_statement_cache_stays_within_its_bytes() -> None:
    """A cached statement keeps its document's tokens alive (0.6 MB for padded(i)): bounded by
    entries (1,000), distinct documents could make the cache hold 600 MB."""
    schema = create_schema()
    budget = 30_000_000
    cache = StatementCache(budget)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(80):
            text = padded(i)
            document = parse(text)
            coerced = get_variable_values(schema._schema, (), {})
            assert not isinstance(coerced, list)
            args = Arguments(schema._schema, coerced)
            args.memo["cursor_key"] = b"k"
            info = cache.document(str(i).encode(), text, document)
            cache.put((i,), compile_operation(schema, document, None, args), info)
            del document
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < budget, f"{kept / 1e6:.0f} MB kept"  # 48 MB when bounded by entries
    assert cache.size <= budget
    assert len(cache.statements) > 10  # within the budget, they are kept


FILTERED = {
    "query": """{ films(filter: {query: "refusenik", minRating: 1}, first: 5) { totalCount
    nodes { title directors { name } } } }"""
}


async def test_hanging_up_mid_custom_plan_leaves_no_open_transaction(dsn: str) -> None:
    """A filtered page runs on the request's one connection as a statement prepared afresh
    (planned for its values): a client that hangs up at any step of it leaves no transaction
    open and no setting behind on the pool's connections."""
    app = create_app(Settings(pool_min_size=1, pool_max_size=1), dsn)
    body = json.dumps(FILTERED).encode()
    scope = post_scope(body)
    watcher = await asyncpg.connect(dsn)
    try:
        async with app.router.lifespan_context(app):
            scope["state"] = {}
            for turns in range(0, 80, 2):
                await _hang_up_after(app, {**scope}, body, turns)
                states = await watcher.fetch(
                    "select state, query from pg_stat_activity where datname = current_database()"
                    " and application_name = 'filmgraph' and pid <> pg_backend_pid()"
                )
                assert all(r["state"] != "idle in transaction" for r in states), (turns, states)
            # The pool's one connection, as the next request takes it (kept by the pool when
            # the last request ended clean, which asyncpg's own acquire would wait for
            # forever): no setting left from a cancelled transaction.
            async with asyncio.timeout(10), app.state.pool.acquire() as conn:
                assert await conn.fetchval("show plan_cache_mode") == "auto"
    finally:
        await watcher.close()


async def test_batches_compiled_as_resolved(dsn: str) -> None:
    """A batch (FILMGRAPH_BATCHING) of compiled and resolved operations, the same document with
    other values among them, on one request's connection."""
    batch = [
        {"query": f'{{ film(slug: "{FILM}") {{ title year }} }}'},
        {"query": "query($n: Int) { films(first: $n) { nodes { title } } }", "variables": {"n": 2}},
        {"query": "query($n: Int) { films(first: $n) { nodes { title } } }", "variables": {"n": 0}},
        {"query": "{ __schema { queryType { name } } }"},
        {"query": f'{{ film(slug: "{FILM}") {{ title year }} }}'},
    ]
    responses = []
    for execution in ("compiled", "resolvers"):
        settings = Settings(execution=execution, batching=True)
        with LiveServer(create_app(settings, dsn), settings) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
                response = await http.post("/graphql", json=batch)
        assert response.status_code == 200, response.text
        body = response.json()
        responses.append([strip(item)[1] for item in body])
    compiled, resolved = responses
    assert compiled == resolved
