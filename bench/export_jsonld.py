"""`filmgraph export jsonld` on the generated 1M-film catalogue: films/s and peak RSS.

Reads the benchmark catalogue that bench/peers builds (`<cache>/db-1000000`, the embedded
PostgreSQL of bench/peers/database.py; FILMGRAPH_BENCH_CACHE, default
~/.cache/filmgraph-bench). That database is shared by every branch's benchmarks, so this
script does not migrate it: it applies sql/migrations/0012_linked.sql (the JSON-LD
functions) inside its own transaction, runs the feed there and rolls everything back.

Side by side in one run: one `film_jsonld(f, base)` call per film (what Film.jsonLd runs)
over the first `--compare` films, then the whole catalogue through the feed statement
(`films_jsonld_feed`: each part of the documents aggregated for all films at once, merged on
film id), written to /dev/null as the command writes a file. The process's peak RSS after
each: constant memory shows as two equal figures.

    .venv/bin/python bench/export_jsonld.py [--films 1000000] [--compare 20000]
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
    # The feed sorts the credits once before its first row, so it is measured over the whole
    # catalogue; one call per film is measured over its first `--compare` films.
    rate = await per_film(conn, args.compare)
    rss_small = peak_rss_mb()
    print(f"per film: {rate:,.0f} films/s (first {args.compare}); peak RSS {rss_small:.0f} MB")
    with open(os.devnull, "wb") as out:  # noqa: ASYNC230
        whole = await write_feed(conn, out, BASE, None)
    feed_rate = whole.films / whole.seconds
    print(
        f"feed: {whole.films} films in {whole.seconds:.1f} s ({feed_rate:,.0f} films/s); peak "
        f"RSS {peak_rss_mb():.0f} MB after the whole catalogue; load {os.getloadavg()[0]:.1f}"
    )
    print(f"feed / per film: {feed_rate / rate:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=1_000_000, help="catalogue size")
    parser.add_argument("--compare", type=int, default=20_000, help="films called one by one")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
