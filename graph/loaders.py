"""Batch functions: the data-access layer.

Each batch function runs one statement for every key queued in one tick and returns results in
key order, None or [] for a missing key: a lookup's named statement (sql/queries), or a
relation's statement built from its rows and order in graph/mapping.py (graph/batches.py).
Loaders live per request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import Any

import asyncpg
import orjson
from strawberry.dataloader import DataLoader

from graph import db
from graph.batches import BATCHES
from graph.db import Database, RequestConnection
from graph.mapping import MODEL, ROOT_PAGES, Computed, Relation
from graph.pagination import EMPTY_PAGE, Page, Window
from graph.types import build

Params = tuple[Hashable, ...]


async def rows_by_column(
    pool: Database, statement: str, column: str, keys: Sequence[Any]
) -> list[asyncpg.Record | None]:
    rows = await pool.fetch(db.sql(statement), list(keys))
    found = {row[column]: row for row in rows}
    return [found.get(k) for k in keys]


async def rows_by_parent(
    pool: Database, statement: str, params: Params, keys: Sequence[int]
) -> list[list[asyncpg.Record]]:
    grouped: dict[int, list[asyncpg.Record]] = defaultdict(list)
    for row in await pool.fetch(BATCHES[statement].sql, list(keys), *params):
        grouped[row["parent"]].append(row)
    return [grouped.get(k, []) for k in keys]


async def pages_by_parent(
    pool: Database, statement: str, win: Window, params: Params, keys: Sequence[int]
) -> list[Page[asyncpg.Record]]:
    totals: dict[int, int] = {}
    items: dict[int, list[tuple[int, asyncpg.Record]]] = defaultdict(list)
    for row in await pool.fetch(BATCHES[statement].sql, *win.params, list(keys), *params):
        totals[row["page_parent"]] = row["page_total"]
        if row["rn"] is not None:
            items[row["page_parent"]].append((row["rn"], row))
    return [Page(items=items[k], total=totals[k]) if k in totals else EMPTY_PAGE for k in keys]


class Loaders:
    """One request's DataLoaders, made on first use for each (statement, parameters)."""

    def __init__(self, pool: RequestConnection) -> None:
        self.pool = pool
        self._loaders: dict[Hashable, DataLoader[Any, Any]] = {}

    def _loader(self, key: Hashable, batch: Callable[[list[Any]], Any]) -> DataLoader[Any, Any]:
        loader = self._loaders.get(key)
        if loader is None:
            loader = self._loaders[key] = DataLoader(load_fn=batch)
        return loader

    async def batched(self, key: Hashable, batch: Callable[[list[Any]], Any], item: Any) -> Any:
        """item's result of `batch`, a batch function of the caller's own (the graph questions
        of graph/similar.py, graph/collaborators.py, graph/watch.py), keyed by `key`: its
        statement and parameters."""
        return await self._loader(key, batch).load(item)

    async def lookup(self, entity: str, by: str, value: Any) -> Any:
        """The `entity` whose `by` column equals value, or None."""
        statement = MODEL[entity].lookups[by]
        loader = self._loader(statement, partial(self._build_lookup, entity, statement, by))
        return await loader.load(value)

    async def _build_lookup(
        self, entity: str, statement: str, by: str, keys: list[Any]
    ) -> list[Any]:
        rows = await rows_by_column(self.pool, statement, by, keys)
        return [None if row is None else build(entity, row) for row in rows]

    async def computed(self, field: Computed, parent_key: int, base: str) -> Any:
        """A computed field's JSON value (graph/mapping.py), decoded; None for no row."""
        loader = self._loader(
            (field.statement, base), partial(self._build_computed, field.statement, base)
        )
        return await loader.load(parent_key)

    async def _build_computed(self, statement: str, base: str, keys: list[int]) -> list[Any]:
        rows = await self.pool.fetch(db.sql(statement), keys, base)
        found = {row["id"]: orjson.loads(row["document"]) for row in rows}
        return [found.get(k) for k in keys]

    async def one(self, rel: Relation, parent: Any) -> Any:
        by = next(k for k, s in MODEL[rel.target].lookups.items() if s == rel.statement)
        return await self.lookup(rel.target, by, getattr(parent, rel.key))

    async def many(self, rel: Relation, parent: Any, *args: Hashable) -> list[Any]:
        params = (*rel.fixed, *args)
        loader = self._loader((rel.statement, params), partial(self._build_many, rel, params))
        result: list[Any] = await loader.load(getattr(parent, rel.key))
        return result

    async def _build_many(self, rel: Relation, params: Params, keys: list[int]) -> list[Any]:
        groups = await rows_by_parent(self.pool, rel.statement, params, keys)
        return [[build(rel.target, row) for row in rows] for rows in groups]

    async def page(self, rel: Relation, parent_key: int, win: Window, *args: Hashable) -> Page[Any]:
        params = (*rel.fixed, *args)
        loader = self._loader(
            (rel.statement, win, params),
            partial(self._build_pages, rel.statement, rel.target, win, params),
        )
        result: Page[Any] = await loader.load(parent_key)
        return result

    async def _build_pages(
        self, statement: str, target: str, win: Window, params: Params, keys: list[int]
    ) -> list[Page[Any]]:
        pages = await pages_by_parent(self.pool, statement, win, params, keys)
        return [
            Page(items=[(pos, build(target, row)) for pos, row in p.items], total=p.total)
            for p in pages
        ]

    async def root_page(self, entity: str, win: Window) -> Page[Any]:
        """A page of every `entity`: the root connections (no parent, so nothing to batch)."""
        rows = await self.pool.fetch(BATCHES[ROOT_PAGES[entity].statement].sql, *win.params)
        total = rows[0]["page_total"] if rows else 0
        items = [(row["rn"], build(entity, row)) for row in rows if row["rn"] is not None]
        return Page(items=items, total=total)
