"""The clients frontends use, run for real against a live server: Apollo Client 4 in Node
(tests/clients/apollo.mjs, with the cache glue docs/clients.md shows), GraphQL Code Generator
over schema.graphql and every example document, and Python's gql 4.

The Node packages are those of tests/clients/package-lock.json, which scripts/test installs
(`npm ci`); a missing Node or npm fails these tests, saying what to install."""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gql import GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError

from tests.clients.filmgraph_gql import filmgraph_client
from tests.conftest import LiveServer, extensions

ROOT = Path(__file__).parent.parent
CLIENTS = ROOT / "tests" / "clients"
EXAMPLES = ROOT / "examples"


def node_tool(
    *args: str, cwd: Path = CLIENTS, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a Node command in tests/clients; fail, saying why, without Node or the packages."""
    assert shutil.which("node"), "node is not installed (Node 20 or newer: apt install nodejs)"
    assert (CLIENTS / "node_modules").is_dir(), (
        "tests/clients/node_modules is missing: run `npm ci --prefix tests/clients` "
        "(scripts/test does)"
    )
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def apollo(live: LiveServer) -> dict[str, Any]:
    """What Apollo Client saw, run once for the tests below."""
    done = node_tool("node", "apollo.mjs", live.url)
    assert done.returncode == 0, done.stderr
    # Apollo warns on stderr about anything it had to guess (a missing possibleTypes, a
    # field it could not merge): none.
    assert done.stderr == "", done.stderr
    seen: dict[str, Any] = json.loads(done.stdout)
    return seen


def test_apollo_caches_every_object_of_the_film_page(apollo: dict[str, Any]) -> None:
    film = apollo["filmPage"]["film"]
    assert film["title"] == "Refusenik"
    people = {p["id"] for p in film["directors"] + film["writers"]}
    genres = {g["id"] for g in film["genres"]}
    providers = {o["provider"]["id"] for o in film["offers"]}
    keys = set(apollo["cacheKeys"])
    assert {f"Person:{i}" for i in people} <= keys
    assert {f"Genre:{i}" for i in genres} <= keys
    assert {f"Provider:{i}" for i in providers} <= keys
    director = film["directors"][0]
    assert apollo["directorFromCache"] == {
        "__typename": "Person",
        "id": director["id"],
    }


def test_apollo_merges_three_pages_of_films(apollo: dict[str, Any]) -> None:
    films = apollo["films"]
    ids = [edge["node"]["id"] for edge in films["edges"]]
    assert len(ids) == 12 == len(set(ids))
    assert films["pageInfo"]["hasNextPage"] is True
    assert apollo["sent"].count("FilmsPage") == 3


def test_apollo_reads_node_and_film_by_slug_from_the_cache(apollo: dict[str, Any]) -> None:
    third = apollo["films"]["edges"][9]["node"]
    assert apollo["nodeFromCache"] == third
    assert apollo["filmBySlugFromCache"] == third
    assert apollo["requestsForCachedReads"] == 0


def test_apollo_keeps_node_ids_in_search_results(apollo: dict[str, Any]) -> None:
    results = apollo["search"]
    assert {r["__typename"] for r in results} == {"Film", "Genre", "Person"}
    assert all(r["id"] for r in results), results


def test_a_browser_on_a_dev_server_may_send_apollos_headers(apollo: dict[str, Any]) -> None:
    preflight = apollo["preflight"]
    assert preflight["status"] == 200, preflight
    headers = preflight["headers"]
    assert headers["access-control-allow-origin"] == "http://localhost:3000"
    allowed = {h.strip() for h in headers["access-control-allow-headers"].split(",")}
    assert {
        "content-type",
        "authorization",
        "x-api-key",
        "apollographql-client-name",
        "apollographql-client-version",
    } <= allowed
    assert int(headers["access-control-max-age"]) > 0


def test_codegen_types_every_scalar_and_example_without_warnings(scratch_dir: Path) -> None:
    """GraphQL Code Generator with examples/codegen.yml, as an app would run it: from a folder
    holding schema.graphql, examples/ and node_modules."""
    (scratch_dir / "node_modules").symlink_to(CLIENTS / "node_modules")
    shutil.copy(ROOT / "schema.graphql", scratch_dir)
    shutil.copytree(EXAMPLES, scratch_dir / "examples")
    done = node_tool(
        "node",
        str(CLIENTS / "node_modules" / ".bin" / "graphql-codegen"),
        "--config",
        str(scratch_dir / "examples" / "codegen.yml"),
        cwd=scratch_dir,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "warn" not in output.lower() and "⚠" not in output, output
    generated = (scratch_dir / "src" / "gql" / "filmgraph.ts").read_text()
    for scalar in ("Date", "DateTime", "Decimal"):
        assert f"  {scalar}: {{ input: string; output: string; }}" in generated, scalar
    assert "  JSON: { input: Record<string, unknown>; output: Record<string, unknown>; }" in (
        generated
    )
    assert "price: string | null" in generated
    # One operation type per example document.
    for document in EXAMPLES.glob("*.graphql"):
        name = re.search(r"^query (\w+)", document.read_text(), re.MULTILINE)
        assert name is not None, document
        assert f"export type {name[1]}Query = " in generated, document.name


def test_the_docs_show_the_glue_the_tests_run() -> None:
    """docs/clients.md shows tests/clients/filmgraph-cache.mjs and filmgraph_gql.py whole."""
    page = (ROOT / "docs" / "clients.md").read_text()
    for glue in ("filmgraph-cache.mjs", "filmgraph_gql.py"):
        text = (CLIENTS / glue).read_text()
        assert text in page, f"docs/clients.md does not show tests/clients/{glue} as it is"


def test_scripts_refuse_a_node_older_than_20(scratch_dir: Path) -> None:
    """Debian 12's own nodejs is Node 18, on which GraphQL Code Generator 7 cannot parse its
    regular expressions and Apollo's JSON import warns: scripts/test (and so .ci/run) stops
    at once, saying what to install, rather than failing these tests obscurely."""
    for tool, says in (("node", "v18.20.4"), ("npm", "9.2.0")):
        stub = scratch_dir / tool
        stub.write_text(f"#!/bin/sh\necho {says}\n")
        stub.chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", f"source {ROOT / 'scripts' / 'venv.sh'}; ensure_node_clients"],
        env={"PATH": f"{scratch_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Node v18.20.4 is too old" in done.stderr, done.stderr


def example(name: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest((EXAMPLES / name).read_text(), variable_values=variables)


async def test_gql_reads_the_film_page_with_typed_scalars(live: LiveServer) -> None:
    client = filmgraph_client(f"{live.url}/graphql", ROOT / "schema.graphql")
    async with client as session:
        page = await session.execute(
            example("film-page.graphql", slug="refusenik-2007", region="US")
        )
        offers = await session.execute(
            gql(
                'query { film(slug: "refusenik-2007") { releaseDate '
                'offers(region: "US") { price availableFrom } } }'
            )
        )
    film = page["film"]
    assert film["title"] == "Refusenik"
    assert all(p["id"] for p in film["directors"] + film["writers"] + film["genres"])
    prices = [o["price"] for o in film["offers"] if o["price"] is not None]
    assert prices and all(isinstance(p, decimal.Decimal) for p in prices)
    assert decimal.Decimal("2.99") in prices
    release = offers["film"]["releaseDate"]
    assert release is None or isinstance(release, datetime.date)


async def test_gql_pages_through_films_and_reads_nodes(live: LiveServer) -> None:
    client = filmgraph_client(f"{live.url}/graphql", ROOT / "schema.graphql")
    seen: list[dict[str, Any]] = []
    after = None
    async with client as session:
        for _ in range(3):
            page = await session.execute(example("films-page.graphql", first=4, after=after))
            seen += [edge["node"] for edge in page["films"]["edges"]]
            after = page["films"]["pageInfo"]["endCursor"]
        again = await session.execute(example("node.graphql", id=seen[9]["id"]))
        found = await session.execute(example("search.graphql", query="de niro"))
    assert len({f["id"] for f in seen}) == 12
    assert again["node"] == {"__typename": "Film", **seen[9]}
    assert {r["__typename"] for r in found["search"]} == {"Film", "Person"}
    assert all(r["id"] for r in found["search"])
    # The supported way to read an id's type without a request (docs/clients.md#ids).
    for result in found["search"] + [again["node"]]:
        decoded = base64.b64decode(result["id"], validate=True).decode()
        assert decoded.partition(":")[0] == result["__typename"], result


async def test_gql_gets_spec_shaped_errors(live: LiveServer) -> None:
    """A request that fails before execution has no `data`; a bad argument is named."""
    client = filmgraph_client(f"{live.url}/graphql", ROOT / "schema.graphql")
    async with client as session:
        with pytest.raises(TransportQueryError) as wrong_type:
            # Sent unchecked: gql would refuse a list for a String itself.
            await session.execute(
                GraphQLRequest(
                    'query ($r: String!) { film(slug: "refusenik-2007") '
                    "{ offers(region: $r) { kind } } }",
                    variable_values={"r": ["US"]},
                ),
                serialize_variables=False,
            )
        with pytest.raises(TransportQueryError) as two_keys:
            await session.execute(gql('{ film(id: "RmlsbTox", slug: "refusenik-2007") { id } }'))
    assert wrong_type.value.data is None
    (error,) = wrong_type.value.errors or []
    assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": "$r"}
    assert error["message"].endswith('String cannot represent a non string value: ["US"]')
    assert two_keys.value.data == {"film": None}
    (error,) = two_keys.value.errors or []
    assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": "slug"}
