"""`filmgraph serve` on DATABASE_URL checks the schema on start: it migrates, or it says what
to run and stays unready (503, SERVICE_UNAVAILABLE) until someone does, without a restart."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from graph.embedded import EmbeddedPostgres, free_port
from graph.migrate import available
from tests.child import Child, run
from tests.conftest import extensions
from tests.migration_history import HISTORY, migrate_as_of

STARTED = "Uvicorn running on"
FILMS = "{ films(first: 1) { totalCount } }"


class Serve(Child):
    def __init__(self, dsn: str, *args: str, **env: str) -> None:
        self.port = free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")}
        full_env.update(DATABASE_URL=dsn, **env)
        super().__init__(["serve", "--port", str(self.port), *args], full_env)
        # Loopback only: never through a proxy from the environment.
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", timeout=30, trust_env=False
        )

    def ready(self) -> httpx.Response:
        return self.http.get("/readyz")

    def query(self, document: str) -> httpx.Response:
        return self.http.post("/graphql", json={"query": document})

    def stop(self) -> int:
        self.http.close()
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=60)
        self.drain()
        return code


@pytest.fixture
def serving() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        assert serve.stop() == 0, "".join(serve.seen)
        assert "Traceback" not in "".join(serve.seen)


def _migrate(dsn: str) -> None:
    result = run("migrate", env={**os.environ, "DATABASE_URL": dsn})
    assert result.returncode == 0, result.stderr


def _unavailable(response: httpx.Response) -> str:
    assert response.status_code == 503, response.text
    (error,) = response.json()["errors"]
    assert extensions(error) == {"code": "SERVICE_UNAVAILABLE"}, error
    message: str = error["message"]
    return message


def test_serve_migrates_an_empty_database_in_development(
    empty_dsn: str, serving: list[Serve]
) -> None:
    serving.append(serve := Serve(empty_dsn))
    serve.wait_for(f"{len(available())} migration(s) applied")
    serve.wait_for(STARTED)
    assert serve.ready().json() == {"status": "ok", "database": "ok"}
    assert serve.query(FILMS).json()["data"] == {"films": {"totalCount": 0}}


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--no-migrate"], {}),
        ([], {"FILMGRAPH_MIGRATE_ON_START": "0"}),
        # Production migrates as a step of its own unless told otherwise.
        ([], {"FILMGRAPH_ENV": "production", "FILMGRAPH_CURSOR_SECRET": "s" * 32}),
    ],
    ids=["flag", "setting", "production"],
)
def test_serve_without_migrating_is_unready_until_someone_migrates(
    empty_dsn: str, serving: list[Serve], args: list[str], env: dict[str, str]
) -> None:
    serving.append(serve := Serve(empty_dsn, *args, **env))
    serve.wait_for("filmgraph: the database is not migrated (pending: 0001_initial, 0002_discovery")
    assert "run `filmgraph migrate`" in serve.seen[-1]
    serve.wait_for(STARTED)
    ready = serve.ready()
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "database": "not migrated",
        "pending": [m.label for m in available()],
    }
    assert ready.headers["retry-after"] == "1"
    refused = serve.query(FILMS)
    assert _unavailable(refused) == "The database is not ready (not migrated); try again shortly."
    assert refused.headers["retry-after"] == "2"

    _migrate(empty_dsn)
    assert serve.ready().json() == {"status": "ok", "database": "ok"}
    assert serve.query(FILMS).json()["data"] == {"films": {"totalCount": 0}}


async def test_serve_on_a_database_migrated_before_0006(
    empty_dsn: str, serving: list[Serve]
) -> None:
    """The schema_migration of the time had no checksums: readiness reads it as it is."""
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate_as_of(conn, HISTORY[-1])
    finally:
        await conn.close()
    # 0006_converge, then every migration that landed after it.
    pending = [f"{m.version:04d}_{m.name}" for m in available() if m.version >= 6]
    assert pending[0] == "0006_converge"
    serving.append(serve := Serve(empty_dsn, "--no-migrate"))
    serve.wait_for(f"not migrated (pending: {', '.join(pending)})")
    serve.wait_for(STARTED)
    assert serve.ready().json()["pending"] == pending
    _migrate(empty_dsn)
    assert serve.ready().status_code == 200


async def test_serve_reports_a_schema_ahead_of_it(empty_dsn: str, serving: list[Serve]) -> None:
    """Migrated by a newer filmgraph: this one starts (its probe says why it is unready) but
    neither migrates nor serves."""
    _migrate(empty_dsn)
    conn = await asyncpg.connect(empty_dsn)
    try:
        await conn.execute("insert into schema_migration (version, name) values (9999, 'next')")
    finally:
        await conn.close()
    serving.append(serve := Serve(empty_dsn))
    serve.wait_for("filmgraph: the database has migration 9999_next applied")
    serve.wait_for(STARTED)
    ready = serve.ready()
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "database": "ahead of this filmgraph",
        "unknown": ["9999_next"],
    }
    message = _unavailable(serve.query(FILMS))
    assert message == "The database is not ready (ahead of this filmgraph); try again shortly."


def test_serve_on_an_unreachable_database_starts_and_says_so(serving: list[Serve]) -> None:
    dsn = f"postgresql://nobody@127.0.0.1:{free_port()}/x"
    serving.append(serve := Serve(dsn))
    serve.wait_for("schema not checked at start-up")
    serve.wait_for(STARTED)
    ready: Any = serve.ready()
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"


async def test_embedded_serve_refuses_an_edited_migration_and_stops_its_server(
    scratch_dir: Path,
) -> None:
    data_dir = scratch_dir / "filmgraph"
    env = {**os.environ, "FILMGRAPH_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    first = await asyncio.to_thread(run, "migrate", env=env)
    assert first.returncode == 0, first.stderr
    # As if 0001 had been edited after this database applied it.
    server = EmbeddedPostgres(data_dir / "pgdata")
    try:
        conn = await asyncpg.connect(server.start())
        try:
            await conn.execute("update schema_migration set checksum = 'x' where version = 1")
        finally:
            await conn.close()
    finally:
        server.stop()
    serve = await asyncio.to_thread(run, "serve", "--port", str(free_port()), env=env)
    assert serve.returncode == 2, serve.stderr
    assert "filmgraph: migration 0001_initial was applied to this database from a different " in (
        serve.stderr
    )
    assert "Traceback" not in serve.stderr
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), "embedded server left running"
