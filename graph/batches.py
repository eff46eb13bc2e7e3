"""The loaders' batch statements for the relations, built from graph/mapping.py.

Each relation's rows, order and argument predicates are written once, in the mapping; the
compiled path (graph/compiled/) correlates them to a parent row, and this module wraps them
for a batch of parents: one lateral subquery per parent key, so that each parent's rows come
in the relation's order (and `first` is a plain LIMIT).

    select k.parent, t.*
    from unnest($1::bigint[]) as k(parent)
    cross join lateral (select ... from <rows of parent k.parent> order by <order>) t

$1 holds the parent keys; then one parameter per pinned value and per argument, in the
mapping's order; a null argument leaves its predicate out. A paged relation numbers its rows
(`rn`) and is wrapped in graph/db.py's pagination fragment, which owns $1-$4, so its keys are
$5. tests/sql/batches.sql holds every statement for a reviewer (`scripts/golden-sql`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

from graph.db import PAGE_FRAGMENT, Statement
from graph.mapping import ARGUMENT_TYPES, MODEL, ROOT_PAGES, Relation


def _fragments(relation: Relation, first: int) -> tuple[str, str, str]:
    """The relation's rows for the parent `k.parent` and its order, with the arguments as
    parameters numbered from `first`; and the LIMIT, if it has one."""
    t, link = "t", "l"
    predicates: list[str] = []
    limit = ""
    n = first
    for name in [name for name, _ in relation.pinned] + list(relation.arguments):
        value = f"${n}::{ARGUMENT_TYPES[name]}"
        n += 1
        if name == "first":
            limit = f" limit {value}"
            continue
        predicate = relation.predicates[name].format(t=t, l=link, value=value)
        pinned = any(name == p for p, _ in relation.pinned)
        predicates.append(predicate if pinned else f"({value} is null or {predicate})")
    filters = "".join(f" and {p}" for p in predicates)
    template = relation.rows if "{filters}" in relation.rows else relation.rows + "{filters}"
    rows = template.format(t=t, l=link, parent="k.parent", filters=filters)
    return rows, relation.order.format(t=t, l=link), limit


def list_sql(relation: Relation) -> str:
    rows, order, limit = _fragments(relation, 2)
    return (
        "select k.parent, t.*\n"
        "from unnest($1::bigint[]) as k(parent)\n"
        f"cross join lateral (\n    select t.* from {rows}\n    order by {order}{limit}\n) t"
    )


def page_sql(relation: Relation) -> str:
    rows, order, _ = _fragments(relation, 6)
    inner = (
        "select k.parent, t.*\n"
        "from unnest($5::bigint[]) as k(parent)\n"
        f"cross join lateral (\n    select t.*, row_number() over (order by {order}) as rn\n"
        f"    from {rows}\n) t"
    )
    return PAGE_FRAGMENT.format(inner=inner)


def root_page_sql(relation: Relation) -> str:
    rows, order, _ = _fragments(relation, 5)
    inner = (
        f"select 0::bigint as parent, row_number() over (order by {order}) as rn, t.*\nfrom {rows}"
    )
    return PAGE_FRAGMENT.format(inner=inner)


def _batches() -> Iterator[Statement]:
    for entity in MODEL.values():
        for relation in entity.relations.values():
            if relation.shape == "list":
                yield Statement(relation.statement, list_sql(relation), False)
            elif relation.shape == "page":
                yield Statement(relation.statement, page_sql(relation), True)
    for relation in ROOT_PAGES.values():
        yield Statement(relation.statement, root_page_sql(relation), True)


BATCHES: Mapping[str, Statement] = MappingProxyType({s.name: s for s in _batches()})
