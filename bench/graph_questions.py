"""The graph questions at 1M films: Query.path between random people and Film.similar of
random films, each answered through the schema (parse, validate, cost, resolvers, SQL), timed
request by request, side by side with a floor: the lookup of the same person or film by id
(`person(id:) { name }`, `film(id:) { title }`), alternating, so that machine noise hits both.

The database is bench/peers/database.py's (`filmgraph generate --films 1000000 --seed 1` plus
the demo, under FILMGRAPH_BENCH_CACHE, default ~/.cache/filmgraph-bench), or DATABASE_URL's.
A first round of `--warm` draws (another seed) fills the caches and is not counted.

Reports p50/p95/p99 (ms) of each question and of its floor, the ratio of the p95s (similar,
collaborators and commonFilms on the compiled path and on the resolvers, side by side, with
the ratio of their p95s; for similar and collaborators, the statement alone too, to tell the
database's time from the rest), and for paths how many answered, how many found no path
within maxHops, how many were refused with PATH_TOO_COSTLY or TIMEOUT, and the lengths found.
Person.collaborators(first: 10) of random people (a role or none) and of the busiest people
(also with each collaborator's films); commonFilms of the sets that took seconds, and of
pairs, threes and fives of random people and of people drawn from the 300 busiest. Targets
(issue 13): path p95 <= 200 ms, similar p95 <= 50 ms, collaborators and commonFilms p95
well under 200 ms.

    .venv/bin/python bench/graph_questions.py [--pairs 500] [--films 500] [--warm 100]
                                              [--only path|similar|collaborators|common]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE / "peers"), str(HERE.parent)]

import asyncpg  # noqa: E402
from database import open_database  # noqa: E402

from graph import db  # noqa: E402
from graph.context import Context  # noqa: E402
from graph.ids import to_global_id  # noqa: E402
from graph.loaders import Loaders  # noqa: E402
from graph.migrate import migrate  # noqa: E402
from graph.schema import Schema, create_schema  # noqa: E402
from graph.settings import Settings  # noqa: E402
from graph.similar import GENRE_CANDIDATES, LINKING_CREDITS, PEOPLE_CANDIDATES  # noqa: E402

PATH = """query Path($a: ID!, $b: ID!) { path(from: $a, to: $b) {
  length hops { film { title year } from { name } fromRoles to { name } toRoles } } }"""
PERSON = "query Person($a: ID!) { person(id: $a) { name } }"
SIMILAR = """query Similar($f: ID!) { film(id: $f) { similar(first: 10) { score film { title }
  reasons { __typename ... on SharedPeople { people { name } }
    ... on SharedGenres { genres { name } } ... on YearDistance { years } } } } }"""
FILM = "query Film($f: ID!) { film(id: $f) { title } }"
COLLABORATORS = """query Collaborators($a: ID!, $role: CreditRole) { person(id: $a) {
  collaborators(first: 10, role: $role) { totalCount nodes { sharedFilms person { name } } } } }"""
COLLABORATORS_FILMS = """query Collaborators($a: ID!, $role: CreditRole) { person(id: $a) {
  collaborators(first: 10, role: $role) { totalCount nodes { sharedFilms person { name }
    films(first: 5) { title } } } } }"""
COMMON = (
    "query Common($p: [ID!]!) { commonFilms(people: $p, first: 10) { totalCount nodes { title } } }"
)
# The busiest people, by their credits: the cases that took seconds (issue 13).
BUSIEST = 10
# commonFilms of people drawn from this many of the busiest.
BUSY = 300


async def timed(
    schema: Schema, pool: asyncpg.Pool, query: str, variables: dict[str, Any]
) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await schema.execute(
        query, variable_values=variables, context_value=Context(Loaders(pool), b"bench")
    )
    return (time.perf_counter() - start) * 1000, result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, times: list[float], floor: list[float]) -> str:
    p = [pct(times, q) for q in (0.5, 0.95, 0.99)]
    f = [pct(floor, q) for q in (0.5, 0.95, 0.99)]
    return (
        f"{label:18} n={len(times):4}  p50 {p[0]:6.1f}  p95 {p[1]:6.1f}  p99 {p[2]:6.1f}   "
        f"floor p50 {f[0]:5.1f}  p95 {f[1]:5.1f}  p99 {f[2]:5.1f}   p95 ratio {p[1] / f[1]:5.1f}"
    )


async def paths(schema: Schema, pool: asyncpg.Pool, people: int, n: int, seed: int) -> None:
    rng = random.Random(seed)
    times: list[float] = []
    floor: list[float] = []
    outcomes: Counter[str] = Counter()
    lengths: Counter[int] = Counter()
    for _ in range(n):
        a = to_global_id("Person", rng.randint(1, people))
        b = to_global_id("Person", rng.randint(1, people))
        took, result = await timed(schema, pool, PATH, {"a": a, "b": b})
        floor.append((await timed(schema, pool, PERSON, {"a": a}))[0])
        times.append(took)
        if result.errors:
            outcomes[str((result.errors[0].extensions or {}).get("code", "error"))] += 1
        elif result.data["path"] is None:
            outcomes["no path"] += 1
        else:
            outcomes["answered"] += 1
            lengths[result.data["path"]["length"]] += 1
    print(line("path", times, floor))
    print(f"          outcomes {dict(outcomes)}  lengths {dict(sorted(lengths.items()))}")


async def similar(
    schemas: dict[str, Schema], pool: asyncpg.Pool, films: int, n: int, seed: int
) -> None:
    """similar(first: 10) of n random films on each execution path, alternating, then its
    statement alone."""
    rng = random.Random(seed)
    times: dict[str, list[float]] = {path: [] for path in schemas}
    floor: list[float] = []
    statement: list[float] = []
    for _ in range(n):
        pk = rng.randint(1, films)
        f = to_global_id("Film", pk)
        for path, schema in schemas.items():
            took, result = await timed(schema, pool, SIMILAR, {"f": f})
            assert not result.errors, result.errors
            served = (result.extensions or {}).get("execution", path)
            assert served == path, (path, served)
            times[path].append(took)
        floor.append((await timed(schemas["compiled"], pool, FILM, {"f": f}))[0])
        start = time.perf_counter()
        await pool.fetch(
            db.sql("similar_films_by_film_id"),
            pk,
            10,
            LINKING_CREDITS,
            GENRE_CANDIDATES,
            PEOPLE_CANDIDATES,
        )
        statement.append((time.perf_counter() - start) * 1000)
    for path, measured in times.items():
        print(line(f"similar {path}", measured, floor))
    print(line("  its SQL", statement, floor))
    compiled, resolvers = (pct(times[p], 0.95) for p in ("compiled", "resolvers"))
    print(f"          p95 compiled / resolvers {compiled / resolvers:.2f}")


async def on_paths(
    schemas: dict[str, Schema],
    pool: asyncpg.Pool,
    query: str,
    variables: dict[str, Any],
    turn: int,
) -> dict[str, float]:
    """The time of one request on each execution path, each checked to be served by it; the
    paths take turns going first (the first reads the pages the second then finds cached)."""
    out = {}
    order = list(schemas.items())
    for path, schema in order if turn % 2 == 0 else order[::-1]:
        took, result = await timed(schema, pool, query, variables)
        assert not result.errors, result.errors
        served = (result.extensions or {}).get("execution", path)
        assert served == path, (path, served)
        out[path] = took
    return out


def lines(label: str, times: dict[str, list[float]], floor: list[float]) -> None:
    for path, measured in times.items():
        print(line(f"{label} {path[:4]}", measured, floor))
    compiled, resolvers = (pct(times[p], 0.95) for p in ("compiled", "resolvers"))
    print(f"          p95 compiled / resolvers {compiled / resolvers:.2f}")


async def collaborators(
    schemas: dict[str, Schema], pool: asyncpg.Pool, people: int, n: int, seed: int
) -> None:
    """Random people, then each of the BUSIEST people with and without a role, each timed
    on both paths and its statement alone (the page statement of graph/collaborators.py)."""
    rng = random.Random(seed)
    busiest = [
        r["person_id"]
        for r in await pool.fetch(
            "select person_id from credit_tally group by 1 order by sum(films) desc limit $1",
            BUSIEST,
        )
    ]
    drawn: list[tuple[int, str | None]] = [
        (rng.randint(1, people), rng.choice([None, None, "ACTOR", "DIRECTOR"])) for _ in range(n)
    ]
    on_busiest = [(p, r) for p in busiest for r in (None, "DIRECTOR")]
    groups = {"random": drawn, "busiest": on_busiest, "busiest+films": on_busiest}
    for label, cases in groups.items():
        query = COLLABORATORS_FILMS if label.endswith("films") else COLLABORATORS
        times: dict[str, list[float]] = {path: [] for path in schemas}
        floor: list[float] = []
        statement: list[float] = []
        for turn, (pk, role) in enumerate(cases):
            a = to_global_id("Person", pk)
            for path, took in (
                await on_paths(schemas, pool, query, {"a": a, "role": role}, turn)
            ).items():
                times[path].append(took)
            floor.append((await timed(schemas["compiled"], pool, PERSON, {"a": a}))[0])
            start = time.perf_counter()
            await pool.fetch(db.sql("collaborators_page"), 0, 10, pk, role)
            statement.append((time.perf_counter() - start) * 1000)
        lines(f"collab {label}", times, floor)
        print(line("  its SQL", statement, floor))
        if label.startswith("busiest"):
            print(
                f"          busiest {busiest} compiled: "
                + " ".join(f"{t:.0f}" for t in times["compiled"])
            )


async def common(
    schemas: dict[str, Schema], pool: asyncpg.Pool, people: int, n: int, seed: int
) -> None:
    """commonFilms of the sets that took seconds (each timed alone), then of random pairs,
    threes and fives: of anyone, and of the BUSY busiest people (who share many films)."""
    rng = random.Random(seed)
    busy = [
        r["person_id"]
        for r in await pool.fetch(
            "select person_id from credit_tally group by 1 order by sum(films) desc limit $1",
            BUSY,
        )
    ]
    fixed = [[1, 2], [2, 3], [1, 2, 3], [1, 2, 3, 4, 5], list(range(1, 11)), [1, 4321]]
    groups: dict[str, list[list[int]]] = {"fixed": fixed}
    for size in (2, 3, 5):
        groups[f"random {size}"] = [[rng.randint(1, people) for _ in range(size)] for _ in range(n)]
        groups[f"busy {size}"] = [rng.sample(busy, size) for _ in range(n)]
    for label, cases in groups.items():
        times: dict[str, list[float]] = {path: [] for path in schemas}
        floor: list[float] = []
        for turn, ids in enumerate(cases):
            gids = [to_global_id("Person", i) for i in ids]
            for path, took in (await on_paths(schemas, pool, COMMON, {"p": gids}, turn)).items():
                times[path].append(took)
            floor.append((await timed(schemas["compiled"], pool, PERSON, {"a": gids[0]}))[0])
        lines(f"common {label}", times, floor)
        if label == "fixed":
            print(
                "          fixed compiled "
                + " ".join(
                    f"{ids[:3]}{'...' if len(ids) > 3 else ''}={t:.0f}"
                    for ids, t in zip(fixed, times["compiled"], strict=True)
                )
            )


async def main(pairs: int, films_n: int, warm: int, only: str | None) -> None:
    url = os.environ.get("DATABASE_URL")
    database = None
    if url:
        conn = await asyncpg.connect(url)
        await migrate(conn)  # the graph current for this filmgraph; nothing when it is
        await conn.close()
    else:
        cache = os.environ.get("FILMGRAPH_BENCH_CACHE") or Path.home() / ".cache/filmgraph-bench"
        database = await open_database(Path(cache), 1_000_000)
        url = database.dsn
    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=2,
            server_settings={"max_parallel_workers_per_gather": "0"},
        )
        assert pool is not None
        people = await pool.fetchval("select max(id) from person")
        films = await pool.fetchval("select max(id) from film")
        schema = create_schema(Settings())
        # similar, collaborators and commonFilms run on both paths (graph/compiled/embedded.py);
        # path on the resolvers.
        schemas = {
            path: create_schema(Settings(execution=path, explain_execution=True))
            for path in ("compiled", "resolvers")
        }
        print(f"{people} people, {films} films; {warm} draws to warm up, then timed")
        if only in (None, "path"):
            await paths(schema, pool, people, warm, seed=99)
        if only in (None, "similar"):
            await similar(schemas, pool, films, warm, seed=99)
        if only in (None, "collaborators"):
            await collaborators(schemas, pool, people, warm, seed=99)
        if only in (None, "common"):
            await common(schemas, pool, people, warm, seed=99)
        print("timed:")
        if only in (None, "path"):
            await paths(schema, pool, people, pairs, seed=1)
        if only in (None, "similar"):
            await similar(schemas, pool, films, films_n, seed=1)
        if only in (None, "collaborators"):
            await collaborators(schemas, pool, people, pairs, seed=1)
        if only in (None, "common"):
            await common(schemas, pool, people, pairs, seed=1)
        await pool.close()
    finally:
        if database is not None:
            database.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--films", type=int, default=500)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument(
        "--only", choices=["path", "similar", "collaborators", "common"], help="one question alone"
    )
    args = parser.parse_args()
    asyncio.run(main(args.pairs, args.films, args.warm, args.only))
