"""Compiled execution (graph/compiled/): an operation the compiler takes is answered by one SQL
statement, with the same response the resolvers give; anything else, and every argument the
resolvers would refuse, goes to the resolvers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.app import create_app
from graph.settings import Settings
from tests.conftest import LiveServer

ROOT = Path(__file__).parent.parent
FILM_PAGE = (ROOT / "examples" / "film-page.graphql").read_text()
FILMOGRAPHY = """query Filmography($slug: String!) { person(slug: $slug) { id name
  filmography(role: DIRECTOR, first: 50) { totalCount nodes { id title year
    genres { name } offers(region: "US") { kind price currency provider { name } } } } } }"""
TOP_RATED = """query TopRated { films(orderBy: [{field: RATING, direction: DESC}], first: 100) {
  totalCount nodes { id title year imdbRating directors { name } genres { name } } } }"""


@pytest.fixture(scope="session")
def resolvers_live(dsn: str) -> Iterator[LiveServer]:
    settings = dataclasses.replace(Settings(), execution="resolvers")
    with LiveServer(create_app(settings, dsn), settings) as server:
        yield server


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
