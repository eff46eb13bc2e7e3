"""Test fixtures: a real PostgreSQL the suite starts itself, and the real server on 127.0.0.1.

TEST_DATABASE_URL points the suite at an existing server instead (it needs
shared_preload_libraries=pg_stat_statements for the statement-count test); each run works in a
database of its own, created and dropped here.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from graph.app import create_app, server_config
from graph.demo.load import load_demo
from graph.embedded import EmbeddedPostgres
from graph.migrate import migrate
from graph.settings import Settings


def _with_database(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    query = ""
    if "?" in dsn.rpartition("/")[2]:
        query = "?" + dsn.rpartition("?")[2]
    return f"{base}/{name}{query}"


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """DSN of a PostgreSQL server's maintenance database."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="filmgraph-test-") as tmp:
        server = EmbeddedPostgres(
            Path(tmp) / "pgdata",
            settings={
                "shared_preload_libraries": "pg_stat_statements",
                "pg_stat_statements.track_utility": "off",
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            },
        )
        try:
            yield server.start()
        finally:
            server.stop()


async def create_database(server_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return _with_database(server_dsn, name)


async def drop_database(server_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def dsn(server_dsn: str) -> AsyncIterator[str]:
    """A migrated database holding the demo data, shared by the read-only tests."""
    name = f"filmgraph_test_{secrets.token_hex(4)}"
    url = await create_database(server_dsn, name)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        await load_demo(conn)
        await conn.execute("create extension if not exists pg_stat_statements")
    finally:
        await conn.close()
    yield url
    await drop_database(server_dsn, name)


@pytest.fixture
async def empty_dsn(server_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database of the test's own."""
    name = f"filmgraph_scratch_{secrets.token_hex(4)}"
    url = await create_database(server_dsn, name)
    yield url
    await drop_database(server_dsn, name)


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A temporary directory of our own (pytest's tmp_path root is reset to 0700 by every new
    pytest session, which would lock out the unprivileged PostgreSQL account mid-run)."""
    with tempfile.TemporaryDirectory(prefix="filmgraph-scratch-") as tmp:
        yield Path(tmp)


class LiveServer:
    """uvicorn serving the app on a loopback port, in a thread with its own event loop."""

    def __init__(self, app: Any, settings: Settings | None = None) -> None:
        # Bind before starting: the kernel queues connections on the listening socket, so
        # requests made before uvicorn's loop runs wait instead of being refused.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port: int = self.sock.getsockname()[1]
        # As `filmgraph serve` runs it (settings: those of the app, for the header limit).
        config = server_config(app, settings or Settings(), log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.fixture(scope="session")
def live(dsn: str) -> Iterator[LiveServer]:
    with LiveServer(create_app(Settings(), dsn)) as server:
        yield server


@pytest.fixture
async def client(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as c:
        yield c


class GraphQLErrors(AssertionError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """POST a document; fail the test on any GraphQL error."""
    body = await post(client, query, variables)
    if body.get("errors"):
        raise GraphQLErrors(body["errors"])
    data: dict[str, Any] = body["data"]
    return data


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def gql_error(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """POST a document that must fail; return its single error."""
    body = await post(client, query, variables)
    assert body.get("errors"), f"expected an error, got {body}"
    assert len(body["errors"]) == 1, body["errors"]
    error: dict[str, Any] = body["errors"][0]
    return error


def refused(response: httpx.Response, status: int, code: str) -> str:
    """Check a request refused before GraphQL saw it: the status, a GraphQL response with one
    error of `code` and no data; return the error's message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"errors"}, body
    (error,) = body["errors"]
    assert error["extensions"] == {"code": code}, error
    message: str = error["message"]
    return message
