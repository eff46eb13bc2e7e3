"""The access log: uvicorn's line for every response, from `filmgraph serve` as before, and
through the logging module whenever the access logger is configured otherwise."""

from __future__ import annotations

import logging
import os
import re
import signal

import httpx

from graph.accesslog import AccessLog
from graph.embedded import free_port
from tests.child import Child

FILM = '{ film(slug: "refusenik-2007") { title } }'


def test_serve_logs_a_line_per_response_as_uvicorn_words_it(dsn: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")}
    serve = Child(["serve", "--port", str(port)], {**env, "DATABASE_URL": dsn}, stdout=True)
    try:
        serve.wait_for("Uvicorn running")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            assert client.post("/graphql", json={"query": FILM}).status_code == 200
            assert client.get("/nowhere?x=1").status_code == 404
    finally:
        serve.proc.send_signal(signal.SIGINT)
        assert serve.proc.wait(timeout=60) == 0
        serve.drain()
    assert serve.proc.stdout is not None
    lines = serve.proc.stdout.read().splitlines()
    logged = [line for line in lines if "/graphql" in line or "/nowhere" in line]
    address = r"INFO:     127\.0\.0\.1:\d+ - "
    assert len(logged) == 2, lines
    assert re.fullmatch(address + r'"POST /graphql HTTP/1\.1" 200 OK', logged[0]), logged
    assert re.fullmatch(address + r'"GET /nowhere\?x=1 HTTP/1\.1" 404 Not Found', logged[1]), logged


def test_a_logger_configured_otherwise_gets_every_line() -> None:
    """A handler of the deployment's own (JSON lines, say) receives uvicorn's record."""
    logger = logging.getLogger("tests.accesslog")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger.addHandler(Collect())
    AccessLog(logger).info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/", "1.1", 200)
    assert [r.args for r in records] == [("127.0.0.1:1", "GET", "/", "1.1", 200)]
