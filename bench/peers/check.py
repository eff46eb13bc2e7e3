"""Before timing: the same answers everywhere, and the SQL statements each request costs.

Identity: on a sample of keys per page, every filmgraph variant's `data` must equal the
floor's JSON exactly (parsed, so compared as values, not bytes), and PostGraphile's answer,
mapped onto filmgraph's shape, must equal filmgraph's with what PostGraphile cannot order as
filmgraph does made order-free (pages.loose).

Statements: pg_stat_statements (preloaded by the harness's server, utility statements
tracked, so the pool's RESET ALL counts) is reset, a number of requests is sent one after
another, and every call the server recorded in the graph's database is counted. The
harness's own queries run in another database and are not counted. Without
pg_stat_statements (a DATABASE_URL server without it preloaded) the count is n/a.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
from pages import PAGES, Data, loose

Fetch = Callable[[str, str | None], Awaitable[Data]]


def graphql_fetch(client: httpx.AsyncClient, url: str, postgraphile: bool = False) -> Fetch:
    async def fetch(page: str, key: str | None) -> Data:
        p = PAGES[page]
        document = p.postgraphile_document if postgraphile else p.document
        r = await client.post(
            url, json={"query": document, "variables": p.variables(key)}, timeout=60
        )
        body = r.json()
        if r.status_code != 200 or body.get("errors"):
            raise AssertionError(f"{url} {page} {key!r}: {r.status_code} {json.dumps(body)[:500]}")
        data: Data = body["data"]
        if postgraphile:
            convert = p.postgraphile
            assert convert is not None
            return convert(data)
        return data

    return fetch


def persisted_fetch(client: httpx.AsyncClient, base: str, path_of: Callable[..., str]) -> Fetch:
    async def fetch(page: str, key: str | None) -> Data:
        r = await client.get(base + path_of(page, key), timeout=60)
        body = r.json()
        if r.status_code != 200 or body.get("errors"):
            raise AssertionError(f"GET {page} {key!r}: {r.status_code} {json.dumps(body)[:500]}")
        data: Data = body["data"]
        return data

    return fetch


def floor_fetch(conn: asyncpg.Connection) -> Fetch:
    async def fetch(page: str, key: str | None) -> Data:
        sql = PAGES[page].floor_sql
        text = await (conn.fetchval(sql, key) if "$1" in sql else conn.fetchval(sql))
        data: Data = json.loads(text)
        return data

    return fetch


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if type(a) is not type(b):
        return f"{path or '.'}: {json.dumps(a)[:200]} != {json.dumps(b)[:200]}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: only on one side"
            if a[k] != b[k]:
                return _first_difference(a[k], b[k], f"{path}.{k}")
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path or '.'}: {json.dumps(a)[:200]} != {json.dumps(b)[:200]}"


async def compare(
    page: str,
    keys: list[str | None],
    reference: Fetch,
    others: dict[str, Fetch],
    loosely: set[str],
) -> dict[str, dict[str, Any]]:
    """{system: {"pages": n, "identical": n, "first_difference": str | None}} against the
    reference (filmgraph's resolver path, the reference semantics)."""
    out: dict[str, dict[str, Any]] = {
        name: {"pages": 0, "identical": 0, "first_difference": None} for name in others
    }
    for key in keys:
        want = await reference(page, key)
        for name, fetch in others.items():
            entry = out[name]
            entry["pages"] += 1
            try:
                got = await fetch(page, key)
            except AssertionError as exc:
                entry["first_difference"] = entry["first_difference"] or str(exc)
                continue
            expected = want
            if name in loosely:
                got, expected = loose(page, got), loose(page, want)
            if got == expected:
                entry["identical"] += 1
            elif entry["first_difference"] is None:
                entry["first_difference"] = f"key {key!r}: " + _first_difference(got, expected)
    return out


async def has_statements(monitor: asyncpg.Connection) -> bool:
    try:
        await monitor.fetchval("select count(*) from pg_stat_statements")
    except asyncpg.PostgresError:
        return False
    return True


async def _calls(monitor: asyncpg.Connection, database: str) -> list[asyncpg.Record]:
    return list(
        await monitor.fetch(
            "select calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 120) as query "
            "from pg_stat_statements s join pg_database d on d.oid = s.dbid "
            "where d.datname = $1 order by calls desc",
            database,
        )
    )


async def background_rate(monitor: asyncpg.Connection, database: str, seconds: float) -> float:
    """Statements per second the idle servers run on their own (a data-version poll, say),
    counted over `seconds` with no request in flight; count_statements subtracts them."""
    await monitor.execute("select pg_stat_statements_reset()")
    start = time.monotonic()
    await asyncio.sleep(seconds)  # a measuring window, not a wait for anything
    calls: int = sum(r["calls"] for r in await _calls(monitor, database))
    return calls / (time.monotonic() - start)


async def count_statements(
    monitor: asyncpg.Connection,
    database: str,
    run: Callable[[], Awaitable[None]],
    requests: int,
    background: float,
) -> tuple[float, list[dict[str, Any]]]:
    """(statements per request, the most called statements) while run() sends `requests`,
    less the idle servers' own statements over that time (`background` per second)."""
    await monitor.execute("select pg_stat_statements_reset()")
    start = time.monotonic()
    await run()
    rows = await _calls(monitor, database)
    own = background * (time.monotonic() - start)
    total = sum(r["calls"] for r in rows)
    top = [{"calls": r["calls"], "query": r["query"]} for r in rows[:8]]
    return max(total - own, 0.0) / requests, top


def pgbench_once(pgbench_bin: str, dsn: str, script: str, transactions: int) -> None:
    subprocess.run(
        [
            pgbench_bin,
            "-n",
            "-M",
            "prepared",
            "-c",
            "1",
            "-t",
            str(transactions),
            "-f",
            script,
            dsn,
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
