"""`search` and `suggest` in the compiled statement: each type's named statement
(sql/queries/search.sql) finds the hits, merged in the order graph/search.py merges them,
and the objects are read by id under the union's fragments."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from graph.compiled.arguments import argument
from graph.compiled.embedded import bound
from graph.compiled.plan import NotCompilable, Selected
from graph.discovery.filters import search_text
from graph.errors import UserInputError
from graph.mapping import MODEL
from graph.search import SEARCHES, SUGGESTIONS, _hits

if TYPE_CHECKING:
    from graph.compiled.sql import Builder


def search(b: Builder, s: Selected) -> str:
    """`search`/`suggest`: each type's named statement (sql/queries/search.sql) for the
    hits, merged in the order graph/search.py merges them, and the objects read by id."""
    values = b.arguments(s)
    hits = b.param(argument(s, "first", _search_hits), "int")
    if s.name == "search":
        text = b.param(argument(s, "query", partial(search_text, argument="query")), "text")
        types = b.param(argument(s, "types", _search_types), "text[]")
        branches = [
            f"select h.id, h.score, {rank} as rank from ({_named(statement, text, hits)}) h "
            f"where {types} is null or '{kind.name}' = any({types})"
            for rank, (kind, (statement, _)) in enumerate(SEARCHES.items())
        ]
        order = "u.score desc, u.rank, u.id"
        entities = [entity for _, entity in SEARCHES.values()]
    else:
        if values.get("types") is not None:
            raise NotCompilable("suggest has no types")
        text = b.param(argument(s, "prefix", partial(search_text, argument="prefix")), "text")
        # Films and people alternate: by position in their own list, films first.
        branches = [
            f"select h.id, row_number() over () as score, {rank} as rank "
            f"from ({_named(statement, text, hits)}) h"
            for rank, (statement, _) in enumerate(SUGGESTIONS)
        ]
        order = "u.score, u.rank"
        entities = [entity for _, entity in SUGGESTIONS]
    by_id = "{table} {{t}} where {{t}}.id = h.id"
    cases = " ".join(
        f"when {rank} then {b.row(entity, s, by_id.format(table=MODEL[entity].table))}"
        for rank, entity in enumerate(entities)
    )
    union = " union all ".join(f"({branch})" for branch in branches)
    return (
        f"coalesce((select json_agg(case h.rank {cases} end order by h.n) from "
        f"(select u.*, row_number() over (order by {order}) as n from ({union}) u "
        f"order by {order} limit {hits}) h), '[]'::json)"
    )


def _named(statement: str, text: str, hits: str) -> str:
    """A search statement of sql/queries with its $1 (the text) and $2 (the limit) bound to
    this statement's parameters."""
    return bound(statement, (text, hits))


def _search_hits(first: int) -> int:
    return _hits(first)


def _search_types(types: list[Any] | None) -> list[str] | None:
    if types is None:
        return None
    if not types:
        raise UserInputError("types must not be empty; omit it for every type", argument="types")
    return [t.name for t in types]
