"""`filmgraph import imdb` against a raw COPY of the same title.principals file.

Generates (once, then reuses) IMDb-format files under FILMGRAPH_IMPORT_BENCH_DIR (default
/tmp/filmgraph-import-bench): a title.principals of --rows rows (10 per title), with the
title.basics and name.basics it references, so that every reference resolves. Then, in one
embedded PostgreSQL (or DATABASE_URL), alternating rounds of:

- import: a fresh database holding the titles (imported first, untimed), then the real
  `filmgraph import imdb` command on a directory holding title.principals and name.basics
  (people are imported when credited), timed from start to exit: stream, stage, check,
  resolve, merge people and credits, commit. The rate counts title.principals rows only;
  the name.basics rows (a quarter as many) come on top;
- re-import: the same import again, which finds nothing to change (0 inserted, 0 updated);
- raw COPY: the same file, as it is, into an unindexed six-column text table, timed;
- floors: what any importer that ends with these credits in the graph must at least pay,
  measured on the credits the import just wrote, already resolved to film and person ids
  (each in a transaction that is rolled back):
  - online: one INSERT ... SELECT of them, sorted, into the emptied credit table with its
    indexes and foreign keys, as a merge that keeps the API serving must do;
  - online without foreign keys: the same with the two foreign keys dropped first;
  - offline: into a new unindexed table, then its three indexes built and its two foreign
    keys added (validated in one pass each), as a loader that may take the table offline
    and swap it in would do.

Reports rows/s of each and their ratio to the raw COPY (medians over the rounds), and the
importer's peak RSS for the --rows file and for one --rss-scale times larger.

    .venv/bin/python bench/import_principals.py [--rows 1000000] [--rounds 3] [--rss-scale 10]
        [--pg-bin /usr/lib/postgresql/15/bin]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

from graph.embedded import EmbeddedPostgres
from graph.migrate import migrate

PER_TITLE = 10
CATEGORIES = [
    "director",
    "writer",
    "producer",
    "composer",
    "cinematographer",
    "editor",
    "actor",
    "actress",
    "actor",
    "self",
]
GENRES = ["Drama", "Comedy", "Documentary", "Thriller", "Action", "Romance", "Horror"]
RAW_TABLE = """create table principals_raw (
    tconst text, ordering text, nconst text, category text, job text, characters text)"""


def generate(directory: Path, rows: int, seed: int = 1) -> None:
    """title.basics, name.basics and title.principals for rows principals (once)."""
    done = directory / ".complete"
    if done.exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    titles = rows // PER_TITLE
    names = max(rows // 4, 10)
    with (directory / "title.basics.tsv").open("w", encoding="utf-8") as f:
        f.write(
            "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\t"
            "runtimeMinutes\tgenres\n"
        )
        for i in range(1, titles + 1):
            title = f"Film Number {i}"
            f.write(
                f"tt{i:08d}\tmovie\t{title}\t{title}\t0\t{1920 + i % 100}\t\\N\t"
                f"{60 + i % 120}\t{GENRES[i % 7]},{GENRES[(i * 3) % 7]}\n"
            )
    with (directory / "name.basics.tsv").open("w", encoding="utf-8") as f:
        f.write("nconst\tprimaryName\tbirthYear\tdeathYear\tprimaryProfession\tknownForTitles\n")
        for i in range(1, names + 1):
            f.write(f"nm{i:08d}\tPerson {i}\t{1900 + i % 100}\t\\N\tactor\t\\N\n")
    principals = directory / "principals"
    principals.mkdir(exist_ok=True)
    (principals / "name.basics.tsv").symlink_to(directory / "name.basics.tsv")
    with (principals / "title.principals.tsv").open("w", encoding="utf-8") as f:
        f.write("tconst\tordering\tnconst\tcategory\tjob\tcharacters\n")
        lines = []
        for t in range(1, titles + 1):
            for order, category in enumerate(CATEGORIES, 1):
                person = 1 + min(names - 1, int(names * rng.random() ** 2))
                characters = (
                    f'["Character {order}"]' if category in ("actor", "actress", "self") else "\\N"
                )
                lines.append(f"tt{t:08d}\t{order}\tnm{person:08d}\t{category}\t\\N\t{characters}\n")
            if len(lines) > 100_000:
                f.write("".join(lines))
                lines.clear()
        f.write("".join(lines))
    done.touch()


def run_import(dsn: str, directory: Path) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of `filmgraph import imdb DIR` as a child process."""
    env = {**os.environ, "DATABASE_URL": dsn}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "import", "imdb", str(directory)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"import failed:\n{err[-3000:]}")
    print(out.strip(), file=sys.stderr)
    return seconds, usage.ru_maxrss


async def fresh_database(server_dsn: str, files: Path) -> str:
    """A new database with the schema, and the titles of files imported."""
    name = f"import_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    dsn = server_dsn.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    base = files / "base"
    base.mkdir(exist_ok=True)
    if not (base / "title.basics.tsv").exists():
        (base / "title.basics.tsv").symlink_to(files / "title.basics.tsv")
    await asyncio.to_thread(run_import, dsn, base)
    return dsn


async def drop(server_dsn: str, dsn: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'drop database "{dsn.rsplit("/", 1)[1]}" with (force)')
    finally:
        await conn.close()


async def raw_copy(dsn: str, path: Path) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("drop table if exists principals_raw")
        await conn.execute(RAW_TABLE)
        start = time.perf_counter()
        await conn.copy_to_table("principals_raw", source=path, format="text", header=True)
        return time.perf_counter() - start
    finally:
        await conn.close()


# The floors, on a database the import has just filled. Each runs in a transaction that is
# rolled back; `resolved` holds the imported credits by id, sorted as the unique index is.
FLOOR_SETUP = [
    "set local maintenance_work_mem = '256MB'",
    """create temp table resolved on commit drop as
       select film_id, person_id, role, character_name, billing_order from credit
       order by film_id, role, person_id""",
    "truncate credit",
]
FLOOR_INSERT = """insert into credit (film_id, person_id, role, character_name, billing_order)
    select * from resolved"""
DROP_FOREIGN_KEYS = """alter table credit drop constraint credit_film_id_fkey,
    drop constraint credit_person_id_fkey"""
OFFLINE = [
    """create table credit_swap (like credit including defaults including identity
       including constraints)""",
    """insert into credit_swap (film_id, person_id, role, character_name, billing_order)
       select * from resolved""",
    "alter table credit_swap add primary key (id)",
    "alter table credit_swap add unique (film_id, role, person_id)",
    "create index on credit_swap (person_id, role, film_id)",
    """alter table credit_swap
       add foreign key (film_id) references film (id) on delete cascade,
       add foreign key (person_id) references person (id) on delete cascade""",
]


FLOORS = ("online", "online without foreign keys", "offline, indexes built after")


async def floors(dsn: str) -> tuple[float, float, float]:
    """Seconds of the online, online-without-foreign-keys and offline floors."""
    conn = await asyncpg.connect(dsn)
    try:
        times = []
        for before, timed in (
            ([], [FLOOR_INSERT]),
            ([DROP_FOREIGN_KEYS], [FLOOR_INSERT]),
            ([], OFFLINE),
        ):
            transaction = conn.transaction()
            await transaction.start()
            try:
                for statement in [*FLOOR_SETUP, *before]:
                    await conn.execute(statement)
                start = time.perf_counter()
                for statement in timed:
                    await conn.execute(statement)
                times.append(time.perf_counter() - start)
            finally:
                await transaction.rollback()
        return times[0], times[1], times[2]
    finally:
        await conn.close()


def count_rows(path: Path) -> int:
    with path.open("rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b"")) - 1


async def bench(server_dsn: str, root: Path, rows: int, rounds: int, scale: int) -> None:
    files = root / f"rows-{rows}"
    generate(files, rows)
    principals = files / "principals" / "title.principals.tsv"
    n = count_rows(principals)
    imports: list[float] = []
    again: list[float] = []
    copies: list[float] = []
    floor_rates: dict[str, list[float]] = {kind: [] for kind in FLOORS}
    rss_1x = 0
    for r in range(rounds):
        dsn = await fresh_database(server_dsn, files)
        try:
            seconds, rss = await asyncio.to_thread(run_import, dsn, files / "principals")
            rss_1x = max(rss_1x, rss)
            again_s, _ = await asyncio.to_thread(run_import, dsn, files / "principals")
            copy_s = await raw_copy(dsn, principals)
            floor_s = await floors(dsn)
        finally:
            await drop(server_dsn, dsn)
        imports.append(n / seconds)
        again.append(n / again_s)
        copies.append(n / copy_s)
        for kind, floor in zip(FLOORS, floor_s, strict=True):
            floor_rates[kind].append(n / floor)
        print(
            f"round {r + 1}: import {n / seconds:,.0f} rows/s, re-import {n / again_s:,.0f} "
            f"rows/s, raw COPY {n / copy_s:,.0f} rows/s, floors "
            + ", ".join(f"{k} {n / f:,.0f}" for k, f in zip(FLOORS, floor_s, strict=True)),
            file=sys.stderr,
        )
    imp, raw = statistics.median(imports), statistics.median(copies)
    print(f"title.principals rows: {n:,}")
    print(f"import (median of {rounds}): {imp:,.0f} rows/s")
    print(
        f"re-import, nothing changed (median of {rounds}): {statistics.median(again):,.0f} rows/s"
    )
    print(f"raw COPY (median of {rounds}): {raw:,.0f} rows/s")
    print(f"ratio import / raw COPY: {imp / raw:.2f}")
    for kind, rates in floor_rates.items():
        rate = statistics.median(rates)
        print(
            f"floor, {kind} (median of {rounds}): {rate:,.0f} rows/s, {rate / raw:.2f} of raw COPY"
        )
    print(f"importer peak RSS at {n:,} rows: {rss_1x / 1024:.0f} MiB")
    if scale > 1:
        big = root / f"rows-{rows * scale}"
        generate(big, rows * scale)
        dsn = await fresh_database(server_dsn, big)
        try:
            seconds, rss = await asyncio.to_thread(run_import, dsn, big / "principals")
        finally:
            await drop(server_dsn, dsn)
        big_n = count_rows(big / "principals" / "title.principals.tsv")
        print(
            f"importer peak RSS at {big_n:,} rows: {rss / 1024:.0f} MiB "
            f"({big_n / seconds:,.0f} rows/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rss-scale", type=int, default=10)
    parser.add_argument(
        "--pg-bin",
        type=Path,
        default=None,
        help="another PostgreSQL's binaries (default: embedded)",
    )
    args = parser.parse_args()
    root = Path(os.environ.get("FILMGRAPH_IMPORT_BENCH_DIR", "/tmp/filmgraph-import-bench"))
    root.mkdir(parents=True, exist_ok=True)
    external = os.environ.get("DATABASE_URL")
    if external:
        asyncio.run(bench(external, root, args.rows, args.rounds, args.rss_scale))
        return
    # A cluster per set of binaries: one version cannot start another's data directory.
    data = root / ("pgdata" if args.pg_bin is None else f"pgdata-{args.pg_bin.parent.name}")
    server = EmbeddedPostgres(data, binaries=args.pg_bin)
    try:
        dsn = server.start()
        asyncio.run(bench(dsn, root, args.rows, args.rounds, args.rss_scale))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
