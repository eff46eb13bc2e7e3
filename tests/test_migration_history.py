"""Databases migrated at any earlier commit of main upgrade to today's schema.

Landed migrations were edited after they had landed (see migration 0006). A database is
migrated at each state sql/migrations had on main (tests/migration_history.py) as the code of
the time did it, given the demo data, then migrated by today's code: its schema must equal a
fresh database's, and search and the one-facet counts must answer as on a fresh one.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.demo.load import load_demo
from graph.migrate import available, migrate
from graph.settings import Settings
from tests.conftest import LiveServer, create_database, drop_database, gql
from tests.migration_history import HISTORY, files_at, migrate_as_of
from tests.schema_dump import dump_schema

# What a user sees of search and of the one-facet counts (tallies), typos included.
QUERIES: list[tuple[str, dict[str, Any]]] = [
    (
        "query($q: String!) { search(query: $q, types: [FILM]) { ... on Film { slug } } }",
        {"q": "godfater"},
    ),
    (
        "query($q: String!) { search(query: $q, types: [PERSON]) { ... on Person { slug } } }",
        {"q": "tarantnio"},
    ),
    (
        "query($q: String!) { films(filter: {query: $q}) { totalCount nodes { slug } } }",
        {"q": "teh dark knight"},
    ),
    ("{ films(filter: {year: {min: 1990, max: 1999}}) { totalCount } }", {}),
    ('{ films(filter: {genresAny: ["drama"]}) { totalCount } }', {}),
    ("{ films(filter: {minRating: 8}) { totalCount } }", {}),
    ("{ films(filter: {runtimeMinutes: {max: 120}}) { totalCount } }", {}),
]


# The tables every state has, parents first; search_vector is generated.
BASE_TABLES = ["genre", "person", "film", "provider", "film_genre", "credit", "offer"]


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    """The table's stored columns (not generated ones), in order."""
    return [
        r["attname"]
        for r in await conn.fetch(
            """select attname from pg_attribute
               where attrelid = $1::regclass and attnum > 0 and not attisdropped
                 and attgenerated = '' order by attnum""",
            table,
        )
    ]


async def copy_base_data(source: str, conn: asyncpg.Connection) -> None:
    """The fresh database's rows, written as a COPY (so that each state's own triggers keep
    whatever it derives from them): today's demo loader needs today's schema."""
    src = await asyncpg.connect(source)
    try:
        for table in BASE_TABLES:
            # A column a later migration added (film_genre.sources, 0010) is left to its
            # default where the state has it, and out where it does not.
            there = await _columns(conn, table)
            columns = [c for c in await _columns(src, table) if c in there]
            rows = await src.fetch(f"select {', '.join(columns)} from {table}")
            await conn.copy_records_to_table(table, records=rows, columns=columns)
    finally:
        await src.close()


async def answers(url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return [await gql(client, query, variables) for query, variables in QUERIES]


@pytest.fixture(scope="module")
async def fresh(server_dsn: str) -> AsyncIterator[tuple[str, str, list[dict[str, Any]]]]:
    """A database migrated by today's code with the demo data: its URL, schema and answers."""
    name = f"filmgraph_fresh_{secrets.token_hex(4)}"
    url = await create_database(server_dsn, name)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        await load_demo(conn)
    finally:
        await conn.close()
    with LiveServer(create_app(Settings(), url)) as server:
        seen = await answers(server.url)
    yield url, dump_schema(url), seen
    await drop_database(server_dsn, name)


def test_fixtures_end_with_the_landed_files() -> None:
    """The last state is main's before 0006: its files are today's, byte for byte (a landed
    migration is never edited)."""
    last = files_at(HISTORY[-1])
    today = {m.version: (m.name, m.sql) for m in available() if m.version in last}
    assert last == today


async def upgrade(url: str, steps: list[str], data_from: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate_as_of(conn, steps[0])
        await copy_base_data(data_from, conn)
        for commit in steps[1:]:
            await migrate_as_of(conn, commit)
        applied = await migrate(conn)
        assert 6 in [m.version for m in applied]
        rows = await conn.fetch("select version, checksum from schema_migration order by 1")
        # The checksums of databases migrated before they were recorded are now recorded.
        assert [(r["version"], r["checksum"]) for r in rows] == [
            (m.version, m.checksum) for m in available()
        ]
        assert await migrate(conn) == []
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "steps",
    [[commit] for commit in HISTORY] + [HISTORY],
    ids=[*HISTORY, "every-commit-in-turn"],
)
async def test_upgrade_from_an_earlier_commit(
    server_dsn: str, fresh: tuple[str, str, list[dict[str, Any]]], steps: list[str]
) -> None:
    source, schema, seen = fresh
    name = f"filmgraph_old_{secrets.token_hex(4)}"
    url = await create_database(server_dsn, name)
    try:
        await upgrade(url, steps, source)
        assert dump_schema(url) == schema
        with LiveServer(create_app(Settings(), url)) as server:
            assert await answers(server.url) == seen
    finally:
        await drop_database(server_dsn, name)


async def test_an_old_database_lacks_what_search_and_counts_need_until_0006(
    server_dsn: str, fresh: tuple[str, str, list[dict[str, Any]]]
) -> None:
    """What 0006 repairs: a database from before search_word and film_tally, migrated by the
    code just before 0006, had "nothing to migrate" and lacked them (search and the one-facet
    counts answered INTERNAL). Today's server says it is not migrated instead."""
    name = f"filmgraph_old_{secrets.token_hex(4)}"
    url = await create_database(server_dsn, name)
    try:
        conn = await asyncpg.connect(url)
        try:
            await migrate_as_of(conn, "8f9f30c")
            await copy_base_data(fresh[0], conn)
            await migrate_as_of(conn, HISTORY[-1])
            missing = await conn.fetchrow(
                """select to_regclass('search_word') as search_word,
                          to_regprocedure('typo_query(text, boolean)') as typo_query,
                          to_regclass('film_tally') as film_tally"""
            )
        finally:
            await conn.close()
        assert dict(missing) == {"search_word": None, "typo_query": None, "film_tally": None}
        with LiveServer(create_app(Settings(), url)) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                query, variables = QUERIES[0]
                response = await client.post(
                    "/graphql", json={"query": query, "variables": variables}
                )
        assert response.status_code == 503
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert "not migrated" in error["message"]
    finally:
        await drop_database(server_dsn, name)


async def test_0006_changes_nothing_on_a_database_migrated_from_the_final_files(
    fresh: tuple[str, str, list[dict[str, Any]]],
) -> None:
    """On today's schema, 0006 again rebuilds no index and refills nothing (on a database
    migrated at the last commit before it, with a million films, it runs in no time)."""
    source, schema, _ = fresh
    (converge,) = [m for m in available() if m.version == 6]
    snapshot = """select c.relname, c.relfilenode from pg_class c
                  join pg_namespace n on n.oid = c.relnamespace
                  where n.nspname = 'public' and c.relkind in ('r', 'i') order by 1"""
    tallies = "select facet, value, films from film_tally order by 1, 2, 3"
    words = "select word, in_titles, in_names from search_word order by 1"
    conn = await asyncpg.connect(source)
    try:
        before = [await conn.fetch(q) for q in (snapshot, tallies, words)]
        # In a transaction rolled back: the module's other tests share this database.
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(converge.sql)
            after = [await conn.fetch(q) for q in (snapshot, tallies, words)]
        finally:
            await transaction.rollback()
    finally:
        await conn.close()
    assert after == before
    assert len(before[0]) > 20 and before[1] and before[2]
    assert dump_schema(source) == schema
