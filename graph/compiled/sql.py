"""One SQL statement for a whole operation, from fixed fragments.

Each object becomes `json_build_object('key', value, ...)` in selection order (json, not jsonb,
keeps the order), each list a `json_agg` over an ordered subquery (`'[]'` when empty), each
relation the rows graph/mapping.py names for it, correlated to its parent row. Values a client
sends are bound parameters, each with a Source that reads and checks it per request
(graph/compiled/arguments.py). PostgreSQL prints the JSON; the scalars are written as the
resolvers' JSON would hold them:

- ids: base64 of `Type:pk` (graph/ids.py);
- Float (imdbRating, numeric(3,1)): numeric's text, which is Python's text for the same float
  (7.0, 7.1; tests/test_compiled.py checks all 101 values);
- Decimal: a string of numeric's text, as str(Decimal);
- DateTime: ISO 8601 in UTC with `+00:00`, microseconds only when not zero, as
  datetime.isoformat() of what asyncpg returns;
- Date: ISO 8601, as PostgreSQL's JSON always writes it;
- enums: the stored codes, which are the enum names.

Connection cursors are sealed in Python (graph/pagination.py), so the statement writes a
marker in their place, `"\\u0000<slot>:<parent>:<position>"`, which no text from the database
can produce (text cannot hold NUL), and graph/compiled/run.py puts the cursor there.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from graphql import GraphQLSchema, get_named_type, is_enum_type, is_scalar_type
from strawberry.types.arguments import convert_arguments

from graph import db
from graph.compiled.arguments import Arguments, Source, argument, constant
from graph.compiled.plan import NotCompilable, Selected, plan
from graph.discovery.filters import Reference, film_references, person_references, search_text
from graph.discovery.keyset import film_query, page_sql, person_query
from graph.errors import UserInputError
from graph.ids import from_global_id, pk_of
from graph.mapping import MODEL, QUERY, ROOT_PAGES, Relation
from graph.pagination import encode_cursor, window
from graph.search import SEARCHES, SUGGESTIONS, _hits
from graph.types import _kinds, _limit, _roles, region_code

# json_build_object takes at most 100 arguments.
MAX_KEYS = 50
WINDOW = ("first", "after", "last", "before")
CONNECTIONS = {
    f"{t}Connection": t for t in ("Film", "Person", "Genre", "Provider", "Credit", "Offer")
}
LOOKUP_ARGUMENTS = {"id": "id", "slug": "slug", "imdbId": "imdb_id"}
DATETIME = (
    "to_char({c} at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || case when "
    "extract(microseconds from {c})::int % 1000000 <> 0 then to_char({c} at time zone 'UTC', "
    "'.US') else '' end || '+00:00'"
)


def _role(value: Any) -> str | None:
    return None if value is None else str(value.name)


def _roles_param(value: Any) -> list[str] | None:
    roles = _roles(value)
    return None if roles is None else list(roles)


def _kinds_param(value: Any) -> list[str] | None:
    kinds = _kinds(value)
    return None if kinds is None else list(kinds)


# How each filtering argument is checked and cast: the resolvers' own checks (graph/types.py).
CHECKS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "region": (region_code, "text"),
    "roles": (_roles_param, "text[]"),
    "role": (_role, "text"),
    "kinds": (_kinds_param, "text[]"),
}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


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


@dataclass
class Statement:
    """The compiled operation: its SQL, a Source for each parameter, and what running it
    needs (custom plans for filters, cursor slots, existence checks)."""

    sql: str
    sources: list[Source]
    custom_plan: bool
    cursors: list[CursorSlot | KeysetSlot]
    checked: list[Selected]
    roots: tuple[Selected, ...]


@dataclass
class Builder:
    schema: GraphQLSchema
    strawberry_schema: Any
    args: Arguments  # this request's values: only their shape may steer the SQL
    sources: list[Source] = field(default_factory=list)
    cursors: list[CursorSlot | KeysetSlot] = field(default_factory=list)
    checked: list[Selected] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    custom_plan: bool = False
    aliases: int = 0

    def param(self, source: Source, cast: str) -> str:
        self.sources.append(source)
        return f"${len(self.sources)}::{cast}"

    def lazy_param(self, source: Source, cast: str) -> Callable[[], str]:
        """A parameter bound on first use: one that no selected field uses is not sent."""
        placeholder: list[str] = []

        def get() -> str:
            if not placeholder:
                placeholder.append(self.param(source, cast))
            return placeholder[0]

        return get

    def alias(self, base: str) -> str:
        self.aliases += 1
        return f"{base}{self.aliases}"

    def arguments(self, selected: Selected) -> dict[str, Any]:
        if selected.node.arguments:
            self.checked.append(selected)
        return self.args.of(selected)

    # -- the operation ----------------------------------------------------------------

    def operation(self, fields: Sequence[Selected]) -> Statement:
        data = self.object(fields, lambda s: self.root_field(s))
        ok = " and ".join(self.checks) or "true"
        sql, sources = _compact(f"select {data}::text as data, {ok} as ok", self.sources)
        return Statement(sql, sources, self.custom_plan, self.cursors, self.checked, tuple(fields))

    def object(self, fields: Sequence[Selected], value: Callable[[Selected], str]) -> str:
        if not fields or len(fields) > MAX_KEYS:
            raise NotCompilable("too many keys for json_build_object")
        pairs = ", ".join(f"'{f.key}', {value(f)}" for f in fields)
        return f"json_build_object({pairs})"

    def root_field(self, s: Selected) -> str:
        name = s.name
        if name == "__typename":
            return "'Query'"
        root = QUERY[name]
        if root.kind == "lookup":
            assert root.entity is not None
            return self.lookup(s, root.entity)
        if root.kind == "keyset":
            assert root.entity is not None
            return self.keyset(s, root.entity)
        if root.kind == "page":
            assert root.entity is not None
            return self.page(s, ROOT_PAGES[root.entity], None, f"Query.{root.entity}", None)
        if root.kind == "search":
            return self.search(s)
        if name == "node":
            return self.node(s, self.arguments(s)["id"], "id")
        if name == "nodes":
            ids = self.arguments(s)["ids"]
            if len(ids) > 100:
                raise NotCompilable("too many ids")  # the resolver refuses them
            if not ids:
                return "'[]'::json"
            items = ", ".join(self.node(s, i, "ids", index) for index, i in enumerate(ids))
            return f"json_build_array({items})"
        raise NotCompilable(f"Query.{name}")

    # -- single objects --------------------------------------------------------------

    def lookup(self, s: Selected, entity: str) -> str:
        given = [(k, v) for k, v in self.arguments(s).items() if v is not None]
        if len(given) != 1:
            raise NotCompilable("the resolver refuses this")
        argument_name = given[0][0]
        column = LOOKUP_ARGUMENTS[argument_name]
        if column == "id":
            value = self.param(
                argument(s, "id", partial(_pk, entity=entity, argument="id")), "bigint"
            )
        else:
            value = self.param(argument(s, argument_name, _same), "text")
        return self.row(entity, s, f"{MODEL[entity].table} {{t}} where {{t}}.{column} = {value}")

    def node(self, s: Selected, global_id: Any, argument_name: str, index: int = 0) -> str:
        entity, _ = from_global_id(global_id, argument_name)  # invalid: the resolvers refuse it
        if argument_name == "ids":
            source = argument(s, "ids", partial(_nth_pk, index=index))
        else:
            source = argument(s, "id", partial(_pk, entity=entity, argument="id"))
        value = self.param(source, "bigint")
        return self.row(entity, s, f"{MODEL[entity].table} {{t}} where {{t}}.id = {value}")

    def row(self, entity: str, s: Selected, rows: str) -> str:
        t = self.alias("t")
        sql_rows = rows.format(t=t)
        return f"(select {self.entity(entity, t, s.children[entity])} from {sql_rows})"

    # -- objects of the model ------------------------------------------------------------

    def entity(self, entity: str, alias: str, fields: Sequence[Selected]) -> str:
        return self.object(fields, lambda s: self.entity_field(entity, alias, s))

    def entity_field(self, entity: str, alias: str, s: Selected) -> str:
        if s.name == "__typename":
            return f"'{entity}'"
        model = MODEL[entity]
        if s.name == "id" and entity in ("Film", "Person", "Genre", "Provider"):
            return f"encode(convert_to('{entity}:' || {alias}.id, 'UTF8'), 'base64')"
        attribute = snake(s.name)
        column = model.columns.get(attribute)
        if column is not None:
            return self.scalar(s, f"{alias}.{column.name}")
        relation = model.relations.get(attribute)
        if relation is None:
            raise NotCompilable(f"{entity}.{s.name}")
        parent = f"{alias}.{model.columns[relation.key].name}"
        if relation.shape == "one":
            return self.one(relation, parent, s)
        if relation.shape == "list":
            return self.list(relation, parent, s)
        return self.page(s, relation, parent, f"{entity}.{attribute}", relation)

    def scalar(self, s: Selected, column: str) -> str:
        named = get_named_type(s.definition.type)
        if is_enum_type(named):
            return column
        if not is_scalar_type(named):
            raise NotCompilable(f"{s.name} is not a scalar")
        if named.name == "Decimal":
            return f"{column}::text"
        if named.name == "DateTime":
            return DATETIME.format(c=column)
        if named.name in ("String", "Int", "Boolean", "Float", "Date", "ID"):
            return column
        raise NotCompilable(f"scalar {named.name}")

    def filtered_rows(
        self, relation: Relation, parent: str | None, s: Selected
    ) -> tuple[str, str, str]:
        """The relation's rows for one parent, with the predicates of the arguments given;
        (rows, order, target alias)."""
        t, link = self.alias("t"), self.alias("l")
        values = self.arguments(s)
        predicates = []
        for name, pinned in relation.pinned:
            placeholder = self.param(constant(_pinned(pinned)), CHECKS[name][1])
            predicates.append(relation.predicates[name].format(t=t, l=link, value=placeholder))
        for name in relation.arguments:
            if name in WINDOW:
                continue
            check, cast = CHECKS[name]
            # Only whether a value is given steers the SQL (it is part of the cache key); the
            # value itself is a parameter, checked per request.
            if check(values.get(name)) is None:
                continue
            placeholder = self.param(argument(s, name, check), cast)
            predicates.append(relation.predicates[name].format(t=t, l=link, value=placeholder))
        filters = "".join(f" and {p}" for p in predicates)
        template = relation.rows if "{filters}" in relation.rows else relation.rows + "{filters}"
        rows = template.format(t=t, l=link, parent=parent, filters=filters)
        return rows, relation.order.format(t=t, l=link), t

    def one(self, relation: Relation, parent: str, s: Selected) -> str:
        t = self.alias("t")
        rows = relation.rows.format(t=t, parent=parent)
        return (
            f"(select {self.entity(relation.target, t, s.children[relation.target])} from {rows})"
        )

    def list(self, relation: Relation, parent: str, s: Selected) -> str:
        rows, order, t = self.filtered_rows(relation, parent, s)
        limit = ""
        if "first" in relation.arguments:
            if self.arguments(s).get("first") is not None:
                limit = f" limit {self.param(argument(s, 'first', _limit), 'int')}"
            else:
                _limit(None)
        obj = self.entity(relation.target, t, s.children[relation.target])
        return (
            f"coalesce((select json_agg(s.j) from (select {obj} as j from {rows} "
            f"order by {order}{limit}) s), '[]'::json)"
        )

    # -- connections ---------------------------------------------------------------

    def page(
        self,
        s: Selected,
        relation: Relation,
        parent: str | None,
        scope: str,
        nested: Relation | None,
    ) -> str:
        """A connection paged by position, first page only (`first`, no cursors in): `after`,
        `before` and `last` go to the resolvers."""
        values = self.arguments(s)
        if any(values.get(a) is not None for a in ("after", "before", "last")):
            raise NotCompilable("only first pages are compiled")
        size = self.lazy_param(argument(s, "first", _first), "int")
        rows, order, t = self.filtered_rows(relation, parent, s)
        if nested is None:
            slot = CursorSlot(scope, None)
        else:
            slot = CursorSlot(scope, partial(_scope_arguments, s, nested))
        self.cursors.append(slot)
        slot_index = len(self.cursors) - 1
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
                return self.object(
                    e.children[f"{target}Edge"],
                    lambda f: (
                        f"'{target}Edge'"
                        if f.name == "__typename"
                        else marker(f"{alias}.pos")
                        if f.name == "cursor"
                        else self.entity(target, alias, f.children[target])
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

            return self.object(p.children["PageInfo"], value)

        def value(f: Selected) -> str:
            if f.name == "__typename":
                return f"'{target}Connection'"
            if f.name == "totalCount":
                return "c.n"
            if f.name == "nodes":
                return items(lambda a: self.entity(target, a, f.children[target]), False)
            if f.name == "edges":
                return items(edge(f), True)
            if f.name == "pageInfo":
                return page_info(f)
            raise NotCompilable(f.name)

        obj = self.object(fields, value)
        if counted:
            count_rows, _, _ = self.filtered_rows(relation, parent, s)
            return f"(select {obj} from (select count(*)::int as n from {count_rows}) c)"
        return obj

    def keyset(self, s: Selected, entity: str) -> str:
        """`films`/`people`: the page statement graph/discovery/ builds, inside this one."""
        values = self.arguments(s)
        plan = partial(_keyset_plan, self.strawberry_schema, s, entity)
        query, page, references = plan(self.args)
        offset = len(self.sources)
        for i in range(len(page.params)):
            self.sources.append(partial(_keyset_param, plan, i))
        for i, ref in enumerate(references):
            self.checks.append(self._exists(ref, partial(_reference, plan, i)))
        self.custom_plan = self.custom_plan or page.custom_plan
        sql = _shift(page.sql, offset)
        count_sql = _shift(page.count_sql, offset)
        size = self.lazy_param(partial(_keyset_size, plan), "int")
        fields = s.children[f"{entity}Connection"]
        t = self.alias("t")
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
                slot.append(len(self.cursors))
                self.cursors.append(KeysetSlot(plan))
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
                f"(array_agg({marker()} order by {t}.n{direction}) "
                f"filter (where {t}.n <= {size()}))[1]"
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

            return self.object(p.children["PageInfo"], value)

        def edge(e: Selected) -> str:
            def value(f: Selected) -> str:
                if f.name == "__typename":
                    return f"'{entity}Edge'"
                if f.name == "cursor":
                    return marker()
                return self.entity(entity, t, f.children[entity])

            return self.object(e.children[f"{entity}Edge"], value)

        def value(f: Selected) -> str:
            if f.name == "__typename":
                return f"'{entity}Connection'"
            if f.name == "totalCount":
                return f"({count_sql})"
            if f.name == "nodes":
                aggregated.append(True)
                return rows(self.entity(entity, t, f.children[entity]))
            if f.name == "edges":
                aggregated.append(True)
                return rows(edge(f))
            if f.name == "pageInfo":
                return page_info(f)
            raise NotCompilable(f"{entity}Connection.{f.name}")

        obj = self.object(fields, value)
        if not any(aggregated):
            return f"(select {obj})"
        # The page's rows (one more than the page, to see whether more follow) numbered in
        # the order the page statement returns them.
        return f"(select {obj} from (select row_number() over () as n, {t}.* from ({sql}) {t}) {t})"

    def search(self, s: Selected) -> str:
        """`search`/`suggest`: each type's named statement (sql/queries/search.sql) for the
        hits, merged in the order graph/search.py merges them, and the objects read by id."""
        values = self.arguments(s)
        hits = self.param(argument(s, "first", _search_hits), "int")
        if s.name == "search":
            text = self.param(argument(s, "query", partial(search_text, argument="query")), "text")
            types = self.param(argument(s, "types", _search_types), "text[]")
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
            text = self.param(
                argument(s, "prefix", partial(search_text, argument="prefix")), "text"
            )
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
            f"when {rank} then {self.row(entity, s, by_id.format(table=MODEL[entity].table))}"
            for rank, entity in enumerate(entities)
        )
        union = " union all ".join(f"({b})" for b in branches)
        return (
            f"coalesce((select json_agg(case h.rank {cases} end order by h.n) from "
            f"(select u.*, row_number() over (order by {order}) as n from ({union}) u "
            f"order by {order} limit {hits}) h), '[]'::json)"
        )

    def _exists(self, ref: Reference, source: Source) -> str:
        cast = "text" if ref.by == "slug" else "bigint"
        value = self.param(source, cast)
        column = "slug" if ref.by == "slug" else "id"
        return f"exists (select from {MODEL[ref.entity].table} where {column} = {value})"


def _named(statement: str, text: str, hits: str) -> str:
    """A search statement of sql/queries with its $1 (the text) and $2 (the limit) bound to
    this statement's parameters."""
    return re.sub(r"\$([12])\b", lambda m: text if m.group(1) == "1" else hits, db.sql(statement))


def _search_hits(first: int) -> int:
    return _hits(first)


def _search_types(types: list[Any] | None) -> list[str] | None:
    if types is None:
        return None
    if not types:
        raise UserInputError("types must not be empty; omit it for every type", argument="types")
    return [t.name for t in types]


def _same(value: Any) -> Any:
    return value


def _pinned(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _pk(value: Any, entity: str, argument: str) -> int:
    return pk_of(value, entity, argument)


def _nth_pk(ids: list[str], index: int) -> int:
    return from_global_id(ids[index], "ids")[1]


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


_PLACEHOLDER = re.compile(r"\$(\d+)")


def _compact(sql: str, sources: list[Source]) -> tuple[str, list[Source]]:
    """Number the placeholders the statement uses 1..n, and drop the parameters it does not
    use (a page statement's size when only its count is selected): PostgreSQL refuses a
    parameter it cannot place."""
    used = sorted({int(n) for n in _PLACEHOLDER.findall(sql)})
    number = {old: new for new, old in enumerate(used, start=1)}
    return (
        _PLACEHOLDER.sub(lambda m: f"${number[int(m.group(1))]}", sql),
        [sources[old - 1] for old in used],
    )


def _shift(sql: str, offset: int) -> str:
    """Renumber a statement's placeholders to follow `offset` parameters already bound."""
    return _PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


def compile_operation(
    strawberry_schema: Any, document: Any, operation_name: str | None, args: Arguments
) -> Statement:
    """The statement for an operation and this request's arguments; NotCompilable when the
    compiler does not translate one of its fields, a GraphQLError when an argument is one the
    resolvers refuse."""
    schema = strawberry_schema._schema
    fields = plan(schema, document, operation_name, args.variables)
    return Builder(schema, strawberry_schema, args).operation(fields)
