"""Hostile input, sent over HTTP to the running server with the defaults of development and
of production: each is refused with a clear status or code (never a 500, never a traceback),
and afterwards the server still answers a normal query and the database is exactly as it was."""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLScalarType,
    ast_from_value,
    build_schema,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_required_argument,
    print_ast,
)

from graph.app import create_app
from graph.ids import to_global_id
from graph.settings import Settings
from tests.conftest import LiveServer, gql, refused

NORMAL = '{ film(slug: "refusenik-2007") { title directors { name } } }'
NORMAL_DATA = {"film": {"title": "Refusenik", "directors": [{"name": "Laura Bialis"}]}}

REFUSAL_CODES = {
    400: "BAD_REQUEST",
    405: "METHOD_NOT_ALLOWED",
    413: "REQUEST_TOO_LARGE",
    414: "URI_TOO_LONG",
}

TABLES = """
select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'public' and c.relkind = 'r' order by c.relname
"""


async def fingerprint(conn: asyncpg.Connection) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of all its rows."""
    out = {}
    for (table,) in await conn.fetch(TABLES):
        row = await conn.fetchrow(
            f"select count(*) as n, coalesce(md5(string_agg(t::text, ',' order by t::text)), '')"
            f' as digest from "{table}" t'
        )
        out[table] = (row["n"], row["digest"])
    return out


def gid(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@dataclass
class Case:
    """One hostile request and what a client must see in return."""

    id: str
    query: str | None = None
    variables: dict[str, Any] | None = None
    raw: bytes | None = None  # a body sent as is, instead of a query
    get: dict[str, str] | None = None  # query parameters of a GET, instead of a POST
    get_raw: str | None = None  # a GET's query string, sent as is (it may be invalid UTF-8)
    status: int = 200
    codes: set[str] = field(default_factory=set)  # expected extensions.code of the errors
    message: str | None = None  # a substring of the first error (or of the 4xx body)
    only_in_production: bool = False  # refused in production, answered in development


def nest(levels: int) -> str:
    return (
        "{ films(first: 1) { nodes { "
        + "genres { films(first: 1) { nodes { " * levels
        + ("title" + " } } }" * levels + " } } }")
    )


CASES = [
    # Shape bombs.
    Case("depth", nest(5), codes={"QUERY_TOO_DEEP"}, message="depth"),
    Case(
        "aliases",
        "{ " + " ".join(f'a{i}: film(slug: "x") {{ title }}' for i in range(16)) + " }",
        codes={"TOO_MANY_ALIASES", "TOO_MANY_ROOT_FIELDS"},
    ),
    Case(
        # Long documents skip the parse and validation caches; the limits hold all the same.
        "aliases in a long document",
        "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }" + " " * 30_000,
        codes={"TOO_MANY_ALIASES"},
    ),
    Case(
        "duplicated fields",
        '{ film(slug: "refusenik-2007") { ' + "title " * 1_900 + "} }",
        codes={"TOO_MANY_FIELDS"},
        message="selects 'title' 1900 times",
    ),
    Case(
        "duplicated nested fields",
        '{ film(slug: "refusenik-2007") { ' + "directors { name } " * 400 + "} }",
        codes={"TOO_MANY_FIELDS"},
        message="selects 'directors' 400 times",
    ),
    Case(
        "duplicated fields below duplicated fields",
        '{ film(slug: "refusenik-2007") { ' + ("directors { " + "name " * 20 + "} ") * 10 + "} }",
        codes={"TOO_MANY_FIELDS"},
        message="selects 'name' 200 times",
    ),
    Case(
        "duplicated fields in distinct fragments",
        '{ film(slug: "refusenik-2007") { '
        + " ".join(f"...F{i}" for i in range(150))
        + " } } "
        + " ".join(f"fragment F{i} on Film {{ directors {{ name }} }}" for i in range(150)),
        codes={"TOO_MANY_FIELDS"},
        message="selects 'directors' 150 times",
    ),
    Case(
        "duplicated fields in inline fragments",
        '{ film(slug: "refusenik-2007") { ' + "... on Film { directors { name } } " * 210 + "} }",
        codes={"TOO_MANY_FIELDS"},
    ),
    Case(
        "duplicated arguments",
        '{ film(slug: "refusenik-2007") { ' + 'offers(region: "US") { kind } ' * 220 + "} }",
        codes={"TOO_MANY_FIELDS"},
    ),
    Case(
        "directives",
        '{ film(slug: "refusenik-2007") { ' + "title @skip(if: false) " * 11 + "} }",
        codes={"TOO_MANY_DIRECTIVES", "GRAPHQL_VALIDATION_FAILED"},
    ),
    Case(
        "fragment fan-out",
        "{ ...F0 } "
        + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(60))
        + " fragment F60 on Query { films(first: 100) { nodes { title } } }",
        codes={"TOO_MANY_ROOT_FIELDS"},
    ),
    Case(
        "fragment fan-out of aliases",
        "{ ...F0 } "
        + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(60))
        + " fragment F60 on Query { a: __typename }",
        codes={"TOO_MANY_ALIASES"},
    ),
    Case(
        "fragment cycle",
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        codes={"GRAPHQL_VALIDATION_FAILED"},
        message="Cannot spread fragment",
    ),
    Case(
        "undefined fragment",
        '{ film(slug: "x") { ...Missing directors { filmography { nodes { title } } } } }',
        codes={"GRAPHQL_VALIDATION_FAILED"},
        message="Unknown fragment",
    ),
    Case(
        "inline fragments nested deep",
        "{ " + "... on Query { " * 600 + "__typename" + " }" * 600 + " }",
        codes={"QUERY_TOO_DEEP"},
        message="nested too deeply",
    ),
    Case(
        "parser nesting",
        "{ " + "a { " * 400 + "b" + " }" * 400 + " }",
        codes={"QUERY_TOO_DEEP", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED"},
    ),
    Case(
        "costly nesting",
        "{ films(first: 100) { nodes { genres { films(first: 100) { nodes { title } } } } } }",
        codes={"QUERY_TOO_COSTLY"},
    ),
    Case(
        "huge int literal",
        "{ films(first: " + "9" * 5_000 + ") { totalCount } }",
        codes={"GRAPHQL_VALIDATION_FAILED"},
    ),
    Case(
        "huge float literal",
        "{ films(filter: {minRating: 1e999999}) { totalCount } }",
        codes={"GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"},
    ),
    Case(
        "huge string literal",
        '{ search(query: "' + "a" * 49_000 + '") { __typename } }',
        codes={"BAD_USER_INPUT"},
        message="200 characters",
    ),
    Case(
        # Lexed character by character before the token limit applies: refused unread.
        "document of 900 KB",
        '{ search(query: "' + "a" * 900_000 + '") { __typename } }',
        status=413,
        message="Document longer than 50000 characters",
    ),
    Case(
        "comment of 900 KB",
        "{ __typename #" + "x" * 900_000 + "\n}",
        status=413,
        message="Document longer than 50000 characters",
    ),
    Case("comment bomb", "{ __typename }" + "#\n" * 3_000, codes={"TOO_MANY_TOKENS"}),
    # Envelope junk.
    Case("JSON scalar", raw=b"42", status=400),
    Case("JSON string", raw=b'"{ __typename }"', status=400),
    Case("JSON array (batching off)", raw=b'[{"query": "{ __typename }"}]', status=400),
    Case("query not a string", raw=b'{"query": {"$ne": null}}', status=400),
    Case(
        "variables nested deep",
        raw=b'{"query": "{ __typename }", "variables": {"v": '
        + b"[" * 5_000
        + b"]" * 5_000
        + b"}}",
        status=400,
    ),
    Case(
        "number of thousands of digits",
        raw=b'{"query": "{ __typename }", "variables": {"v": ' + b"1" * 4_000 + b"}}",
        status=400,
    ),
    Case(
        "body over 1 MB",
        raw=b'{"query": "{ __typename }", "x": "' + b"x" * 1_000_001 + b'"}',
        status=413,
    ),
    Case("URL over 8 KB", get={"query": "{ __typename }" + " " * 9_000}, status=414),
    Case("mutation over GET", get={"query": "mutation { __typename }"}, status=405),
    Case("not JSON", raw=b"{'query': '{ __typename }'}", status=400),
    Case("invalid UTF-8", raw=b'{"query": "{ __typename }\xff\xfe"}', status=400),
    # Out-of-range and forged arguments and ids.
    Case("first 0", "{ films(first: 0) { totalCount } }", codes={"BAD_USER_INPUT"}),
    Case("first -1", "{ films(first: -1) { totalCount } }", codes={"BAD_USER_INPUT"}),
    Case("first 101", "{ films(first: 101) { totalCount } }", codes={"BAD_USER_INPUT"}),
    Case(
        "first 2^31",
        "{ films(first: 2147483648) { totalCount } }",
        codes={"GRAPHQL_VALIDATION_FAILED"},
    ),
    Case("first and last", "{ films(first: 1, last: 1) { totalCount } }", codes={"BAD_USER_INPUT"}),
    Case(
        "cast first 0",
        '{ film(slug: "refusenik-2007") { cast(first: 0) { character } } }',
        codes={"BAD_USER_INPUT"},
    ),
    Case(
        "search first 1000",
        '{ search(query: "a", first: 1000) { __typename } }',
        codes={"BAD_USER_INPUT"},
    ),
    Case(
        "forged cursor",
        '{ films(after: "' + gid("c1:000000000000:1") + '") { totalCount } }',
        codes={"BAD_USER_INPUT"},
    ),
    Case("garbage cursor", '{ genres(after: "!!!") { totalCount } }', codes={"BAD_USER_INPUT"}),
    Case(
        "id of unknown type",
        '{ node(id: "' + gid("User:1") + '") { id } }',
        codes={"BAD_USER_INPUT"},
    ),
    Case("id not base64", '{ node(id: "not an id") { id } }', codes={"BAD_USER_INPUT"}),
    Case(
        "id past bigint",
        '{ node(id: "' + gid("Film:9223372036854775808") + '") { id } }',
        codes={"BAD_USER_INPUT"},
    ),
    Case("id negative", '{ film(id: "' + gid("Film:-1") + '") { id } }', codes={"BAD_USER_INPUT"}),
    Case(
        "id of another type",
        '{ film(id: "' + gid("Person:1") + '") { id } }',
        codes={"BAD_USER_INPUT"},
    ),
    Case(
        "id with padding games",
        '{ node(id: "' + gid("Film:01") + '") { id } }',
        codes={"BAD_USER_INPUT"},
    ),
    Case(
        "101 ids",
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [gid("Film:1")] * 101},
        codes={"BAD_USER_INPUT"},
    ),
    Case(
        "region USA",
        '{ film(slug: "refusenik-2007") { offers(region: "USA") { kind } } }',
        codes={"BAD_USER_INPUT"},
    ),
    Case(
        "two lookup keys", '{ film(slug: "a", imdbId: "tt1") { title } }', codes={"BAD_USER_INPUT"}
    ),
    Case(
        "wrong variable type",
        "query($n: Int) { films(first: $n) { totalCount } }",
        {"n": "ten"},
        codes={"BAD_USER_INPUT"},
    ),
    Case(
        # Each unknown field's error quotes the whole object: uncapped, coercing this took
        # graphql-core over a minute of CPU, with the server answering nothing meanwhile.
        "variable object of 20,000 unknown fields",
        "query($f: FilmFilter) { films(filter: $f) { totalCount } }",
        {"f": {f"k{i}": 1 for i in range(20_000)}},
        codes={"BAD_USER_INPUT"},
        message="unknown field 'k0'",
    ),
    # Injection strings and NUL bytes.
    Case("SQL in a slug", '{ film(slug: "x\' or 1=1; drop table film; --") { title } }'),
    Case(
        "SQL in a search",
        "query($q: String!) { search(query: $q) { __typename } }",
        {"q": "'; delete from film where ''='"},
    ),
    Case("LIKE wildcards", '{ suggest(prefix: "%_%") { __typename } }'),
    Case(
        "SQL in a filter",
        "query($g: [String!]) { films(filter: {genresAny: $g}) { totalCount } }",
        {"g": ["drama') or ('1'='1"]},
        codes={"NOT_FOUND"},
        message="no genre has the slug",
    ),
    Case(
        "NUL in a slug",
        "query($s: String!) { film(slug: $s) { title } }",
        {"s": "refusenik\x002007"},
        codes={"BAD_USER_INPUT"},
        message="NUL",
    ),
    Case(
        "NUL in a search",
        "query($q: String!) { search(query: $q) { __typename } }",
        {"q": "a\x00b"},
        codes={"BAD_USER_INPUT"},
    ),
    Case("NUL in the document", '{ film(slug: "a\\u0000b") { title } }', codes={"BAD_USER_INPUT"}),
    Case(
        "lone surrogate in the document",
        raw=b'{"query": "{ film(slug: \\"\\ud800\\") { title } }"}',
        codes={"GRAPHQL_PARSE_FAILED"},
    ),
    Case(
        "lone surrogate in a variable",
        raw=b'{"query": "query($s: String!) { film(slug: $s) { title } }",'
        b' "variables": {"s": "\\ud800"}}',
        codes={"BAD_USER_INPUT"},
        message="not valid Unicode",
    ),
    Case(
        "raw NUL byte in the document",
        '{ film(slug: "a") { title } }\x00',
        codes={"GRAPHQL_PARSE_FAILED"},
    ),
    # Probes.
    Case("mutation", "mutation { deleteFilm(id: 1) }", codes={"GRAPHQL_VALIDATION_FAILED"}),
    Case(
        "subscription", "subscription { films { totalCount } }", codes={"GRAPHQL_VALIDATION_FAILED"}
    ),
    Case(
        "introspection recursion",
        '{ __type(name: "Film") { fields { type { ofType { fields { type { ofType { fields '
        "{ type { ofType { fields { name } } } } } } } } } } } }",
        codes={"QUERY_TOO_DEEP", "GRAPHQL_VALIDATION_FAILED"},  # production: no introspection
    ),
    Case(
        "introspection",
        "{ __schema { types { name } } }",
        codes={"GRAPHQL_VALIDATION_FAILED"},
        only_in_production=True,
    ),
    Case(
        "suggestion probe",
        '{ film(slug: "refusenik-2007") { titl } }',
        codes={"GRAPHQL_VALIDATION_FAILED"},
    ),
    Case(
        "unknown operation name",
        raw=b'{"query": "query A { __typename }", "operationName": "B"}',
        status=400,
    ),
    # Lone surrogates (JSON may escape one; UTF-8 cannot hold it) and NULs in every member of
    # the envelope. The refusal quoting an operation name failed to encode it: a 500.
    Case(
        "lone surrogate in operationName",
        raw=b'{"query": "query A { __typename }", "operationName": "\\ud800"}',
        status=400,
        message="Unknown operation named",
    ),
    Case(
        "NUL in operationName",
        raw=b'{"query": "query A { __typename }", "operationName": "\\u0000"}',
        status=400,
        message="Unknown operation named",
    ),
    Case(
        "lone surrogate in operationName of several operations",
        raw=b'{"query": "query A { __typename } query B { __typename }",'
        b' "operationName": "\\udfff"}',
        status=400,
    ),
    Case(
        "operationName of 100,000 characters",
        raw=b'{"query": "query A { __typename }", "operationName": "' + b"B" * 100_000 + b'"}',
        status=400,
    ),
    Case("NUL in the query", raw=b'{"query": "\\u0000"}', codes={"GRAPHQL_PARSE_FAILED"}),
    Case(
        "lone surrogate as the query", raw=b'{"query": "\\ud800"}', codes={"GRAPHQL_PARSE_FAILED"}
    ),
    Case(
        "lone surrogates and NULs in variable names and values",
        raw=b'{"query": "query($s: String) { film(slug: $s) { title } }",'
        b' "variables": {"\\ud800": "\\ud800", "\\u0000": "\\u0000", "s": "x"}}',
    ),
    Case(
        "lone surrogates and NULs in extensions",
        raw=b'{"query": "{ __typename }", "extensions": {"\\ud800": "\\ud800",'
        b' "\\u0000": ["\\u0000"], "persistedQuery": {"sha256Hash": "\\ud800", "version": 1}}}',
        # Automatic persisted queries: the document is not the one that hash names.
        codes={"PERSISTED_QUERY_HASH_MISMATCH"},
    ),
    Case(
        "GET: invalid UTF-8 and NUL in operationName",
        get_raw="query=query%20A%7B__typename%7D&operationName=%ED%A0%80%00",
        status=400,
    ),
    Case(
        "GET: lone surrogates and NULs in variables and extensions",
        get={
            "query": "query($s: String) { film(slug: $s) { title } }",
            "variables": '{"\\ud800": "\\u0000", "s": "x"}',
            "extensions": '{"\\ud800": "\\ud800"}',
        },
    ),
    Case(
        "GET: lone surrogate in a variable",
        get={
            "query": "query($s: String!) { film(slug: $s) { title } }",
            "variables": '{"s": "\\ud800"}',
        },
        codes={"BAD_USER_INPUT"},
    ),
    Case(
        "GET: invalid UTF-8 in the query and in a parameter's name",
        get_raw="query=%7B__typename%7D%ED%A0%80&%ED%A0%80=1",
        codes={"GRAPHQL_PARSE_FAILED"},
    ),
    Case(
        "lone surrogate in a list of a filter",
        "query($f: FilmFilter) { films(filter: $f) { totalCount } }",
        {"f": {"genresAny": ["drama", "\ud800"]}},
        codes={"BAD_USER_INPUT"},
        message="not valid Unicode",
    ),
    Case(
        "NUL in a list of a filter, as a literal",
        '{ films(filter: {certifications: ["G", "a\\u0000b"]}) { totalCount } }',
        codes={"BAD_USER_INPUT"},
        message="filter.certifications[1]: must not contain NUL",
    ),
]


@pytest.fixture(scope="module")
async def database(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    yield conn
    await conn.close()


@pytest.fixture(scope="module")
async def baseline(database: asyncpg.Connection) -> dict[str, tuple[int, str]]:
    tables = await fingerprint(database)
    assert tables["film"][0] == 51 and tables["offer"][0] == 466, tables
    return tables


async def send(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    if case.get is not None:
        return await client.get("/graphql", params=case.get, headers={"accept": "application/json"})
    if case.get_raw is not None:
        url = httpx.URL(f"/graphql?{case.get_raw}")
        return await client.get(url, headers={"accept": "application/json"})
    if case.raw is not None:
        content = case.raw
    else:
        envelope = {"query": case.query, "variables": case.variables or {}}
        content = json.dumps(envelope).encode()
    return await client.post(
        "/graphql", content=content, headers={"content-type": "application/json"}
    )


@pytest.fixture(scope="module", params=["development", "production"])
def server(request: pytest.FixtureRequest, dsn: str) -> Iterator[tuple[str, LiveServer]]:
    """The server with the defaults of each environment (production: rate limiting on,
    introspection and suggestions off)."""
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("FILMGRAPH_"):
                env.delenv(name)
        env.setenv("FILMGRAPH_ENV", request.param)
        settings = Settings.from_env()
    with LiveServer(create_app(settings, dsn)) as live:
        yield request.param, live


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_hostile_input(
    case: Case,
    server: tuple[str, LiveServer],
    database: asyncpg.Connection,
    baseline: dict[str, tuple[int, str]],
) -> None:
    environment, live = server
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        await check(case, environment, client, database, baseline)


async def check(
    case: Case,
    environment: str,
    client: httpx.AsyncClient,
    database: asyncpg.Connection,
    baseline: dict[str, tuple[int, str]],
) -> None:
    started = time.monotonic()
    response = await send(client, case)
    # Refused cheaply: a bound loose enough for a loaded 2-core machine, tight enough to catch
    # work that grows with a bomb's fan-out (2^60 spreads would take hours).
    assert time.monotonic() - started < 5
    assert response.status_code == case.status, response.text[:500]
    assert "Traceback" not in response.text and "asyncpg" not in response.text
    if case.status == 200:
        body = response.json()
        errors = body.get("errors") or []
        assert {e["extensions"]["code"] for e in errors} <= case.codes, errors
        if case.codes and (environment == "production" or not case.only_in_production):
            assert errors, body
        assert "INTERNAL" not in {e["extensions"]["code"] for e in errors}
        if case.message:
            assert case.message in errors[0]["message"], errors
        if environment == "production":
            assert not any("Did you mean" in e["message"] for e in errors), errors
    else:
        message = refused(response, case.status, REFUSAL_CODES[case.status])
        assert len(message) < 200, message
        if case.message:
            assert case.message in message

    assert await gql(client, NORMAL) == NORMAL_DATA
    assert await fingerprint(database) == baseline


# Every argument of every field, walked from the committed schema (test_schema keeps it
# current): each string a client can pass, at any depth of lists and input objects, must be
# refused as BAD_USER_INPUT when PostgreSQL could not take it.
SCHEMA = build_schema((Path(__file__).parent.parent / "schema.graphql").read_text())
# How to reach an object of each type that has fields with arguments: a field of it is
# selected inside (an unknown type fails the walk below, so a new one is not left out).
ENTRY = {
    "Query": ("", ""),
    "Film": ('film(slug: "refusenik-2007") { ', " }"),
    "Person": ('person(slug: "laura-bialis") { ', " }"),
    "Genre": ('genre(slug: "documentary") { ', " }"),
    "Provider": ("providers(first: 1) { nodes { ", " } }"),
}
BAD_TEXT = {"NUL": "a\x00b", "lone surrogate": "a\ud800b"}


@dataclass
class Slot:
    """A place a string goes: `field(argument: value)` with the string at `path`."""

    type_name: str
    field: str
    argument: str
    path: str  # e.g. filter.genresAny[0]
    value: Callable[[str], Any]  # the argument's value with a given string at the path


def string_slots() -> list[Slot]:
    slots = []
    for type_ in SCHEMA.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for field_name, field_ in type_.fields.items():
            for arg_name, arg in field_.args.items():
                for path, value in _paths(arg.type, arg_name):
                    slots.append(Slot(type_.name, field_name, arg_name, path, value))
    return slots


def _paths(type_: Any, path: str) -> Iterator[tuple[str, Callable[[str], Any]]]:
    named = get_nullable_type(type_)
    if isinstance(named, GraphQLList):
        for inner, value in _paths(named.of_type, f"{path}[0]"):
            yield inner, partial(_in_list, value)
    elif isinstance(named, GraphQLInputObjectType):
        for name, field_ in named.fields.items():
            for inner, value in _paths(field_.type, f"{path}.{name}"):
                yield inner, partial(_in_object, name, value)
    elif isinstance(named, GraphQLScalarType) and named.name in {"String", "ID"}:
        yield path, str


def _in_list(value: Callable[[str], Any], text: str) -> list[Any]:
    return [value(text)]


def _in_object(name: str, value: Callable[[str], Any], text: str) -> dict[str, Any]:
    return {name: value(text)}


def slot_document(slot: Slot, as_literal: str | None) -> str:
    """A document that passes the slot's argument (as a variable, or as a literal of the
    given bad string), with any other required argument of the field set to "a"."""
    assert slot.type_name in ENTRY, f"no entry point for {slot.type_name}; add it to ENTRY"
    field_ = SCHEMA.get_type(slot.type_name).fields[slot.field]  # type: ignore[union-attr]
    arguments = []
    for name, arg in field_.args.items():
        if name == slot.argument:
            if as_literal is None:
                arguments.append(f"{name}: $v")
            else:
                node = ast_from_value(slot.value(as_literal), arg.type)
                assert node is not None
                arguments.append(f"{name}: {print_ast(node)}")
        elif is_required_argument(arg):
            # A text, or a well-formed id (path's other end, commonFilms' people).
            named = get_named_type(arg.type).name
            assert named in ("String", "ID"), (slot, name)
            other = ast_from_value(
                "a" if named == "String" else to_global_id("Person", 1), arg.type
            )
            assert other is not None
            arguments.append(f"{name}: {print_ast(other)}")
    selection = " { __typename }" if is_composite_type(get_named_type(field_.type)) else ""
    before, after = ENTRY[slot.type_name]
    inner = f"{slot.field}({', '.join(arguments)}){selection}"
    if as_literal is not None:
        return "{ " + before + inner + after + " }"
    arg_type = field_.args[slot.argument].type
    return f"query($v: {arg_type}) {{ {before}{inner}{after} }}"


SLOTS = string_slots()


def test_the_walk_finds_the_list_arguments() -> None:
    paths = {(s.type_name, s.field, s.path) for s in SLOTS}
    for name in ("genresAny", "genresAll", "certifications"):
        assert ("Query", "films", f"filter.{name}[0]") in paths
    assert ("Query", "films", "filter.availability.providers[0]") in paths
    assert ("Film", "offers", "region") in paths


@pytest.mark.parametrize("slot", SLOTS, ids=[f"{s.type_name}.{s.field}:{s.path}" for s in SLOTS])
async def test_every_string_argument_refuses_text_postgresql_cannot_take(
    slot: Slot, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    sent = []
    for label, text in BAD_TEXT.items():
        sent.append((label, slot_document(slot, None), {"v": slot.value(text)}))
    # A literal can hold a NUL (the escape \u0000); a lone surrogate in one is a syntax error.
    sent.append(("NUL literal", slot_document(slot, BAD_TEXT["NUL"]), {}))
    for label, query, variables in sent:
        # json.dumps escapes the lone surrogate as JSON allows (\ud800); UTF-8 cannot hold it.
        content = json.dumps({"query": query, "variables": variables}).encode()
        with caplog.at_level(logging.ERROR, logger="graph.errors"):
            response = await client.post(
                "/graphql", content=content, headers={"content-type": "application/json"}
            )
        assert response.status_code == 200, (label, response.text)
        errors = response.json().get("errors")
        assert errors, (label, query, response.json())
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], (label, errors)
        assert errors[0]["extensions"]["argument"] == slot.path, (label, errors)
        assert not caplog.records, caplog.text[:500]
