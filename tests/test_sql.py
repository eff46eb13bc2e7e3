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
