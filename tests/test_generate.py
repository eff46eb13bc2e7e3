"""The synthetic catalogue: deterministic, realistically skewed, and only into an empty graph."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
import pytest

from graph.generate import GenerateError, generate
from graph.migrate import migrate

FINGERPRINT = """
select md5(string_agg(x, '|' order by x)) from (
    select 'f' || id || title || coalesce(year, 0) || coalesce(imdb_rating::text, '') as x from film
    union all select 'c' || film_id || '-' || person_id || role from credit
    union all select 'o' || film_id || provider_id || region || kind || coalesce(price::text, '')
              from offer
) t
"""


async def _fresh(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await conn.execute("drop schema public cascade; create schema public")
    await migrate(conn)
    return conn


async def test_same_seed_same_catalogue(empty_dsn: str) -> None:
    prints = []
    for seed in (7, 7, 8):
        conn = await _fresh(empty_dsn)
        try:
            counts = await generate(conn, 400, seed)
            prints.append(await conn.fetchval(FINGERPRINT))
        finally:
            await conn.close()
        assert counts["film"] == 400
        assert counts["person"] == 160
    assert prints[0] == prints[1]
    assert prints[0] != prints[2]


async def test_shapes_are_skewed_like_real_catalogues(empty_dsn: str) -> None:
    conn = await _fresh(empty_dsn)
    try:
        await generate(conn, 2000, 1)
        per_person = [
            r[0]
            for r in await conn.fetch(
                "select count(*) from credit group by person_id order by 1 desc"
            )
        ]
        cast_sizes = [
            r[0]
            for r in await conn.fetch(
                "select count(*) from credit where role = 'ACTOR' group by film_id order by 1 desc"
            )
        ]
        regions = await conn.fetchval("select count(distinct region) from offer")
        kinds = {r[0] for r in await conn.fetch("select distinct kind from offer")}
        by_region = await conn.fetch(
            "select region, count(*) from offer group by region order by 2 desc"
        )
        directors = await conn.fetchval(
            "select count(*) from film f where exists (select 1 from credit c"
            " where c.film_id = f.id and c.role = 'DIRECTOR')"
        )
    finally:
        await conn.close()
    assert per_person[0] > 20 * per_person[len(per_person) // 2], "prolific people"
    assert cast_sizes[0] >= 5 * cast_sizes[len(cast_sizes) // 2], "power-law cast sizes"
    assert regions >= 10
    assert kinds == {"SUBSCRIPTION", "FREE", "ADS", "RENT", "BUY"}
    assert by_region[0]["region"] == "US"
    assert directors == 2000


async def test_refuses_a_graph_with_data(empty_dsn: str) -> None:
    conn = await _fresh(empty_dsn)
    try:
        await conn.execute("insert into genre (slug, name) values ('x', 'X')")
        with pytest.raises(GenerateError):
            await generate(conn, 10, 1)
    finally:
        await conn.close()


@pytest.mark.parametrize("films", ["0", "-1"])
async def test_no_films_is_refused_and_leaves_the_graph_empty(empty_dsn: str, films: str) -> None:
    """`generate --films 0` (or less) once made a catalogue of ten people and no films, after
    which the graph was no longer empty and generate refused every later run."""
    conn = await _fresh(empty_dsn)
    try:
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "graph.cli", "generate", "--films", films],
            env={**os.environ, "DATABASE_URL": empty_dsn},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        stderr = err.decode()
        assert proc.returncode == 2, stderr
        assert f"filmgraph: --films must be at least 1, got {films}" in stderr
        assert await conn.fetchval("select count(*) from person") == 0
    finally:
        await conn.close()
