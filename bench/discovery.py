"""Discovery at scale: every filter, order and search shape against 50k and 1M films.

Generates (once, then reuses) two catalogues with `graph.generate` in an embedded
PostgreSQL under FILMGRAPH_BENCH_DIR (default /tmp/filmgraph-bench), then times each shape's
SQL, exactly as the API builds it, alternating between the two sizes so that machine noise
hits both alike. Reports p50/p95 per shape and size, the 1M/50k ratio of p95, and whether
EXPLAIN shows a sequential scan of film, person, credit or offer.

    .venv/bin/python bench/discovery.py [--runs 30] [--small 50000] [--large 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import strawberry

from graph import db
from graph.discovery.inputs import (
    AvailabilityFilter,
    CreditFilter,
    FilmFilter,
    FilmOrder,
    FilmOrderField,
    IntRange,
    OrderDirection,
    PersonFilter,
)
from graph.discovery.keyset import film_query, page_sql, person_query
from graph.discovery.pages import fetch
from graph.embedded import EmbeddedPostgres
from graph.generate import generate
from graph.ids import to_global_id
from graph.mapping import CreditRole, OfferKind
from graph.migrate import migrate

BIG_TABLES = ("film", "person", "credit", "offer")


@dataclass(frozen=True)
class Shape:
    name: str
    sql: Callable[[], Statement]


@dataclass(frozen=True)
class Statement:
    sql: str
    params: list[Any]
    custom_plan: bool = False  # planned for each execution, as the API does for filters


def films(
    flt: FilmFilter | None = None,
    order: list[FilmOrder] | None = None,
    count: bool = False,
    after: str | None = None,
) -> Callable[[], Statement]:
    def build() -> Statement:
        query, p = film_query(flt, order, b"bench")
        page = page_sql(query, p, 20, after, None, None)
        if count:
            return Statement(page.count_sql, page.count_params, page.custom_plan)
        return Statement(page.sql, page.params, page.custom_plan)

    return build


def people(flt: PersonFilter | None) -> Callable[[], Statement]:
    def build() -> Statement:
        query, p = person_query(flt, None, b"bench")
        page = page_sql(query, p, 20, None, None, None)
        return Statement(page.sql, page.params, page.custom_plan)

    return build


def named(statement: str, *args: Any) -> Callable[[], Statement]:
    return lambda: Statement(db.sql(statement), list(args))


def order(field: FilmOrderField, desc: bool = True) -> list[FilmOrder]:
    return [FilmOrder(field=field, direction=OrderDirection.DESC if desc else OrderDirection.ASC)]


@dataclass(frozen=True)
class Sample:
    """Search strings and ids taken from the catalogue itself (the same seed, both sizes)."""

    title: str  # a film's title, searched with a typo and completed from a prefix
    name: str  # a person's name, likewise
    rare: int  # a person with a single directing credit


NAMES = "select name from person where id between 4242 and 5242 and name ~ ' '"
SAMPLE = """
select (select title from film where id = 4242) as title,
       (select name from person where id = 4242) as name,
       (select person_id from credit where role = 'DIRECTOR' group by person_id
        having count(*) = 1 order by person_id limit 1) as rare
"""


def typo(text: str) -> str:
    """Swap two letters in the middle: the kind of slip search should forgive."""
    i = max(1, len(text) // 2)
    return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]


def shapes(sample: Sample) -> list[Shape]:
    prolific = strawberry.ID(to_global_id("Person", 1))  # person 1: most credits (Zipf head)
    rare = strawberry.ID(to_global_id("Person", sample.rare))
    us_sub = AvailabilityFilter(region="US", kinds=[OfferKind.SUBSCRIPTION])
    docs = FilmFilter(
        genres_any=["documentary"],
        year=IntRange(min=2000, max=2009),
        min_rating=7.5,
        availability=us_sub,
    )
    return [
        Shape("films by title (first page)", films()),
        Shape("films by year desc", films(order=order(FilmOrderField.YEAR))),
        Shape("films by rating desc", films(order=order(FilmOrderField.RATING))),
        Shape("films by votes desc", films(order=order(FilmOrderField.VOTES))),
        Shape("films by runtime asc", films(order=order(FilmOrderField.RUNTIME, False))),
        Shape("filter genresAny [documentary]", films(FilmFilter(genres_any=["documentary"]))),
        Shape(
            "filter genresAll [drama, comedy]", films(FilmFilter(genres_all=["drama", "comedy"]))
        ),
        Shape(
            "filter year 2000-2009 by rating",
            films(FilmFilter(year=IntRange(min=2000, max=2009)), order(FilmOrderField.RATING)),
        ),
        Shape(
            "filter runtime 90-100", films(FilmFilter(runtime_minutes=IntRange(min=90, max=100)))
        ),
        Shape(
            "filter minRating 9 by votes",
            films(FilmFilter(min_rating=9.0), order(FilmOrderField.VOTES)),
        ),
        Shape("filter minVotes 1000", films(FilmFilter(min_votes=1000))),
        Shape("filter certification G", films(FilmFilter(certifications=["G"]))),
        Shape(
            "filter person (prolific) as DIRECTOR",
            films(FilmFilter(people=[CreditFilter(person=prolific, role=CreditRole.DIRECTOR)])),
        ),
        Shape(
            "filter person (one film) as DIRECTOR",
            films(FilmFilter(people=[CreditFilter(person=rare, role=CreditRole.DIRECTOR)])),
        ),
        Shape("filter on US subscription", films(FilmFilter(availability=us_sub))),
        Shape("docs 2000s >= 7.5 on US subscription", films(docs)),
        Shape("filter query <title> by relevance", films(FilmFilter(query=sample.title))),
        Shape(
            "count: genresAny [documentary]",
            films(FilmFilter(genres_any=["documentary"]), count=True),
        ),
        Shape(
            "count: year 2000-2009",
            films(FilmFilter(year=IntRange(min=2000, max=2009)), count=True),
        ),
        Shape("count: docs 2000s >= 7.5 on US subscription", films(docs, count=True)),
        Shape(
            "search films <title with typo>", named("film_ids_by_search", typo(sample.title), 10)
        ),
        Shape(
            "search people <name with typo>", named("person_ids_by_search", typo(sample.name), 10)
        ),
        Shape("suggest films <title prefix>", named("film_ids_by_prefix", sample.title[:4], 8)),
        Shape("suggest people <name prefix>", named("person_ids_by_prefix", sample.name[:4], 8)),
        Shape("people query <name with typo>", people(PersonFilter(query=typo(sample.name)))),
        Shape("people roles [DIRECTOR]", people(PersonFilter(roles=[CreditRole.DIRECTOR]))),
    ]


async def ensure_database(server_dsn: str, name: str, films_n: int) -> str:
    admin = await asyncpg.connect(server_dsn)
    try:
        exists = await admin.fetchval("select 1 from pg_database where datname = $1", name)
        if not exists:
            await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    dsn = server_dsn.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(dsn)
    try:
        if await migrate(conn):
            await conn.execute("vacuum analyze")  # statistics for new expression indexes
        if not await conn.fetchval(db.sql("film_count")):
            start = time.perf_counter()
            counts = await generate(conn, films_n, seed=1)
            print(f"generated {name}: {counts} in {time.perf_counter() - start:.0f} s", flush=True)
    finally:
        await conn.close()
    return dsn


def seq_scans(plan: dict[str, Any]) -> list[str]:
    found = []
    if plan["Node Type"] == "Seq Scan" and plan["Relation Name"] in BIG_TABLES:
        found.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found += seq_scans(child)
    return found


async def time_shape(conn: asyncpg.Connection, st: Statement) -> float:
    start = time.perf_counter()
    await fetch(conn, st.sql, st.params, st.custom_plan)
    elapsed = (time.perf_counter() - start) * 1000
    await conn.execute("reset all")  # as the pool does when a connection goes back
    return elapsed


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def explain(conns: dict[str, asyncpg.Connection], shape: Shape) -> None:
    """Print EXPLAIN (ANALYZE, BUFFERS) of one shape at both sizes, after a warm-up run."""
    st = shape.sql()
    for k, conn in conns.items():
        await time_shape(conn, st)
        plan = await conn.fetch(f"explain (analyze, buffers) {st.sql}", *st.params)
        print(f"--- {shape.name} ({k})\n{st.sql}\n" + "\n".join(r[0] for r in plan), flush=True)


async def main(base: Path, runs: int, small: int, large: int, only: str | None) -> None:
    server = EmbeddedPostgres(
        base / "pgdata",
        settings={
            "shared_buffers": "2GB",
            "work_mem": "32MB",
            "maintenance_work_mem": "1GB",
            "max_wal_size": "8GB",
        },
    )
    server_dsn = server.start()
    try:
        sizes = {"small": (small, f"bench_{small}"), "large": (large, f"bench_{large}")}
        dsns = {k: await ensure_database(server_dsn, name, n) for k, (n, name) in sizes.items()}
        conns = {
            k: await asyncpg.connect(d, server_settings=db.SESSION_SETTINGS)
            for k, d in dsns.items()
        }
        row0 = await conns["large"].fetchrow(SAMPLE)
        assert row0 is not None
        # Film ids are stable across sizes (the same seed gives the same first 50k films), but
        # people are not: search for a name that both catalogues hold, so that both searches
        # find their target.
        names = await conns["small"].fetch(NAMES)
        name = await conns["large"].fetchval(
            "select name from person where name = any($1::text[]) order by name limit 1",
            [r["name"] for r in names],
        )
        sample = Sample(title=row0["title"], name=name or row0["name"], rare=row0["rare"])
        print(f"sample: title={sample.title!r} name={sample.name!r} rare person={sample.rare}")
        results: list[dict[str, Any]] = []
        for shape in shapes(sample):
            if only is not None:
                if only in shape.name:
                    await explain(conns, shape)
                continue
            st = shape.sql()
            timings: dict[str, list[float]] = {"small": [], "large": []}
            scans: dict[str, list[str]] = {}
            for k, conn in conns.items():
                explained = await conn.fetchval(f"explain (format json) {st.sql}", *st.params)
                scans[k] = seq_scans(json.loads(explained)[0]["Plan"])
                for _ in range(6):
                    await time_shape(conn, st)  # warm the cache; past the switch to generic plans
            for _ in range(runs):
                for k, conn in conns.items():
                    timings[k].append(await time_shape(conn, st))
            row: dict[str, Any] = {
                "shape": shape.name,
                "p50_small": statistics.median(timings["small"]),
                "p95_small": pct(timings["small"], 95),
                "p50_large": statistics.median(timings["large"]),
                "p95_large": pct(timings["large"], 95),
                "seq_scans_large": scans["large"],
            }
            row["ratio"] = row["p95_large"] / max(row["p95_small"], 0.001)
            results.append(row)
            print(
                f"{row['shape']:44} {row['p50_small']:7.2f} {row['p95_small']:7.2f} "
                f"{row['p50_large']:8.2f} {row['p95_large']:8.2f} {row['ratio']:6.1f}x "
                f"{','.join(row['seq_scans_large']) or '-'}",
                flush=True,
            )
        for conn in conns.values():
            await conn.close()
        if only is not None:
            return
        out = base / "results.json"
        await asyncio.to_thread(out.write_text, json.dumps(results, indent=1))
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--small", type=int, default=50_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument(
        "--explain", metavar="TEXT", help="EXPLAIN ANALYZE the shapes named TEXT; no timing"
    )
    args = parser.parse_args()
    header = f"{'shape':44} {'p50 S':>7} {'p95 S':>7} {'p50 L':>8} {'p95 L':>8} {'L/S p95':>7}"
    print(f"{header} seq scans (L)")
    base = Path(os.environ.get("FILMGRAPH_BENCH_DIR", "/tmp/filmgraph-bench"))
    base.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(base, args.runs, args.small, args.large, args.explain))
