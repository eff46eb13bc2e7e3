"""Migrations: applied once, in order, safely under concurrency."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from pathlib import Path

import asyncpg

from graph.embedded import free_port
from graph.migrate import Migration, available, migrate
from tests.child import run


async def test_migrate_twice_is_a_no_op(empty_dsn: str) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        first = await migrate(conn)
        assert [m.version for m in first] == [m.version for m in available()]
        tables = await conn.fetchval("select count(*) from pg_tables where schemaname = 'public'")
        second = await migrate(conn)
        assert second == []
        recorded = await conn.fetch("select version, name from schema_migration order by version")
        assert [(r["version"], r["name"]) for r in recorded] == [
            (m.version, m.name) for m in available()
        ]
        assert (
            await conn.fetchval("select count(*) from pg_tables where schemaname = 'public'")
            == tables
        )
    finally:
        await conn.close()


async def test_concurrent_runs_do_not_collide(empty_dsn: str) -> None:
    conns = [await asyncpg.connect(empty_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = sorted(m.version for r in results for m in r)
        assert applied == [m.version for m in available()], "each migration applied exactly once"
        assert await conns[0].fetchval("select count(*) from schema_migration") == len(available())
    finally:
        for c in conns:
            await c.close()


async def test_constraints_keep_bad_data_out(empty_dsn: str) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await conn.execute(
            """insert into film (slug, title) values ('f-2000', 'F');
               insert into provider (slug, name) values ('p', 'P');"""
        )
        film = await conn.fetchval("select id from film")
        provider = await conn.fetchval("select id from provider")
        for bad in (
            # Since 0004 a RENT or BUY offer may lack a price (TMDB does not say it), but a
            # price always comes with its currency.
            f"insert into offer (film_id, provider_id, region, kind, price) values ({film}, {provider}, 'US', 'RENT', 1)",
            f"insert into offer (film_id, provider_id, region, kind, price, currency) values ({film}, {provider}, 'US', 'SUBSCRIPTION', 1, 'USD')",
            f"insert into offer (film_id, provider_id, region, kind, price, currency) values ({film}, {provider}, 'US', 'BUY', 1, 'dollars')",
            "insert into film (slug, title, year) values ('Bad Slug', 'x', 2000)",
            "insert into film (slug, title, imdb_rating) values ('x', 'x', 11)",
            "insert into film (slug, title, imdb_id) values ('x', 'x', 'nm0000001')",
            "insert into offer (film_id, provider_id, region, kind) values (1, 1, 'USA', 'FREE')",
            "insert into credit (film_id, person_id, role) values (999, 999, 'DIRECTOR')",
        ):
            try:
                await conn.execute(bad)
            except (asyncpg.CheckViolationError, asyncpg.ForeignKeyViolationError):
                continue
            raise AssertionError(f"accepted: {bad}")
    finally:
        await conn.close()


async def test_each_migration_is_recorded_with_the_sha256_of_its_file(empty_dsn: str) -> None:
    files = sorted((Path(__file__).parent.parent / "sql" / "migrations").glob("*.sql"))
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        rows = await conn.fetch("select version, name, checksum from schema_migration")
    finally:
        await conn.close()
    assert sorted((f"{r['version']:04d}_{r['name']}.sql", r["checksum"]) for r in rows) == [
        (f.name, hashlib.sha256(f.read_bytes()).hexdigest()) for f in files
    ]


def _cli(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    return run(*args, env={**os.environ, "DATABASE_URL": dsn})


async def _edit_record(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await conn.execute(statement)
    finally:
        await conn.close()


async def test_every_command_refuses_a_database_migrated_from_an_edited_file(
    empty_dsn: str, tmp_path: Path
) -> None:
    """As if sql/migrations/0003 had been edited after this database applied it: the recorded
    checksum no longer matches the file."""
    await _edit_record(
        empty_dsn, "update schema_migration set checksum = repeat('0', 64) where version = 3"
    )
    providers = tmp_path / "providers.json"
    providers.write_text('{"results": []}')
    for args in (
        ["migrate"],
        ["serve", "--port", str(free_port())],
        ["serve", "--no-migrate", "--port", str(free_port())],
        ["load-demo"],
        ["generate", "--films", "1"],
        ["import", "tmdb-providers", str(providers)],
    ):
        result = await asyncio.to_thread(_cli, *args, dsn=empty_dsn)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(
            "filmgraph: migration 0003_discovery_scale was applied to this database from a "
            "different file than sql/migrations has now"
        ), (args, result.stderr)
        assert "Traceback" not in result.stderr, args
        assert "Uvicorn running" not in result.stderr, args


async def test_a_schema_ahead_of_this_filmgraph_is_refused(empty_dsn: str) -> None:
    await _edit_record(
        empty_dsn, "insert into schema_migration (version, name) values (9999, 'from_the_future')"
    )
    for args in (["migrate"], ["load-demo"]):
        result = await asyncio.to_thread(_cli, *args, dsn=empty_dsn)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(
            "filmgraph: the database has migration 9999_from_the_future applied, which this "
            "filmgraph does not know"
        ), (args, result.stderr)


async def test_load_demo_refuses_an_unmigrated_database(empty_dsn: str) -> None:
    result = await asyncio.to_thread(_cli, "load-demo", dsn=empty_dsn)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("filmgraph: the database is not migrated (pending: 0001_")
    assert "run `filmgraph migrate`" in result.stderr


async def test_a_table_a_migration_rewrites_is_left_compact_visible_and_analysed(
    empty_dsn: str,
) -> None:
    """0009 gives every credit its film's sort key: an UPDATE of every row, which left credit
    twice its size, no page all-visible (index-only scans read the heap for every row) and
    no statistics until autovacuum came by. The migrator vacuums and analyses it after the
    migration commits."""
    before = [m for m in available() if m.version < 9]
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn, before)
        await conn.execute(
            """
            insert into film (slug, title, year)
            select 'film-' || i, 'Film ' || i, 1950 + i % 70 from generate_series(1, 3000) i;
            insert into person (slug, name)
            select 'person-' || i, 'Person ' || i from generate_series(1, 300) i;
            insert into credit (film_id, person_id, role)
            select f.id, p.id, r.role
            from film f
            cross join (values ('DIRECTOR', 0), ('WRITER', 1), ('ACTOR', 2)) r (role, k)
            join person p on p.id = 1 + (f.id * 7 + r.k) % 300;
            """
        )
        applied = await migrate(conn)
        assert [m.version for m in applied] == [m.version for m in available() if m.version >= 9]
        pages, visible, tuples = await conn.fetchrow(
            "select relpages, relallvisible, reltuples from pg_class where relname = 'credit'"
        )
        assert (visible, tuples) == (pages, 9000)
        # As compact as the same rows written once.
        await conn.execute("create temporary table written_once as select * from credit")
        compact = await conn.fetchval("select pg_relation_size('written_once')")
        assert await conn.fetchval("select pg_relation_size('credit')") <= compact
    finally:
        await conn.close()


async def test_a_migration_names_the_tables_it_rewrites(empty_dsn: str) -> None:
    """`-- vacuum after: t` in a migration: t vacuumed and analysed once it has committed."""
    migrations = [
        Migration(1, "t", sql, hashlib.sha256(sql.encode()).hexdigest())
        for sql in (
            "create table t (id int primary key, n int);"
            " insert into t select i, i from generate_series(1, 5000) i;",
        )
    ]
    rewrite = "-- Every row again.\n-- vacuum after: t\nupdate t set n = n + 1;\n"
    migrations.append(Migration(2, "u", rewrite, hashlib.sha256(rewrite.encode()).hexdigest()))
    assert migrations[1].rewrites == ("t",)
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn, migrations[:1])
        await migrate(conn, migrations)
        pages, visible, tuples = await conn.fetchrow(
            "select relpages, relallvisible, reltuples from pg_class where relname = 't'"
        )
        assert (visible, tuples) == (pages, 5000)
        assert await conn.fetchval("select count(*) from t where n = id + 1") == 5000
    finally:
        await conn.close()


async def test_a_fresh_database_is_not_analysed_whole(empty_dsn: str) -> None:
    """Only the tables a migration rewrote are analysed after migrating. An empty table
    analysed as empty stays "empty" to the planner once an import fills it (an unanalysed
    one is assumed to hold some rows): the first IMDb load's film insert then took 36 s
    instead of under 4."""
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        analysed = await conn.fetch(
            "select relname from pg_class where relname in ('film', 'person', 'search_word', "
            "'credit') and reltuples >= 0 order by relname"
        )
        # credit: 0009 rewrote it (on a fresh database, with no rows), so it was tidied.
        assert [r["relname"] for r in analysed] == ["credit"]
    finally:
        await conn.close()
