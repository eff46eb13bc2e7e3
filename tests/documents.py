"""Random GraphQL documents over the real schema, for the differential tests of the compiled
path against the resolvers (tests/test_compiled_diff.py, bench/difftest.py).

A document is drawn by hypothesis (`documents(schema, values)`): an operation with random
selection sets over every type of the schema (bounded depth and breadth, now and then beyond
the server's limits so that limit and cost errors are compared too), aliases (the same field
twice with different arguments among them), named and inline fragments on the Node interface
and the SearchResult union, `__typename`, `@include`/`@skip` on literal and variable
conditions, and arguments from `Values`: slugs, ids and IMDb ids read from the database
through the API, cursors taken from earlier responses, unknown and malformed ones, regions,
enum values, page sizes in and out of range, filters and orders, as literals or variables.

The argument values are chosen by a `Chooser`, so the same choices fill the variables of the
documents found elsewhere (examples, docs, test modules) from a seeded `random.Random`.

Response names never collide within a selection scope (a field selected again gets an alias
of its own, unless it is the same argument-less leaf, which merges), so a document fails
validation only where the schema really refuses it; `documents` is checked to stay over 95%
valid.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
)
from graphql.pyutils import Undefined
from hypothesis import strategies as st

from graph.ids import to_global_id

T = TypeVar("T")

NODE_TYPES = ("Film", "Person", "Genre", "Provider")
# Page sizes: mostly small (pages stay cheap and under the cost limit), some at the edges of
# 1..100, a few outside it.
PAGE_SIZES = (1, 1, 2, 2, 3, 3, 5, 5, 10, 20, 50, 100)
BAD_PAGE_SIZES = (0, -1, 101, 1000)
REGIONS = ("US", "US", "GB", "DE", "FR", "XX", "us", "")
CONNECTION_PLUMBING = ("edges", "nodes", "pageInfo", "node")
CURSOR_KEYS = ("cursor", "startCursor", "endCursor")


class Chooser(Protocol):
    """Where the random choices come from: hypothesis (shrinkable) or a seeded Random."""

    def pick(self, options: Sequence[T]) -> T: ...

    def integer(self, low: int, high: int) -> int: ...

    def chance(self, p: float) -> bool: ...


@functools.cache
def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    # One strategy object per range: building one per draw doubled the time a document took.
    return st.integers(low, high)


class DrawChooser:
    """Choices drawn by hypothesis: a failing document shrinks toward fewer features (a rare
    `chance` shrinks to False, every `pick` to the first option)."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def pick(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def integer(self, low: int, high: int) -> int:
        value: int = self.draw(_integers(low, high))
        return value

    def chance(self, p: float) -> bool:
        # True on a band inside the range: hypothesis favours the ends (0, 999) and shrinks
        # to 0, so a band at either end would fire far more or far less often than p.
        if p > 0.5:
            return not self.chance(1 - p)
        return 400 <= self.integer(0, 999) < 400 + round(1000 * p)


class RandomChooser:
    """Choices from a seeded random.Random (for variables of documents written by hand)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p


@dataclass
class Values:
    """Argument values that mean something in the database under test, read through the API,
    and the cursors seen in responses so far (by the field they came from)."""

    slugs: dict[str, list[str]] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)
    imdb_ids: dict[str, list[str]] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)
    certifications: list[str] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    cursors: dict[str, list[str]] = field(default_factory=dict)

    def harvest(self, data: Any, key: str = "") -> None:
        """Keep the cursors of a response's data, under the field name they belong to."""
        if isinstance(data, dict):
            for name, value in data.items():
                if name in CURSOR_KEYS and isinstance(value, str):
                    kept = self.cursors.setdefault(key, [])
                    if value not in kept and len(kept) < 200:
                        kept.append(value)
                else:
                    self.harvest(value, key if name in CONNECTION_PLUMBING else name)
        elif isinstance(data, list):
            for item in data:
                self.harvest(item, key)


# A query that reads the values above through the API (the ids are the API's own).
VALUES_QUERY = """
query Values {
  films(first: 100, orderBy: [{field: VOTES, direction: DESC}]) {
    nodes { id slug imdbId title year certification }
    pageInfo { endCursor }
  }
  people(first: 100) { nodes { id slug imdbId name } pageInfo { endCursor } }
  genres(first: 100) { nodes { id slug name } }
  providers(first: 100) { nodes { id slug name } }
}
"""


def values_from(data: dict[str, Any]) -> Values:
    """The pool of values from VALUES_QUERY's answer."""
    values = Values()
    for field_name, type_name in (
        ("films", "Film"),
        ("people", "Person"),
        ("genres", "Genre"),
        ("providers", "Provider"),
    ):
        nodes = data[field_name]["nodes"]
        values.ids[type_name] = [n["id"] for n in nodes]
        values.slugs[type_name] = [n["slug"] for n in nodes]
        if type_name in ("Film", "Person"):
            values.imdb_ids[type_name] = [n["imdbId"] for n in nodes if n["imdbId"]]
        for n in nodes:
            text = n.get("title") or n.get("name") or ""
            values.words += [w for w in text.split() if len(w) > 2][:2]
    films = data["films"]["nodes"]
    values.certifications = sorted({f["certification"] for f in films if f["certification"]})
    values.years = sorted({f["year"] for f in films if f["year"]})
    values.harvest(data)
    return values


class Arguments:
    """Argument values for a field, by what the argument means (its field and name), with a
    fallback by type for an argument this table does not know."""

    def __init__(self, schema: GraphQLSchema, values: Values, choose: Chooser) -> None:
        self.schema = schema
        self.values = values
        self.choose = choose
        # Full pages wherever a page size is given: nested, they pass the cost limit.
        self.big_pages = False

    # -- values of one meaning ------------------------------------------------------------
    def page_size(self) -> int:
        if self.big_pages and not self.choose.chance(0.2):
            return 100
        if self.choose.chance(0.1):
            return self.choose.pick(BAD_PAGE_SIZES)
        return self.choose.pick(PAGE_SIZES)

    def cursor(self, field_name: str) -> str:
        """A cursor seen earlier on a field of this name, or on any, or a malformed one. The
        cursors seen grow during a run: the choices drawn do not depend on how many there
        are, or hypothesis would find its replays drawing differently."""
        c = self.choose
        own = self.values.cursors.get(field_name, [])
        every = [x for kept in self.values.cursors.values() for x in kept]
        use_own, use_any = not c.chance(0.15), not c.chance(0.3)
        index = c.integer(0, 4095)
        malformed = c.pick(("not-a-cursor", "", "AAAA", "x" * 300))
        if own and use_own:
            return own[index % len(own)]
        if every and use_any:
            return every[index % len(every)]
        return malformed

    def node_id(self, type_name: str | None) -> str:
        c = self.choose
        if c.chance(0.15):
            return c.pick(
                (
                    "not-an-id",
                    "",
                    to_global_id(c.pick(NODE_TYPES), 99_999_999),
                    to_global_id("Credit", 1),
                    "RmlsbTox",  # Film:1 without its padding
                    "RmlsbTowMQ==",  # Film:01
                )
            )
        if type_name is None or c.chance(0.1):
            type_name = c.pick(NODE_TYPES)
        return c.pick(self.values.ids.get(type_name) or ["not-an-id"])

    def slug(self, type_name: str) -> str:
        c = self.choose
        if c.chance(0.1):
            return c.pick(("no-such-slug", "", "Refusenik 2007", "x" * 300))
        if c.chance(0.05):
            type_name = c.pick(NODE_TYPES)
        return c.pick(self.values.slugs.get(type_name) or ["no-such-slug"])

    def imdb_id(self, type_name: str) -> str:
        c = self.choose
        if c.chance(0.15):
            return c.pick(("tt0000000", "nm0000000", "tt", "not-an-imdb-id", ""))
        return c.pick(self.values.imdb_ids.get(type_name) or ["tt0000000"])

    def text(self) -> str:
        c = self.choose
        if c.chance(0.15):
            return c.pick(("", "  ", "é", "the", "%", "_", "a'b", "x" * 201, "Ünïcödé", "🎬"))
        word = c.pick(self.values.words or ["film"])
        if c.chance(0.3):
            word = word.lower()
        if c.chance(0.2):
            word = word[: max(1, len(word) - 1)] + "x"  # a small typo
        return word

    def prefix(self) -> str:
        c = self.choose
        word = c.pick(self.values.words or ["film"])
        return word[: c.integer(1, max(1, len(word)))] if not c.chance(0.1) else ""

    def region(self) -> str:
        return self.choose.pick(REGIONS)

    def enum_values(self, type_name: str) -> list[str]:
        enum = self.schema.get_type(type_name)
        assert isinstance(enum, GraphQLEnumType), type_name
        return list(enum.values)

    def count(self, most: int) -> int:
        """How many items a list argument gets: 1..most, now and then none (refused)."""
        return 0 if self.choose.chance(0.03) else self.choose.integer(1, most)

    def enum_list(self, type_name: str) -> list[str]:
        options = self.enum_values(type_name)
        return [self.choose.pick(options) for _ in range(self.count(3))]

    def int_range(self, low: int, high: int) -> dict[str, Any]:
        c = self.choose
        out: dict[str, Any] = {}
        if c.chance(0.7):
            out["min"] = c.integer(low, high)
        if c.chance(0.5):
            out["max"] = c.integer(low, high)
        return out

    def film_filter(self) -> dict[str, Any]:
        c = self.choose
        genres = self.values.slugs.get("Genre") or ["drama"]
        out: dict[str, Any] = {}
        for _ in range(c.integer(0, 3)):
            key = c.pick(
                (
                    "query",
                    "genresAny",
                    "genresAll",
                    "year",
                    "runtimeMinutes",
                    "minRating",
                    "minVotes",
                    "certifications",
                    "people",
                    "availability",
                )
            )
            if key == "query":
                out[key] = self.text()
            elif key in ("genresAny", "genresAll"):
                out[key] = [
                    "no-such-genre" if c.chance(0.15) else c.pick(genres)
                    for _ in range(self.count(3))
                ]
            elif key == "year":
                years = self.values.years or [2000]
                out[key] = self.int_range(min(years) - 5, max(years) + 5)
            elif key == "runtimeMinutes":
                out[key] = self.int_range(-10, 240)
            elif key == "minRating":
                out[key] = c.pick((0.0, 5.5, 7, 8.2, 10.0, 11.0, -1.0))
            elif key == "minVotes":
                out[key] = c.pick((0, 10, 1000, 100_000, -5))
            elif key == "certifications":
                out[key] = [
                    c.pick([*self.values.certifications, "NR", "XYZ"]) for _ in range(self.count(2))
                ]
            elif key == "people":
                out[key] = [self.credit_filter() for _ in range(self.count(2))]
            else:
                out[key] = self.availability()
        return out

    def credit_filter(self) -> dict[str, Any]:
        out: dict[str, Any] = {"person": self.node_id("Person")}
        if self.choose.chance(0.5):
            out["role"] = self.choose.pick(self.enum_values("CreditRole"))
        return out

    def availability(self) -> dict[str, Any]:
        c = self.choose
        out: dict[str, Any] = {}
        if c.chance(0.7):
            out["region"] = self.region()
        if c.chance(0.4):
            out["providers"] = [self.node_id("Provider") for _ in range(self.count(2))]
        if c.chance(0.4):
            out["kinds"] = self.enum_list("OfferKind")
        return out

    def person_filter(self) -> dict[str, Any]:
        c = self.choose
        out: dict[str, Any] = {}
        if c.chance(0.5):
            out["query"] = self.text()
        if c.chance(0.4):
            out["roles"] = self.enum_list("CreditRole")
        if c.chance(0.3):
            out["workedWith"] = self.node_id("Person")
        return out

    def order(self, type_name: str) -> list[dict[str, str]]:
        fields = self.enum_values(type_name)
        if not self.choose.chance(0.2):
            fields = [f for f in fields if f != "RELEVANCE"]  # (refused without a query)
        return [
            {
                "field": self.choose.pick(fields),
                "direction": self.choose.pick(("ASC", "DESC")),
            }
            for _ in range(self.count(3))
        ]

    # -- by argument ----------------------------------------------------------------------
    def value(self, parent: str, field_name: str, name: str, type_: GraphQLInputType) -> Any:
        """A value for argument (or input field) `name` of `parent.field_name`."""
        c = self.choose
        named = get_named_type(type_)
        node_type = {"film": "Film", "person": "Person", "genre": "Genre", "provider": "Provider"}
        if name in ("first", "last"):
            return self.page_size()
        if name in ("after", "before"):
            return self.cursor(field_name)
        if name == "id" or name == "workedWith" or name == "person":
            return self.node_id(node_type.get(field_name))
        if name == "ids":
            return [self.node_id(None) for _ in range(c.integer(0, 5))]
        if name == "slug":
            return self.slug(node_type.get(field_name, "Film"))
        if name == "imdbId":
            return self.imdb_id(node_type.get(field_name, "Film"))
        if name == "query":
            return self.text()
        if name == "prefix":
            return self.prefix()
        if name == "region":
            return self.region()
        if name == "filter" and named.name == "FilmFilter":
            return self.film_filter()
        if name == "filter" and named.name == "PersonFilter":
            return self.person_filter()
        if name == "orderBy":
            order = self.schema.get_type(named.name)
            assert isinstance(order, GraphQLInputObjectType)
            return self.order(get_named_type(order.fields["field"].type).name)
        return self.by_type(parent, field_name, name, type_)

    def by_type(self, parent: str, field_name: str, name: str, type_: GraphQLInputType) -> Any:
        c = self.choose
        nullable = get_nullable_type(type_)
        if isinstance(nullable, GraphQLList):
            of = nullable.of_type
            return [self.by_type(parent, field_name, name, of) for _ in range(self.count(3))]
        if isinstance(nullable, GraphQLEnumType):
            return c.pick(list(nullable.values))
        if isinstance(nullable, GraphQLInputObjectType):
            out: dict[str, Any] = {}
            for key, input_field in nullable.fields.items():
                if isinstance(input_field.type, GraphQLNonNull) or c.chance(0.5):
                    out[key] = self.value(nullable.name, field_name, key, input_field.type)
            return out
        assert isinstance(nullable, GraphQLScalarType), nullable
        if nullable.name == "Int":
            return c.pick((0, 1, 5, 20, 100, -1))
        if nullable.name == "Float":
            return c.pick((0.0, 1.5, 7.0, -1.0))
        if nullable.name == "Boolean":
            return c.chance(0.5)
        return self.text()


def literal(value: Any, type_: GraphQLInputType) -> str:
    """`value` (as JSON would carry it in the variables) written as a GraphQL literal."""
    if value is None:
        return "null"
    nullable = get_nullable_type(type_)
    if isinstance(nullable, GraphQLList):
        if isinstance(value, list):
            return "[" + ", ".join(literal(v, nullable.of_type) for v in value) + "]"
        return literal(value, nullable.of_type)
    if isinstance(nullable, GraphQLInputObjectType):
        fields = ", ".join(f"{k}: {literal(v, nullable.fields[k].type)}" for k, v in value.items())
        return "{" + fields + "}"
    if isinstance(nullable, GraphQLEnumType):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Generated:
    """A generated request: the document, its variables and the operation to run."""

    document: str
    variables: dict[str, Any]
    operation_name: str | None = None


@dataclass
class Shape:
    """How big this document may grow: mostly within the server's limits, sometimes past."""

    depth: int
    breadth: int
    root_fields: int
    # The one depth whose selection sets are `wide` fields across (past the alias and
    # repeated-field limits), or -1.
    wide_at: int = -1
    wide: int = 0
    # The chance of directives on a field or fragment (near 1: past the directive limit).
    directives: float = 0.08
    # Fields left to write: past this budget, selections take one leaf field each.
    fields: int = 120


class Builder:
    """Writes one document, choice by choice."""

    def __init__(self, schema: GraphQLSchema, values: Values, choose: Chooser) -> None:
        self.schema = schema
        self.choose = choose
        self.arguments = Arguments(schema, values, choose)
        self.variable_defs: list[str] = []
        self.variables: dict[str, Any] = {}
        self.fragments: list[str] = []
        self.counter = 0
        self.directive_count = 0
        c = choose
        # Each past a limit in some 4% of documents, each drawn on its own.
        self.shape = Shape(
            depth=c.integer(13, 15) if c.chance(0.04) else c.integer(1, 4),
            breadth=c.integer(1, 4),
            root_fields=c.integer(11, 12) if c.chance(0.04) else c.integer(1, 3),
        )
        if c.chance(0.04):
            self.shape.wide_at, self.shape.wide = c.integer(1, 2), c.integer(16, 22)
        if c.chance(0.04):
            self.shape.directives = 0.9
        if c.chance(0.04):
            self.arguments.big_pages = True

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # -- arguments and directives ---------------------------------------------------------
    def argument_text(self, name: str, value: Any, type_: GraphQLInputType) -> str:
        """`name: <value>`, the value a variable, a literal, or a literal holding variables."""
        if self.choose.chance(0.35):
            return f"{name}: {self.variable(value, type_)}"
        return f"{name}: {self.value_text(value, type_)}"

    def variable(self, value: Any, type_: GraphQLInputType) -> str:
        """A new variable of the type of the place it is used in, declared, given `value`."""
        c = self.choose
        var = self.fresh("v")
        declared = str(type_)
        if c.chance(0.08) and not isinstance(type_, GraphQLNonNull):
            # A default the request leaves to the document.
            self.variable_defs.append(f"${var}: {declared} = {literal(value, type_)}")
        else:
            self.variable_defs.append(f"${var}: {declared}")
            if not (isinstance(type_, GraphQLNonNull) and c.chance(0.01)):
                self.variables[var] = value  # (rarely: a required variable left out)
        return f"${var}"

    def value_text(self, value: Any, type_: GraphQLInputType) -> str:
        """`value` as a literal whose input fields and list items are now and then
        variables of their own (`filter: {query: $v3, genresAny: ["drama", $v4]}`)."""
        nullable = get_nullable_type(type_)
        if isinstance(nullable, GraphQLInputObjectType) and isinstance(value, dict):
            inner = [f"{k}: {self.inner(v, nullable.fields[k].type)}" for k, v in value.items()]
            return "{" + ", ".join(inner) + "}"
        if isinstance(nullable, GraphQLList) and isinstance(value, list):
            return "[" + ", ".join(self.inner(v, nullable.of_type) for v in value) + "]"
        return literal(value, type_)

    def inner(self, value: Any, type_: GraphQLInputType) -> str:
        if value is not None and self.choose.chance(0.15):
            return self.variable(value, type_)
        return self.value_text(value, type_)

    def field_arguments(self, parent: GraphQLNamedType, name: str, fdef: GraphQLField) -> str:
        c = self.choose
        chosen: dict[str, Any] = {}
        lookup = name in ("film", "person", "genre", "provider") and parent.name == "Query"
        if lookup:
            # Exactly one of id/slug/imdbId, mostly; sometimes none or two (refused).
            keys: list[str] = [k for k in ("slug", "id", "imdbId") if k in fdef.args]
            count = c.pick((1, 1, 1, 1, 1, 1, 1, 1, 0, 2))
            picked: list[str] = []
            for _ in range(count):
                key = c.pick(keys)
                if key not in picked:
                    picked.append(key)
            for arg_name in picked:
                chosen[arg_name] = self.arguments.value(
                    parent.name, name, arg_name, fdef.args[arg_name].type
                )
        else:
            for arg_name, arg in fdef.args.items():
                non_null = isinstance(arg.type, GraphQLNonNull)
                required = non_null and arg.default_value is Undefined
                if required or c.chance(0.4 if arg_name not in ("after", "before") else 0.2):
                    if not non_null and c.chance(0.05):
                        chosen[arg_name] = None  # an explicit null
                    else:
                        chosen[arg_name] = self.arguments.value(
                            parent.name, name, arg_name, arg.type
                        )
        for one, other in (("first", "last"), ("after", "before")):
            if one in chosen and other in chosen and not c.chance(0.1):
                del chosen[c.pick((one, other))]  # both at once only now and then (refused)
        if not chosen:
            return ""
        parts = [self.argument_text(k, v, fdef.args[k].type) for k, v in chosen.items()]
        return "(" + ", ".join(parts) + ")"

    def directives(self) -> str:
        c = self.choose
        if not c.chance(self.shape.directives):
            return ""
        if self.directive_count >= 8 and self.shape.directives < 0.5:
            return ""  # (past the limit of 10 only when the shape says so)
        out = []
        # Neither is repeatable: one of them, or both.
        for name in c.pick((("include",), ("skip",), ("include", "skip"), ("skip", "include"))):
            self.directive_count += 1
            if c.chance(0.4):
                var = self.fresh("b")
                self.variable_defs.append(f"${var}: Boolean!")
                self.variables[var] = c.chance(0.5)
                out.append(f"@{name}(if: ${var})")
            else:
                out.append(f"@{name}(if: {'true' if c.chance(0.5) else 'false'})")
        return " " + " ".join(out)

    # -- selections -----------------------------------------------------------------------
    def selection_set(
        self, parent: GraphQLNamedType, depth: int, used: dict[str, str] | None = None
    ) -> str:
        used = {} if used is None else used
        selections = self.selections(parent, depth, used)
        return "{ " + " ".join(selections) + " }"

    def selections(self, parent: GraphQLNamedType, depth: int, used: dict[str, str]) -> list[str]:
        c = self.choose
        out: list[str] = []
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            fields = parent.fields
            names = list(fields)
            if depth == 0:
                count = self.shape.root_fields
            elif depth == self.shape.wide_at:
                count = self.shape.wide
            else:
                # Narrower deeper down, so that most documents stay under the cost limit.
                count = c.integer(1, max(1, self.shape.breadth - depth // 2))
            composite = [n for n in names if not is_leaf_type(get_named_type(fields[n].type))]
            if self.shape.fields <= 0:
                count = 1
            for i in range(count):
                self.shape.fields -= 1
                name = c.pick(names)
                if i == 0 and self.shape.depth > 12 and depth < self.shape.depth and composite:
                    name = c.pick(composite)  # deep on purpose: past the depth limit
                if (depth >= self.shape.depth or self.shape.fields <= 0) and not is_leaf_type(
                    get_named_type(fields[name].type)
                ):
                    leaves = [n for n in names if n not in composite]
                    name = c.pick(leaves) if leaves else name
                out.append(self.field(parent, name, fields[name], depth, used))
                if c.chance(0.08) and fields[name].args:
                    # The same field again under another alias, with other arguments.
                    out.append(self.field(parent, name, fields[name], depth, used, alias=True))
        if depth > 0 and (c.chance(0.15) or isinstance(parent, GraphQLUnionType)):
            out.append(self.typename(used))
        if self.shape.fields <= 0:
            pass
        elif depth > 0 and isinstance(parent, GraphQLInterfaceType | GraphQLUnionType):
            for _ in range(c.integer(1 if isinstance(parent, GraphQLUnionType) else 0, 3)):
                out.append(
                    self.fragment(c.pick(self.schema.get_possible_types(parent)), depth, used)
                )
            if c.chance(0.15):
                # A fragment on the interface or union itself.
                out.append(self.fragment(parent, depth, used, bare=True))
        elif depth > 0 and c.chance(0.1):
            # A fragment on the type itself, or on an interface it implements.
            on: GraphQLNamedType = parent
            if isinstance(parent, GraphQLObjectType) and parent.interfaces and c.chance(0.5):
                on = c.pick(parent.interfaces)
            out.append(self.fragment(on, depth, used, bare=on is parent))
        if not out:
            out.append(self.typename(used))
        return out

    def typename(self, used: dict[str, str]) -> str:
        if used.get("__typename", "__typename") == "__typename" and not self.choose.chance(0.2):
            used["__typename"] = "__typename"
            return "__typename"
        alias = self.fresh("t")
        used[alias] = "__typename"
        return f"{alias}: __typename"

    def fragment(
        self, on: GraphQLNamedType, depth: int, used: dict[str, str], bare: bool = False
    ) -> str:
        """An inline fragment or a named one spread here (its fields share this scope); `bare`:
        `on` is the parent type, so an inline fragment may leave out its type condition."""
        c = self.choose
        directives = self.directives()
        body = " ".join(self.selections(on, depth, used))
        if c.chance(0.5):
            condition = "" if bare and c.chance(0.3) else f" on {on}"
            return f"...{condition}{directives} {{ {body} }}"
        name = self.fresh("F")
        self.fragments.append(f"fragment {name} on {on} {{ {body} }}")
        spread = f"...{name}{directives}"
        return f"{spread} {spread}" if c.chance(0.1) else spread

    def field(
        self,
        parent: GraphQLNamedType,
        name: str,
        fdef: GraphQLField,
        depth: int,
        used: dict[str, str],
        alias: bool = False,
    ) -> str:
        c = self.choose
        args = self.field_arguments(parent, name, fdef)
        named = get_named_type(fdef.type)
        leaf = is_leaf_type(named)
        # A response name is shared only by the same argument-less leaf, which merges.
        signature = f"{name}:{fdef.type}" if leaf and not args else self.fresh("#")
        if alias or c.chance(0.12) or used.get(name, signature) != signature:
            response = self.fresh("a")
            text = f"{response}: {name}"
        else:
            response = name
            text = name
        used[response] = signature
        text += args + self.directives()
        if not leaf:
            text += " " + self.selection_set(named, depth + 1)
        return text

    def document(self) -> Generated:
        query = self.schema.query_type
        assert query is not None
        body = self.selection_set(query, 0)
        c = self.choose
        name = c.pick((None, "Q", "Generated"))
        header = "query"
        if name:
            header += f" {name}"
        if self.variable_defs:
            header += "(" + ", ".join(self.variable_defs) + ")"
        if name is None and not self.variable_defs and c.chance(0.3):
            header = ""  # the shorthand form
        operations = [f"{header} {body}".strip()]
        operation_name = None
        if name and c.chance(0.1):
            # Another operation in the same document; the request names the one to run.
            operations.append("query Other { __typename }")
            operation_name = name
            if c.chance(0.5):
                operations.reverse()
        return Generated("\n".join([*operations, *self.fragments]), self.variables, operation_name)


@st.composite
def documents(draw: st.DrawFn, schema: GraphQLSchema, values: Values) -> Generated:
    """A hypothesis strategy of generated requests over `schema` with `values`."""
    return Builder(schema, values, DrawChooser(draw)).document()
