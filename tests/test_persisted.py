"""Persisted documents: automatic persisted queries (Apollo's protocol, over POST and GET),
trusted documents from a manifest, and trusted-only serving."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.app import create_app
from graph.persisted import ENTRY_OVERHEAD, APQStore, load_trusted
from graph.settings import Settings
from tests.child import run
from tests.conftest import LiveServer, extensions, refused

FILMS = "query Films { films(first: 2) { nodes { title } } }"
OTHER = "{ films(first: 1) { totalCount } }"
EXAMPLES = Path(__file__).parent.parent / "examples"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body.get("data") is None, body
    (error,) = body["errors"]
    found: dict[str, Any] = error
    return found


async def test_a_hash_alone_is_not_found_until_its_document_is_sent(
    client: httpx.AsyncClient,
) -> None:
    # A document of this test's own: the shared server may know the others already.
    document = "query Unseen { films(first: 3) { nodes { slug } } }"
    digest = sha(document)
    first = await client.post("/graphql", json={"extensions": persisted(digest)})
    assert first.status_code == 200
    assert error_of(first) == {
        "message": "PersistedQueryNotFound",
        "extensions": {
            "code": "PERSISTED_QUERY_NOT_FOUND",
            "requestId": first.headers["x-request-id"],
        },
    }
    sent = await client.post("/graphql", json={"query": document, "extensions": persisted(digest)})
    assert len(sent.json()["data"]["films"]["nodes"]) == 3
    by_hash = await client.post("/graphql", json={"extensions": persisted(digest)})
    assert by_hash.json() == sent.json()
    # And over GET: the hash in the `extensions` parameter, no `query`, even for a client
    # that accepts anything (GraphiQL is not what it asked for).
    got = await client.get(
        "/graphql",
        params={"extensions": json.dumps(persisted(digest))},
        headers={"accept": "*/*"},
    )
    assert got.status_code == 200
    assert got.json() == sent.json()


async def test_a_hash_alone_over_get_is_not_found_either(client: httpx.AsyncClient) -> None:
    digest = sha("query NeverSent { films { totalCount } }")
    response = await client.get(
        "/graphql",
        params={"extensions": json.dumps(persisted(digest))},
        headers={"accept": "application/graphql-response+json"},
    )
    # A request error (nothing ran): 400 under GraphQL over HTTP's media type.
    assert response.status_code == 400
    assert extensions(error_of(response)) == {"code": "PERSISTED_QUERY_NOT_FOUND"}
    assert response.headers["cache-control"] == "no-store"


async def test_a_document_that_is_not_its_hash_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": FILMS, "extensions": persisted(sha(OTHER))}
    )
    assert extensions(error_of(response)) == {"code": "PERSISTED_QUERY_HASH_MISMATCH"}
    # Not registered under that hash either.
    again = await client.post("/graphql", json={"extensions": persisted(sha(OTHER))})
    assert extensions(error_of(again)) == {"code": "PERSISTED_QUERY_NOT_FOUND"}


@pytest.mark.parametrize(
    "extension",
    [
        {"version": 2, "sha256Hash": "ab"},
        {"version": 1},
        {"version": 1, "sha256Hash": 12},
        "abc",
    ],
)
async def test_a_malformed_persisted_query_extension_is_a_bad_request(
    client: httpx.AsyncClient, extension: object
) -> None:
    response = await client.post(
        "/graphql", json={"query": FILMS, "extensions": {"persistedQuery": extension}}
    )
    assert "persistedQuery" in refused(response, 400, "BAD_REQUEST")


def test_the_apq_store_is_bounded() -> None:
    store = APQStore(3 * (100 + ENTRY_OVERHEAD))
    for i in range(10):
        store.put(str(i), "x" * 100)
    assert list(store.entries) == ["7", "8", "9"]
    assert store.size <= store.max_bytes


# Trusted documents.

CODEGEN = {sha(FILMS): FILMS}
APOLLO = {
    "format": "apollo-persisted-query-manifest",
    "version": 1,
    "operations": [{"id": "films-v1", "body": FILMS, "name": "Films", "type": "query"}],
}


@pytest.fixture(params=["codegen", "apollo"])
def manifest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A manifest in each format, and the id its document is called by."""
    path = tmp_path / "documents.json"
    if request.param == "codegen":
        path.write_text(json.dumps(CODEGEN))
        yield path, sha(FILMS)
    else:
        path.write_text(json.dumps(APOLLO))
        yield path, "films-v1"


async def test_trusted_only_runs_registered_documents_and_refuses_others(
    dsn: str, manifest: tuple[Path, str]
) -> None:
    path, doc_id = manifest
    settings = Settings(trusted_documents=path, trusted_only=True)
    with LiveServer(create_app(settings, dsn)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            by_id = await client.post("/graphql", json={"extensions": persisted(doc_id)})
            assert len(by_id.json()["data"]["films"]["nodes"]) == 2
            by_get = await client.get(
                "/graphql", params={"extensions": json.dumps(persisted(doc_id))}
            )
            assert by_get.json() == by_id.json()
            # The registered text, sent whole, is trusted too.
            whole = await client.post("/graphql", json={"query": FILMS})
            assert whole.json() == by_id.json()
            other = await client.post("/graphql", json={"query": OTHER})
            assert extensions(error_of(other)) == {"code": "DOCUMENT_NOT_TRUSTED"}
            # Not even through APQ.
            registering = await client.post(
                "/graphql", json={"query": OTHER, "extensions": persisted(sha(OTHER))}
            )
            assert extensions(error_of(registering)) == {"code": "DOCUMENT_NOT_TRUSTED"}
            unknown = await client.post("/graphql", json={"extensions": persisted(sha(OTHER))})
            assert extensions(error_of(unknown)) == {"code": "PERSISTED_QUERY_NOT_FOUND"}


async def test_trusted_documents_without_trusted_only_add_to_any_document(
    dsn: str, manifest: tuple[Path, str]
) -> None:
    path, doc_id = manifest
    with LiveServer(create_app(Settings(trusted_documents=path), dsn)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            by_id = await client.post("/graphql", json={"extensions": persisted(doc_id)})
            assert len(by_id.json()["data"]["films"]["nodes"]) == 2
            other = await client.post("/graphql", json={"query": OTHER})
            assert other.json()["data"]["films"]["totalCount"] > 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "cannot read"),
        ("[]", "is not a manifest"),
        ('{"abc": 1}', "is not a manifest: entry 'abc' must map a hash to a document"),
        (
            '{"format": "apollo-persisted-query-manifest", "operations": [{"id": "x"}]}',
            "operations[0] needs a string `id` and `body`",
        ),
        ('{"format": "relay"}', "is not a manifest"),
    ],
)
def test_a_malformed_manifest_stops_the_start_in_one_line(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "documents.json"
    path.write_text(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")}
    # An address nothing listens on: the manifest is refused before any connection.
    env.update(
        DATABASE_URL="postgresql://nobody@127.0.0.1:9/none",
        FILMGRAPH_TRUSTED_DOCUMENTS=str(path),
    )
    result = run("serve", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("FILMGRAPH_TRUSTED_DOCUMENTS: "), lines
    assert reason in lines[0]


def test_a_missing_manifest_stops_the_start_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")}
    env.update(
        DATABASE_URL="postgresql://nobody@127.0.0.1:9/none",
        FILMGRAPH_TRUSTED_DOCUMENTS=str(tmp_path / "absent.json"),
        FILMGRAPH_TRUSTED_ONLY="1",
    )
    result = run("serve", env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"FILMGRAPH_TRUSTED_DOCUMENTS: cannot read {str(tmp_path / 'absent.json')!r}: "
        "No such file or directory"
    )


def test_trusted_only_needs_a_manifest() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")}
    env.update(FILMGRAPH_TRUSTED_ONLY="1")
    result = run("schema", env=env)
    assert result.returncode == 1
    assert "FILMGRAPH_TRUSTED_ONLY needs FILMGRAPH_TRUSTED_DOCUMENTS" in result.stderr


def test_the_example_manifest_is_current() -> None:
    """examples/persisted-documents.json holds every document of examples/, by its sha256
    (regenerate: `python -m tests.test_persisted`)."""
    path = EXAMPLES / "persisted-documents.json"
    assert json.loads(path.read_text()) == example_manifest()
    trusted = load_trusted(path)
    assert set(trusted.by_id) == {sha(text) for text in trusted.by_id.values()}


def example_manifest() -> dict[str, str]:
    documents = sorted(EXAMPLES.glob("*.graphql"))
    assert documents
    return {sha(p.read_text()): p.read_text() for p in documents}


if __name__ == "__main__":
    (EXAMPLES / "persisted-documents.json").write_text(
        json.dumps(example_manifest(), indent=2) + "\n"
    )
