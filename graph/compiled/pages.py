"""Connections in the compiled statement: pages by position (every connection but two), and
the keyset pages of `films` and `people`, whose statement graph/discovery/ builds.

A page by position is compiled for its first page only (`first`): its cursors carry a digest
of the parent's key, which only Python computes, so `after`, `before` and `last` go to the
resolvers. A keyset page takes every argument. Cursors are sealed in Python
(graph/pagination.py, graph/discovery/keyset.py): the statement writes a marker in their place,
`"\\u0000<slot>:<payload>"`, which no text from the database can produce (text cannot hold
NUL), and graph/compiled/run.py puts the cursor there.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from strawberry.types.arguments import convert_arguments

from graph.compiled.arguments import CHECKS, PLACEHOLDER, WINDOW, Arguments, Source, argument
from graph.compiled.plan import NotCompilable, Selected, snake
from graph.discovery.filters import Reference, film_references, person_references
from graph.discovery.keyset import film_query, page_sql, person_query
from graph.mapping import MODEL, Relation
from graph.pagination import encode_cursor, window

if TYPE_CHECKING:
    from graph.compiled.sql import Builder


@dataclass(frozen=True)
class CursorSlot:
    """Where a cursor marker's scope comes from: the connection as graph/types.py names it
    (`Person.filmography:<parent>:<arguments>`), its arguments read per request."""

    prefix: str
    arguments: Callable[[Arguments], tuple[Any, ...]] | None

    def scope(self, args: Arguments, parent: str) -> str:
        if self.arguments is None:
            return self.prefix
        return f"{self.prefix}:{parent}:{self.arguments(args)!r}"

    def cursor(self, args: Arguments, payload: str) -> str:
        """The cursor of a marker's `<parent>:<position>`."""
        parent, _, position = payload.partition(":")
        return encode_cursor(self.scope(args, parent), int(position))


@dataclass(frozen=True)
class KeysetSlot:
    """A `films`/`people` cursor: the marker carries the row's id and sort values (base64 of
    their JSON), sealed here as graph/discovery/keyset.py seals them."""

    plan: Callable[[Arguments], Any]

    def cursor(self, args: Arguments, payload: str) -> str:
        query, _, _ = self.plan(args)
        pk, *values = json.loads(base64.b64decode(payload))
        # JSON writes a float8 of 1.0 as 1; asyncpg would have given the resolvers a float.
        row = {
            f"sort_{i}": float(v) if key.cast == "float8" else v
            for i, (v, (key, _)) in enumerate(zip(values, query.keys, strict=True))
        }
        return str(query.encode({"id": pk, **row}))


def page(
    b: Builder,
    s: Selected,
    relation: Relation,
    parent: str | None,
    scope: str,
    nested: Relation | None,
) -> str:
    """A connection paged by position, first page only (`first`, no cursors in): `after`,
    `before` and `last` go to the resolvers."""
    values = b.arguments(s)
    if any(values.get(a) is not None for a in ("after", "before", "last")):
        raise NotCompilable("only first pages are compiled")
    size = b.lazy_param(argument(s, "first", _first), "int")
    # Checked even when only the count is selected and the size is not in the SQL.
    b.validators.append(argument(s, "first", _first))
    rows, order, t = b.filtered_rows(relation, parent, s)
    if nested is None:
        slot = CursorSlot(scope, None)
    else:
        slot = CursorSlot(scope, partial(_scope_arguments, s, nested))
    b.cursors.append(slot)
    slot_index = len(b.cursors) - 1
    slot_parent = "0" if parent is None else parent
    target = relation.target
    fields = s.children[f"{target}Connection"]
    counted = any(f.name in ("totalCount", "pageInfo") for f in fields)

    def marker(position: str) -> str:
        return f"('\"\\u0000{slot_index}:' || {slot_parent} || ':' || {position} || '\"')::json"

    def items(make: Callable[[str], str], numbered: bool) -> str:
        # Positions (for cursors) only when asked for: numbering keeps the whole order.
        pos = f", row_number() over (order by {order}) as pos" if numbered else ""
        return (
            f"coalesce((select json_agg(s.j) from (select {make(t)} as j from "
            f"(select {t}.*{pos} from {rows} order by {order} limit {size()}) {t}) s), "
            "'[]'::json)"
        )

    def edge(e: Selected) -> Callable[[str], str]:
        def make(alias: str) -> str:
            return b.object(
                e.children[f"{target}Edge"],
                lambda f: (
                    f"'{target}Edge'"
                    if f.name == "__typename"
                    else marker(f"{alias}.pos")
                    if f.name == "cursor"
                    else b.entity(target, alias, f.children[target])
                ),
            )

        return make

    def page_info(p: Selected) -> str:
        def value(f: Selected) -> str:
            if f.name == "__typename":
                return "'PageInfo'"
            if f.name == "hasNextPage":
                return f"c.n > {size()}"
            if f.name == "hasPreviousPage":
                return "false"
            if f.name == "startCursor":
                return f"case when c.n > 0 then {marker('1')} end"
            return f"case when c.n > 0 then {marker(f'least(c.n, {size()})')} end"

        return b.object(p.children["PageInfo"], value)

    def value(f: Selected) -> str:
        if f.name == "__typename":
            return f"'{target}Connection'"
        if f.name == "totalCount":
            return "c.n"
        if f.name == "nodes":
            return items(lambda a: b.entity(target, a, f.children[target]), False)
        if f.name == "edges":
            return items(edge(f), True)
        if f.name == "pageInfo":
            return page_info(f)
        raise NotCompilable(f.name)

    obj = b.object(fields, value)
    if counted:
        count, _, _ = b.filtered_rows(relation, parent, s, counted=True)
        return f"(select {obj} from (select ({count})::int as n) c)"
    return obj


def keyset(b: Builder, s: Selected, entity: str) -> str:
    """`films`/`people`: the page statement graph/discovery/ builds, inside this one."""
    values = b.arguments(s)
    plan = partial(_keyset_plan, b.strawberry_schema, s, entity)
    query, page, references = plan(b.args)
    offset = len(b.sources)
    for i in range(len(page.params)):
        b.sources.append(partial(_keyset_param, plan, i))
    for i, ref in enumerate(references):
        b.checks.append(_exists(b, ref, partial(_reference, plan, i)))
    b.custom_plan = b.custom_plan or page.custom_plan
    sql = _shift(page.sql, offset)
    count_sql = _shift(page.count_sql, offset)
    size = b.lazy_param(partial(_keyset_size, plan), "int")
    fields = s.children[f"{entity}Connection"]
    t = b.alias("t")
    # A backward page (`last`) walks the order in reverse: its rows come last first.
    backward = values.get("last") is not None
    shown = " desc" if backward else ""
    before_given = "true" if values.get("before") is not None else "false"
    after_given = "true" if values.get("after") is not None else "false"
    aggregated: list[bool] = []  # whether the page's rows are read at all

    slot: list[int] = []

    def marker() -> str:
        # The row's id and sort values (numeric as text, as str(Decimal) gives them).
        if not slot:
            slot.append(len(b.cursors))
            b.cursors.append(KeysetSlot(plan))
        keys = ", ".join(
            f"{t}.sort_{i}::text" if key.cast == "numeric" else f"{t}.sort_{i}"
            for i, (key, _) in enumerate(query.keys)
        )
        payload = (
            f"translate(encode(convert_to(json_build_array({t}.id, {keys})::text, 'UTF8'), "
            "'base64'), E'\\n', '')"
        )
        return f"('\"\\u0000{slot[0]}:' || {payload} || '\"')::json"

    def ends(first: bool) -> str:
        aggregated.append(True)
        direction = shown if first else ("" if backward else " desc")
        return (
            f"(array_agg({marker()} order by {t}.n{direction}) filter (where {t}.n <= {size()}))[1]"
        )

    def rows(item: str) -> str:
        """The page's rows in the order shown, without the one past it."""
        return (
            f"coalesce(json_agg({item} order by {t}.n{shown}) "
            f"filter (where {t}.n <= {size()}), '[]'::json)"
        )

    def page_info(p: Selected) -> str:
        def value(f: Selected) -> str:
            if f.name == "__typename":
                return "'PageInfo'"
            more = f"count(*) > {size()}"
            if f.name == "hasNextPage":
                aggregated.append(not backward)
                return before_given if backward else more
            if f.name == "hasPreviousPage":
                aggregated.append(backward)
                return more if backward else after_given
            return ends(f.name == "startCursor")

        return b.object(p.children["PageInfo"], value)

    def edge(e: Selected) -> str:
        def value(f: Selected) -> str:
            if f.name == "__typename":
                return f"'{entity}Edge'"
            if f.name == "cursor":
                return marker()
            return b.entity(entity, t, f.children[entity])

        return b.object(e.children[f"{entity}Edge"], value)

    def value(f: Selected) -> str:
        if f.name == "__typename":
            return f"'{entity}Connection'"
        if f.name == "totalCount":
            return f"({count_sql})"
        if f.name == "nodes":
            aggregated.append(True)
            return rows(b.entity(entity, t, f.children[entity]))
        if f.name == "edges":
            aggregated.append(True)
            return rows(edge(f))
        if f.name == "pageInfo":
            return page_info(f)
        raise NotCompilable(f"{entity}Connection.{f.name}")

    obj = b.object(fields, value)
    if not any(aggregated):
        return f"(select {obj})"
    # The page's rows (one more than the page, to see whether more follow) numbered in
    # the order the page statement returns them.
    return f"(select {obj} from (select row_number() over () as n, {t}.* from ({sql}) {t}) {t})"


def _exists(b: Builder, ref: Reference, source: Source) -> str:
    cast = "text" if ref.by == "slug" else "bigint"
    value = b.param(source, cast)
    column = "slug" if ref.by == "slug" else "id"
    return f"exists (select from {MODEL[ref.entity].table} where {column} = {value})"


def _first(first: int | None) -> int:
    win = window("", first, None, None, None)
    assert win.first is not None
    return win.first


def _scope_arguments(s: Selected, relation: Relation, args: Arguments) -> tuple[Any, ...]:
    """The arguments graph/types.py puts in a connection's cursor scope."""
    values = args.of(s)
    out: list[Any] = []
    for name in relation.arguments:
        if name in WINDOW:
            continue
        check = CHECKS[name][0]
        value = check(values.get(name))
        out.append(tuple(value) if isinstance(value, list) else value)
    return tuple(out)


def _keyset_plan(strawberry_schema: Any, s: Selected, entity: str, args: Arguments) -> Any:
    def compute() -> Any:
        values = args.of(s)
        query_type = strawberry_schema.get_type_by_name("Query")
        field_def = next(f for f in query_type.fields if f.python_name == snake(s.name))
        converted = convert_arguments(
            values,
            field_def.arguments,
            scalar_registry=strawberry_schema.schema_converter.scalar_registry,
            config=strawberry_schema.config,
        )
        flt, order_by = converted.get("filter"), converted.get("order_by")
        key = args.memo["cursor_key"]
        if entity == "Film":
            query, p = film_query(flt, order_by, key)
            references = film_references(flt)
        else:
            query, p = person_query(flt, order_by, key)
            references = person_references(flt)
        page = page_sql(
            query,
            p,
            values.get("first"),
            values.get("after"),
            values.get("last"),
            values.get("before"),
        )
        return query, page, references

    return args.once(("keyset", id(s.node)), compute)


def _keyset_param(plan: Callable[[Arguments], Any], index: int, args: Arguments) -> Any:
    _, page, _ = plan(args)
    return page.params[index]


def _keyset_size(plan: Callable[[Arguments], Any], args: Arguments) -> Any:
    _, page, _ = plan(args)
    return page.size


def _reference(plan: Callable[[Arguments], Any], index: int, args: Arguments) -> Any:
    _, _, references = plan(args)
    return references[index].value


def _shift(sql: str, offset: int) -> str:
    """Renumber a statement's placeholders to follow `offset` parameters already bound."""
    return PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)
