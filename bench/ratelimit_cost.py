"""What the shared rate limit adds per request: the film page on the 50k catalogue, side by
side, from servers that differ only in FILMGRAPH_RATE_LIMIT_STORE (graph/sharedlimit.py).

    .venv/bin/python bench/ratelimit_cost.py [--rounds 3] [--seconds 8] [--connections 32]
        [--points 100000000]

Systems, all on one copy of the 50k catalogue (bench/fleet.py makes it), one `--serve`
process each (the app and server `filmgraph serve` runs, production settings): `off` (no rate
limit), `process` (the in-process buckets, the default) and `postgres` (the shared buckets, with
the default FILMGRAPH_RATE_LIMIT_LEASE_POINTS). A film page is charged 166 points. The limit,
`--points` a minute, is high enough never to refuse: every request is charged, none refused,
all from one client (one bucket, the hottest row there can be, as a frontend's API key would
be). wrk (2 threads) runs each in turn per round, the order alternating; prints the median
req/s, p50/p99 and the ratio to `process`, the statements of `rate_limit_take` per request
(pg_stat_statements) and their mean time in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import sys
import tempfile
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench" / "peers"), str(ROOT / "bench"), str(ROOT)]

from database import SERVER_SETTINGS  # noqa: E402
from fleet import SERVER_ENV, Server, copy_catalogue, keys, migrate  # noqa: E402
from serving import wrk  # noqa: E402

from graph.embedded import EmbeddedPostgres, free_port  # noqa: E402

SYSTEMS = {
    "off": {"FILMGRAPH_RATE_LIMIT": "0"},
    "process": {"FILMGRAPH_RATE_LIMIT": "1", "FILMGRAPH_RATE_LIMIT_STORE": "process"},
    "postgres": {"FILMGRAPH_RATE_LIMIT": "1", "FILMGRAPH_RATE_LIMIT_STORE": "postgres"},
}
LUA = """
local bodies = {%s}
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
function request() return wrk.format(nil, "/graphql", nil, bodies[math.random(#bodies)]) end
"""


async def take_ms(dsn: str) -> float:
    """The mean time of one rate_limit_take in the database, in ms."""
    conn = await asyncpg.connect(dsn)
    try:
        ms = await conn.fetchval(
            "select sum(total_exec_time) / nullif(sum(calls), 0) from pg_stat_statements "
            "where query like '%rate_limit_take(%' and query not like '%pg_stat_statements%'"
        )
        return float(ms or 0)
    finally:
        await conn.close()


async def takes(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        calls = await conn.fetchval(
            "select coalesce(sum(calls), 0) from pg_stat_statements "
            "where query like '%rate_limit_take(%' and query not like '%pg_stat_statements%'"
        )
        return int(calls)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--data", type=Path, default=Path("/tmp/fleet-bench"))
    parser.add_argument("--points", type=int, default=100_000_000, help="the limit, a minute")
    args = parser.parse_args()
    primary = EmbeddedPostgres(copy_catalogue(args.data), settings=SERVER_SETTINGS)
    dsn = primary.start()
    servers: dict[str, Server] = {}
    try:
        migrate(dsn)
        asyncio.run(_extension(dsn))
        slugs, _ = asyncio.run(keys(dsn))
        film = (ROOT / "bench" / "pages" / "film-page.graphql").read_text()
        bodies = [
            json.dumps(json.dumps({"query": film, "variables": {"slug": s, "region": "US"}}))
            for s in slugs
        ]
        logs = Path(tempfile.mkdtemp(prefix="ratelimit-cost-"))
        script = logs / "film.lua"
        script.write_text(LUA % ", ".join(bodies))
        base = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")},
            **SERVER_ENV,
            "DATABASE_URL": dsn,
            "FILMGRAPH_RATE_LIMIT_POINTS": str(args.points),
        }
        for name, env in SYSTEMS.items():
            servers[name] = Server(name, free_port(), {**base, **env}, logs / f"{name}.log")
            servers[name].start()
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in SYSTEMS}
        statements: dict[str, list[float]] = {name: [] for name in SYSTEMS}
        rng = random.Random(1)
        for round_ in range(args.rounds):
            order = list(SYSTEMS)
            rng.shuffle(order)
            for name in order:
                before = asyncio.run(takes(dsn))
                result = wrk(servers[name].port, script, args.seconds, args.connections)
                after = asyncio.run(takes(dsn))
                runs[name].append(result)
                statements[name].append((after - before) / max(1.0, result["requests"]))
                print(
                    f"round {round_ + 1} {name:18} {result['rps']:8.0f} req/s  p50 "
                    f"{result['p50']:6.1f} ms  p99 {result['p99']:6.1f} ms  non-2xx "
                    f"{result['non2xx']:.0f}  rate_limit_take/request "
                    f"{statements[name][-1]:.3f}  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        reference = statistics.median(r["rps"] for r in runs["process"])
        print("\nsystem              req/s (median)  p50 ms  p99 ms  vs process  takes/request")
        for name in SYSTEMS:
            rps = statistics.median(r["rps"] for r in runs[name])
            print(
                f"{name:18} {rps:15.0f} {statistics.median(r['p50'] for r in runs[name]):7.1f} "
                f"{statistics.median(r['p99'] for r in runs[name]):7.1f} "
                f"{rps / reference:10.2f} {statistics.median(statements[name]):14.3f}"
            )
        print(f"rate_limit_take: {asyncio.run(take_ms(dsn)):.3f} ms in the database on average")
    finally:
        for server in servers.values():
            if server.process is not None:
                server.signal(signal.SIGTERM)
        for server in servers.values():
            if server.process is not None:
                server.wait()
        primary.stop()


async def _extension(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("create extension if not exists pg_stat_statements")
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
