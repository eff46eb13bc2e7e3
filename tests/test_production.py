"""FILMGRAPH_ENV=production: no GraphiQL, no introspection, no "Did you mean" hints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from graph.app import create_app
from graph.settings import Settings
from tests.conftest import LiveServer, gql, post

PROBES: list[tuple[str, dict[str, object]]] = [
    ('{ film(slug: "refusenik-2007") { titel } }', {}),  # field
    ('{ film(slugg: "refusenik-2007") { title } }', {}),  # argument
    ("query($f: FilmFiltr) { films(filter: $f) { totalCount } }", {}),  # type
    ('{ person(slug: "laura-bialis") { filmography(role: DIRECTR) { totalCount } } }', {}),
    (
        'query($r: CreditRole) { person(slug: "laura-bialis") { filmography(role: $r) '
        "{ totalCount } } }",
        {"r": "DIRECTR"},
    ),
    ("{ films(filter: {yeer: {min: 2000}}) { totalCount } }", {}),  # input field
    ("query($f: FilmFilter) { films(filter: $f) { totalCount } }", {"f": {"yeer": {"min": 1}}}),
]


@pytest.fixture(scope="module")
def production_server(dsn: str) -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("FILMGRAPH_GRAPHIQL", "FILMGRAPH_INTROSPECTION", "FILMGRAPH_SUGGESTIONS"):
            env.delenv(name, raising=False)
        env.setenv("FILMGRAPH_ENV", "production")
        settings = Settings.from_env()
    assert (settings.graphiql, settings.introspection, settings.suggestions) == (False,) * 3
    with LiveServer(create_app(settings, dsn)) as server:
        yield server


@pytest.fixture
async def production(production_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=production_server.url, timeout=30) as c:
        yield c


async def test_no_suggestions_in_production(production: httpx.AsyncClient) -> None:
    for query, variables in PROBES:
        body = await post(production, query, variables)
        assert body["errors"], query
        for error in body["errors"]:
            assert "Did you mean" not in error["message"], error
            assert "title" not in error["message"].replace("titel", ""), error
            assert error["extensions"]["code"] in ("GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT")


async def test_suggestions_in_development(client: httpx.AsyncClient) -> None:
    for query, variables in PROBES:
        body = await post(client, query, variables)
        assert any("Did you mean" in e["message"] for e in body["errors"]), (query, body)


async def test_no_introspection_in_production(production: httpx.AsyncClient) -> None:
    for query in ("{ __schema { types { name } } }", '{ __type(name: "Film") { name } }'):
        body = await post(production, query)
        assert body.get("data") is None
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "introspection has been disabled" in body["errors"][0]["message"]
    assert await gql(production, "{ __typename }") == {"__typename": "Query"}
    film = await gql(production, '{ film(slug: "refusenik-2007") { __typename title } }')
    assert film == {"film": {"__typename": "Film", "title": "Refusenik"}}


async def test_no_graphiql_in_production(production: httpx.AsyncClient) -> None:
    response = await production.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()
    # Nor its assets, which the development page loads.
    assets = await production.get("/graphiql/static/graphiql-4.1.2/graphiql.min.js")
    assert assets.status_code == 404


def test_each_switch_overrides_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILMGRAPH_ENV", "production")
    monkeypatch.setenv("FILMGRAPH_INTROSPECTION", "1")
    monkeypatch.delenv("FILMGRAPH_GRAPHIQL", raising=False)
    monkeypatch.setenv("FILMGRAPH_SUGGESTIONS", "0")
    settings = Settings.from_env()
    assert (settings.introspection, settings.graphiql, settings.suggestions) == (True, False, False)
    monkeypatch.setenv("FILMGRAPH_ENV", "development")
    monkeypatch.delenv("FILMGRAPH_INTROSPECTION")
    settings = Settings.from_env()
    assert (settings.introspection, settings.graphiql, settings.suggestions) == (True, True, False)
    monkeypatch.setenv("FILMGRAPH_ENV", "staging")
    with pytest.raises(SystemExit, match="FILMGRAPH_ENV"):
        Settings.from_env()
