"""Shape limits: each refused before any SQL runs, with its own code and an unmasked message."""

from __future__ import annotations

import gc
import logging
import secrets
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLError, parse, specified_rules, validate
from starlette.applications import Starlette

from graph import limits
from graph.app import create_app
from graph.doccache import DocumentCache
from graph.errors import classify
from graph.schema import MAX_VALIDATION_ERRORS, Schema, create_schema
from graph.settings import Settings
from tests.conftest import LiveServer, gql, post, refused

FILM = '{ film(slug: "refusenik-2007") { title } }'


def schema_of(app: Starlette) -> Schema:
    """The schema the app's /graphql serves (its document cache is what a test looks at)."""
    (route,) = [r for r in app.routes if getattr(r, "path", None) == "/graphql"]
    # The view sits under however many layers wrap /graphql (admission, request bounds).
    layer: Any = route.app  # type: ignore[attr-defined]
    while not hasattr(layer, "schema"):
        layer = layer.app
    schema: Schema = layer.schema
    return schema


def codes(body: dict[str, object]) -> set[str]:
    errors = body["errors"]
    assert isinstance(errors, list)
    return {e["extensions"]["code"] for e in errors}


def nested(levels: int) -> str:
    return (
        '{ film(slug: "refusenik-2007") { '
        + "directors { filmography(first: 1) { nodes { " * levels
        + "title"
        + " } } }" * levels
        + " } }"
    )


async def test_depth(client: httpx.AsyncClient) -> None:
    await gql(client, nested(3))  # depth 1 + 3 * 3 = 10
    body = await post(client, nested(4))  # 13
    assert codes(body) == {"QUERY_TOO_DEEP"}
    assert body["errors"][0]["message"] == "The query's depth is 13; at most 12 is allowed."
    assert body["errors"][0]["extensions"]["limit"] == 12
    assert body.get("data") is None


async def test_depth_through_fragments(client: httpx.AsyncClient) -> None:
    document = (
        '{ film(slug: "refusenik-2007") { ...F } } '
        "fragment F on Film { directors { filmography { nodes { ...G } } } } "
        "fragment G on Film { directors { filmography { nodes { ...H } } } } "
        "fragment H on Film { directors { filmography { nodes { ...I } } } } "
        "fragment I on Film { directors { filmography { nodes { title } } } }"
    )
    assert codes(await post(client, document)) == {"QUERY_TOO_DEEP"}


async def test_aliases(client: httpx.AsyncClient) -> None:
    fifteen = "{ " + " ".join(f"a{i}: __typename" for i in range(15)) + " }"
    assert (await gql(client, fifteen))["a14"] == "Query"
    body = await post(client, "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }")
    assert codes(body) == {"TOO_MANY_ALIASES"}
    assert "16 aliases" in body["errors"][0]["message"]


async def test_aliases_counted_through_every_spread(client: httpx.AsyncClient) -> None:
    # 4 aliases, spread 4 times: 16 aliases in the response.
    document = (
        "{ ...A ...B } fragment A on Query { ...F } fragment B on Query { ...F ...F ...F } "
        "fragment F on Query { a: __typename b: __typename c: __typename d: __typename }"
    )
    body = await post(client, document)
    assert codes(body) == {"TOO_MANY_ALIASES"}


async def test_tokens(client: httpx.AsyncClient) -> None:
    body = await post(client, "{ " + "__typename " * 2_000 + "}")
    assert codes(body) == {"TOO_MANY_TOKENS"}
    assert "2000 tokens" in body["errors"][0]["message"]
    # Comments count too: a document of comments is no cheaper to lex.
    body = await post(client, "{ __typename }" + "\n#" * 3_000)
    assert codes(body) == {"TOO_MANY_TOKENS"}


async def test_directives(client: httpx.AsyncClient) -> None:
    both = "@include(if: true) @skip(if: false)"
    fields = ["title", "year", "certification", "runtimeMinutes", "synopsis"]
    ten = '{ film(slug: "refusenik-2007") { ' + " ".join(f"{f} {both}" for f in fields)
    assert (await gql(client, ten + " } }"))["film"]["year"] == 2007
    body = await post(client, ten + " imdbRating @include(if: true) } }")
    assert codes(body) == {"TOO_MANY_DIRECTIVES"}
    assert "11 directives" in body["errors"][0]["message"]


async def test_root_fields(client: httpx.AsyncClient) -> None:
    ten = "{ " + " ".join(f'f{i}: genre(slug: "drama") {{ name }}' for i in range(10)) + " }"
    assert len(await gql(client, ten)) == 10
    spread = (
        '{ ...F g10: genre(slug: "drama") { name } } fragment F on Query { '
        + " ".join(f'g{i}: genre(slug: "drama") {{ name }}' for i in range(10))
        + " }"
    )
    body = await post(client, spread)
    assert codes(body) == {"TOO_MANY_ROOT_FIELDS"}
    assert body["errors"][0]["message"] == (
        "An operation selects 11 root fields; at most 10 are allowed."
    )


async def test_repeated_fields(client: httpx.AsyncClient) -> None:
    twenty = '{ film(slug: "refusenik-2007") { ' + "directors { name } " * 20 + "} }"
    assert (await gql(client, twenty))["film"]["directors"] == [{"name": "Laura Bialis"}]
    body = await post(client, twenty.replace("{ directors", "{ directors { name } directors"))
    assert codes(body) == {"TOO_MANY_FIELDS"}
    assert body["errors"][0]["message"] == (
        "A selection set selects 'directors' 21 times (counting fragments and merged fields); "
        "at most 20 are allowed."
    )
    assert body["errors"][0]["extensions"]["limit"] == 20
    assert body.get("data") is None


async def test_repeated_fields_are_counted_where_they_merge(client: httpx.AsyncClient) -> None:
    # No selection set repeats a field more than 7 times, but the 7 `directors` merge into one
    # whose selection holds 21 `credits`, and graphql-core would compare every pair of them
    # and of what they select.
    c = "credits(first: 1) { totalCount }"
    body = await post(
        client,
        '{ film(slug: "refusenik-2007") { '
        + f"directors {{ {c} {c} {c} }} ... on Film {{ directors {{ {c} {c} {c} }} }} " * 3
        + f"directors {{ {c} ...C }} }} }} fragment C on Person {{ {c} {c} }}",
    )
    assert codes(body) == {"TOO_MANY_FIELDS"}
    assert "'credits' 21 times" in body["errors"][0]["message"]


async def test_leaf_fields_may_repeat_five_times_as_often(client: httpx.AsyncClient) -> None:
    # Cheap to compare, and repeated by fragment-heavy clients: each fragment selects `id`.
    fragments = " ".join(f"fragment F{i} on Film {{ id title }}" for i in range(100))
    spreads = " ".join(f"...F{i}" for i in range(100))
    document = '{ film(slug: "refusenik-2007") { ' + spreads + " } } " + fragments
    assert (await gql(client, document))["film"]["title"] == "Refusenik"
    body = await post(client, document.replace("{ ...F0", "{ id ...F0"))
    assert codes(body) == {"TOO_MANY_FIELDS"}
    assert body["errors"][0]["message"] == (
        "A selection set selects 'id' 101 times (counting fragments and merged fields); "
        "at most 100 are allowed."
    )
    assert body["errors"][0]["extensions"]["limit"] == 100


async def test_a_fragment_spread_twice_in_one_selection_set_counts_once(
    client: httpx.AsyncClient,
) -> None:
    document = (
        '{ film(slug: "refusenik-2007") { ' + "...F " * 100 + "} } fragment F on Film { title }"
    )
    assert (await gql(client, document))["film"] == {"title": "Refusenik"}


async def test_repeated_fields_limit_is_a_setting(dsn: str) -> None:
    with LiveServer(create_app(Settings(max_field_repeats=2), dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            f = 'f: film(slug: "x") { title } '
            assert await gql(client, "{ " + f * 2 + "}") == {"f": None}
            body = await post(client, "{ " + f * 3 + "}")
            assert codes(body) == {"TOO_MANY_FIELDS"}
            assert body["errors"][0]["extensions"]["limit"] == 2


async def test_a_document_too_large_to_check_for_repeats_is_refused(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_SELECTIONS_VISITED", 10)
    assert await gql(client, "{ " + "__typename " * 10 + "}")
    body = await post(client, "{ " + "__typename " * 11 + "}")
    assert codes(body) == {"TOO_MANY_FIELDS"}
    assert body["errors"][0]["message"] == "The document expands to too many fields to check."


async def test_undefined_fragment_is_a_validation_error(client: httpx.AsyncClient) -> None:
    body = await post(client, '{ film(slug: "x") { ...Nope directors { name } } }')
    assert codes(body) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "Unknown fragment 'Nope'" in body["errors"][0]["message"]


async def test_fragment_cycle_is_a_validation_error(client: httpx.AsyncClient) -> None:
    body = await post(client, "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
    assert codes(body) == {"GRAPHQL_VALIDATION_FAILED"}


async def test_fragment_fan_out_is_measured_once_per_fragment(client: httpx.AsyncClient) -> None:
    # Each fragment spreads the next twice: 2^40 aliased fields if expanded naively.
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    document = "{ ...F0 } " + chain + " fragment F40 on Query { a: __typename }"
    body = await post(client, document)
    assert codes(body) == {"TOO_MANY_ALIASES"}
    assert "more than 10^9 aliases" in body["errors"][0]["message"]
    assert await gql(client, FILM)


async def test_introspection_cannot_recurse(client: httpx.AsyncClient) -> None:
    body = await post(
        client,
        '{ __type(name: "Film") { fields { type { ofType { fields { type { ofType { '
        "fields { type { ofType { fields { name } } } } } } } } } } } }",
    )
    assert codes(body) == {"QUERY_TOO_DEEP"}


async def test_standard_introspection_is_within_limits(client: httpx.AsyncClient) -> None:
    from graphql import get_introspection_query

    data = await gql(client, get_introspection_query(descriptions=True))
    assert data["__schema"]["queryType"]["name"] == "Query"


def test_unexpected_errors_are_masked_with_a_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    try:
        raise KeyError("secret internals")
    except KeyError as exc:
        error = GraphQLError("secret internals", original_error=exc, path=["film"])
    with caplog.at_level(logging.ERROR, logger="graph.errors"):
        masked = classify(error, "abc123")
    assert masked.message == "Unexpected error."
    assert masked.extensions == {"code": "INTERNAL", "requestId": "abc123"}
    (record,) = caplog.records
    assert "request_id=abc123" in record.getMessage()
    assert record.exc_info is not None and "secret internals" in caplog.text
    assert "Traceback" in caplog.text


async def test_client_mistakes_do_not_flood_the_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        body = await post(client, '{ film(slug: "' + "x" * 49_000 + '") { nope } }')
    assert codes(body) == {"GRAPHQL_VALIDATION_FAILED"}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text[:500]
    assert len(caplog.text) < 10_000


async def test_documents_past_the_length_limit_are_refused_unparsed(dsn: str) -> None:
    # The lexer reads every character before the token limit can stop it: 1 MB of one
    # comment or string cost 0.1-0.5 s of CPU. A document over the limit is refused first.
    settings = Settings(max_document_chars=1_000)
    with LiveServer(create_app(settings, dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            fits = '{ search(query: "' + "a" * (1_000 - 36) + '") { __typename } }'
            assert len(fits) == 1_000
            body = await post(client, fits)
            assert codes(body) == {"BAD_USER_INPUT"}  # parsed and run: the query is too long
            response = await client.post("/graphql", json={"query": fits + " "})
            message = refused(response, 413, "REQUEST_TOO_LARGE")
            assert message == "Document longer than 1000 characters"


async def test_the_default_document_limit_is_far_below_the_body_limit(
    client: httpx.AsyncClient,
) -> None:
    comment = "{ __typename #" + "x" * 50_000 + "\n}"
    response = await client.post("/graphql", json={"query": comment})
    assert "Document longer than 50000 characters" in refused(response, 413, "REQUEST_TOO_LARGE")
    assert Settings().max_document_chars * 20 == Settings().max_body_bytes


def dense(tag: str, fields: int) -> str:
    """A token-dense document: `fields` aliased lookups, 11 tokens each."""
    return "{ " + " ".join(f'a{tag}{i}: film(slug: "s{i}") {{ id }}' for i in range(fields)) + " }"


async def test_the_document_cache_is_bounded_by_its_estimate_of_bytes(dsn: str) -> None:
    budget = 2_000_000
    app = create_app(Settings(document_cache_bytes=budget), dsn)
    cache = schema_of(app).document_cache
    with LiveServer(app) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            for _ in range(60):
                # 180 tokens each, about 115 KB estimated: 17 fit the budget.
                body = await post(client, dense(secrets.token_hex(4), 16))
                assert codes(body) == {"TOO_MANY_ALIASES", "TOO_MANY_ROOT_FIELDS"}
                assert cache.size <= budget
                assert cache.size == sum(e.size for e in cache.entries.values())
            assert 10 <= len(cache.entries) < 20, len(cache.entries)
            # The most recent stay; a document sent again is answered from the cache.
            recent = next(reversed(cache.entries))
            entry = cache.entries[recent]
            assert codes(await post(client, recent)) == {"TOO_MANY_ALIASES", "TOO_MANY_ROOT_FIELDS"}
            assert cache.entries[recent] is entry
            # A document that alone would take more than a sixteenth of the budget is not kept.
            large = dense(secrets.token_hex(4), 180)  # about 2,000 tokens, 1.3 MB estimated
            await post(client, large)
            assert large not in cache.entries


def test_the_estimate_covers_what_an_entry_holds() -> None:
    """The estimate is an upper bound of the memory cached documents and their validation
    errors hold, for the densest documents the token limit lets through and for long ones.
    Measured over 20 copies of each, as validating leaves tens of KB of free lists behind."""
    settings = Settings()
    schema = create_schema(settings)._schema
    rules = [*specified_rules, *limits.limit_rules(settings)]
    documents = {
        "film page": (Path(__file__).parent.parent / "examples" / "film-page.graphql").read_text(),
        "token-dense, 16 KB": dense("x", 180),
        "2,000 names": "{ " + "__typename " * 1_997 + "}",
        "a 45 KB string": '{ search(query: "' + "a" * 45_000 + '") { __typename } }',
        "a 45 KB comment": "{ __typename #" + "x" * 45_000 + "\n}",
    }
    for label, text in documents.items():
        cache = DocumentCache(10**10)
        # Validating fills caches of the schema once, for every document to come.
        validate(schema, parse(text, max_tokens=settings.max_tokens), rules)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for copy in range(20):
                key = text + " " * (copy + 1)  # made here, so that the kept key is counted
                document = parse(key, max_tokens=settings.max_tokens)
                errors = validate(schema, document, rules, max_errors=MAX_VALIDATION_ERRORS)
                cache.put(key, document)
                cache.validated(key, errors)
            del key, document, errors
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert len(cache.entries) == 20, label
        assert cache.size >= held, (label, cache.size, held)
        assert cache.size < 3 * held, (label, cache.size, held)  # and not far above


async def test_validation_stops_after_a_few_errors(client: httpx.AsyncClient) -> None:
    # One error per unknown directive, each with its place in the document: ten directives
    # gave ten. Validation stops after MAX_VALIDATION_ERRORS, with one error more saying so.
    directives = " ".join(f"@d{i}" for i in range(10))
    body = await post(client, "{ __typename " + directives + " }")
    errors = body["errors"]
    assert len(errors) == MAX_VALIDATION_ERRORS + 1 == 5, errors
    assert codes(body) == {"GRAPHQL_VALIDATION_FAILED"}
    assert [e["message"] for e in errors[:-1]] == [f"Unknown directive '@d{i}'." for i in range(4)]
    assert errors[-1]["message"].startswith("Too many validation errors")
