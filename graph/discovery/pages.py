"""Running a keyset page: its statement, its count when asked for, and the Connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from graph import observe
from graph.db import Database
from graph.discovery.filters import Params
from graph.discovery.keyset import KeysetQuery, page_sql
from graph.pagination import Connection, Edge, PageInfo

# PostgreSQL plans a prepared statement generically after five runs when the generic plan
# looks no dearer than the custom ones, and asyncpg prepares every statement. For a filter the
# generic plan assumes an average value: the average person has a few credits, so a generic
# plan for "films this person directed" collects their films and sorts them, which takes
# 100 ms for a director of 26,000 films where walking the title index takes 4. A statement
# prepared afresh, outside asyncpg's statement cache, runs once: PostgreSQL plans it for its
# values (a custom plan for a statement's first five runs). No session setting, no
# transaction: one statement on the server, and nothing outlives it on a pooled connection,
# which is not reset on release (graph/db.py).


async def fetch(
    conn: asyncpg.Connection, sql: str, params: list[Any], custom_plan: bool
) -> list[asyncpg.Record]:
    """Run one statement; with custom_plan, planned for its parameters every time."""
    if not custom_plan:
        return list(await conn.fetch(sql, *params))
    statement = await conn.prepare(sql)
    with observe.statement(sql):  # asyncpg logs a prepared statement's runs to no one
        return list(await statement.fetch(*params))


async def keyset_page(
    pool: Database,
    query: KeysetQuery,
    p: Params,
    build: Callable[[asyncpg.Record], Any],
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Any]:
    page = page_sql(query, p, first, after, last, before)
    async with pool.acquire() as conn:
        rows = await fetch(conn, page.sql, page.params, page.custom_plan)
    more = len(rows) > page.size
    rows = rows[: page.size]
    if page.backward:
        rows.reverse()
    edges = [Edge(cursor=query.encode(r), node=build(r)) for r in rows]

    async def total() -> int:
        async with pool.acquire() as conn:
            rows = await fetch(conn, page.count_sql, page.count_params, page.custom_plan)
        count: int = rows[0][0]
        return count

    return Connection(
        edges=edges,
        nodes=[e.node for e in edges],
        page_info=PageInfo(
            has_next_page=before is not None if page.backward else more,
            has_previous_page=more if page.backward else after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total=total,
    )
