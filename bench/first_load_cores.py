"""The first load's biggest statements on one core and on two: does PostgreSQL's parallel query
move the floor of `filmgraph import imdb` into an empty graph?

A first load's wall is within a tenth of its one database backend's CPU (bench/imdb_scale.py
prints both): each statement runs on one core while the readers use the other, and once the
last file is read that core is idle. PostgreSQL runs no INSERT ... SELECT in parallel, but it
does run the SELECT of a CREATE TABLE AS with parallel workers. So the other core can compute
the rows if each insert is split in two: the rows computed by CREATE TABLE AS into an unlogged
table (parallel workers on both cores), then written by a plain INSERT of that table (one
core). This measures both layouts on the same staged rows, side by side:

- one core: the statements as the first load runs them (sql/queries/import_imdb_first.sql),
  reading the stages as temporary tables (whose pages parallel workers cannot read);
- two cores: the same rows computed in parallel (parallel_setup_cost and parallel_tuple_cost
  at 0, so the planner takes workers wherever it can), then inserted.

The staged rows are those of a real first load of the generated files (bench/imdb_scale.py's,
generated if missing), kept as plain tables just before its indexes were built again. Each
layout runs in a transaction that is rolled back: the graph's rows are removed, the first
load's keys and indexes dropped, the statements timed (wall; the server's CPU, parallel
workers included), and the rows written compared between layouts (same people, credits,
alternative titles and tallies, by IMDb ids).

    .venv/bin/python bench/first_load_cores.py [--scale 0.1] [--seed 1] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from graph import db
from graph.embedded import EmbeddedPostgres
from graph.imdb_files import generate_imdb
from graph.importers.imdb import FIRST_LOAD_DROP
from graph.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
STAGES = ("imdb_person_stage", "imdb_credit_stage", "imdb_aka_stage")
# A first load, each stage kept as keep_<stage> before the indexes are built again.
CHILD = """
import sys
import graph.importers.imdb as imdb
STAGES = sys.argv[1].split(",")
build_again = imdb._build_again
async def keep(run):
    for stage in STAGES:
        await run.conn.execute(f"create table keep_{stage} as select * from {stage}")
    await build_again(run)
imdb._build_again = keep
from graph.cli import main
sys.exit(main(sys.argv[2:]))
"""
CLEAR = (
    "truncate person, credit, film_alternative_title, credit_tally, search_word cascade",
    "select set_config('maintenance_work_mem', '256MB', true), "
    "set_config('work_mem', '256MB', true)",
)
PARALLEL = (
    "select set_config('parallel_setup_cost', '0', true), "
    "set_config('parallel_tuple_cost', '0', true), "
    "set_config('min_parallel_table_scan_size', '0', true)"
)
# The first load's own statements, by name (sql/queries/import_imdb_first.sql), in its order.
ONE_CORE = (
    ("people", "imdb_people_insert_first"),
    ("people", "analyze person"),
    ("credits", "imdb_credits_insert_first"),
    ("alternative titles", "imdb_akas_insert_first"),
    ("credit tally", "imdb_first_load_drop_credit_tally_key"),
    ("credit tally", "imdb_first_load_credit_tally"),
)
# The same rows, computed by CREATE TABLE AS (parallel), then inserted by a plain INSERT: the
# SELECTs of the statements above, read from the kept stages (plain tables).
TWO_CORES = (
    (
        "people",
        "compute",
        """create unlogged table two_people as
        with folded as (select s.*, fold(s.name) as folded from keep_imdb_person_stage s),
        based as (
            select s.*, coalesce(nullif(btrim(regexp_replace(s.folded, '[^a-z0-9]+', '-', 'g'),
                                              '-'), ''), 'person') as base
            from folded s)
        select case when rn = 1 then base else base || '-' || imdb_id end as slug, name,
               birth_year, death_year, imdb_id, folded
        from (select s.*, row_number() over (partition by base order by imdb_id) as rn
              from based s) s""",
    ),
    (
        "people",
        "write",
        """insert into person (slug, name, birth_year, death_year, imdb_id)
        select slug, name, birth_year, death_year, imdb_id from two_people""",
    ),
    (
        "people",
        "compute",
        """create unlogged table two_words as
        select distinct unnest(tsvector_to_array(to_tsvector('simple', folded))) as w
        from two_people""",
    ),
    (
        "people",
        "write",
        """insert into search_word (word, in_names)
        select w, true from two_words order by w
        on conflict (word) do update set in_names = true where not search_word.in_names""",
    ),
    ("people", "write", "analyze person"),
    (
        "credits",
        "compute",
        """create unlogged table two_credits as
        select distinct on (f.id, c.role, p.id)
               f.id as film_id, p.id as person_id, c.role, c.character_name, c.billing_order,
               f.year, f.release_date, f.title
        from keep_imdb_credit_stage c
        join film f on f.imdb_id = c.tconst
        join person p on p.imdb_id = c.nconst
        order by f.id, c.role, p.id, c.source, c.billing_order nulls last, c.line""",
    ),
    (
        "credits",
        "write",
        """insert into credit (film_id, person_id, role, character_name, billing_order,
                               film_year, film_release_date, film_title)
        select * from two_credits""",
    ),
    (
        "alternative titles",
        "compute",
        """create unlogged table two_akas as
        select distinct on (a.titleid, a.ordering::integer)
               f.id as film_id, a.ordering::integer as ordering, btrim(a.title) as title,
               nullif(a.region, '\\N') as region, nullif(a.language, '\\N') as language,
               coalesce(string_to_array(nullif(a.types, '\\N'), chr(2)), '{}') as types,
               coalesce(string_to_array(nullif(a.attributes, '\\N'), chr(2)), '{}')
                   as attributes,
               a.isoriginaltitle = '1' as is_original
        from keep_imdb_aka_stage a
        join film f on f.imdb_id = a.titleid
        order by a.titleid, a.ordering::integer, a.line desc""",
    ),
    (
        "alternative titles",
        "write",
        """insert into film_alternative_title (film_id, ordering, title, region, language,
                                               types, attributes, is_original)
        select * from two_akas""",
    ),
    ("credit tally", "write", "alter table credit_tally drop constraint credit_tally_pkey"),
    (
        "credit tally",
        "compute",
        """create unlogged table two_tally as
        select person_id, role, count(*) as films from credit group by person_id, role""",
    ),
    ("credit tally", "write", "insert into credit_tally select * from two_tally"),
)
# What each layout wrote, by IMDb ids (ids come from sequences, which a rollback does not
# turn back): compared between the layouts.
WRITTEN = """
select (select md5(string_agg(concat_ws('|', imdb_id, slug, name, birth_year, death_year), ','
                              order by imdb_id)) from person),
       (select md5(string_agg(concat_ws('|', f.imdb_id, p.imdb_id, c.role, c.character_name,
                                        c.billing_order, c.film_year, c.film_title), ','
                              order by f.imdb_id, p.imdb_id, c.role))
        from credit c join film f on f.id = c.film_id join person p on p.id = c.person_id),
       (select md5(string_agg(concat_ws('|', f.imdb_id, a.ordering, a.title, a.region,
                                        a.language, a.types, a.attributes, a.is_original), ','
                              order by f.imdb_id, a.ordering))
        from film_alternative_title a join film f on f.id = a.film_id),
       (select md5(string_agg(concat_ws('|', p.imdb_id, t.role, t.films), ','
                              order by p.imdb_id, t.role))
        from credit_tally t join person p on p.id = t.person_id),
       (select md5(string_agg(word || in_names::text, ',' order by word)) from search_word)
"""


@dataclass
class Timed:
    step: str
    part: str
    wall: float
    cpu: float  # the server's processes: the backend and any parallel workers


def server_cpu(data_dir: Path) -> float:
    """CPU seconds of the embedded server's processes, those that ended included (the
    postmaster's reaped children: parallel workers)."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == postmaster:
            ticks += sum(int(x) for x in fields[11:15])
        elif int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / TICK


async def empty_graph(server_dsn: str) -> str:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute("drop database if exists first_load_cores with (force)")
        await conn.execute("create database first_load_cores")
    finally:
        await conn.close()
    dsn = server_dsn.rsplit("/", 1)[0] + "/first_load_cores"
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


async def analyze_kept(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for stage in STAGES:
            await conn.execute(f"analyze keep_{stage}")
    finally:
        await conn.close()


def staged(server_dsn: str, day0: Path) -> str:
    """A database holding the graph of a first load of day0 and the stages it merged."""
    dsn = asyncio.run(empty_graph(server_dsn))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")}
    argv = [sys.executable, "-c", CHILD, ",".join(STAGES), "import", "imdb", str(day0)]
    subprocess.run(argv, env={**env, "DATABASE_URL": dsn}, cwd=ROOT, check=True)
    asyncio.run(analyze_kept(dsn))
    return dsn


async def layout(dsn: str, data_dir: Path, cores: int) -> tuple[list[Timed], tuple[str, ...]]:
    conn = await asyncpg.connect(dsn)
    timed: list[Timed] = []
    try:
        async with conn.transaction():
            for statement in CLEAR:
                await conn.execute(statement)
            # The stages as the first load has them: temporary, analyzed.
            for stage in STAGES:
                await conn.execute(db.sql(f"{stage}_create"))
                await conn.execute(f"insert into {stage} select * from keep_{stage}")
                await conn.execute(f"analyze {stage}")
            for name in FIRST_LOAD_DROP:
                await conn.execute(db.sql(name))
            if cores == 1:
                await conn.execute("set local max_parallel_workers_per_gather = 0")
                steps = [(step, "one statement", name) for step, name in ONE_CORE]
            else:
                await conn.execute(PARALLEL)
                steps = list(TWO_CORES)
            for step, part, statement in steps:
                text = db.STATEMENTS[statement].sql if statement in db.STATEMENTS else statement
                cpu, start = server_cpu(data_dir), time.perf_counter()
                await conn.execute(text)
                wall = time.perf_counter() - start
                timed.append(Timed(step, part, wall, server_cpu(data_dir) - cpu))
            written = tuple(await conn.fetchrow(WRITTEN))
            raise Rollback
    except Rollback:
        pass
    finally:
        await conn.close()
    return timed, written


class Rollback(Exception):
    """Leaves a layout's transaction without its changes."""


def report(runs: dict[int, list[list[Timed]]]) -> str:
    def median(cores: int, step: str | None, part: str | None, what: str) -> float:
        totals = [
            sum(
                getattr(t, what)
                for t in run
                if (step is None or t.step == step) and (part is None or t.part == part)
            )
            for run in runs[cores]
        ]
        return float(statistics.median(totals))

    lines = [
        "| statement | one core: wall s | CPU s | two cores: wall s | CPU s | of it, the "
        "plain writes: wall s | wall, two / one |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for step in dict.fromkeys(s for s, _ in ONE_CORE):
        one, two = median(1, step, None, "wall"), median(2, step, None, "wall")
        lines.append(
            f"| {step} | {one:.2f} | {median(1, step, None, 'cpu'):.2f} | {two:.2f} | "
            f"{median(2, step, None, 'cpu'):.2f} | {median(2, step, 'write', 'wall'):.2f} | "
            f"{two / one:.2f} |"
        )
    one, two = median(1, None, None, "wall"), median(2, None, None, "wall")
    lines.append(
        f"| all | {one:.2f} | {median(1, None, None, 'cpu'):.2f} | {two:.2f} | "
        f"{median(2, None, None, 'cpu'):.2f} | {median(2, None, 'write', 'wall'):.2f} | "
        f"{two / one:.2f} |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    root = Path(os.environ.get("FILMGRAPH_IMPORT_BENCH_DIR", "/tmp/filmgraph-import-bench"))
    day0 = root / f"imdb-scale-{args.scale:g}-seed-{args.seed}" / "day0"
    if not (day0.parent / "day0.complete").exists():
        generate_imdb(day0, args.scale, args.seed, 0.0)
        (day0.parent / "day0.complete").touch()
    data = root / "pgdata-cores"
    pg = EmbeddedPostgres(data)
    try:
        dsn = staged(pg.start(), day0)
        runs: dict[int, list[list[Timed]]] = {1: [], 2: []}
        written: dict[int, tuple[str, ...]] = {}
        for r in range(args.rounds):
            for cores in (1, 2) if r % 2 == 0 else (2, 1):
                timed, written[cores] = asyncio.run(layout(dsn, data, cores))
                runs[cores].append(timed)
                print(f"round {r + 1}, {cores} core(s): {sum(t.wall for t in timed):.1f} s")
        if written[1] != written[2]:
            raise SystemExit(f"the layouts wrote different rows: {written}")
        print(f"\nscale {args.scale:g}, median of {args.rounds} round(s), alternated; same rows:")
        print(report(runs))
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
