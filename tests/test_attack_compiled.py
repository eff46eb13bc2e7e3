"""Adversarial checks of compiled execution (graph/compiled/): documents where the compiled path
and the resolvers might answer differently, hostile input, and what a request leaves behind on
its connection. The resolvers are the reference: every response must be the one they give."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.settings import Settings
from tests.conftest import LiveServer
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


def strip(response: dict[str, Any]) -> tuple[str | None, str]:
    served = response.get("extensions", {}).pop("execution", None)
    for error in response.get("errors", []):
        error.get("extensions", {}).pop("requestId", None)
    return served, json.dumps(response)


DIFFERENTIAL: list[tuple[str, dict[str, Any]]] = [
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
    compiled, resolved = await both(compiled_http, resolvers_http, query, variables)
    _, c = strip(compiled)
    _, r = strip(resolved)
    assert c == r


# Timeouts: the statement past statement_timeout, on both paths, with the films table locked.
TIMED_OUT: list[str] = [
    # __typename never touches the database: it is "Query" on both paths, never an error.
    f'{{ __typename film(slug: "{FILM}") {{ title }} }}',
    f'{{ a: __typename film(slug: "{FILM}") {{ title }} b: __typename }}',
]


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
            assert strip(body)[0] == execution
            responses.append(body)
        finally:
            await locker.close()
    compiled, resolved = responses
    assert compiled == resolved
    assert compiled["data"]["__typename" if "a:" not in query else "a"] == "Query"
