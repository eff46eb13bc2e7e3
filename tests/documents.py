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

The argument values come from tests/values.py, whose choices also fill the variables of the
documents written by hand (examples, docs, test modules).

Response names never collide within a selection scope (a field selected again gets an alias
of its own, unless it is the same argument-less leaf, which merges), so a document fails
validation only where the schema really refuses it; `documents` is checked to stay over 95%
valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
)
from graphql.pyutils import Undefined
from hypothesis import strategies as st

from tests.values import Arguments, Chooser, DrawChooser, Values


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
