"""A setting out of its range stops every command with one line naming it, before anything
starts: a pool of no connections or a head timeout of 0 ms used to end in a traceback at
start-up, or a server that answered nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _schema(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # `filmgraph schema` needs no database: what fails here is the setting alone.
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FILMGRAPH_") and k != "DATABASE_URL"
    }
    return subprocess.run(
        [sys.executable, "-m", "graph.cli", "schema"],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FILMGRAPH_POOL_MAX": "0"}, "FILMGRAPH_POOL_MAX must be at least 1, got 0"),
        ({"FILMGRAPH_REPLICA_MAX_LAG_MS": "0"}, "FILMGRAPH_REPLICA_MAX_LAG_MS must be at least 1"),
        ({"FILMGRAPH_POOL_MIN": "-1"}, "FILMGRAPH_POOL_MIN must be at least 0, got -1"),
        (
            {"FILMGRAPH_POOL_MIN": "20", "FILMGRAPH_POOL_MAX": "5"},
            "FILMGRAPH_POOL_MIN (20) must not exceed FILMGRAPH_POOL_MAX (5)",
        ),
        ({"FILMGRAPH_PORT": "70000"}, "FILMGRAPH_PORT must be at most 65535, got 70000"),
        ({"FILMGRAPH_PORT": "0"}, "FILMGRAPH_PORT must be at least 1, got 0"),
        (
            {"FILMGRAPH_PORT": "9100", "FILMGRAPH_METRICS_PORT": "9100"},
            "FILMGRAPH_METRICS_PORT (9100) must differ from the API's port (FILMGRAPH_PORT)",
        ),
        (
            {"FILMGRAPH_LOG_FORMAT": "xml"},
            "FILMGRAPH_LOG_FORMAT must be one of ('text', 'json'), got 'xml'",
        ),
        (
            {"FILMGRAPH_TRACING": "jaeger"},
            "FILMGRAPH_TRACING must be one of ('off', 'otlp', 'console'), got 'jaeger'",
        ),
        (
            {"FILMGRAPH_HEADER_TIMEOUT_MS": "0"},
            "FILMGRAPH_HEADER_TIMEOUT_MS must be at least 1, got 0",
        ),
        ({"FILMGRAPH_BODY_TIMEOUT_MS": "-5"}, "FILMGRAPH_BODY_TIMEOUT_MS must be at least 1"),
        ({"FILMGRAPH_REQUEST_TIMEOUT_MS": "0"}, "FILMGRAPH_REQUEST_TIMEOUT_MS must be at least 1"),
        (
            {"FILMGRAPH_STATEMENT_TIMEOUT_MS": "0"},
            "FILMGRAPH_STATEMENT_TIMEOUT_MS must be at least 1",
        ),
        ({"FILMGRAPH_POOL_TIMEOUT_MS": "-1"}, "FILMGRAPH_POOL_TIMEOUT_MS must be at least 1"),
        ({"FILMGRAPH_POOL_QUEUE": "-1"}, "FILMGRAPH_POOL_QUEUE must be at least 0"),
        ({"FILMGRAPH_MAX_TOKENS": "-1"}, "FILMGRAPH_MAX_TOKENS must be at least 1"),
        ({"FILMGRAPH_MAX_COST": "0"}, "FILMGRAPH_MAX_COST must be at least 1"),
        ({"FILMGRAPH_MAX_BODY_BYTES": "0"}, "FILMGRAPH_MAX_BODY_BYTES must be at least 1"),
        (
            {"FILMGRAPH_DOCUMENT_CACHE_BYTES": "-1"},
            "FILMGRAPH_DOCUMENT_CACHE_BYTES must be at least 0",
        ),
        ({"FILMGRAPH_MAX_BATCH": "0"}, "FILMGRAPH_MAX_BATCH must be at least 1"),
        ({"FILMGRAPH_RATE_LIMIT_POINTS": "0"}, "FILMGRAPH_RATE_LIMIT_POINTS must be at least 1"),
    ],
)
def test_a_setting_out_of_range_is_one_line_and_a_failing_exit(
    env: dict[str, str], message: str
) -> None:
    done = _schema(env)
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"FILMGRAPH_POOL_MIN": "0", "FILMGRAPH_POOL_MAX": "1"},
        {"FILMGRAPH_POOL_MIN": "5", "FILMGRAPH_POOL_MAX": "5"},
        {"FILMGRAPH_PORT": "65535", "FILMGRAPH_POOL_QUEUE": "0"},
        {"FILMGRAPH_DOCUMENT_CACHE_BYTES": "0"},
    ],
)
def test_the_edges_of_each_range_are_accepted(env: dict[str, str]) -> None:
    done = _schema(env)
    assert done.returncode == 0, done.stderr
    assert "type Query" in done.stdout


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        (
            "postgresql://r1/films, mysql://u:secret@r2/films",
            "FILMGRAPH_REPLICA_URLS must be a URL like postgresql://user:password@host:5432/"
            "database, got one that starts with mysql://",
        ),
        (
            "postgresql://u:secret@r1:99999/films",
            "FILMGRAPH_REPLICA_URLS: the port must be a number from 1 to 65535, got '99999'",
        ),
    ],
)
def test_a_bad_replica_url_stops_serve_without_its_password(urls: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "graph.cli", "serve"],
        env={**os.environ, "FILMGRAPH_REPLICA_URLS": urls},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"filmgraph: {message}", done.stderr
    assert "secret" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("folder", ['data "dev"', "price$HOME", "a`b`", "two\\\\backslashes"])
def test_a_data_directory_pg_ctl_cannot_quote_is_refused(tmp_path: Path, folder: str) -> None:
    """pg_ctl starts PostgreSQL through /bin/sh with the data directory in double quotes: such a
    folder made the embedded server fail to start with "Directory nonexistent"."""
    done = _schema({"FILMGRAPH_DATA_DIR": str(tmp_path / folder)})
    assert done.returncode != 0
    assert 'FILMGRAPH_DATA_DIR must not contain ", $, `, two backslashes' in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("folder", ["my data's dir", "one\\backslash"])
def test_a_data_directory_sh_keeps_as_it_is_is_fine(tmp_path: Path, folder: str) -> None:
    done = _schema({"FILMGRAPH_DATA_DIR": str(tmp_path / folder)})
    assert done.returncode == 0, done.stderr


def test_the_data_directory_is_not_checked_with_a_database_url(tmp_path: Path) -> None:
    done = _schema(
        {"FILMGRAPH_DATA_DIR": str(tmp_path / 'x"y'), "DATABASE_URL": "postgresql://h/db"}
    )
    assert done.returncode == 0, done.stderr
