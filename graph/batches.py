"""The loaders' batch statements for the relations, built from graph/mapping.py.

Each relation's rows, order and argument predicates are written once, in the mapping; the
compiled path (graph/compiled/) correlates them to a parent row, and this module wraps them
for a batch of parents: one lateral subquery per parent key, so that each parent's rows come
in the relation's order (and `first` is a plain LIMIT).

    select k.parent, t.*
    from unnest($1::bigint[]) as k(parent)
    cross join lateral (select ... from <rows of parent k.parent> order by <order>) t

$1 holds the parent keys; then one parameter per pinned value and per argument, in the
mapping's order; a null argument leaves its predicate out, or, when it has an `absent` one,
is a statement of its own (`<statement>_without_<argument>`, see page_statement). A
paged relation walks each parent's rows to the end of its page (ORDER BY ... OFFSET ... LIMIT),
numbers the page's rows by position (`rn`) and counts all of them (`page_total`); $1-$4 are its
window (graph/pagination.py), so its keys are $5. A root page (no parent) numbers its rows in
graph/db.py's pagination fragment. tests/sql/batches.sql holds every statement for a reviewer
(`scripts/golden-sql`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import combinations
from types import MappingProxyType

from graph.db import PAGE_FRAGMENT, Statement
from graph.mapping import ARGUMENT_TYPES, MODEL, ROOT_PAGES, Relation


def _fragments(
    relation: Relation, first: int, without: frozenset[str] = frozenset()
) -> tuple[str, str, str, str]:
    """The relation's rows for the parent `k.parent` and its order, with the arguments as
    parameters numbered from `first`; the LIMIT, if it has one; and how to count the rows.
    An argument with an `absent` predicate is taken as given, or as null when `without`
    names it: each its own statement, so that the planner sees which (a role given walks
    the index of that role)."""
    t, link = "t", "l"
    predicates: list[str] = []  # as given: a null optional argument leaves its predicate out
    exact: list[str] = []  # as if every optional argument were given
    given: list[str] = []  # the parameters of the optional arguments that may be null
    counted: list[str] = []  # the predicates of the count
    limit = ""
    n = first
    for name in [name for name, _ in relation.pinned] + list(relation.arguments):
        value = f"${n}::{ARGUMENT_TYPES[name]}"
        n += 1
        if name == "first":
            limit = f" limit {value}"
            continue
        predicate = relation.predicates[name].format(t=t, l=link, value=value)
        exact.append(predicate)
        if any(name == p for p, _ in relation.pinned):
            predicates.append(predicate)
            counted.append(predicate)
            continue
        absent = relation.absent.get(name)
        if absent is None:
            given.append(value)
        if absent is None:
            predicates.append(f"({value} is null or {predicate})")
            counted.append(predicates[-1])
        elif name in without:
            predicates.append(f"{value} is null and {absent.format(t=t, l=link)}")
            # A count of its own (`count`) need not tell the rows apart (count distinct).
            counted.append(f"{value} is null" if relation.count else predicates[-1])
        else:
            predicates.append(predicate)
            counted.append(predicate)
    filters = "".join(f" and {p}" for p in predicates)
    template = relation.rows if "{filters}" in relation.rows else relation.rows + "{filters}"
    rows = template.format(t=t, l=link, parent="k.parent", filters=filters)
    count = _count(relation, "k.parent", "".join(f" and {p}" for p in counted))
    if relation.tally and not without:
        # Read only when every argument that filters is given: a CASE, which runs only the
        # branch it takes, when one of them may be null.
        tally = relation.tally.format(
            l=link, parent="k.parent", filters="".join(f" and {p}" for p in exact)
        )
        nullable = [f"{v} is not null" for v in given]
        if nullable:
            count = f"case when {' and '.join(nullable)} then ({tally}) else ({count}) end"
        else:
            count = tally
    return rows, relation.order.format(t=t, l=link), limit, count


def _count(relation: Relation, parent: str, filters: str) -> str:
    if not relation.count:
        template = relation.rows if "{filters}" in relation.rows else relation.rows + "{filters}"
        return "select count(*) from " + template.format(
            t="t", l="l", parent=parent, filters=filters
        )
    template = relation.count if "{filters}" in relation.count else relation.count + "{filters}"
    return template.format(t="t", l="l", parent=parent, filters=filters)


def list_sql(relation: Relation) -> str:
    rows, order, limit, _ = _fragments(relation, 2)
    return (
        "select k.parent, t.*\n"
        "from unnest($1::bigint[]) as k(parent)\n"
        f"cross join lateral (\n    select t.* from {rows}\n    order by {order}{limit}\n) t"
    )


def page_statement(relation: Relation, args: tuple[object, ...]) -> str:
    """The name of the relation's page statement for these arguments (in its `arguments`
    order): a variant `<statement>_without_<argument>` for each null one with an `absent`
    predicate."""
    nulls = [
        name
        for name, value in zip(relation.arguments, args, strict=False)
        if value is None and name in relation.absent
    ]
    return "_without_".join([relation.statement, *nulls])


def page_sql(relation: Relation, without: frozenset[str] = frozenset()) -> str:
    """A page of each parent's rows by position: $1 after, $2 before, $3 first, $4 last (as
    graph/pagination.py's Window), $5 the parents. The rows between positions `lo` and `hi`
    (both excluded) come from an ORDER BY ... OFFSET ... LIMIT walk, numbered by their
    ordinality, so a page reads `lo` + its size rows in the order, not all of them."""
    rows, order, _, count = _fragments(relation, 6, without)
    return (
        "select k.parent as page_parent, c.total as page_total, p.*, w.lo + p.ordinality as rn\n"
        "from unnest($5::bigint[]) as k(parent)\n"
        # offset 0: counted once per parent, not once for each place that reads the count.
        f"cross join lateral (select ({count})::bigint as total offset 0) c\n"
        "cross join lateral (\n"
        "    select greatest($1::bigint, least($2::bigint, c.total + 1) - $4::bigint - 1) as lo,\n"
        "           least($2::bigint, c.total + 1, $1::bigint + $3::bigint + 1) as hi\n"
        "    offset 0\n"
        ") w\n"
        "left join lateral unnest(array(\n"
        f"    select t from {rows}\n"
        f"    order by {order}\n"
        "    offset w.lo limit greatest(w.hi - w.lo - 1, 0)\n"
        ")) with ordinality as p on true\n"
        "order by k.parent, rn"
    )


def root_page_sql(relation: Relation) -> str:
    rows, order, _, _ = _fragments(relation, 5)
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
                # The variants for null arguments (in `arguments` order, as page_statement).
                for n in range(1, len(relation.absent) + 1):
                    for nulls in combinations(
                        [a for a in relation.arguments if a in relation.absent], n
                    ):
                        yield Statement(
                            "_without_".join([relation.statement, *nulls]),
                            page_sql(relation, frozenset(nulls)),
                            True,
                        )
    for relation in ROOT_PAGES.values():
        yield Statement(relation.statement, root_page_sql(relation), True)


BATCHES: Mapping[str, Statement] = MappingProxyType({s.name: s for s in _batches()})
