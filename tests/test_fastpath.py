"""The fast path (graph/compiled/fast.py): a request for an operation already served compiled
is answered without Strawberry's pipeline, with the very response the pipeline gives; any
request it does not take gets the normal path's answer."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse
from starlette.routing import Route

from graph.app import create_app
from graph.compiled.cache import StatementCache
from graph.cost import document_cost
from graph.schema import create_schema
from graph.settings import Settings
from graph.view import GraphQLView
from tests.conftest import LiveServer

FILM_PAGE = (Path(__file__).parent.parent / "examples" / "film-page.graphql").read_text()


def statements(app: Any) -> StatementCache:
    """The /graphql view's statement cache, under the route's wrappers (each an `app`)."""
    for route in app.routes:
        if isinstance(route, Route) and route.path == "/graphql":
            endpoint: Any = route.app
            while not isinstance(endpoint, GraphQLView):
                endpoint = endpoint.app
            return endpoint.schema.statement_cache
    raise AssertionError("no /graphql route")


@pytest.fixture
def served(dsn: str) -> Iterator[tuple[LiveServer, StatementCache]]:
    settings = Settings(explain_execution=True)
    app = create_app(settings, dsn)
    with LiveServer(app, settings) as server:
        yield server, statements(app)


def comparable(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in ("date", "x-request-id")}
    return response.status_code, headers, response.content


async def test_a_repeated_operation_gets_the_same_response_without_the_pipeline(
    served: tuple[LiveServer, StatementCache],
) -> None:
    server, cache = served
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

        async def film(slug: str, **headers: str) -> httpx.Response:
            body = {"query": FILM_PAGE, "variables": {"slug": slug, "region": "US"}}
            return await client.post("/graphql", json=body, headers=headers)

        first = await film("the-godfather")
        assert first.json()["extensions"] == {
            "cost": first.json()["extensions"]["cost"],
            "execution": "compiled",
        }
        assert cache.fast_answers == 0
        again = await film("the-godfather")
        other = await film("no-such-film")
        media = await film("the-godfather", accept="application/graphql-response+json")
        assert cache.fast_answers == 3
    assert comparable(again) == comparable(first)
    assert other.json()["data"] == {"film": None}
    assert media.headers["content-type"].startswith("application/graphql-response+json")
    assert media.content == first.content


async def test_requests_it_does_not_take_get_the_normal_answer(
    served: tuple[LiveServer, StatementCache], dsn: str
) -> None:
    server, cache = served
    bad = [
        {"query": FILM_PAGE, "variables": {"slug": 5, "region": "US"}},  # does not coerce
        {"query": FILM_PAGE, "variables": {"slug": "x", "region": "NOWHERE"}},  # refused
        {"query": FILM_PAGE, "variables": {"slug": "x\u0000", "region": "US"}},  # not text
        {"query": FILM_PAGE, "variables": {"slug": "x"}, "extensions": {"a": 1}},
    ]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        before = [await client.post("/graphql", json=b) for b in bad]
        variables = {"slug": "x", "region": "US"}
        await client.post("/graphql", json={"query": FILM_PAGE, "variables": variables})
        assert cache.known(hashlib.sha256(FILM_PAGE.encode()).digest(), None) is not None
        after = [await client.post("/graphql", json=b) for b in bad]
        assert cache.fast_answers == 0
    for b, a in zip(before, after, strict=True):
        assert a.status_code == b.status_code
        assert _without_request_ids(a.json()) == _without_request_ids(b.json())


def _without_request_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_request_ids(v) for k, v in value.items() if k != "requestId"}
    if isinstance(value, list):
        return [_without_request_ids(v) for v in value]
    return value


PAGED = """query Paged($slug: String!, $n: Int, $m: Int!) {
  film(slug: $slug) {
    title
    directors { name filmography(role: DIRECTOR, first: $n) { nodes { title } } }
    cast(first: $m) { person { name } }
  }
}"""


async def test_the_cost_follows_the_page_sizes_it_reads(
    served: tuple[LiveServer, StatementCache],
) -> None:
    """The fast path keeps each operation's cost by what the cost reads of the variables (page
    sizes, whether the others are null): each page size gets the cost the normal path
    computes for it (graph/cost.py), and the slug, which the cost does not read, shares it."""
    server, cache = served
    schema = create_schema(Settings())._schema
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

        async def cost(variables: dict[str, Any]) -> int:
            response = await client.post("/graphql", json={"query": PAGED, "variables": variables})
            extensions = response.json().get("extensions", response.json())
            assert extensions.get("execution") == "compiled", response.json()
            found: int = extensions["cost"]
            return found

        await cost({"slug": "the-godfather", "n": 5, "m": 2})
        sizes = [(5, 2), (1, 2), (5, 7), (None, 2), (None, 3), (2, 3), (1, 2), (None, 2)]
        variables = [{"slug": "refusenik-2007", "n": n, "m": m} for n, m in sizes]
        variables.append({"slug": "refusenik-2007", "m": 2})  # n omitted, not null
        got = [await cost(v) for v in variables]
        # All but the first of each null pattern of the variables (compiled by the normal path)
        assert cache.fast_answers == len(variables) - 2
    expected = [document_cost(schema, parse(PAGED), None, v) for v in variables]
    assert got == expected
    assert len(set(got)) == 6  # (1, 2) and (None, 2) twice, an omitted n as a null one
