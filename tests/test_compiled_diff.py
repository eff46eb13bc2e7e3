"""The compiled path answers exactly as the resolvers do (issue 11): generated documents, the
examples and the documents of the test modules, on the demo data and on a generated
catalogue, through one real server per path (tests/differential.py says what is compared).

A difference is a compiler bug. The failure shows the document, its variables, both answers
and where they differ; each run draws its documents from a seed of its own, printed with any
failure: FILMGRAPH_DIFF_SEED=<seed> replays the run. FILMGRAPH_DIFF_DOCUMENTS sets how many
documents each database gets (default 250, so 500 a run); bench/difftest.py runs more.
"""

from __future__ import annotations

import copy
import os
import secrets
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from graphql import GraphQLSchema

from graph.app import create_app
from graph.generate import generate
from graph.migrate import migrate
from graph.schema import create_schema
from graph.settings import Settings
from tests.conftest import LiveServer, create_database, drop_database
from tests.differential import (
    Answer,
    Outcome,
    Pair,
    Tally,
    Written,
    check,
    comparable,
    corpus,
    differences,
    report,
    requests_for,
    run_generated,
    served_by,
)
from tests.documents import Generated
from tests.values import VALUES_QUERY, RandomChooser, Values, values_from

# The least share of the compiled server's answers that the compiled path must serve (of
# those that say which path served them, in `extensions.execution`). Measured on main with
# the compiler: 0.33-0.54 of generated documents (many carry an argument the resolvers refuse,
# which goes to them by design, and a run's draw varies), 0.63-0.65 of written ones. A
# compiler that declined most documents would pass every comparison and fail here.
MIN_COMPILED_SHARE = 0.2
# Generated documents that graphql-core may refuse, at most (the rest are sent).
MAX_INVALID_SHARE = 0.05
DOCUMENTS_PER_DATABASE = int(os.environ.get("FILMGRAPH_DIFF_DOCUMENTS") or 250)
SEED = int(os.environ.get("FILMGRAPH_DIFF_SEED") or secrets.randbelow(2**31))
CATALOGUE_FILMS = 3_000
# Both servers seal cursors with one key, so that a cursor of one is good on the other.
CURSOR_SECRET = "difftest"


def replay(database: str) -> str:
    return f"replay with FILMGRAPH_DIFF_SEED={SEED} (database {database})"


def seed_for(database: str) -> int:
    return SEED ^ zlib.crc32(database.encode())


@dataclass
class Paths:
    """The two servers over one database, and the values that mean something in it."""

    database: str
    pair: Pair
    values: Values


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return create_schema()._schema


@pytest.fixture(scope="module")
def written(schema: GraphQLSchema) -> list[Written]:
    return corpus(schema)


@pytest.fixture(scope="module")
async def catalogue_dsn(server_dsn: str) -> AsyncIterator[str]:
    """A generated catalogue (graph/generate.py) of CATALOGUE_FILMS films."""
    name = f"filmgraph_difftest_{secrets.token_hex(4)}"
    url = await create_database(server_dsn, name)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        await generate(conn, CATALOGUE_FILMS, 11)
    finally:
        await conn.close()
    yield url
    await drop_database(server_dsn, name)


@pytest.fixture(scope="module", params=["demo", "generated"])
def paths(request: pytest.FixtureRequest, dsn: str, catalogue_dsn: str) -> Iterator[Paths]:
    database = request.param
    url = dsn if database == "demo" else catalogue_dsn
    servers = [
        LiveServer(
            create_app(
                Settings(
                    execution=path,
                    explain_execution=True,
                    cursor_secret=CURSOR_SECRET,
                    # Generous, so that a machine busy with other work does not time out
                    # one side and not the other (Pair.run also asks again).
                    statement_timeout_ms=10_000,
                    request_timeout_ms=20_000,
                ),
                url,
            )
        )
        for path in ("compiled", "resolvers")
    ]
    with servers[0] as compiled, servers[1] as resolvers:
        pair = Pair(compiled.url, resolvers.url)
        try:
            answer = pair.post("resolvers", Generated(VALUES_QUERY, {}))
            assert answer.status == 200 and not answer.body.get("errors"), answer.body
            yield Paths(database, pair, values_from(answer.body["data"]))
        finally:
            pair.close()


def check_served(tally: Tally) -> None:
    """The resolvers server never says it compiled; the compiled server serves at least
    MIN_COMPILED_SHARE of what it says it served through the compiled path."""
    assert "compiled" not in tally.resolvers_served, tally.summary()
    share = tally.compiled_share
    if share is not None:
        assert share >= MIN_COMPILED_SHARE, tally.summary()


def test_generated_documents_agree(paths: Paths, schema: GraphQLSchema) -> None:
    tally = Tally()
    where = replay(paths.database)

    def stop(outcome: Outcome) -> None:
        raise AssertionError(report(outcome, where))

    run_generated(
        paths.pair,
        schema,
        paths.values,
        tally,
        count=DOCUMENTS_PER_DATABASE,
        seed=seed_for(paths.database),
        on_mismatch=stop,
        shrink=True,
    )
    print(
        f"{paths.database}: {tally.summary()} retried={paths.pair.retried} "
        f"resolvers_answered_two_ways={len(paths.pair.unstable)}; {where}"
    )
    assert tally.compared >= DOCUMENTS_PER_DATABASE * (1 - MAX_INVALID_SHARE), tally.summary()
    assert tally.invalid <= DOCUMENTS_PER_DATABASE * MAX_INVALID_SHARE, tally.summary()
    # Most documents are answered with data: errors are compared too, but a run of nothing
    # but refusals would compare little.
    assert tally.answered >= tally.compared * 0.3, tally.summary()
    check_served(tally)


def test_examples_and_test_documents_agree(
    paths: Paths, schema: GraphQLSchema, written: list[Written]
) -> None:
    tally = Tally()
    choose = RandomChooser(seed_for(paths.database))
    failures = []
    for item in written:
        for request in requests_for(schema, item, paths.values, choose):
            outcome = check(paths.pair, schema, paths.values, tally, request, item.origin)
            if outcome is not None and outcome.differences:
                failures.append(report(outcome, replay(paths.database)))
    print(f"{paths.database}: {len(written)} written documents, {tally.summary()}")
    assert not failures, "\n\n".join(failures[:5])
    assert tally.invalid == 0, tally.summary()
    check_served(tally)


# The graph questions the compiler embeds (graph/compiled/embedded.py): their variables filled
# from the pool by the argument each feeds (slugs, page sizes in and out of 1-50, regions with
# repeats and bad ones, provider ids and others, external ids of every form and malformed).
QUESTIONS = [
    """query($slug: String!, $first: Int!, $regions: [String!]!, $region: String!,
      $subscriptions: [ID!]) { film(slug: $slug) { title
      similar(first: $first) { score film { id title year }
        reasons { __typename ... on SharedPeople { people { id name } }
          ... on SharedGenres { genres { slug } } ... on YearDistance { years } } }
      availability(regions: $regions) { region offers { kind price currency quality
        availableUntil provider { name } } }
      bestOffer(region: $region, subscriptions: $subscriptions) { reason cost
        offer { id: url kind price quality film { slug } } } } }""",
    """query($ids: [String!]!, $first: Int!) { resolveIds(ids: $ids) { __typename id
      ... on Film { title similar(first: $first) { score reasons { ... on YearDistance {
        years } } } }
      ... on Person { name } } }""",
    """query($first: Int, $regions: [String!]!) { films(first: $first) { nodes { slug
      similar(first: 3) { film { slug } reasons { __typename } }
      availability(regions: $regions) { region offers { kind } }
      bestOffer(region: "US") { reason cost } } } }""",
    """query($id: ID!, $role: CreditRole, $first: Int, $films: Int!, $people: [ID!]!) {
      person(id: $id) { name
        collaborators(role: $role, first: $first) { totalCount
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          edges { cursor node { sharedFilms person { id name }
            films(first: $films) { slug year directors { name } } } } } }
      commonFilms(people: $people, first: $first) { __typename totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        nodes { slug title similar(first: 2) { film { slug } } }
        edges { cursor node { id } } } }""",
]
QUESTION_DRAWS = 15


def test_graph_questions_agree(paths: Paths, schema: GraphQLSchema) -> None:
    tally = Tally()
    choose = RandomChooser(seed_for(paths.database) + 1)
    failures = []
    for n, document in enumerate(QUESTIONS):
        written = Written(f"QUESTIONS[{n}]", document)
        for _ in range(QUESTION_DRAWS):
            for request in requests_for(schema, written, paths.values, choose):
                outcome = check(paths.pair, schema, paths.values, tally, request, written.origin)
                if outcome is not None and outcome.differences:
                    failures.append(report(outcome, replay(paths.database)))
    print(f"{paths.database}: graph questions, {tally.summary()}")
    assert not failures, "\n\n".join(failures[:5])
    assert tally.invalid == 0, tally.summary()
    # Most draws are answered compiled (the rest carry an argument the resolvers refuse).
    assert (tally.compiled_share or 0) >= 0.35, tally.summary()
    assert tally.answered >= tally.compared * 0.35, tally.summary()


COLLABORATORS = """query($id: ID!, $role: CreditRole, $first: Int) { person(id: $id) {
  collaborators(role: $role, first: $first) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { sharedFilms person { id slug } films { slug } } } } } }"""
COMMON_FILMS = """query($people: [ID!]!, $first: Int) { commonFilms(people: $people, first: $first) {
  totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  edges { cursor node { slug year } } } }"""


def test_collaborators_and_common_films_agree(paths: Paths) -> None:
    """Person.collaborators (with and without a role, its films) and commonFilms of each
    person with their collaborators, which share films: compiled, and the same answers. A
    cursor of either path pages on either (tests/test_graph_questions.py pages them)."""
    pair = paths.pair
    failures = []
    compiled = 0
    people = paths.values.ids["Person"][:12]
    for n, person in enumerate(people):
        for role in (None, "ACTOR", "DIRECTOR"):
            request = Generated(COLLABORATORS, {"id": person, "role": role, "first": 1 + n % 4})
            outcome = pair.run(request, "collaborators")
            failures += outcome.differences
            compiled += served_by(outcome.compiled.body) == "compiled"
        answer = outcome.resolvers.body["data"]["person"]["collaborators"]
        shared = [e["node"]["person"]["id"] for e in answer["edges"]]
        for group in ([person, *shared[:1]], [person, *shared[:2]], [*shared[:3], person]):
            outcome = pair.run(Generated(COMMON_FILMS, {"people": group, "first": 2}), "common")
            failures += outcome.differences
            compiled += served_by(outcome.compiled.body) == "compiled"
    assert not failures, failures[:5]
    assert compiled >= len(people) * 6, compiled


def test_the_corpus_holds_the_examples_and_many_test_documents(written: list[Written]) -> None:
    origins = [w.origin for w in written]
    assert "examples/film-page.graphql" in origins
    assert any(o.startswith("README.md:") for o in origins)
    assert any(o.startswith("docs/") for o in origins)
    from_tests = [o for o in origins if o.startswith("tests/")]
    assert len(from_tests) >= 50, len(from_tests)
    assert any(o.startswith("tests/test_traversals.py") for o in from_tests)


def test_the_comparison_catches_every_kind_of_difference() -> None:
    """The comparator is no rubber stamp: each change of an answer is reported, and only
    `extensions.execution` (and an INTERNAL error's random request id) is not."""
    base: dict[str, Any] = {
        "data": {"film": {"title": "Refusenik", "year": 2007, "genres": [{"name": "Drama"}]}},
        "errors": [
            {
                "message": "first: must be between 1 and 100",
                "locations": [{"line": 1, "column": 3}],
                "path": ["films"],
                "extensions": {"code": "BAD_USER_INPUT", "argument": "first"},
            }
        ],
        "extensions": {"cost": 12, "execution": "compiled"},
    }

    def changed(edit: str) -> dict[str, Any]:
        body = _copy(base)
        data, error, ext = body["data"], body["errors"][0], body["extensions"]
        {
            "value": lambda: data["film"].__setitem__("title", "Refusenik!"),
            "type": lambda: data["film"].__setitem__("year", 2007.0),
            "null": lambda: data["film"].__setitem__("year", None),
            "order": lambda: data.__setitem__("film", dict(reversed(data["film"].items()))),
            "list": lambda: data["film"]["genres"].append({"name": "Documentary"}),
            "missing": lambda: data["film"].pop("genres"),
            "message": lambda: error.__setitem__("message", "first: out of range"),
            "path": lambda: error.__setitem__("path", ["films", 0]),
            "locations": lambda: error.__setitem__("locations", [{"line": 1, "column": 4}]),
            "code": lambda: error["extensions"].__setitem__("code", "INTERNAL"),
            "extension": lambda: error["extensions"].pop("argument"),
            "cost": lambda: ext.__setitem__("cost", 13),
            "no errors": lambda: body.pop("errors"),
        }[edit]()
        return body

    edits = ["value", "type", "null", "order", "list", "missing", "message", "path"]
    edits += ["locations", "code", "extension", "cost", "no errors"]
    for edit in edits:
        found = differences(comparable(Answer(200, base)), comparable(Answer(200, changed(edit))))
        assert found, f"a change of {edit} went unnoticed"
    assert differences(comparable(Answer(200, base)), comparable(Answer(400, base)))
    other_path = _copy(base)
    other_path["extensions"]["execution"] = "resolvers"
    assert not differences(comparable(Answer(200, base)), comparable(Answer(200, other_path)))
    without = _copy(base)
    del without["extensions"]["execution"]
    assert not differences(comparable(Answer(200, base)), comparable(Answer(200, without)))
    # And a whole outcome reports, with its document and both answers.
    outcome = Outcome(
        Generated("{ film(slug: $s) { title } }", {"s": "refusenik-2007"}),
        "self-check",
        compiled=Answer(200, base),
        resolvers=Answer(200, changed("value")),
    )
    text = report(outcome, "seed 1")
    assert "$.body.data.film.title" in text and "Refusenik!" in text and "refusenik-2007" in text
    assert served_by(base) == "compiled" and served_by({"data": {}}) is None
    assert served_by({"extensions": {"execution": {"path": "resolvers"}}}) == "resolvers"


def test_two_servers_that_answer_differently_are_caught(dsn: str) -> None:
    """End to end, through real servers: a "compiled" server that refuses a second alias
    (max_aliases=1) against one that does not differs, and the run reports it."""
    strict = Settings(execution="compiled", max_aliases=1, cursor_secret=CURSOR_SECRET)
    usual = Settings(execution="resolvers", cursor_secret=CURSOR_SECRET)
    with (
        LiveServer(create_app(strict, dsn)) as compiled,
        LiveServer(create_app(usual, dsn)) as resolvers,
    ):
        pair = Pair(compiled.url, resolvers.url)
        try:
            request = Generated('{ a: film(slug: "refusenik-2007") { title } b: __typename }', {})
            outcome = pair.run(request, "self-check")
            same = pair.run(Generated("{ __typename }", {}), "self-check")
        finally:
            pair.close()
    assert outcome.differences, outcome
    assert any("TOO_MANY_ALIASES" in d for d in outcome.differences), outcome.differences
    assert not same.differences, same.differences
    tally = Tally()
    tally.add(outcome)
    assert len(tally.mismatches) == 1


def test_the_share_check_bites() -> None:
    tally = Tally(served={"compiled": 1, "resolvers": 3})
    assert tally.compiled_share == 0.25
    tally.resolvers_served = {"compiled": 1}
    with pytest.raises(AssertionError):
        check_served(tally)


def _copy(body: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(body)
