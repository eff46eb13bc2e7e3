"""Migrations: applied once, in order, safely under concurrency."""

from __future__ import annotations

import asyncio

import asyncpg

from graph.migrate import available, migrate


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
