"""Attacks on coalescing (graph/compiled/coalesce.py): many concurrent requests of one
document with distinct variables each get exactly the answer a server without coalescing
gives them, and a request that fails inside a batch fails as it would alone."""

from __future__ import annotations

import asyncio
import json
import random
import zlib
from typing import Any

import httpx
from graphql import GraphQLSchema

from graph.app import create_app
from graph.schema import create_schema
from graph.settings import Settings
from tests.conftest import LiveServer
from tests.differential import Answer, comparable, corpus, differences, requests_for
from tests.documents import Generated
from tests.values import VALUES_QUERY, RandomChooser, values_from

CURSOR_SECRET = "coalesce-attack"
# Variable fills per written document: requests of one document share its statement.
FILLS = 8

# Variables of every scalar type the compiler binds, each a different value per request.
SCALARS = """query($q: String, $min: Float, $votes: Int, $y0: Int, $y1: Int, $genres: [String!],
  $first: Int, $after: String, $dir: OrderDirection!, $withYear: Boolean!, $skipTitle: Boolean!,
  $region: String) {
  films(first: $first, after: $after, orderBy: [{field: YEAR, direction: $dir}],
        filter: {query: $q, minRating: $min, minVotes: $votes, year: {min: $y0, max: $y1},
                 genresAny: $genres, availability: {region: $region}}) {
    totalCount
    edges { cursor node { slug title @skip(if: $skipTitle) year @include(if: $withYear)
      releaseDate imdbRating offers(region: $region, first: 2) { nodes { price kind availableFrom } } } }
    pageInfo { endCursor hasNextPage }
  }
}"""


def scalar_variables(rng: random.Random, words: list[str], cursors: list[str]) -> dict[str, Any]:
    return {
        "q": rng.choice([None, *words[:20]]),
        "min": rng.choice([None, 0, 5.5, 7.1, 9.9]),
        "votes": rng.choice([None, 0, 1000, 2147483647]),
        "y0": rng.choice([None, 1900, 1990, 2000]),
        "y1": rng.choice([None, 1999, 2010, 2030]),
        "genres": rng.choice([None, [], ["drama"], ["comedy", "drama"], ["no-such"]]),
        "first": rng.choice([None, 1, 2, 5, 20]),
        "after": rng.choice([None, *cursors]),
        "dir": rng.choice(["ASC", "DESC"]),
        "withYear": rng.choice([True, False]),
        "skipTitle": rng.choice([True, False]),
        "region": rng.choice([None, "US", "GB", "XX"]),
    }


def payload(request: Generated) -> dict[str, Any]:
    body: dict[str, Any] = {"query": request.document, "variables": request.variables}
    if request.operation_name is not None:
        body["operationName"] = request.operation_name
    return body


async def answer(client: httpx.AsyncClient, request: Generated) -> Answer:
    response = await client.post("/graphql", json=payload(request))
    return Answer(response.status_code, response.json())


async def test_concurrent_requests_of_one_document_each_get_their_own_answer(dsn: str) -> None:
    schema: GraphQLSchema = create_schema()._schema
    common = {"cursor_secret": CURSOR_SECRET, "statement_timeout_ms": 20_000}
    plain_settings = Settings(coalesce=False, **common)  # type: ignore[arg-type]
    # Two connections: requests pile up in batches while others run.
    settings = Settings(coalesce=True, pool_max_size=2, request_timeout_ms=60_000, **common)  # type: ignore[arg-type]
    app = create_app(settings, dsn)
    with LiveServer(create_app(plain_settings, dsn), plain_settings) as plain, LiveServer(
        app, settings
    ) as coalescing:
        async with httpx.AsyncClient(base_url=plain.url, timeout=60) as client:
            got = await answer(client, Generated(VALUES_QUERY, {}))
            values = values_from(got.body["data"])
            first = await client.post(
                "/graphql", json={"query": "{ films(first: 30) { edges { cursor } } }"}
            )
            cursors = [e["cursor"] for e in first.json()["data"]["films"]["edges"]]
        groups: list[list[Generated]] = []
        for item in corpus(schema):
            group: list[Generated] = []
            for fill in range(FILLS):
                choose = RandomChooser(zlib.crc32(f"{item.origin}:{fill}".encode()))
                group += requests_for(schema, item, values, choose)
            groups.append(group)
        rng = random.Random(7)
        for _ in range(4):
            groups.append(
                [Generated(SCALARS, scalar_variables(rng, values.words, cursors)) for _ in range(16)]
            )
        async with httpx.AsyncClient(
            base_url=plain.url, timeout=60, limits=httpx.Limits(max_connections=8)
        ) as client:
            reference = [await asyncio.gather(*(answer(client, r) for r in g)) for g in groups]
        async with httpx.AsyncClient(
            base_url=coalescing.url, timeout=120, limits=httpx.Limits(max_connections=64)
        ) as client:
            # Once to compile, then each document's requests all at once.
            got_all = []
            for group in groups:
                await answer(client, group[0])
                got_all.append(await asyncio.gather(*(answer(client, r) for r in group)))
            # Those that differ asked again of the plain server: the resolvers do not always
            # answer an error alike.
            async with httpx.AsyncClient(base_url=plain.url, timeout=60) as again:
                compared = []
                for group, expected, got in zip(groups, reference, got_all, strict=True):
                    for request, a, b in zip(group, expected, got, strict=True):
                        if comparable(a) != comparable(b):
                            a2 = await answer(again, request)
                            if comparable(a2) != comparable(a):
                                continue
                        compared.append((request, a, b))
    failures = []
    for request, expected, got_one in compared:
        diff = differences(comparable(got_one), comparable(expected))
        if diff:
            failures.append(
                f"{json.dumps(payload(request))[:600]}\n  got {json.dumps(got_one.body)[:400]}"
                f"\n  expected {json.dumps(expected.body)[:400]}\n  {diff[:3]}"
            )
    coalescer = app.state.pool.coalescer
    print(
        f"{len(compared)} requests compared; batches={coalescer.batches} "
        f"answered={coalescer.answered} failed={coalescer.failed}"
    )
    assert not failures, f"{len(failures)} differ:\n" + "\n\n".join(failures[:5])
    assert coalescer.answered > coalescer.batches  # batches answered several
