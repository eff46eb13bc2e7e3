"""`filmgraph export jsonld` on the generated 1M-film catalogue: the single statement and the
chunked feed side by side, films/s, peak RSS and machine load.

Reads the benchmark catalogue that bench/peers builds (`<cache>/db-1000000`, the embedded
PostgreSQL of bench/peers/database.py; FILMGRAPH_BENCH_CACHE, default
~/.cache/filmgraph-bench). That database is shared by every branch's benchmarks, so this
script writes nothing to it: every feed runs in read-only transactions. It needs the JSON-LD
functions of migration 0012 committed there, since the chunked feed reads them from several
connections (a migration applied in a rolled-back transaction is seen by that transaction
only); without them it stops and says so.

Side by side in one run, each feed over the whole catalogue written to /dev/null as the
command writes a file, each in a process of its own so that its peak RSS is its own:

- single: `films_jsonld_feed`, the whole feed as one statement on one connection (one server
  core; the first document comes after the sort of every credit);
- chunked: `filmgraph export jsonld`'s feed, `--chunk` films a statement on `--connections`
  connections sharing one snapshot (graph/export.py), once for each chunk size given;
- with --parallel, parallel: the single statement with PostgreSQL's parallel query, which
  needs COPY (a cursor never runs parallel), whose text format escapes backslashes: the
  speed of the alternative, not the feed's bytes.

Each line says films/s, the seconds to the first document, the process's peak RSS, the
1-minute load average sampled every 2 s during that feed (min-max), and the CPU time the
feed's server backends and its client process took (read from /proc, so the server must run
on this machine): on a shared machine films/s says how much of the cores the feed got, and
films a CPU second what each core does with them.

    .venv/bin/python bench/export_jsonld.py [--films 1000000] [--connections 2] [--parallel]
        [--chunk 20000 [--chunk 10000 ...]] [--dsn DSN of a server already running it]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import asyncpg

from graph import db
from graph.embedded import EmbeddedPostgres
from graph.export import CHUNK_FILMS, CONNECTIONS, Exported, export_jsonld, write_feed

BASE = "https://films.example.org"


class DevNull:
    """/dev/null that notes when the first bytes came."""

    def __init__(self) -> None:
        self.out: BinaryIO = open(os.devnull, "wb")  # noqa: SIM115
        self.first: float | None = None
        self.bytes = 0

    def write(self, data: bytes | bytearray) -> int:
        if self.first is None and data:
            self.first = time.perf_counter()
        self.bytes += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process of this machine (a server backend)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def parallel_copy(conn: asyncpg.Connection, out: DevNull) -> Exported:
    """The single statement with PostgreSQL's parallel query: only without a cursor, so through
    COPY, whose text format escapes backslashes (not the feed's bytes; for speed only)."""
    start = time.perf_counter()
    films = 0

    async def write(data: bytes) -> None:
        nonlocal films
        films += data.count(b"\n")
        out.write(data)

    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute("set local max_parallel_workers_per_gather = 2")
        await conn.copy_from_query(db.sql("films_jsonld_feed"), BASE, None, output=write)
    return Exported(films, time.perf_counter() - start)


async def watch_workers(conn: asyncpg.Connection, leader: int, cpu: dict[int, float]) -> None:
    """The CPU time of `leader`'s parallel workers, read every second while they live (so
    short by up to a second each)."""
    while True:
        for row in await conn.fetch(
            "select pid from pg_stat_activity where leader_pid = $1 and pid <> $1", leader
        ):
            with contextlib.suppress(OSError):
                cpu[row["pid"]] = cpu_seconds(row["pid"])
        await asyncio.sleep(1)


async def feed(dsn: str, variant: str, connections: int, chunk: int) -> dict[str, Any]:
    """One feed over the whole catalogue, in this process."""
    out = DevNull()
    conns = [await asyncpg.connect(dsn) for _ in range(connections if variant == "chunked" else 1)]
    try:
        backends = [await conn.fetchval("select pg_backend_pid()") for conn in conns]
        server_cpu = sum(cpu_seconds(pid) for pid in backends)
        client_cpu = own_cpu_seconds()
        extra_cpu = 0.0
        start = time.perf_counter()
        if variant == "single":
            async with conns[0].transaction(isolation="repeatable_read", readonly=True):
                done = await write_feed(conns[0], out, BASE, None)  # type: ignore[arg-type]
        elif variant == "parallel":
            watcher = await asyncpg.connect(dsn)
            workers: dict[int, float] = {}
            watch = asyncio.create_task(watch_workers(watcher, backends[0], workers))
            try:
                done = await parallel_copy(conns[0], out)
            finally:
                watch.cancel()
                await watcher.close()
            extra_cpu = sum(workers.values())
        else:
            done = await export_jsonld(conns, out, BASE, None, "ndjson", chunk)  # type: ignore[arg-type]
        server_cpu = sum(cpu_seconds(pid) for pid in backends) - server_cpu + extra_cpu
        client_cpu = own_cpu_seconds() - client_cpu
    finally:
        for conn in conns:
            await conn.close()
    return {
        "films": done.films,
        "seconds": done.seconds,
        "first": (out.first or start) - start,
        "bytes": out.bytes,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
    }


def run_child(dsn: str, variant: str, connections: int, chunk: int) -> dict[str, Any]:
    """`feed` in a child process, with the machine's load sampled while it runs."""
    loads: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            loads.append(os.getloadavg()[0])
            stop.wait(2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                variant,
                "--dsn",
                dsn,
                "--connections",
                str(connections),
                "--chunk",
                str(chunk),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=3600,
        )
    finally:
        stop.set()
        sampler.join()
    result: dict[str, Any] = json.loads(child.stdout)
    result["load"] = (min(loads), max(loads))
    return result


def main(args: argparse.Namespace) -> int:
    cache = Path(os.environ.get("FILMGRAPH_BENCH_CACHE") or Path.home() / ".cache/filmgraph-bench")
    server = EmbeddedPostgres(cache / f"db-{args.films}" / "pgdata")
    dsn = args.dsn or server.start()  # stop() leaves a server it did not start alone
    try:
        total, linked = asyncio.run(_catalogue(dsn))
        if not linked:
            print(
                "the catalogue's database: migration 0012 (the JSON-LD functions) is not applied; "
                "apply it (filmgraph migrate, which adds functions only) and run again",
                file=sys.stderr,
            )
            return 2
        print(f"catalogue: {total} films; {os.cpu_count()} cores")
        variants = [("single", 1, 0)] + [("parallel", 1, 0)] * args.parallel
        variants += [("chunked", args.connections, c) for c in args.chunk]
        rates = {}
        for variant, connections, chunk in variants:
            r = run_child(dsn, variant, connections, chunk)
            rate = r["films"] / r["seconds"]
            name = {
                "single": "single statement",
                "parallel": "single statement, parallel query (COPY)",
                "chunked": f"chunked, {connections} connections x {chunk} films",
            }[variant]
            rates[name] = rate
            print(
                f"{name}: {r['films']} films in {r['seconds']:.1f} s ({rate:,.0f} films/s); "
                f"first document at {r['first']:.1f} s; {r['bytes'] / 1e9:.2f} GB; "
                f"peak RSS {r['rss_mb']:.0f} MB; load {r['load'][0]:.1f}-{r['load'][1]:.1f}; "
                f"CPU s server {r['server_cpu']:.0f}, client {r['client_cpu']:.0f} "
                f"({r['films'] / (r['server_cpu'] + r['client_cpu']):,.0f} films a CPU second)",
                flush=True,
            )
        single = rates.pop("single statement")
        for name, rate in rates.items():
            print(f"{name} / single statement: {rate / single:.2f}x")
    finally:
        server.stop()
    return 0


async def _catalogue(dsn: str) -> tuple[int, bool]:
    conn = await asyncpg.connect(dsn)
    try:
        total = await conn.fetchval("select count(*) from film")
        linked = await conn.fetchval(
            "select exists (select from schema_migration where version = 12)"
        )
        return total, linked
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=1_000_000, help="catalogue size")
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument(
        "--chunk", type=int, action="append", help=f"films a chunk (default {CHUNK_FILMS})"
    )
    parser.add_argument("--parallel", action="store_true", help="also the parallel-query COPY")
    parser.add_argument(
        "--child", choices=("single", "parallel", "chunked"), help=argparse.SUPPRESS
    )
    parser.add_argument("--dsn", help="a running server's database holding the catalogue")
    args = parser.parse_args()
    args.chunk = args.chunk or [CHUNK_FILMS]
    if args.child:
        result = asyncio.run(feed(args.dsn, args.child, args.connections, args.chunk[0]))
        print(json.dumps(result))
        sys.exit(0)
    sys.exit(main(args))
