"""Attacks on coalescing (graph/compiled/coalesce.py): many concurrent requests of one
document with distinct variables each get exactly the answer a server without coalescing
gives them, and a request that fails inside a batch fails as it would alone.

Whether concurrent requests share a batch depends on how fast the server answers them: the
written document whose statements have a batched form (BATCHED) is sent behind a held pool
(tests/held_pool.py), so that its requests share batches on every run."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import zlib
from typing import Any

import asyncpg
import httpx
from graphql import GraphQLSchema

from graph.app import create_app
from graph.schema import create_schema
from graph.settings import Settings
from tests.conftest import LiveServer
from tests.differential import Answer, comparable, corpus, differences, requests_for
from tests.documents import Generated
from tests.held_pool import held_pool, until
from tests.values import VALUES_QUERY, RandomChooser, values_from

CURSOR_SECRET = "coalesce-attack"
# Variable fills per written document: requests of one document share its statement.
FILLS = 4

# Variables of every scalar type the compiler binds, each a different value per request. A
# filter is planned for its values: its statement runs alone (no batched form).
SCALARS = """query($q: String, $min: Float, $votes: Int, $y0: Int, $y1: Int, $genres: [String!],
  $first: Int, $after: String, $dir: OrderDirection!, $withYear: Boolean!, $skipTitle: Boolean!,
  $region: String) {
  films(first: $first, after: $after, orderBy: [{field: YEAR, direction: $dir}],
        filter: {query: $q, minRating: $min, minVotes: $votes, year: {min: $y0, max: $y1},
                 genresAny: $genres, availability: {region: $region}}) {
    totalCount
    edges { cursor node { slug title @skip(if: $skipTitle) year @include(if: $withYear)
      releaseDate imdbRating offers(region: $region) { price kind availableFrom } } }
    pageInfo { endCursor hasNextPage }
  }
}"""


# A document whose statements have a batched form (parameters of scalar types, no filter):
# those of its requests whose conditions (@skip, @include: part of the statement) are alike
# share a statement, four at most, and so batches.
BATCHED = """query($slug: String!, $first: Int!, $region: String!, $withYear: Boolean!,
  $skipTitle: Boolean!) {
  film(slug: $slug) { slug title @skip(if: $skipTitle) year @include(if: $withYear)
    offers(region: $region) { price kind availableFrom } }
  films(first: $first, orderBy: [{field: YEAR, direction: DESC}]) { totalCount
    edges { cursor node { slug releaseDate imdbRating } } pageInfo { endCursor hasNextPage } }
}"""
# Requests of BATCHED per group (one batch holds 16).
BATCHED_GROUP = 16


def batched_variables(rng: random.Random, slugs: list[str]) -> dict[str, Any]:
    return {
        "slug": rng.choice([*slugs[:20], "no-such-film"]),
        "first": rng.choice([1, 2, 5, 20]),
        "region": rng.choice(["US", "GB", "XX"]),
        "withYear": rng.choice([True, False]),
        "skipTitle": rng.choice([True, False]),
    }


def scalar_variables(rng: random.Random, words: list[str], cursors: list[str]) -> dict[str, Any]:
    return {
        # A NUL fails the statement (PostgreSQL's text has none): its batch fails too.
        "q": rng.choice([None, "a\x00b", "\u00e9t\u00e9 \U0001f3ac", *words[:20]]),
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
        "region": rng.choice([None, "US", "GB", "XX", "U\x00"]),
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
    shared: list[tuple[int, int]] = []  # (batches, requests answered) of each held group
    common = {"cursor_secret": CURSOR_SECRET, "statement_timeout_ms": 20_000}
    plain_settings = Settings(coalesce=False, **common)  # type: ignore[arg-type]
    # Two connections: requests pile up in batches while others run.
    settings = Settings(coalesce=True, pool_max_size=2, request_timeout_ms=60_000, **common)  # type: ignore[arg-type]
    app = create_app(settings, dsn)
    with (
        LiveServer(create_app(plain_settings, dsn), plain_settings) as plain,
        LiveServer(app, settings) as coalescing,
    ):
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
                [
                    Generated(SCALARS, scalar_variables(rng, values.words, cursors))
                    for _ in range(16)
                ]
            )
        held = range(len(groups), len(groups) + 4)
        for _ in held:
            film_slugs = values.slugs.get("Film") or ["no-such-film"]
            groups.append(
                [
                    Generated(BATCHED, batched_variables(rng, film_slugs))
                    for _ in range(BATCHED_GROUP)
                ]
            )
        async with httpx.AsyncClient(
            base_url=plain.url, timeout=60, limits=httpx.Limits(max_connections=8)
        ) as client:
            reference = [await asyncio.gather(*(answer(client, r) for r in g)) for g in groups]
        async with httpx.AsyncClient(
            base_url=coalescing.url, timeout=120, limits=httpx.Limits(max_connections=64)
        ) as client:
            # Once to compile, then each document's requests all at once; BATCHED's behind
            # the held pool, counted apart.
            got_all: list[list[Answer]] = []
            coalescer = app.state.pool.coalescer
            for number, group in enumerate(groups):
                await answer(client, group[0])
                if number not in held:
                    got_all.append(await asyncio.gather(*(answer(client, r) for r in group)))
                    continue
                batches, answered = coalescer.batches, coalescer.answered
                async with held_pool(app, client, dsn) as pool:
                    asked = await pool.burst([functools.partial(answer, client, r) for r in group])
                async with asyncio.timeout(60):
                    got_all.append(await asyncio.gather(*asked))
                # The holders' statements, batches of one each, aside.
                holders = len(pool.holders)
                shared.append(
                    (coalescer.batches - batches - holders, coalescer.answered - answered - holders)
                )
            # Those that differ asked again of the plain server: the resolvers do not always
            # answer an error alike.
            async with httpx.AsyncClient(base_url=plain.url, timeout=60) as again:
                compared = []
                for group, expected, coalesced in zip(groups, reference, got_all, strict=True):
                    for request, a, b in zip(group, expected, coalesced, strict=True):
                        if comparable(a) != comparable(b):
                            a2 = await answer(again, request)
                            if comparable(a2) != comparable(a):
                                continue
                        compared.append((request, a, b))
    failures = []
    for request, wanted, got_one in compared:
        diff = differences(comparable(got_one), comparable(wanted))
        if diff:
            failures.append(
                f"{json.dumps(payload(request))[:600]}\n  got {json.dumps(got_one.body)[:400]}"
                f"\n  expected {json.dumps(wanted.body)[:400]}\n  {diff[:3]}"
            )
    print(
        f"{len(compared)} requests compared; batches={coalescer.batches} "
        f"answered={coalescer.answered} failed={coalescer.failed}; held groups: {shared}"
    )
    assert not failures, f"{len(failures)} differ:\n" + "\n\n".join(failures[:5])
    # Each held group's requests all waited in batches, one a statement (four at most): each
    # answered by a batch, and some batch answered several.
    for batches, answered in shared:
        assert answered == BATCHED_GROUP and batches <= 4, shared


# One statement whose cost its variables set: films' neighbourhoods ($n films, $m films of
# each of their people, theirs again): 100 and 100 take seconds on the demo data, 1 and 1
# milliseconds.
NEIGHBOURHOOD = """query($n: Int, $m: Int) { films(first: $n) { nodes { title credits {
  person { name filmography(first: $m) { nodes { title credits { person { name
  filmography(first: $m) { nodes { title credits { person { name } } } } } } } } } } } } }"""
# Another statement (an alias more) as slow: it holds the pool's one connection.
HOLDER = NEIGHBOURHOOD.replace("films(first: $n)", "held: films(first: $n)")
LIGHT = {"n": 1, "m": 1}
HEAVY = {"n": 100, "m": 100}


async def test_a_request_past_the_timeout_does_not_time_out_the_others_of_its_batch(
    dsn: str,
) -> None:
    """A request whose variables make its statement run past statement_timeout gets the
    TIMEOUT, alone or in a batch; the cheap requests that share its batch get their answers,
    as they do alone, not its timeout."""
    settings = Settings(
        max_cost=10**12,
        statement_timeout_ms=400,
        request_timeout_ms=20_000,
        pool_timeout_ms=5_000,
        pool_max_size=1,
        pool_min_size=1,
        coalesce=True,
    )
    app = create_app(settings, dsn)
    light, heavy = Generated(NEIGHBOURHOOD, LIGHT), Generated(NEIGHBOURHOOD, HEAVY)
    with LiveServer(app, settings) as live:
        limits = httpx.Limits(max_connections=32)
        async with (
            asyncio.timeout(60),
            httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client,
        ):
            # Alone: the cheap one answered (its cost learned), the dear one timed out.
            alone = [await answer(client, r) for r in (light, light, heavy, light)]
            assert [code(a) or "data" for a in alone] == ["data", "data", "TIMEOUT", "data"]
            coalescer = app.state.pool.coalescer
            for _ in range(30):  # cheap batches: the statement's cost is that of the cheap
                assert code(await answer(client, light)) is None
            failed = coalescer.failed
            # While the holder has the connection, fifteen cheap requests and a dear one
            # make one batch.
            held = asyncio.ensure_future(answer(client, Generated(HOLDER, HEAVY)))
            await until_held(dsn)
            batch = asyncio.gather(*(answer(client, heavy if i == 7 else light) for i in range(16)))
            got = await batch
            await held
    assert coalescer.failed > failed  # a batch timed out
    outcomes = [code(a) or "data" for a in got]
    assert outcomes == ["TIMEOUT" if i == 7 else "data" for i in range(16)], outcomes


async def until_held(dsn: str) -> None:
    """Until a statement of the server runs."""
    admin = await asyncpg.connect(dsn)

    async def running() -> bool:
        return bool(
            await admin.fetchval(
                "select count(*) from pg_stat_activity where application_name = 'filmgraph'"
                " and state = 'active'"
            )
        )

    try:
        await until(running)
    finally:
        await admin.close()


def code(got: Answer) -> str | None:
    errors = got.body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None
