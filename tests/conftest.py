"""Test fixtures: a real PostgreSQL the suite starts itself, and the real server on 127.0.0.1.

FILMGRAPH_TEST_PG=N runs the suite on PostgreSQL N (scripts/test runs it on 18, then on 15):
the server in FILMGRAPH_TEST_PG_BIN when set, else the embedded wheel's when it is version N,
else Debian's /usr/lib/postgresql/N/bin (package postgresql-N); the run stops at once, saying
what to install, when there is none. A test checks the server is version N. Unset, the suite
uses the embedded wheel's server, whatever its version.

TEST_DATABASE_URL points the suite at an existing server instead (it needs
shared_preload_libraries=pg_stat_statements for the statement-count test); each run works in a
database of its own, created and dropped here. With FILMGRAPH_TEST_PG also set, the suite
checks that server is version N.

FILMGRAPH_COALESCE=0 runs the suite with coalescing off (graph/compiled/coalesce.py): the
servers started from the environment read it, and `Settings()` here defaults to it.
"""

from __future__ import annotations

import inspect
import os
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from graph.app import create_app, server_config
from graph.demo.load import load_demo
from graph.embedded import EmbeddedError, EmbeddedPostgres, bin_dir
from graph.migrate import migrate
from graph.settings import Settings
from tests import leftovers


def _coalescing_from_environment() -> None:
    """Settings() with coalescing as FILMGRAPH_COALESCE says (on when unset, as in
    production), so that the whole suite runs on either path; a test that names `coalesce`
    keeps its own."""
    if os.environ.get("FILMGRAPH_COALESCE", "").strip().lower() not in ("0", "false", "no", "off"):
        return
    init: Any = Settings.__init__
    defaulted = [
        name
        for name, parameter in inspect.signature(init).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    ]
    defaults = list(init.__defaults__)
    defaults[defaulted.index("coalesce")] = False
    init.__defaults__ = tuple(defaults)


_coalescing_from_environment()


def _with_database(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    query = ""
    if "?" in dsn.rpartition("/")[2]:
        query = "?" + dsn.rpartition("?")[2]
    return f"{base}/{name}{query}"


TEST_PG = "FILMGRAPH_TEST_PG"
TEST_PG_BIN = "FILMGRAPH_TEST_PG_BIN"
_BINARIES = pytest.StashKey[Path]()  # where the suite's own server runs from


def requested_major() -> int | None:
    """The PostgreSQL major version FILMGRAPH_TEST_PG asks this run for, if any."""
    value = os.environ.get(TEST_PG, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise pytest.UsageError(f"{TEST_PG}={value!r}: expected a PostgreSQL major version (15)")
    return int(value)


def binaries_major(binaries: Path) -> int:
    """The major version of the PostgreSQL whose pg_ctl is in binaries."""
    out = subprocess.run(
        [str(binaries / "pg_ctl"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"\(PostgreSQL\) (\d+)", out)
    assert m, out
    return int(m.group(1))


def find_binaries(major: int | None) -> Path:
    """initdb and pg_ctl of PostgreSQL `major` (None: the embedded wheel's, any version)."""
    chosen = os.environ.get(TEST_PG_BIN)
    if chosen:
        if not (Path(chosen) / "pg_ctl").exists():
            raise pytest.UsageError(f"{TEST_PG_BIN}={chosen}: no pg_ctl there")
        return Path(chosen)
    embedded: Path | None = None
    try:
        embedded = bin_dir()
    except EmbeddedError as exc:
        if major is None:
            raise pytest.UsageError(str(exc)) from None
    if embedded is not None and (major is None or binaries_major(embedded) == major):
        return embedded
    debian = Path(f"/usr/lib/postgresql/{major}/bin")
    if (debian / "pg_ctl").exists():
        return debian
    raise pytest.UsageError(
        f"{TEST_PG}={major}: PostgreSQL {major} server binaries not found in {debian}; "
        f"install them (Debian/Ubuntu: apt-get install postgresql-{major}), "
        f"or unset {TEST_PG} to test only on the embedded server"
    )


def pytest_configure(config: pytest.Config) -> None:
    # Before any test runs: a pass that asked for a version it cannot have fails at once,
    # in one line, rather than erroring in every test or running on another version.
    if not os.environ.get("TEST_DATABASE_URL"):
        config.stash[_BINARIES] = find_binaries(requested_major())
    # A shell without job control starts a background command (`pytest ... &`, nohup) with
    # SIGINT ignored, and the servers and imports the tests start would inherit that: the
    # tests that stop them with SIGINT would then wait out their deadlines. Their children
    # get Ctrl-C's default back, as from a terminal.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def server_dsn(pytestconfig: pytest.Config) -> Iterator[str]:
    """DSN of a PostgreSQL server's maintenance database."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="filmgraph-test-") as tmp:
        server = EmbeddedPostgres(
            Path(tmp) / "pgdata",
            binaries=pytestconfig.stash[_BINARIES],
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


@pytest.fixture(scope="session")
def server_binaries(pytestconfig: pytest.Config) -> Path | None:
    """The folder of the binaries the suite's server runs from (its pg_dump too, so of the
    same version); None with TEST_DATABASE_URL."""
    return pytestconfig.stash.get(_BINARIES, None)


@pytest.fixture(scope="session")
def expected_major(server_binaries: Path | None) -> int | None:
    """The PostgreSQL major version this run must be on: the one FILMGRAPH_TEST_PG asked for,
    else that of the binaries the suite started; None for an external server nobody named."""
    major = requested_major()
    if major is not None:
        return major
    return None if server_binaries is None else binaries_major(server_binaries)


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
async def writable_dsn(empty_dsn: str) -> str:
    """A database of the test's own, migrated, with the demo data: the test may write."""
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await load_demo(conn)
    finally:
        await conn.close()
    return empty_dsn


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """A test that leaves a process it started running fails, and the process is killed
    (with what it started): a server whose test timed out stopping it would run on."""
    before = leftovers.children()
    yield
    left = leftovers.children() - before
    if left:
        commands = leftovers.kill(left)
        pytest.fail("left running, now killed: " + "; ".join(commands), pytrace=False)


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


async def version_known(client: httpx.AsyncClient) -> None:
    """Until the server knows the data version (it reads it just after start): its answers
    are not cacheable before."""
    deadline = time.monotonic() + 10
    while "etag" not in (await client.get("/graphql", params={"query": "{ __typename }"})).headers:
        assert time.monotonic() < deadline, "the data version is still unknown"


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


def extensions(error: dict[str, Any]) -> dict[str, Any]:
    """An error's extensions but its `requestId`, which every error carries, new each time."""
    return {k: v for k, v in error["extensions"].items() if k != "requestId"}


def refused(response: httpx.Response, status: int, code: str) -> str:
    """Check a request refused before GraphQL saw it: the status, a GraphQL response with one
    error of `code` and no data; return the error's message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"errors"}, body
    (error,) = body["errors"]
    assert extensions(error) == {"code": code}, error
    message: str = error["message"]
    return message


def post_scope(body: bytes) -> dict[str, Any]:
    """The ASGI scope uvicorn gives the app for a JSON POST of `body` to /graphql: for tests
    that call the app directly, to hang up at a chosen turn of the event loop."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"api"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
