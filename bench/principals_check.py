"""The title.principals check on any PostgreSQL version: jsonb_ok() against what it replaced.

`imdb_principals_check` (sql/queries/import_imdb.sql) rejects a line whose characters are not
JSON. It asked pg_input_is_valid(characters, 'jsonb'), which PostgreSQL 15 lacks; it now asks
jsonb_ok() (migration 0007), which answers a plain list of strings with a regular expression
and parses the rest in a PL/pgSQL block that catches the parse error.

Stages --rows title.principals rows (a real IMDb sample, /work/shared/data/imdb/movies2000 by
default, repeated: 70% without characters, 0.1% with escapes; one list in 10,000 is then cut
short) in a migrated database, then times, in alternating rounds, the check statement as it
stands (jsonb_ok) and with its JSON test swapped for:
- pg_input_is_valid(characters, 'jsonb'): the statement before (PostgreSQL 16 and later);
- jsonb_parses(characters): every characters list parsed in the exception block, no fast path.
Also reports each variant's reject count, which must agree.

    .venv/bin/python bench/principals_check.py [--rows 1000000] [--rounds 5]
        [--pg-bin /usr/lib/postgresql/15/bin] [--sample DIR]

Runs its own server from --pg-bin (default: the embedded wheel's), or uses DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

from graph import db
from graph.embedded import EmbeddedPostgres
from graph.migrate import migrate

JSON_TEST = "not jsonb_ok(characters)"
VARIANTS = {
    "jsonb_ok (now)": JSON_TEST,
    "pg_input_is_valid (before)": "not pg_input_is_valid(characters, 'jsonb')",
    "jsonb_parses only": "not jsonb_parses(characters)",
}
BROKEN_EVERY = 10_000
SAMPLE = Path("/work/shared/data/imdb/movies2000")


def statement(json_test: str) -> str:
    check = db.sql("imdb_principals_check")
    assert JSON_TEST in check, "the check no longer asks jsonb_ok(characters)"
    return (
        "select count(*) filter (where reason is not null) from ("
        + check.replace(JSON_TEST, json_test)
        + ") s"
    )


async def stage(conn: asyncpg.Connection, sample: Path, rows: int) -> None:
    """A plain table of the imdb_principal_stage shape, rows long, repeating the sample."""
    lines = (sample / "title.principals.tsv").read_text(encoding="utf-8").splitlines()[1:]
    records = [tuple(line.split("\t")) for line in lines]
    await conn.execute(
        "create table imdb_principal_stage (line bigint not null, tconst text, ordering text, "
        "nconst text, category text, job text, characters text)"
    )
    out: list[tuple[object, ...]] = []
    for i in range(rows):
        record = records[i % len(records)]
        if i % BROKEN_EVERY == 0:  # some lists cut short, so that each variant rejects some
            record = (*record[:5], '["Cut')
        out.append((i + 2, *record))
    await conn.copy_records_to_table("imdb_principal_stage", records=out)
    await conn.execute("vacuum analyze imdb_principal_stage")


async def bench(server_dsn: str, sample: Path, rows: int, rounds: int) -> None:
    name = f"filmgraph_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'create database "{name}"')
    base, _, _ = server_dsn.rpartition("/")
    conn = await asyncpg.connect(f"{base}/{name}")
    try:
        await migrate(conn)
        version = await conn.fetchval("show server_version")
        await stage(conn, sample, rows)
        variants = dict(VARIANTS)
        if conn.get_server_version().major < 16:
            del variants["pg_input_is_valid (before)"]
        seconds: dict[str, list[float]] = {v: [] for v in variants}
        rejects: dict[str, set[int]] = {v: set() for v in variants}
        for r in range(rounds):
            for variant, test in variants.items():
                start = time.perf_counter()
                rejects[variant].add(await conn.fetchval(statement(test)))
                seconds[variant].append(time.perf_counter() - start)
            print(
                f"round {r + 1}: " + ", ".join(f"{v} {s[-1]:.2f} s" for v, s in seconds.items()),
                file=sys.stderr,
            )
        print(f"PostgreSQL {version}, {rows:,} title.principals rows, {rounds} rounds:")
        for variant, times in seconds.items():
            found = sorted(rejects[variant])
            print(
                f"  {variant}: median {statistics.median(times):.2f} s, "
                f"fastest {min(times):.2f} s, rejects {found}"
            )
    finally:
        await conn.close()
        await admin.execute(f'drop database "{name}" with (force)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pg-bin", type=Path, default=None)
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    args = parser.parse_args()
    external = os.environ.get("DATABASE_URL")
    if external:
        asyncio.run(bench(external, args.sample, args.rows, args.rounds))
        return
    with tempfile.TemporaryDirectory(prefix="filmgraph-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", binaries=args.pg_bin)
        try:
            dsn = server.start()
            asyncio.run(bench(dsn, args.sample, args.rows, args.rounds))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
