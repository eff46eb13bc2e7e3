"""The plumbing of the in-process benchmarks (bench/lane.py, bench/observability.py): a demo
database, film-page request bodies, and apps asked through ASGI one request at a time, with
the CPU time each request took. No network: what these measure is the app's own work."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from starlette.types import Message

from graph.demo.load import load_demo
from graph.embedded import EmbeddedPostgres
from graph.migrate import migrate
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


async def film_page_bodies(dsn: str, fresh: bool) -> list[bytes]:
    """The film page's JSON body for every film (the demo loaded first when `fresh`)."""
    conn = await asyncpg.connect(dsn)
    try:
        if fresh:
            await migrate(conn)
            await load_demo(conn)
        slugs = [r["slug"] for r in await conn.fetch("select slug from film order by slug")]
    finally:
        await conn.close()
    return [
        json.dumps({"query": FILM_PAGE, "variables": {"slug": s, "region": "US"}}).encode()
        for s in slugs
    ]


async def ask(app: Any, body: bytes) -> int:
    """POST body to /graphql through app; the status it answered."""
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
    """Every app's lifespan entered (its pool open) for the block."""
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield


async def alternate(
    apps: dict[str, Any], bodies: list[bytes], rounds: int, requests: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Requests/s and CPU ms per request of each app, round by round, the order reversed
    every other round so that the machine's noise falls on all alike."""
    rates: dict[str, list[float]] = {name: [] for name in apps}
    cpus: dict[str, list[float]] = {name: [] for name in apps}
    for r in range(rounds):
        order = list(apps) if r % 2 == 0 else list(reversed(apps))
        for name in order:
            rate, cpu = await run_round(apps[name], bodies, requests)
            rates[name].append(rate)
            cpus[name].append(cpu)
    return rates, cpus
