"""Every traversal the schema offers is backed by an index.

Each batch statement is planned generically (as for any parameter values) with sequential
scans priced out of reach. Every scan of a table must then be an index scan with a condition
on the index's leading column: a `Seq Scan`, or an index scan that reads the whole index,
means that no index fits the traversal. Root connections (`*_page` without a parent) read the
whole table in order by design and are left out.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from graph.db import STATEMENTS

TRAVERSALS = sorted(
    name for name in STATEMENTS if "_by_" in name and not name.startswith(("insert_", "ids_"))
)

LEADING_COLUMNS = """
select c.relname as index, a.attname as leading
from pg_index i
join pg_class c on c.oid = i.indexrelid
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'public'
"""


def unindexed_scans(node: dict[str, Any], leading: dict[str, str]) -> list[str]:
    """Scans in a JSON plan that read a whole table or a whole index.

    An index scan counts only with a condition on the index's leading column: PostgreSQL 18
    can otherwise skip-scan an index on a later column, which still reads all of it.
    """
    found = []
    kind = node["Node Type"]
    if kind == "Seq Scan":
        found.append(f"Seq Scan on {node['Relation Name']}")
    elif kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        column = leading[node["Index Name"]]
        if f"({column} " not in node.get("Index Cond", ""):
            found.append(f"{kind} on {node['Index Name']} without a condition on {column}")
    for child in node.get("Plans", []):
        found += unindexed_scans(child, leading)
    return found


def test_the_traversals_are_all_checked() -> None:
    assert len(TRAVERSALS) >= 20
    assert "filmography_page_by_person_id" in TRAVERSALS


@pytest.mark.parametrize("name", TRAVERSALS)
async def test_traversal_uses_an_index(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        leading = {r["index"]: r["leading"] for r in await conn.fetch(LEADING_COLUMNS)}
        async with conn.transaction():
            await conn.execute("set local enable_seqscan = off")
            explain = await conn.prepare(
                f"explain (generic_plan, format json) {STATEMENTS[name].sql}"
            )
            # The plan is generic: the (null) values bound here are not looked at.
            nulls = [None] * len(explain.get_parameters())
            plan = json.loads(await explain.fetchval(*nulls))[0]["Plan"]
    finally:
        await conn.close()
    assert unindexed_scans(plan, leading) == [], json.dumps(plan, indent=1)
