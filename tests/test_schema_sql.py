"""sql/schema.sql is the schema a fresh database has after every migration."""

from __future__ import annotations

import asyncpg

from graph.migrate import migrate
from tests.schema_dump import SCHEMA_SQL, normalise, schema_sql


async def test_committed_schema_sql_is_current(empty_dsn: str) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    assert SCHEMA_SQL.read_text() == schema_sql(empty_dsn), (
        "sql/schema.sql is stale: run `scripts/schema-sql` and commit it"
    )


def test_normalise_drops_what_varies_between_dumps_of_one_schema() -> None:
    dump = """--
-- PostgreSQL database dump
--

\\restrict AbC123

-- Dumped from database version 18.6
-- Dumped by pg_dump version 18.6

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: film; Type: TABLE; Schema: public; Owner: someone
--

CREATE TABLE public.film (
    id bigint NOT NULL
);



--
-- PostgreSQL database dump complete
--

\\unrestrict AbC123
"""
    assert normalise(dump) == "CREATE TABLE public.film (\n    id bigint NOT NULL\n);\n"
