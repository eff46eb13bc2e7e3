"""The clients frontends use, run for real against a live server: Apollo Client 4 in Node
(tests/clients/apollo.mjs, with the cache glue docs/clients.md shows), GraphQL Code Generator
over schema.graphql and every example document, and Python's gql 4.

The Node packages are those of tests/clients/package-lock.json, which scripts/test installs
(`npm ci`); a missing Node or npm fails these tests, saying what to install."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer

ROOT = Path(__file__).parent.parent
CLIENTS = ROOT / "tests" / "clients"
EXAMPLES = ROOT / "examples"


def node_tool(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a Node command in tests/clients; fail, saying why, without Node or the packages."""
    assert shutil.which("node"), "node is not installed (Node 20 or newer: apt install nodejs)"
    assert (CLIENTS / "node_modules").is_dir(), (
        "tests/clients/node_modules is missing: run `npm ci --prefix tests/clients` "
        "(scripts/test does)"
    )
    return subprocess.run(
        args, cwd=CLIENTS, capture_output=True, text=True, timeout=timeout, check=False
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
