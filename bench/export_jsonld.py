"""`filmgraph export jsonld` on the generated 1M-film catalogue: films/s and peak RSS.

Reads the benchmark catalogue that bench/peers builds (`<cache>/db-1000000`, the embedded
PostgreSQL of bench/peers/database.py; FILMGRAPH_BENCH_CACHE, default
~/.cache/filmgraph-bench). That database is shared by every branch's benchmarks, so this
script does not migrate it: it applies sql/migrations/0012_linked.sql (the JSON-LD
functions) inside its own transaction, runs the feed there and rolls everything back.

Side by side in one run, alternating, on the first `--compare` films: the feed statement
(`films_jsonld_feed`: each part of the documents aggregated for all films at once, merged on
film id) against one `film_jsonld(f, base)` call per film (what Film.jsonLd runs). Then the
whole catalogue through the feed, written to /dev/null as the command writes a file, with the
process's peak RSS after the first 100,000 films and at the end: constant memory shows as
two equal figures.

    .venv/bin/python bench/export_jsonld.py [--films 1000000] [--compare 50000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path

import asyncpg

from graph.embedded import EmbeddedPostgres
from graph.export import write_feed

REPO = Path(__file__).resolve().parents[1]
MIGRATION = REPO / "sql" / "migrations" / "0012_linked.sql"
BASE = "https://films.example.org"
PER_FILM = "select film_jsonld(f, $1::text)::text from film f order by f.id"


class Rollback(Exception):
    pass


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def per_film(conn: asyncpg.Connection, films: int) -> float:
    start = time.perf_counter()
    n = 0
    async for _ in conn.cursor(PER_FILM, BASE, prefetch=2_000):
        n += 1
        if n == films:
            break
    return n / (time.perf_counter() - start)


async def feed(conn: asyncpg.Connection, films: int) -> float:
    with open(os.devnull, "wb") as out:  # noqa: ASYNC230 (the command writes files alike)
        done = await write_feed(conn, out, BASE, None, limit=films)
    return done.films / done.seconds


async def main(args: argparse.Namespace) -> None:
    cache = Path(os.environ.get("FILMGRAPH_BENCH_CACHE") or Path.home() / ".cache/filmgraph-bench")
    server = EmbeddedPostgres(cache / f"db-{args.films}" / "pgdata")
    dsn = server.start()
    try:
        conn = await asyncpg.connect(dsn)
        try:
            total = await conn.fetchval("select count(*) from film")
            print(f"catalogue: {total} films; machine load {os.getloadavg()[0]:.1f}")
            try:
                async with conn.transaction(isolation="repeatable_read"):
                    await conn.execute(MIGRATION.read_text())
                    await run(conn, args)
                    raise Rollback
            except Rollback:
                pass
        finally:
            await conn.close()
    finally:
        server.stop()


async def run(conn: asyncpg.Connection, args: argparse.Namespace) -> None:
    rates: dict[str, list[float]] = {"feed": [], "per film": []}
    for _ in range(args.rounds):
        rates["feed"].append(await feed(conn, args.compare))
        rates["per film"].append(await per_film(conn, args.compare))
    best = {name: max(values) for name, values in rates.items()}
    for name, values in rates.items():
        print(f"{name:>9}: {', '.join(f'{v:,.0f}' for v in values)} films/s (first {args.compare})")
    print(f"feed / per film: {best['feed'] / best['per film']:.1f}x")

    with open(os.devnull, "wb") as out:  # noqa: ASYNC230
        first = await write_feed(conn, out, BASE, None, limit=100_000)
        rss_first = peak_rss_mb()
        whole = await write_feed(conn, out, BASE, None)
    print(
        f"whole catalogue: {whole.films} films in {whole.seconds:.1f} s "
        f"({whole.films / whole.seconds:,.0f} films/s); peak RSS {rss_first:.0f} MB after a "
        f"first feed of {first.films} films, {peak_rss_mb():.0f} MB after the whole "
        f"catalogue; load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=1_000_000, help="catalogue size")
    parser.add_argument("--compare", type=int, default=50_000, help="films per side-by-side run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
