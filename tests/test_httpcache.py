"""HTTP caching of GET /graphql: Cache-Control, ETag and 304, Cache-Tag, and the in-process
response cache, which answers a repeated GET without the database."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.httpcache import (
    KEY_MEMO_BYTES,
    MAX_CACHE_TAG_BYTES,
    HttpCache,
    cache_tags,
    request_key,
)
from graph.ids import from_global_id, to_global_id
from graph.schema import create_schema
from graph.settings import Settings
from tests.conftest import LiveServer, extensions, version_known

FILM_PAGE = (Path(__file__).parent.parent / "examples" / "film-page.graphql").read_text()
REFUSENIK = {"slug": "refusenik-2007", "region": "US"}
TITLE = "query Title($slug: String!) { film(slug: $slug) { id title } }"


def params(document: str, variables: dict[str, Any] | None = None) -> dict[str, str]:
    out = {"query": document}
    if variables is not None:
        out["variables"] = json.dumps(variables)
    return out


def persisted(document: str, variables: dict[str, Any]) -> dict[str, str]:
    digest = hashlib.sha256(document.encode()).hexdigest()
    return {
        "extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}}),
        "variables": json.dumps(variables),
    }


@pytest.fixture(autouse=True)
async def known(client: httpx.AsyncClient) -> None:
    await version_known(client)


@pytest.fixture
async def own(writable_dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(cache_max_age_s=30)
    with LiveServer(create_app(settings, writable_dsn), settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await version_known(client)
            yield client


async def test_a_get_is_cacheable_with_an_etag_and_its_tags(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params=params(FILM_PAGE, REFUSENIK))
    assert response.status_code == 200
    film = response.json()["data"]["film"]
    assert response.headers["cache-control"] == "public, max-age=0"
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
    assert "accept" in response.headers["vary"].lower().split(", ")
    # The page shows films (the film, its director's), genres, people, providers, one region,
    # and each object by its id (the film page selects every object's id).
    kinds, _, nodes = response.headers["cache-tag"].partition(" region:US ")
    assert kinds == "filmgraph film genre person provider"
    shown = [film, *film["genres"], *film["directors"], *film["writers"]]
    shown += film["directors"][0]["filmography"]["nodes"]
    shown += [o["provider"] for o in film["offers"]]
    assert set(nodes.split()) == {_tag(o["id"]) for o in shown}
    assert f"film:{_pk(film['id'])}" in nodes.split()
    # The same GET again: the same bytes and ETag, from the cache.
    again = await client.get("/graphql", params=params(FILM_PAGE, REFUSENIK))
    assert again.content == response.content
    assert again.headers["etag"] == etag
    assert again.headers["cache-tag"] == response.headers["cache-tag"]


def _tag(global_id: str) -> str:
    kind, pk = from_global_id(global_id)
    return f"{kind.lower()}:{pk}"


def _pk(global_id: str) -> int:
    return from_global_id(global_id)[1]


async def test_if_none_match_is_answered_304_without_a_body(client: httpx.AsyncClient) -> None:
    first = await client.get("/graphql", params=params(TITLE, {"slug": "refusenik-2007"}))
    etag = first.headers["etag"]
    response = await client.get(
        "/graphql",
        params=params(TITLE, {"slug": "refusenik-2007"}),
        headers={"if-none-match": f'"other", {etag}'},
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert "accept" in response.headers["vary"].lower().split(", ")
    # Other variables: another ETag, so a full answer.
    other = await client.get(
        "/graphql",
        params=params(TITLE, {"slug": "amelie-2001"}),
        headers={"if-none-match": etag},
    )
    assert other.status_code == 200
    assert other.headers["etag"] != etag


async def test_answers_vary_with_accept(client: httpx.AsyncClient) -> None:
    plain = await client.get("/graphql", params=params(TITLE, {"slug": "refusenik-2007"}))
    typed = await client.get(
        "/graphql",
        params=params(TITLE, {"slug": "refusenik-2007"}),
        headers={"accept": "application/graphql-response+json"},
    )
    assert plain.headers["content-type"].startswith("application/json")
    assert typed.headers["content-type"].startswith("application/graphql-response+json")
    assert plain.headers["etag"] != typed.headers["etag"]


async def test_a_persisted_get_shares_the_key_of_its_document(
    client: httpx.AsyncClient,
) -> None:
    variables = {"slug": "amelie-2001"}
    sent = await client.get("/graphql", params=params(TITLE, variables))
    by_hash = await client.get("/graphql", params=persisted(TITLE, variables))
    assert by_hash.status_code == 200
    assert by_hash.content == sent.content
    assert by_hash.headers["etag"] == sent.headers["etag"]


@pytest.mark.parametrize(
    ("method", "document"),
    [
        ("POST", TITLE),
        ("GET", "{ film(slug: 1) { title } }"),  # a validation error
        ("GET", "{ nope }"),
    ],
)
async def test_posts_and_errors_are_not_stored(
    client: httpx.AsyncClient, method: str, document: str
) -> None:
    if method == "POST":
        response = await client.post(
            "/graphql", json={"query": document, "variables": {"slug": "refusenik-2007"}}
        )
    else:
        response = await client.get("/graphql", params={"query": document})
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers
    assert "cache-tag" not in response.headers


async def test_a_field_error_is_not_stored(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params=params('query { films(filter: {genresAny: ["no-such-genre"]}) { totalCount } }'),
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


async def test_the_max_age_is_a_setting(own: httpx.AsyncClient) -> None:
    response = await own.get("/graphql", params=params(TITLE, {"slug": "refusenik-2007"}))
    assert response.headers["cache-control"] == "public, max-age=30"


async def test_a_cached_get_is_answered_without_the_database(
    own: httpx.AsyncClient, writable_dsn: str, server_dsn: str
) -> None:
    cached = await own.get("/graphql", params=params(FILM_PAGE, REFUSENIK))
    assert cached.json()["data"]["film"]["title"] == "Refusenik"
    name = writable_dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(server_dsn)
    try:
        # No new connection, and the pool's are gone; the data version's stays.
        await admin.execute(f'alter database "{name}" allow_connections false')
        await admin.execute(
            """select pg_terminate_backend(pid) from pg_stat_activity
               where datname = $1 and application_name = 'filmgraph'""",
            name,
        )
        again = await own.get("/graphql", params=params(FILM_PAGE, REFUSENIK))
        assert again.status_code == 200
        assert again.content == cached.content
        # What is not cached needs the database, which is now away.
        other = await own.get("/graphql", params=params(FILM_PAGE, {**REFUSENIK, "region": "FR"}))
        assert other.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert other.headers["cache-control"] == "no-store"
    finally:
        await admin.execute(f'alter database "{name}" allow_connections true')
        await admin.close()


async def test_a_write_is_served_at_once(own: httpx.AsyncClient, writable_dsn: str) -> None:
    first = await own.get("/graphql", params=params(TITLE, {"slug": "refusenik-2007"}))
    assert first.json()["data"]["film"]["title"] == "Refusenik"
    conn = await asyncpg.connect(writable_dsn)
    try:
        await conn.execute("update film set title = 'Refusenik!' where slug = 'refusenik-2007'")
    finally:
        await conn.close()
    changed = await _until(
        own, params(TITLE, {"slug": "refusenik-2007"}), "Refusenik!", deadline_s=1.0
    )
    assert changed.headers["etag"] != first.headers["etag"]
    # The old ETag no longer matches: a full answer.
    revalidated = await own.get(
        "/graphql",
        params=params(TITLE, {"slug": "refusenik-2007"}),
        headers={"if-none-match": first.headers["etag"]},
    )
    assert revalidated.status_code == 200


async def _until(
    client: httpx.AsyncClient, query: dict[str, str], title: str, deadline_s: float
) -> httpx.Response:
    """GET until the film's title is `title`, for at most deadline_s seconds."""
    deadline = time.monotonic() + deadline_s
    while True:
        response = await client.get("/graphql", params=query)
        if response.json()["data"]["film"]["title"] == title:
            return response
        assert time.monotonic() < deadline, f"still {response.json()} after {deadline_s} s"


def test_cache_tags_name_nodes_regions_and_root_types() -> None:
    body = {
        "data": {
            "film": {
                "id": to_global_id("Film", 7),
                "directors": [{"id": to_global_id("Person", 3)}, {"id": "not an id"}],
            }
        }
    }
    document = 'query($r: String = "FR") { film(slug: "x") { offers(region: $r) { kind } } }'
    schema = create_schema(Settings())._schema
    assert cache_tags(schema, body, document, {}) == (
        "filmgraph film person provider region:FR film:7 person:3"
    )
    assert cache_tags(schema, body, document, {"r": "US"}).split()[4] == "region:US"
    # What a document selects counts, even where the answer holds no node of it.
    assert cache_tags(
        schema, {"data": {"films": {"totalCount": 0}}}, "{ films { totalCount } }", {}
    ) == ("filmgraph film")
    search = '{ search(query: "x") { __typename } }'
    assert cache_tags(schema, {"data": {"search": []}}, search, {}) == (
        "filmgraph film genre person provider"
    )
    many = {"data": {"films": [{"id": to_global_id("Film", i)} for i in range(1, 2000)]}}
    bounded = cache_tags(schema, many, "{ films { nodes { id } } }", {})
    assert bounded == "filmgraph film"
    assert len(bounded) <= MAX_CACHE_TAG_BYTES


async def test_an_aliased_id_is_tagged_as_any_other(client: httpx.AsyncClient) -> None:
    """`filmId: id` names its film in Cache-Tag, so that a purge by film reaches the answer."""
    plain = await client.get("/graphql", params=params(TITLE, {"slug": "refusenik-2007"}))
    aliased = (
        "query Title($slug: String!) { film(slug: $slug) { filmId: id title "
        "directors { who: id } } }"
    )
    response = await client.get("/graphql", params=params(aliased, {"slug": "refusenik-2007"}))
    film = response.json()["data"]["film"]
    assert film["filmId"] == plain.json()["data"]["film"]["id"]
    tags = response.headers["cache-tag"].split()
    _, film_pk = from_global_id(film["filmId"])
    assert f"film:{film_pk}" in tags
    for director in film["directors"]:
        assert f"person:{from_global_id(director['who'])[1]}" in tags


async def test_answers_from_the_cache_count_against_the_rate_limit(writable_dsn: str) -> None:
    settings = Settings(rate_limit=True, rate_limit_points=5)
    with LiveServer(create_app(settings, writable_dsn), settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            query = params(TITLE, {"slug": "refusenik-2007"})
            statuses = []
            for _ in range(10):
                response = await client.get("/graphql", params=query)
                statuses.append(response.status_code)
                if response.status_code == 429:
                    break
            assert statuses[0] == 200 and statuses[-1] == 429, statuses
            assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            assert response.headers["cache-control"] == "no-store"
            assert "etag" not in response.headers


async def test_head_is_answered_as_get_from_the_cache_without_a_body(
    client: httpx.AsyncClient,
) -> None:
    query = params(TITLE, {"slug": "amelie-2001"})
    got = await client.get("/graphql", params=query)
    head = await client.head("/graphql", params=query)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-length"] == str(len(got.content))


async def test_a_persisted_id_with_a_lone_surrogate_is_not_found(
    client: httpx.AsyncClient,
) -> None:
    persisted = '{"persistedQuery": {"version": 1, "sha256Hash": "\\ud800"}}'
    response = await client.get("/graphql", params={"extensions": persisted})
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert extensions(error) == {"code": "PERSISTED_QUERY_NOT_FOUND"}


SCHEMA_FOR_KEYS = create_schema()._schema


def test_get_keys_are_remembered_by_query_string_within_a_bound() -> None:
    version = [1]
    cache = HttpCache(60, 1 << 20, lambda: version[0], "f", None, frozenset(), SCHEMA_FOR_KEYS)

    def scope(query_string: bytes, accept: str = "application/json") -> dict[str, Any]:
        return {
            "type": "http",
            "method": "GET",
            "query_string": query_string,
            "headers": [(b"accept", accept.encode())],
        }

    typename = b"query=%7B__typename%7D"
    first = cache.key(scope(typename))
    assert first is not None and first == request_key(scope(typename), 1, "f")
    assert cache.key(scope(typename)) is first
    other = cache.key(scope(typename, "application/graphql-response+json"))
    assert other is not None and other.etag != first.etag
    version[0] = 2  # a write: the same query string has a new key
    again = cache.key(scope(typename))
    assert again is not None and again.version == 2 and again.etag != first.etag
    assert cache.key(scope(b"variables=%7B")) is None  # not cacheable as sent, remembered too
    for i in range(10_000):
        cache.key(scope(typename + b"&operationName=" + b"x" * 1_000 + str(i).encode()))
        assert cache._keys_bytes <= KEY_MEMO_BYTES


async def test_an_answer_from_the_cache_has_the_headers_of_the_first(
    client: httpx.AsyncClient,
) -> None:
    """A hit is answered ahead of the middleware (graph/app.py), with the Vary it adds."""
    query = params(TITLE, {"slug": "refusenik-2007"})
    first = await client.get("/graphql", params=query)
    again = await client.get("/graphql", params=query)
    unchanged = await client.get(
        "/graphql", params=query, headers={"if-none-match": first.headers["etag"]}
    )
    assert (first.status_code, again.status_code, unchanged.status_code) == (200, 200, 304)
    assert again.content == first.content
    for name in ("content-type", "cache-control", "etag", "vary", "cache-tag"):
        assert again.headers[name] == first.headers[name], name
    assert first.headers["vary"] == unchanged.headers["vary"] == "accept, Origin"
