"""The one database every system reads: `filmgraph generate --films N --seed 1` plus the demo.

Built once per size under the cache folder (`<cache>/db-<films>`, an embedded PostgreSQL
whose data directory is `pgdata` in there, exactly as FILMGRAPH_DATA_DIR lays it out), and
reused while its marker `built.json` says the same size and seed. With DATABASE_URL the
caller's PostgreSQL is used as it is (it must already hold a generated catalogue) and
nothing is built. The harness's own monitoring (pg_stat_statements) lives in a database of
its own, `bench_monitor`, so that the graph's schema, which PostGraphile reflects, stays
exactly filmgraph's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from graph.embedded import EmbeddedPostgres

REPO = Path(__file__).resolve().parents[2]
FILMGRAPH = REPO / ".venv" / "bin" / "filmgraph"
SEED = 1
MONITOR_DB = "bench_monitor"

# The server as the benchmark runs it: statements counted (utility statements too: the pool's
# RESET ALL is one), enough connections for pgbench's 32 plus every system's pool, and the
# durability settings of a throwaway catalogue (nothing here writes during timing).
SERVER_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "pg_stat_statements.track_utility": "on",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@dataclass
class Database:
    dsn: str
    films: int
    server: EmbeddedPostgres | None  # None: DATABASE_URL, not ours to stop
    built: dict[str, Any]

    @property
    def monitor_dsn(self) -> str:
        return self.dsn.rsplit("/", 1)[0] + "/" + MONITOR_DB

    @property
    def bin_dir(self) -> Path | None:
        return None if self.server is None else self.server._bin

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def _cli(data_dir: Path, *args: str) -> None:
    env = {**os.environ, "FILMGRAPH_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    subprocess.run([str(FILMGRAPH), *args], env=env, check=True, timeout=7200)


def build(cache: Path, films: int) -> dict[str, Any]:
    """Generate the catalogue and load the demo with filmgraph's own commands, unless the
    marker says it is there; returns the marker (with the build times)."""
    folder = cache / f"db-{films}"
    marker = folder / "built.json"
    if marker.exists():
        built: dict[str, Any] = json.loads(marker.read_text())
        if built.get("films") == films and built.get("seed") == SEED and built.get("demo"):
            return built
    if (folder / "pgdata").exists():
        raise SystemExit(
            f"{folder} holds a database without a complete build marker (an interrupted "
            "build?): delete that folder and run again"
        )
    folder.mkdir(parents=True, exist_ok=True)
    print(f"peers: generating {films} films (seed {SEED}) in {folder}", file=sys.stderr)
    start = time.monotonic()
    _cli(folder, "generate", "--films", str(films), "--seed", str(SEED))
    generated = time.monotonic()
    _cli(folder, "load-demo")
    built = {
        "films": films,
        "seed": SEED,
        "demo": True,
        "generate_s": round(generated - start, 1),
        "demo_s": round(time.monotonic() - generated, 1),
    }
    marker.write_text(json.dumps(built))
    return built


async def _prepare_monitor(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        if not await conn.fetchval("select 1 from pg_database where datname = $1", MONITOR_DB):
            await conn.execute(f"create database {MONITOR_DB}")
        # Fresh planner statistics for every system alike.
        await conn.execute("analyze")
    finally:
        await conn.close()
    mon = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/" + MONITOR_DB, timeout=30)
    try:
        await mon.execute("create extension if not exists pg_stat_statements")
    finally:
        await mon.close()


def migrate(dsn: str) -> None:
    """The graph current for the filmgraph under test (a branch may add a migration);
    `filmgraph migrate` changes nothing when it is."""
    env = {**os.environ, "DATABASE_URL": dsn}
    subprocess.run([str(FILMGRAPH), "migrate"], env=env, check=True, timeout=600)


async def open_database(cache: Path, films: int) -> Database:
    """The database to benchmark on, started if it is ours."""
    url = os.environ.get("DATABASE_URL")
    if url:
        migrate(url)
        await _prepare_monitor(url)
        return Database(url, films, None, {"films": films, "database_url": True})
    built = build(cache, films)
    server = EmbeddedPostgres(cache / f"db-{films}" / "pgdata", settings=SERVER_SETTINGS)
    dsn = server.start()
    try:
        migrate(dsn)
        await _prepare_monitor(dsn)
    except BaseException:
        server.stop()
        raise
    return Database(dsn, films, server, built)
