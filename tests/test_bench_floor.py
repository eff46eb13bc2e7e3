"""The benchmark's floor (bench/peers/floor/*.sql) returns exactly what filmgraph answers for
the benchmark pages (bench/pages/*.graphql), on every demo film, director and a few searches:
a floor that drifted from the API's semantics would make bench/peers compare unlike work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import gql

ROOT = Path(__file__).parent.parent
PAGES = ROOT / "bench" / "pages"
FLOOR = ROOT / "bench" / "peers" / "floor"


def _body(path: Path) -> str:
    return "".join(line for line in path.open() if not line.startswith("#"))


def test_the_benchmark_film_page_is_the_reference_query() -> None:
    assert _body(PAGES / "film-page.graphql") == _body(ROOT / "examples" / "film-page.graphql")


async def _keys(dsn: str, page: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        if page == "film-page":
            return [r["slug"] for r in await conn.fetch("select slug from film order by id")]
        if page == "filmography":
            return [
                r["slug"]
                for r in await conn.fetch(
                    "select distinct p.slug from person p join credit c on c.person_id = p.id "
                    "where c.role = 'DIRECTOR' order by p.slug"
                )
            ] + ["no-such-person"]
        if page == "search":
            return ["refusenik", "bialis", "drama", "netflix", "the", "xqzzv"]
        return [None]
    finally:
        await conn.close()


def _variables(page: str, key: Any) -> dict[str, Any]:
    return {
        "film-page": {"slug": key, "region": "US"},
        "filmography": {"slug": key},
        "search": {"q": key},
        "list": {},
    }[page]


@pytest.mark.parametrize("page", ["film-page", "filmography", "list", "search"])
async def test_the_floor_answers_what_filmgraph_answers(
    client: httpx.AsyncClient, dsn: str, page: str
) -> None:
    document = (PAGES / f"{page}.graphql").read_text()
    sql = (FLOOR / f"{page}.sql").read_text()
    keys = await _keys(dsn, page)
    assert keys
    conn = await asyncpg.connect(dsn)
    try:
        for key in keys:
            want = await gql(client, document, _variables(page, key))
            args = [key] if "$1" in sql else []
            got = json.loads(await conn.fetchval(sql, *args))
            assert got == want, key
    finally:
        await conn.close()
