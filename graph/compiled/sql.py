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

Connections are in graph/compiled/pages.py, `search`/`suggest` in graph/compiled/search.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from graphql import (
    EnumValueNode,
    GraphQLSchema,
    ListValueNode,
    get_named_type,
    is_enum_type,
    is_scalar_type,
)

from graph import external
from graph.compiled import coalesce, embedded, pages, search
from graph.compiled.arguments import (
    CHECKS,
    PLACEHOLDER,
    WINDOW,
    Arguments,
    Source,
    argument,
    constant,
    written_whole,
)
from graph.compiled.embedded import EmbeddedSlot
from graph.compiled.pages import CursorSlot, KeysetSlot
from graph.compiled.plan import NotCompilable, Selected, plan, snake
from graph.ids import from_global_id, pk_of
from graph.mapping import MODEL, QUERY, ROOT_PAGES, ROWS, Entity, Relation
from graph.types import _limit

# json_build_object takes at most 100 arguments.
MAX_KEYS = 50
CONNECTIONS = {
    f"{t}Connection": t for t in ("Film", "Person", "Genre", "Provider", "Credit", "Offer")
}
LOOKUP_ARGUMENTS = {
    "id": "id",
    "slug": "slug",
    "imdbId": "imdb_id",
    "tmdbId": "tmdb_id",
    "wikidataId": "wikidata_id",
}
# The checks of the lookups by external id: the resolvers' own (graph/external.py).
LOOKUP_CHECKS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "tmdbId": (external.tmdb_id, "int"),
    "wikidataId": (external.wikidata_id, "text"),
}
DATETIME = (
    "to_char({c} at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || case when "
    "extract(microseconds from {c})::int % 1000000 <> 0 then to_char({c} at time zone 'UTC', "
    "'.US') else '' end || '+00:00'"
)


@dataclass
class Statement:
    """The compiled operation: its SQL, a Source for each parameter, and what running it
    needs (custom plans for filters, cursor slots, existence checks)."""

    sql: str
    sources: list[Source]
    custom_plan: bool
    cursors: list[CursorSlot | KeysetSlot | EmbeddedSlot]
    checked: list[Selected]
    roots: tuple[Selected, ...]
    # Whether `ok` may be false (a filter names something that may not exist): then the
    # resolvers answer, with their NOT_FOUND.
    may_refuse: bool = False
    # Parameters the SQL does not use (a page's size when only its count is selected), still
    # computed for each request: the resolvers check those arguments all the same.
    unused: list[Source] = field(default_factory=list)
    # Whether it embeds a graph question's statement (graph/compiled/embedded.py): the
    # resolvers run each as a statement of its own, so when this one times out they say which
    # field was slow (graph/compiled/run.py hands it to them).
    embeds: bool = False
    # The argument values of the fields whose arguments are all written in the document
    # (`filmography(role: DIRECTOR, first: 10)`), by node, as read and checked when it was
    # compiled: the same for every request (the others are in `checked`).
    written: dict[int, dict[str, Any]] = field(default_factory=dict)
    # The statement's batched form (graph/compiled/coalesce.py), when it has one.
    batched: str | None = None


@dataclass
class Builder:
    schema: GraphQLSchema
    strawberry_schema: Any
    args: Arguments  # this request's values: only their shape may steer the SQL
    sources: list[Source] = field(default_factory=list)
    cursors: list[CursorSlot | KeysetSlot | EmbeddedSlot] = field(default_factory=list)
    checked: list[Selected] = field(default_factory=list)
    written: dict[int, dict[str, Any]] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    # Arguments checked for each request whether or not the SQL uses their values.
    validators: list[Source] = field(default_factory=list)
    custom_plan: bool = False
    embeds: bool = False
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
        values = self.args.of(selected)
        if selected.node.arguments:
            if written_whole(selected.node):
                self.written[id(selected.node)] = values
            elif all(other is not selected for other in self.checked):
                self.checked.append(selected)
        return values

    # -- the operation ----------------------------------------------------------------

    def operation(self, fields: Sequence[Selected]) -> Statement:
        data = self.object(fields, lambda s: self.root_field(s))
        ok = " and ".join(self.checks) or "true"
        sql, sources, unused = _compact(f"select {data}::text as data, {ok} as ok", self.sources)
        return Statement(
            sql,
            sources,
            self.custom_plan,
            self.cursors,
            self.checked,
            tuple(fields),
            may_refuse=bool(self.checks),
            unused=unused + self.validators,
            embeds=self.embeds,
            written=self.written,
            batched=None if self.custom_plan else coalesce.batched(sql),
        )

    def object(self, fields: Sequence[Selected], value: Callable[[Selected], str]) -> str:
        if len(fields) > MAX_KEYS:
            raise NotCompilable("too many keys for json_build_object")
        if not fields:
            # A member of an interface or union none of whose fields are selected: `{}`.
            return "json_build_object()"
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
            return pages.keyset(self, s, root.entity)
        if root.kind == "page":
            assert root.entity is not None
            return pages.page(self, s, ROOT_PAGES[root.entity], None, f"Query.{root.entity}", None)
        if root.kind == "search":
            return search.search(self, s)
        if root.kind == "embedded":
            assert root.embedded is not None
            return embedded.embedded(self, s, root.embedded, None)
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
            check, cast = LOOKUP_CHECKS.get(argument_name, (_same, "text"))
            if argument_name == "imdbId":
                check = partial(external.imdb_id, entity=entity)
            value = self.param(argument(s, argument_name, check), cast)
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
        model = _model(entity)
        if s.name == "id" and entity in ("Film", "Person", "Genre", "Provider"):
            return f"encode(convert_to('{entity}:' || {alias}.id, 'UTF8'), 'base64')"
        attribute = snake(s.name)
        column = model.columns.get(attribute)
        if column is not None:
            return self.scalar(s, column.sql.format(c=f"{alias}.{column.name}"))
        computed = model.computed.get(attribute)
        if computed is not None:
            base = self.param(constant(self.strawberry_schema.public_url), "text")
            return computed.expression.format(t=alias, base=base)
        question = model.embedded.get(attribute)
        if question is not None:
            key = f"{alias}.{model.columns['db_id'].name}"
            return embedded.embedded(self, s, question, key, alias)
        itself = model.itself.get(attribute)
        if itself is not None:
            return self.entity(itself, alias, s.children[itself])
        members = model.variants.get(attribute)
        if members is not None:
            return embedded.variants(self, s, members, alias)
        relation = model.relations.get(attribute)
        if relation is None:
            raise NotCompilable(f"{entity}.{s.name}")
        parent = f"{alias}.{model.columns[relation.key].name}"
        if relation.shape == "one":
            return self.one(relation, parent, s)
        if relation.shape == "list":
            return self.list(relation, parent, s)
        return pages.page(self, s, relation, parent, f"{entity}.{attribute}", relation)

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
        self, relation: Relation, parent: str | None, s: Selected, counted: bool = False
    ) -> tuple[str, str, str]:
        """The relation's rows for one parent, with the predicates of the arguments given;
        (rows, order, target alias). counted: the statement that counts them instead."""
        t, link = self.alias("t"), self.alias("l")
        values = self.arguments(s)
        predicates = []
        absent: list[str] = []  # the predicates of the arguments not given
        for name, pinned in relation.pinned:
            # The mapping's own constant (the role behind `directors`): written into the SQL,
            # so the planner sees it even in a generic plan (a role as a parameter made the
            # film page's statement half as fast).
            placeholder = enum_literal(_pinned(pinned), CHECKS[name][1])
            assert placeholder is not None, pinned
            predicates.append(relation.predicates[name].format(t=t, l=link, value=placeholder))
        for name in relation.arguments:
            if name in WINDOW:
                continue
            check, cast = CHECKS[name]
            # Only whether a value is given steers the SQL (it is part of the cache key); the
            # value itself is a parameter, checked per request. An enum written in the
            # document (`role: DIRECTOR`) is the same for every request of that document (the
            # digest is in the key): written into the SQL as the pinned ones are.
            checked = check(values.get(name))
            if checked is None:
                if name in relation.absent:
                    absent.append(relation.absent[name].format(t=t, l=link))
                continue
            written = enum_literal(checked, cast) if _enum_in_document(s, name) else None
            placeholder = written or self.param(argument(s, name, check), cast)
            predicates.append(relation.predicates[name].format(t=t, l=link, value=placeholder))
        every_given = len(predicates) == len(relation.pinned) + len(
            [n for n in relation.arguments if n in relation.predicates]
        )
        if counted and relation.tally and every_given:
            source = relation.tally
        elif counted and relation.count:
            source = relation.count
        else:
            source = relation.rows
            predicates += absent
        filters = "".join(f" and {p}" for p in predicates)
        template = source if "{filters}" in source else source + "{filters}"
        rows = template.format(t=t, l=link, parent=parent, filters=filters)
        if counted and source is relation.rows:
            rows = f"select count(*) from {rows}"
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


def _model(entity: str) -> Entity:
    """A type of the model: a table's, or one made from a statement's row."""
    return MODEL[entity] if entity in MODEL else ROWS[entity]


def _same(value: Any) -> Any:
    return value


# An enum value's name: the only text enum_literal writes into SQL.
ENUM_NAME = re.compile(r"[A-Z][A-Z_]*")


def enum_literal(value: Any, cast: str) -> str | None:
    """An enum value (or list of them) as a SQL literal of the given type; None for anything
    else (it stays a parameter)."""
    names = value if isinstance(value, list) else [value]
    if not all(isinstance(n, str) and ENUM_NAME.fullmatch(n) for n in names):
        return None
    if isinstance(value, list):
        return "array[" + ", ".join(f"'{n}'" for n in names) + f"]::{cast}"
    return f"'{value}'::{cast}"


def _enum_in_document(s: Selected, name: str) -> bool:
    """Whether the argument is written in the document as an enum value or a list of them
    (not a variable, whose value may change from request to request)."""
    for arg in s.node.arguments or ():
        if arg.name.value == name:
            value = arg.value
            if isinstance(value, ListValueNode):
                return all(isinstance(v, EnumValueNode) for v in value.values)
            return isinstance(value, EnumValueNode)
    return False


def _pinned(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _pk(value: Any, entity: str, argument: str) -> int:
    return pk_of(value, entity, argument)


def _nth_pk(ids: list[str], index: int) -> int:
    return from_global_id(ids[index], "ids")[1]


def _compact(sql: str, sources: list[Source]) -> tuple[str, list[Source], list[Source]]:
    """Number the placeholders the statement uses 1..n, and drop the parameters it does not
    use (a page statement's size when only its count is selected): PostgreSQL refuses a
    parameter it cannot place. The dropped ones come back apart, to be checked."""
    used = sorted({int(n) for n in PLACEHOLDER.findall(sql)})
    number = {old: new for new, old in enumerate(used, start=1)}
    return (
        PLACEHOLDER.sub(lambda m: f"${number[int(m.group(1))]}", sql),
        [sources[old - 1] for old in used],
        [source for i, source in enumerate(sources, start=1) if i not in number],
    )


def compile_operation(
    strawberry_schema: Any, document: Any, operation_name: str | None, args: Arguments
) -> Statement:
    """The statement for an operation and this request's arguments; NotCompilable when the
    compiler does not translate one of its fields, a GraphQLError when an argument is one the
    resolvers refuse."""
    schema = strawberry_schema._schema
    fields = plan(schema, document, operation_name, args.variables)
    return Builder(schema, strawberry_schema, args).operation(fields)
