"""Every named SQL statement prepares against the migrated schema."""

from __future__ import annotations

import asyncpg
import pytest

from graph.db import STATEMENTS, parse_statements

# Importers' temporary staging tables, which their other statements read.
STAGING = sorted(name for name in STATEMENTS if name.endswith("_stage_create"))


@pytest.mark.parametrize("name", sorted(STATEMENTS))
async def test_statement_prepares(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            if name not in STAGING:
                for stage in STAGING:
                    await conn.execute(STATEMENTS[stage].sql)
            await conn.prepare(STATEMENTS[name].sql)
    finally:
        await conn.close()


def test_named_blocks_are_split_and_paged_ones_wrapped() -> None:
    text = """
-- name: a_by_id
-- A comment.
select 1;

-- name: b_page (paged)
select 0::bigint as parent, 1::bigint as rn;
"""
    statements = parse_statements(text)
    assert list(statements) == ["a_by_id", "b_page"]
    assert statements["a_by_id"].sql.endswith("select 1")
    assert not statements["a_by_id"].paged
    assert statements["b_page"].paged
    assert "page_total" in statements["b_page"].sql


TRICKY_IDS = [
    "tt1234567", "tt12345678", "tt1234567890", "tt123456", "tt12345678901", "nm0000001",
    "TT1234567", "tt 123456", "tt123456 ", " tt1234567", "tt\u0661\u0662\u0663\u0664\u0665\u0666\u0667", "tt12345x7", "tt",
    "", "ttt1234567", "tt-1234567", "tt+1234567", "tt1234567\n", "nmtt1234567",
    "tt1234567tt", "tttt123456", "nm12345678nm", "tt12345\u00e97", "tt123456\u00e9", "nm", "1234567",
]  # fmt: skip


async def test_imdb_id_ok_agrees_with_the_pattern_it_replaces(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """select id, prefix, imdb_id_ok(id, prefix) as fast,
                      id ~ ('^' || prefix || '[0-9]{7,10}$') as pattern
               from unnest($1::text[]) id, unnest(array['tt', 'nm']) prefix""",
            TRICKY_IDS,
        )
    finally:
        await conn.close()
    assert [(r["id"], r["prefix"]) for r in rows if r["fast"] != r["pattern"]] == []
    assert sum(r["fast"] for r in rows) == 4  # the three good tt ids, and nm0000001
