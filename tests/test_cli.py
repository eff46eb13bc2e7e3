"""The `filmgraph` command, run as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from graph.embedded import free_port
from graph.migrate import available
from tests.child import Child, run
from tests.test_import_imdb import dataset

# uvicorn logs this once it is listening (after the app's startup has completed).
STARTED = "Uvicorn running on"
FILM_PAGE = (Path(__file__).resolve().parent.parent / "examples" / "film-page.graphql").read_text()
# Loopback only: never through a proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


_cli = run


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(extra)
    return env


class Serve(Child):
    """`filmgraph serve` in a child process; its stderr read line by line."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        super().__init__(
            ["serve", "--port", str(self.port)], _env(FILMGRAPH_DATA_DIR=str(data_dir), **env)
        )

    def query(self, document: str, variables: dict[str, str] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": document, "variables": variables or {}}).encode(),
            headers={"content-type": "application/json"},
        )
        with OPENER.open(request, timeout=30) as response:
            body: dict[str, Any] = json.load(response)
            return body

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=60)
        self.drain()
        return code


@pytest.fixture
def data_dir(scratch_dir: Path) -> Path:
    return scratch_dir / "filmgraph"


def test_serve_starts_embedded_postgres_with_demo_data(data_dir: Path) -> None:
    serve = Serve(data_dir)
    try:
        serve.wait_for(f"GraphiQL at http://127.0.0.1:{serve.port}/graphql")
        # Announced only once it serves there.
        body = serve.query('{ film(slug: "refusenik-2007") { title directors { name } } }')
        serve.wait_for(STARTED)
        assert body == {
            "data": {"film": {"title": "Refusenik", "directors": [{"name": "Laura Bialis"}]}},
            "extensions": {"cost": 11, "execution": "compiled"},
        }
        # The JSON-LD @ids name the pages of this server, on the port it was given.
        ld = serve.query('{ film(slug: "refusenik-2007") { jsonLd } }')["data"]["film"]["jsonLd"]
        assert ld["@id"] == f"http://127.0.0.1:{serve.port}/films/refusenik-2007"
        films = serve.query("{ films(first: 1) { totalCount } }")
        first = serve.query("{ films(first: 2) { nodes { slug } pageInfo { endCursor } } }")
        assert "errors" not in first, first
        cursor = first["data"]["films"]["pageInfo"]["endCursor"]
    finally:
        code = serve.stop()
    assert code == 0, "".join(serve.seen)
    assert any("demo data loaded" in line for line in serve.seen)
    assert (data_dir / "pgdata" / "PG_VERSION").exists()
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), "embedded server left running"
    assert (data_dir / "cursor.secret").stat().st_mode & 0o777 == 0o600

    # Second start: same data directory, nothing to migrate, demo data not loaded again. With
    # GraphiQL off, the start-up line does not offer it.
    again = Serve(data_dir, FILMGRAPH_GRAPHIQL="0")
    try:
        again.wait_for(f"GraphQL endpoint at http://127.0.0.1:{again.port}/graphql")
        again.wait_for(STARTED)
        assert again.query("{ films(first: 1) { totalCount } }") == films
        # A cursor from before the restart still works: the key is kept with the data.
        both = again.query("{ films(first: 4) { nodes { slug } } }")
        after = again.query(
            "query($after: String) { films(first: 2, after: $after) { nodes { slug } } }",
            {"after": cursor},
        )
        assert "errors" not in after, after
        assert after["data"]["films"]["nodes"] == both["data"]["films"]["nodes"][2:]
    finally:
        assert again.stop(signal.SIGTERM) == 0
    assert not any("demo data loaded" in line for line in again.seen)
    assert any("0 migration(s) applied" in line for line in again.seen)
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), "embedded server left running"


def test_migrate_and_load_demo_against_database_url(empty_dsn: str) -> None:
    env = _env(DATABASE_URL=empty_dsn)
    first = _cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert f"{len(available())} migration(s) applied" in first.stderr
    second = _cli("migrate", env=env)
    assert second.returncode == 0
    assert "0 migration(s) applied" in second.stderr

    for _ in range(2):
        loaded = _cli("load-demo", env=env)
        assert loaded.returncode == 0, loaded.stderr

    async def counts() -> tuple[int, int]:
        conn = await asyncpg.connect(empty_dsn)
        try:
            return (
                await conn.fetchval("select count(*) from film"),
                await conn.fetchval("select count(*) from offer"),
            )
        finally:
            await conn.close()

    films, offers = asyncio.run(counts())
    assert films > 40
    assert offers > 100


def test_unreachable_database_is_a_one_line_error() -> None:
    result = _cli(
        "migrate", env=_env(DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    )
    assert result.returncode == 2
    assert result.stderr.startswith("filmgraph: database error:")
    assert "Traceback" not in result.stderr


def test_schema_command_prints_sdl() -> None:
    result = _cli("schema", env=_env())
    assert result.returncode == 0
    assert "type Film implements Node" in result.stdout


def test_sigterm_during_start_up_stops_the_embedded_server(data_dir: Path) -> None:
    serve = Serve(data_dir)
    serve.wait_for("embedded postgres started")
    code = serve.stop(signal.SIGTERM)
    assert code in (0, 130), "".join(serve.seen)
    assert "Traceback" not in "".join(serve.seen)
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), "".join(serve.seen)


def test_a_second_process_on_the_data_directory_is_refused_and_harms_nothing(
    data_dir: Path, scratch_dir: Path
) -> None:
    files = dataset(scratch_dir / "imdb")
    refusal = (
        "filmgraph: embedded PostgreSQL: another filmgraph process is using "
        f"{(data_dir / 'pgdata').resolve()}; stop it first, or point FILMGRAPH_DATA_DIR elsewhere"
    )
    serve = Serve(data_dir)
    try:
        serve.wait_for(STARTED)
        for args in (
            ["serve", "--port", str(free_port())],
            ["migrate"],
            ["load-demo"],
            ["import", "imdb", str(files)],
        ):
            second = _cli(*args, env=_env(FILMGRAPH_DATA_DIR=str(data_dir)))
            assert second.returncode == 2, (args, second.stderr)
            assert second.stderr.strip().splitlines()[-1] == refusal, (args, second.stderr)
            assert "Traceback" not in second.stderr
            # The first server's PostgreSQL is still there: the film page is served, no 503.
            page = serve.query(FILM_PAGE, {"slug": "refusenik-2007", "region": "US"})
            assert "errors" not in page, (args, page)
            assert page["data"]["film"]["title"] == "Refusenik"
    finally:
        assert serve.stop() == 0, "".join(serve.seen)


def test_a_port_in_use_is_one_line_before_anything_starts(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cli("serve", "--port", str(port), env=_env(FILMGRAPH_DATA_DIR=str(data_dir)))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"filmgraph: cannot listen on 127.0.0.1:{port}: address already in use; "
        "stop what uses it, or pass --port"
    ]
    # Refused before the embedded server was set up, and GraphiQL was never announced.
    assert not (data_dir / "pgdata").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "nonsense",
            "DATABASE_URL must be a URL like postgresql://user:password@host:5432/database, "
            "got one that starts with no scheme",
        ),
        (
            "mysql://user@127.0.0.1/films",
            "DATABASE_URL must be a URL like postgresql://user:password@host:5432/database, "
            "got one that starts with mysql://",
        ),
        (
            "postgresql://user@127.0.0.1:port/films",
            "DATABASE_URL: the port must be a number from 1 to 65535, got 'port'",
        ),
        (
            "postgres://user@127.0.0.1:99999/films",
            "DATABASE_URL: the port must be a number from 1 to 65535, got '99999'",
        ),
    ],
)
@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_malformed_database_url_is_one_line(url: str, message: str, command: str) -> None:
    args = ["serve", "--port", str(free_port())] if command == "serve" else [command]
    result = _cli(*args, env=_env(DATABASE_URL=url))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"filmgraph: {message}"]
