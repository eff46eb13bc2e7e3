"""Statements of sql/queries embedded in the compiled statement: the graph questions
(`Film.similar`, `Film.availability`, `Film.bestOffer`, `Query.resolveIds`,
`Person.collaborators` and its `films`, `Query.commonFilms`).

graph/mapping.py names each one's statement (an `Embedded`); here it becomes a subquery
correlated to the parent's row, its text read from sql/queries as the resolvers read it, each
`$n` replaced by what the mapping says it is: the parent's key, or a parameter of this
statement computed per request by the resolver's own checks (graph/compiled/arguments.py).
Its rows become objects by the target's mapping: an entity's columns, a type of ROWS made from
the row (the row itself as an entity, lists by arrays of keys, union members picked by a
predicate on the row), or, for an interface, the entity the row's `entity` column names, read
by its `id`. A `Group` makes one object per value of a list argument, in the order given,
holding the rows of that value. A statement that answers a page of a connection (shape
"page") becomes its first page, its cursors sealed as its resolver seals them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from graph import db
from graph.compiled.arguments import EMBEDDED_SCOPES, PLACEHOLDER, Arguments, embedded_parameter
from graph.compiled.plan import NotCompilable, Selected, snake
from graph.mapping import MODEL, ROWS, Embedded, Group
from graph.pagination import encode_cursor

if TYPE_CHECKING:
    from graph.compiled.sql import Builder


# A line of comment in a statement.
_COMMENT = re.compile(r"^\s*--.*\n", re.MULTILINE)


def bound(statement: str, values: Sequence[str]) -> str:
    """Named statement `statement` (sql/queries) with each `$n` replaced by `values[n - 1]`,
    in parentheses (a cast after it, `$1::bigint[]`, applies to the whole value); on one line,
    without its comments, as tests/sql/*.sql shows it one clause a line."""
    text = _COMMENT.sub("", db.sql(statement) + "\n")
    # Runs of white space as one space, outside string literals (the odd parts between quotes).
    parts = text.split("'")
    text = "'".join(p if i % 2 else re.sub(r"\s+", " ", p) for i, p in enumerate(parts))
    return PLACEHOLDER.sub(lambda m: f"({values[int(m.group(1)) - 1]})", text.strip())


def embedded(
    b: Builder, s: Selected, question: Embedded, parent: str | None, row: str | None = None
) -> str:
    """The field's value: the statement's rows for the parent (`parent`, its key as SQL, `row`
    its row's alias; None at the root) as the mapping's objects, a JSON list, one object or
    null, or a connection's first page."""
    values = b.arguments(s)  # its text checked as the resolvers check it
    if question.shape == "page" and values.get("after") is not None:
        raise NotCompilable("only first pages are compiled")
    b.embeds = True
    params: dict[str, str] = {}

    def param(name: str) -> str:
        if name not in params:
            source, cast = embedded_parameter(s, question.statement, name)
            params[name] = b.param(source, cast)
        return params[name]

    bound_values = []
    for template in question.parameters:
        names = {n for _, n, _, _ in string.Formatter().parse(template) if n}
        given = {n: param(n) for n in names if n not in ("parent", "row")}
        if "parent" in names:
            assert parent is not None, question.statement
            given["parent"] = parent
        if "row" in names:
            assert row is not None, question.statement
            given["row"] = row
        bound_values.append(template.format(**given))
    sql = bound(question.statement, bound_values)
    if question.shape == "page":
        return _page(b, s, question, sql, parent)
    if question.group is not None:
        return _grouped(b, s, question, question.group, sql, param(question.group.argument))
    t = b.alias("q")
    order = question.order.format(t=t)
    obj = _object(b, question.target, t, s.children)
    if question.shape == "one":
        return f"(select {obj} from ({sql}) {t} limit 1)"
    by = f" order by {order}" if order else ""
    return f"coalesce((select json_agg({obj}{by}) from ({sql}) {t}), '[]'::json)"


def _page(b: Builder, s: Selected, question: Embedded, sql: str, parent: str | None) -> str:
    """A connection's first page from a statement that answers it (graph/mapping.py, shape
    "page"): its rows numbered `rn` with the total in `page_total`, as the resolver's
    Connection makes them (graph/pagination.py: no page before the first, a next one while
    the last position is under the total), its cursors sealed in Python (a CursorSlot)."""
    b.cursors.append(EmbeddedSlot(partial(_scope, s, question.statement)))
    slot = len(b.cursors) - 1
    slot_parent = "0" if parent is None else parent
    t = b.alias("q")
    target = question.target
    shown = f"filter (where {t}.rn is not null)"

    def marker(position: str) -> str:
        return f"('\"\\u0000{slot}:' || {slot_parent} || ':' || {position} || '\"')::json"

    def items(item: str) -> str:
        return f"coalesce(json_agg({item} order by {t}.rn) {shown}, '[]'::json)"

    def edge(e: Selected) -> str:
        return b.object(
            e.children[f"{target}Edge"],
            lambda f: (
                f"'{target}Edge'"
                if f.name == "__typename"
                else marker(f"{t}.rn")
                if f.name == "cursor"
                else _object(b, target, t, f.children)
            ),
        )

    def page_info(p: Selected) -> str:
        def value(f: Selected) -> str:
            if f.name == "__typename":
                return "'PageInfo'"
            if f.name == "hasNextPage":
                return f"coalesce(max({t}.rn) < max({t}.page_total), false)"
            if f.name == "hasPreviousPage":
                return "false"
            if f.name == "startCursor":
                return marker(f"min({t}.rn)")
            return marker(f"max({t}.rn)")

        return b.object(p.children["PageInfo"], value)

    def value(f: Selected) -> str:
        if f.name == "__typename":
            return f"'{target}Connection'"
        if f.name == "totalCount":
            return f"coalesce(max({t}.page_total), 0)::int"
        if f.name == "nodes":
            return items(_object(b, target, t, f.children))
        if f.name == "edges":
            return items(edge(f))
        if f.name == "pageInfo":
            return page_info(f)
        raise NotCompilable(f"{target}Connection.{f.name}")

    obj = b.object(s.children[f"{target}Connection"], value)
    return f"(select {obj} from ({sql}) {t})"


@dataclass(frozen=True)
class EmbeddedSlot:
    """A cursor of an Embedded page: its marker carries `<parent>:<position>`, sealed with the
    scope the field's resolver gives it (EMBEDDED_SCOPES)."""

    scope: Callable[[Arguments, str], str]

    def cursor(self, args: Arguments, payload: str) -> str:
        parent, _, position = payload.partition(":")
        return encode_cursor(self.scope(args, parent), int(position))


def _scope(s: Selected, statement: str, args: Arguments, parent: str) -> str:
    return EMBEDDED_SCOPES[statement](args.of(s), parent)


def _grouped(b: Builder, s: Selected, question: Embedded, group: Group, sql: str, keys: str) -> str:
    """One `group.type` object per key given, in order: the key, and the rows that hold it."""
    g = b.alias("g")

    def value(f: Selected) -> str:
        name = snake(f.name)
        if f.name == "__typename":
            return f"'{group.type}'"
        if name == group.key:
            return f"{g}.key"
        assert name == group.rows, name
        t = b.alias("q")
        obj = _object(b, question.target, t, f.children)
        return (
            f"coalesce((select json_agg({obj} order by {question.order.format(t=t)}) "
            f"from ({sql}) {t} where {t}.{group.key} = {g}.key), '[]'::json)"
        )

    obj = b.object(s.children[group.type], value)
    return (
        f"coalesce((select json_agg({obj} order by {g}.ord) "
        f"from unnest({keys}) with ordinality {g}(key, ord)), '[]'::json)"
    )


def _object(b: Builder, target: str, t: str, children: Mapping[str, tuple[Selected, ...]]) -> str:
    """One row `t` as the target's object: an entity's or a row type's, or for an interface
    the entity its `entity` column names, read by `id` (null when the row has none)."""
    if target in MODEL or target in ROWS:
        return b.entity(target, t, children[target])
    cases = []
    for entity, fields in children.items():
        if entity not in MODEL or not MODEL[entity].table:
            raise NotCompilable(f"{target} as {entity}")
        x = b.alias("t")
        cases.append(
            f"when '{entity}' then (select {b.entity(entity, x, fields)} "
            f"from {MODEL[entity].table} {x} where {x}.id = {t}.id)"
        )
    return f"case {t}.entity {' '.join(cases)} end"


def variants(b: Builder, s: Selected, members: tuple[tuple[str, str], ...], alias: str) -> str:
    """A list of union members made from row `alias`: each type whose predicate holds, in
    the mapping's order."""
    v = b.alias("v")
    branches = " union all ".join(
        f"select {n} as n, {b.entity(type_, alias, s.children[type_])} as j "
        f"where {predicate.format(t=alias)}"
        for n, (type_, predicate) in enumerate(members)
    )
    return f"coalesce((select json_agg({v}.j order by {v}.n) from ({branches}) {v}), '[]'::json)"
