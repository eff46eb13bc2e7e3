"""What the NOT_FOUND check of filter references costs a filtered request, end to end.

A filter that names a genre, person or provider first looks it up (graph.schema._must_exist),
so that a typo answers NOT_FOUND instead of an empty page. This times filtered `films`
requests through the whole app in-process (httpx's ASGI transport: GraphQL, loaders, SQL),
with the check and with it switched off, alternating request by request, against the 1M-film
catalogue of bench/discovery.py (run that once first; it keeps its server's data under
FILMGRAPH_BENCH_DIR, default /tmp/filmgraph-bench).

    .venv/bin/python bench/reference_check_cost.py [--runs 200] [--films 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

import graph.schema
from graph.app import create_app
from graph.embedded import EmbeddedPostgres
from graph.settings import Settings

DOCUMENTS = {
    "genresAny": '{ films(first: 20, filter: {genresAny: ["documentary"]}) { nodes { title } } }',
    # Person 1 is the catalogue's most credited person (UGVyc29uOjE= is Person:1).
    "people": '{ films(first: 20, filter: {people: [{person: "UGVyc29uOjE="}]}) '
    "{ nodes { title } } }",
}


async def _unchecked(info: Any, references: Any) -> None:
    return None


async def run(dsn: str, runs: int) -> None:
    checked = graph.schema._must_exist
    app = create_app(Settings(), dsn)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, document in DOCUMENTS.items():
                first = (await client.post("/graphql", json={"query": document})).json()
                assert "errors" not in first, first
                times: dict[str, list[float]] = {"with the check": [], "without": []}
                for _ in range(runs):
                    for side, check in (("with the check", checked), ("without", _unchecked)):
                        graph.schema._must_exist = check
                        started = time.perf_counter()
                        await client.post("/graphql", json={"query": document})
                        times[side].append(time.perf_counter() - started)
                graph.schema._must_exist = checked
                for side, values in times.items():
                    values.sort()
                    p95 = values[int(0.95 * len(values))]
                    print(
                        f"{name:10} {side:15} p50 {1000 * statistics.median(values):6.2f} ms"
                        f"  p95 {1000 * p95:6.2f} ms"
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--films", type=int, default=1_000_000)
    args = parser.parse_args()
    base = Path(os.environ.get("FILMGRAPH_BENCH_DIR", "/tmp/filmgraph-bench"))
    server = EmbeddedPostgres(base / "pgdata")
    try:
        dsn = server.start().rsplit("/", 1)[0] + f"/bench_{args.films}"
        asyncio.run(run(dsn, args.runs))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
