"""Batched requests: off unless enabled; when on, at most 5 operations, costed together."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from graph.app import create_app
from graph.settings import Settings
from tests.conftest import LiveServer, refused

FILM = '{ film(slug: "refusenik-2007") { title } }'
# Served by one compiled statement (graph/compiled/), which development says.
EXTENSIONS = {"cost": 1, "execution": "compiled"}
# 100 + 100 x 10 + 100 x 10 x 5 = 6,100 each: one fits in 10,000, two do not.
HEAVY = "{ films(first: 100) { nodes { directors { filmography(first: 5) { nodes { id } } } } } }"


@pytest.fixture(scope="module")
def batching(dsn: str) -> Iterator[LiveServer]:
    with LiveServer(create_app(Settings(batching=True), dsn)) as server:
        yield server


async def test_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=[{"query": FILM}])
    assert refused(response, 400, "BAD_REQUEST") == "Batching is not enabled"


async def test_a_batch_answers_each_operation(batching: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=batching.url, timeout=30) as client:
        response = await client.post(
            "/graphql", json=[{"query": FILM}, {"query": "{ __typename }"}]
        )
    assert response.status_code == 200
    assert response.json() == [
        {"data": {"film": {"title": "Refusenik"}}, "extensions": EXTENSIONS},
        {"data": {"__typename": "Query"}, "extensions": {"cost": 0, "execution": "compiled"}},
    ]


async def test_at_most_five_operations(batching: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=batching.url, timeout=30) as client:
        five = await client.post("/graphql", json=[{"query": FILM}] * 5)
        six = await client.post("/graphql", json=[{"query": FILM}] * 6)
    assert five.status_code == 200 and len(five.json()) == 5
    assert refused(six, 400, "BAD_REQUEST") == "Too many operations"


async def test_a_batch_shares_one_cost_limit(batching: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=batching.url, timeout=30) as client:
        alone = await client.post("/graphql", json=[{"query": HEAVY}])
        assert "errors" not in alone.json()[0]
        together = await client.post("/graphql", json=[{"query": HEAVY}, {"query": HEAVY}])
    results = together.json()
    codes = [[e["extensions"]["code"] for e in r.get("errors", [])] for r in results]
    assert sorted(codes) == [[], ["QUERY_TOO_COSTLY"]], codes
    refused = next(r for r in results if r.get("errors"))
    assert "data" not in refused
    assert refused["errors"][0]["message"].startswith(
        "With 6100 granted to this batch, the query costs 6100 (the nodes it can return, and 100"
    )


async def test_each_request_of_a_batch_is_checked_as_a_single_one(batching: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=batching.url, timeout=30) as client:
        for member in (
            {"query": ["{ __typename }"]},
            {"query": 5},
            {"query": "{ __typename }", "variables": "x"},
            {"query": "{ __typename }", "variables": [1]},
            {"query": "{ __typename }", "extensions": 5},
            {"query": "{ __typename }", "operationName": 5},
        ):
            response = await client.post("/graphql", json=[{"query": FILM}, member])
            assert refused(response, 400, "BAD_REQUEST").startswith("Malformed request"), member
        ok = await client.post("/graphql", json=[{"query": FILM}])
        assert ok.json() == [{"data": {"film": {"title": "Refusenik"}}, "extensions": EXTENSIONS}]
