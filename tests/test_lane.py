"""The lane (graph/lane.py): a POST of an operation served compiled before, answered from the
app's first callable, gets the very bytes the normal path gives, and every guard of the
normal path acts on it. Each test runs the same requests with the lane and without it (the
app's `lane` set to None: the normal path, fast path included), on real servers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.middleware.errors import ServerErrorMiddleware

from graph.app import create_app
from graph.lane import Lane
from graph.ratelimit import RateLimiter
from graph.settings import Settings
from tests.conftest import LiveServer
from tests.test_fastpath import statements

FILM_PAGE = (Path(__file__).parent.parent / "examples" / "film-page.graphql").read_text()


def lane_of(app: Any) -> Lane:
    assert isinstance(app.lane, ServerErrorMiddleware)
    lane = app.lane.app
    assert isinstance(lane, Lane)
    return lane


def raw(response: httpx.Response, *, request_id: bool = False) -> tuple[int, list[Any], bytes]:
    """Status, headers in their order (but Date, and the request id's value unless the client
    gave it), body bytes."""
    headers = [
        (n.lower(), b"" if n.lower() == b"x-request-id" and not request_id else v)
        for n, v in response.headers.raw
        if n.lower() != b"date"
    ]
    body = re.sub(rb'"requestId":"[0-9a-f]+"', b'"requestId":""', response.content)
    return response.status_code, headers, body


def film(slug: str, **extra: Any) -> dict[str, Any]:
    return {"query": FILM_PAGE, "variables": {"slug": slug, "region": "US"}, **extra}


GRAPHQL = "application/graphql-response+json"

# Requests the lane answers itself, and requests it hands to the normal path's code at each of
# its turns: before reading (a body too large, a query string), after reading (variables that
# do not coerce, another operation), after running (no such film is data, not an error).
REQUESTS: list[tuple[str, Any, dict[str, str], bool]] = [
    ("a film", film("refusenik-2007"), {}, True),
    ("no such film", film("no-such-film"), {}, True),
    ("graphql-response+json", film("refusenik-2007"), {"accept": GRAPHQL}, True),
    ("its own request id", film("refusenik-2007"), {"x-request-id": "abc-123"}, True),
    ("a variable of the wrong type", {"query": FILM_PAGE, "variables": {"slug": 7}}, {}, False),
    ("a variable missing", {"query": FILM_PAGE, "variables": {"region": "US"}}, {}, False),
    ("a batch", [film("refusenik-2007")], {}, False),
    ("an unknown operation name", film("refusenik-2007", operationName="Nope"), {}, False),
    ("GraphQL over HTTP errors", {"query": FILM_PAGE, "variables": {}}, {"accept": GRAPHQL}, False),
]


@pytest.fixture(params=[False, True], ids=["production", "explained"])
def served(request: pytest.FixtureRequest, dsn: str) -> Iterator[tuple[LiveServer, Any]]:
    settings = Settings(explain_execution=request.param, max_body_bytes=4000)
    app = create_app(settings, dsn)
    with LiveServer(app, settings) as server:
        yield server, app


async def test_the_lane_answers_with_the_normal_paths_bytes(
    served: tuple[LiveServer, Any],
) -> None:
    server, app = served
    lane = lane_of(app)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        # Served compiled once by Strawberry's pipeline: the lane knows the operation.
        taught = await client.post("/graphql", json=film("refusenik-2007"))
        assert lane.answers == 0 and statements(app).served
        answers: dict[str, list[Any]] = {}
        for on in (True, False):
            app.lane = ServerErrorMiddleware(lane) if on else None
            for name, body, headers, _ in REQUESTS:
                response = await client.post("/graphql", json=body, headers=headers)
                answers.setdefault(name, []).append(
                    raw(response, request_id="x-request-id" in headers)
                )
            too_large = {"query": FILM_PAGE, "variables": {"slug": "x" * 5000, "region": "US"}}
            response = await client.post("/graphql", json=too_large)
            answers.setdefault("too large", []).append(raw(response))
            response = await client.post("/graphql?a=1", json=film("refusenik-2007"))
            answers.setdefault("a query string", []).append(raw(response))
            if on:
                taken = sum(by_lane for *_, by_lane in REQUESTS)
                assert lane.answers == taken
        assert lane.answers == taken  # none without the lane
    assert raw(taught) == answers["a film"][0]
    for name, (with_lane, without) in answers.items():
        assert with_lane == without, name
    assert answers["too large"][0][0] == 413
    status, headers, body = answers["a film"][0]
    assert status == 200 and b'"title" : "Refusenik"' in body
    assert [n for n, _ in headers] == [
        b"server",
        b"content-length",
        b"content-type",
        b"cache-control",
        b"x-request-id",
        b"vary",
    ]
    assert (b"x-request-id", b"abc-123") in answers["its own request id"][0][1]


async def lane_and_normal(dsn: str, settings: Settings, run: Any) -> list[Any]:
    """run(client, lane) on a fresh server with the lane, then on one without."""
    results = []
    for on in (True, False):
        app: Any = create_app(settings, dsn)
        with LiveServer(app, settings) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                lane = lane_of(app)
                if not on:
                    app.lane = None
                results.append(await run(client, lane))
                assert (lane.answers > 0) is on
    return results


async def test_the_rate_limit_charges_the_lane_as_the_normal_path(dsn: str) -> None:
    settings = Settings(rate_limit=True, rate_limit_points=600)

    async def until_refused(client: httpx.AsyncClient, lane: Lane) -> Any:
        limiter = lane.view.rate_limiter
        assert isinstance(limiter, RateLimiter)
        limiter.clock = lambda: 0.0  # no refill: the count of answers depends on charges only
        statuses = []
        for _ in range(100):
            response = await client.post("/graphql", json=film("refusenik-2007"))
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
        return statuses, raw(response), [b.points for b in limiter.buckets.values()]

    with_lane, without = await lane_and_normal(dsn, settings, until_refused)
    assert with_lane == without
    statuses, (status, headers, body), _ = with_lane
    assert statuses.count(200) > 2 and status == 429
    assert b"RATE_LIMITED" in body and b"retry-after" in dict(headers)


async def test_metrics_count_the_lanes_requests_and_statements(dsn: str) -> None:
    settings = Settings()

    async def counted(client: httpx.AsyncClient, lane: Lane) -> Any:
        for slug in ("refusenik-2007", "no-such-film", "refusenik-2007"):
            assert (await client.post("/graphql", json=film(slug))).status_code == 200
        page = (await client.get("/metrics")).text
        return sorted(
            line
            for line in page.splitlines()
            if line.startswith(
                (
                    "filmgraph_requests_total{",
                    "filmgraph_request_sql_statements_count",
                    "filmgraph_request_sql_statements_sum",
                )
            )
        )

    with_lane, without = await lane_and_normal(dsn, settings, counted)
    assert with_lane == without
    assert any('operation="FilmPage"' in line and line.endswith(" 3.0") for line in with_lane)


async def test_repeated_headers_are_read_as_the_normal_path_reads_them(dsn: str) -> None:
    """Of a header sent twice, the normal path (Starlette) reads the first: so does the lane,
    for the answer's Content-Type and for taking the request at all."""

    async def repeated(client: httpx.AsyncClient, lane: Lane) -> Any:
        await client.post("/graphql", json=film("refusenik-2007"))
        answers = []
        for name, values in (
            ("accept", ("application/json", GRAPHQL)),
            ("accept", (GRAPHQL, "application/json")),
            ("content-type", ("text/plain", "application/json")),
            ("content-type", ("application/json", "text/plain")),
        ):
            body = json.dumps(film("refusenik-2007")).encode()
            headers = [(name, v) for v in values]
            if name == "accept":
                headers.append(("content-type", "application/json"))
            response = await client.post("/graphql", content=body, headers=headers)
            answers.append(raw(response))
        return answers

    with_lane, without = await lane_and_normal(dsn, Settings(), repeated)
    assert with_lane == without
    assert [status for status, *_ in with_lane] == [200, 200, 400, 200]


async def test_a_content_type_naming_json_in_a_parameter_is_not_json(dsn: str) -> None:
    """`text/plain; profile=application/json` is not JSON: Strawberry refuses it, and so do
    the lane and the fast path once the operation is served compiled (they took it)."""
    odd = {"content-type": "text/plain; profile=application/json"}
    body = json.dumps(film("refusenik-2007")).encode()

    async def refused(client: httpx.AsyncClient, lane: Lane) -> Any:
        before = raw(await client.post("/graphql", content=body, headers=odd))
        await client.post("/graphql", json=film("refusenik-2007"))
        after = raw(await client.post("/graphql", content=body, headers=odd))
        await client.post("/graphql", json=film("refusenik-2007"))  # the lane answers one
        return before, after

    with_lane, without = await lane_and_normal(dsn, Settings(), refused)
    assert with_lane == without
    before, after = with_lane
    assert before == after and before[0] == 400


async def test_a_connection_the_server_ended_is_replaced_before_the_answer(dsn: str) -> None:
    """The server ends the pool's kept connections between two requests (pg_terminate_backend,
    as a restart or an operator would): the next request is still answered, on a fresh
    connection, with the same bytes (it was answered SERVICE_UNAVAILABLE)."""

    async def across_a_kill(client: httpx.AsyncClient, lane: Lane) -> Any:
        first = [raw(await client.post("/graphql", json=film("refusenik-2007"))) for _ in range(2)]
        kept = [conn.get_server_pid() for conn in lane.state.pool._kept]
        assert kept
        killer = await asyncpg.connect(dsn)
        try:
            ended = await killer.fetchval(
                "select count(pg_terminate_backend(pid)) from unnest($1::int[]) pid", kept
            )
        finally:
            await killer.close()
        assert ended == len(kept)
        after = raw(await client.post("/graphql", json=film("refusenik-2007")))
        return first[-1], after

    for before, after in await lane_and_normal(dsn, Settings(), across_a_kill):
        assert before[0] == 200
        assert after == before
