"""Every traversal the schema offers is backed by an index.

Each batch statement is planned generically (as for any parameter values), with sequential
scans priced out of reach. Every scan of a table must then be an index scan with a condition
on the index's leading column: a `Seq Scan`, or an index scan that reads the whole index,
means that no index fits the traversal. Root connections (`*_page` without a parent) read the
whole table in order by design and are left out.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from graph.batches import BATCHES
from graph.db import STATEMENTS
from graph.demo.load import load_demo
from graph.migrate import migrate
from tests.conftest import create_database, drop_database

# The named statements of sql/queries and the relations' batch statements (graph/batches.py).
ALL = {**STATEMENTS, **BATCHES}
TRAVERSALS = sorted(
    name for name in ALL if "_by_" in name and not name.startswith(("insert_", "ids_"))
)

# The tables that grow with the catalogue; genre and provider stay small enough to read whole.
BIG_TABLES = {"film", "person", "credit", "offer", "film_genre"}

# Each index: its table, and its leading column (null when the leading key is an expression).
INDEXES = """
select c.relname as index, t.relname as table, a.attname as leading
from pg_index i
join pg_class c on c.oid = i.indexrelid
join pg_class t on t.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
where n.nspname = 'public'
"""


def unindexed_scans(node: dict[str, Any], indexes: dict[str, asyncpg.Record]) -> list[str]:
    """Scans of a big table in a JSON plan that read the whole table or a whole index.

    An index scan counts only with a condition on the index's leading column: PostgreSQL 18
    can otherwise skip-scan an index on a later column, which still reads all of it. (For an
    expression index, any condition: the expression leads.)
    """
    found = []
    kind = node["Node Type"]
    if kind == "Seq Scan" and node["Relation Name"] in BIG_TABLES:
        found.append(f"Seq Scan on {node['Relation Name']}")
    elif kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        index = indexes[node["Index Name"]]
        condition = node.get("Index Cond", "")
        leading = index["leading"]
        fits = f"({leading} " in condition if leading is not None else bool(condition)
        if index["table"] in BIG_TABLES and not fits:
            found.append(f"{kind} on {node['Index Name']} without a condition on its lead")
    for child in node.get("Plans", []):
        found += unindexed_scans(child, indexes)
    return found


@pytest.fixture(scope="module")
async def unanalyzed_dsn(server_dsn: str) -> AsyncIterator[str]:
    """The demo graph in a database of its own that is never analyzed, so that plans are
    judged on the planner's default estimates, as for a catalogue of any size. Statistics of
    the 51 demo films make reading a whole small table look cheapest, and autovacuum gathers
    them at a moment that depends on how long the suite has been running."""
    name = f"filmgraph_plans_{secrets.token_hex(4)}"
    url = await create_database(server_dsn, name)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        for table in await conn.fetch(
            "select tablename from pg_tables where schemaname = 'public'"
        ):
            await conn.execute(f'alter table "{table[0]}" set (autovacuum_enabled = false)')
        await load_demo(conn)
    finally:
        await conn.close()
    yield url
    await drop_database(server_dsn, name)


def test_the_traversals_are_all_checked() -> None:
    assert len(TRAVERSALS) >= 20
    assert "filmography_page_by_person_id" in TRAVERSALS


@pytest.mark.parametrize("name", TRAVERSALS)
async def test_traversal_uses_an_index(unanalyzed_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(unanalyzed_dsn)
    try:
        indexes = {r["index"]: r for r in await conn.fetch(INDEXES)}
        params = len((await conn.prepare(ALL[name].sql)).get_parameters())
        async with conn.transaction():
            # Price out whole-table reads, and joins that read a whole side (hash, merge), which
            # the tiny test data would otherwise make look cheap.
            for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
                await conn.execute(f"set local {setting} = off")
            # A generic plan, as for any parameter values: with the values known, the planner
            # could fold conditions away (a strict function of null is null) and show nothing.
            await conn.execute("set local plan_cache_mode = force_generic_plan")
            await conn.execute(f"prepare traversal as {ALL[name].sql}")
            nulls = ", ".join(["null"] * params)
            execute = f"execute traversal({nulls})" if params else "execute traversal"
            plan = json.loads(await conn.fetchval(f"explain (format json) {execute}"))[0]["Plan"]
            await conn.execute("deallocate traversal")
    finally:
        await conn.close()
    assert unindexed_scans(plan, indexes) == [], json.dumps(plan, indent=1)
