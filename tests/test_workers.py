"""`filmgraph serve --workers N`: N processes on one port, stopped together by SIGTERM or
SIGINT."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from graph.settings import Settings
from graph.workers import WorkersError, worker_settings
from tests.test_serve_schema import Serve

FILM = '{ film(slug: "refusenik-2007") { title } }'


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_two_workers_answer_on_one_port_and_stop_together(
    dsn: str, stop: signal.Signals
) -> None:
    serve = Serve(dsn, "--workers", "2")
    pids: set[int] = set()
    try:
        serve.wait_for("(2 workers)")
        deadline = time.monotonic() + 60
        while len(pids) < 2:
            assert time.monotonic() < deadline, pids
            # A connection of its own each time: the kernel gives it to either worker.
            async with httpx.AsyncClient(base_url=serve.http.base_url, trust_env=False) as c:
                health = (await c.get("/healthz")).json()
                pids.add(health["worker"])
                body = (await c.post("/graphql", json={"query": FILM})).json()
                assert body["data"] == {"film": {"title": "Refusenik"}}
        assert serve.proc.pid not in pids
    finally:
        serve.http.close()
        serve.proc.send_signal(stop)
        code = serve.proc.wait(timeout=60)
        serve.drain()
    output = "".join(serve.seen)
    assert code == 0, output
    assert "Traceback" not in output
    assert [pid for pid in pids if _alive(pid)] == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_share_the_pool_out() -> None:
    each = worker_settings(Settings(pool_min_size=3, pool_max_size=10), 2)
    assert (each.pool_min_size, each.pool_max_size) == (2, 5)
    assert worker_settings(Settings(pool_max_size=10), 1).pool_max_size == 10
    with pytest.raises(WorkersError, match="FILMGRAPH_POOL_MAX of at least 4"):
        worker_settings(Settings(pool_max_size=3), 4)


async def test_one_process_names_no_worker(dsn: str) -> None:
    serve = Serve(dsn)
    try:
        serve.wait_for("Uvicorn running on")
        assert serve.http.get("/healthz").json() == {"status": "ok"}
    finally:
        assert serve.stop() == 0
