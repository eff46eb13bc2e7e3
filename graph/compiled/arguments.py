"""Argument values of one request, checked by the very functions the resolvers use.

A compiled statement is cached without its values: each bound parameter has a `Source` that
reads it from the request's arguments and checks it as the field's resolver would (page sizes,
ids, regions, roles, filters). When a check fails, the compiled path steps aside and the
resolvers run the operation, so the error a client sees is the reference path's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    GraphQLSchema,
    ListValueNode,
    ObjectValueNode,
    ValueNode,
    VariableNode,
)
from graphql.execution.values import VariableValues, get_argument_values

from graph import collaborators, external, similar, watch
from graph.compiled.plan import Selected
from graph.pagination import window
from graph.textinput import check_text
from graph.types import _kinds, _roles, region_code


class Arguments:
    """One request's coerced argument values, per field node, read once."""

    def __init__(self, schema: GraphQLSchema, variables: VariableValues) -> None:
        self.schema = schema
        self.variables = variables
        self._values: dict[int, dict[str, Any]] = {}
        self.memo: dict[Any, Any] = {}

    def of(self, selected: Selected) -> dict[str, Any]:
        key = id(selected.node)
        values = self._values.get(key)
        if values is None:
            values = get_argument_values(selected.definition, selected.node, self.variables)
            # Every string a client passes must be text PostgreSQL can take (graph.textinput),
            # as on the resolver path.
            check_text(values)
            self._values[key] = values
        return values

    def written(self, values: Mapping[int, dict[str, Any]]) -> None:
        """The values of the fields whose arguments are all written in the document (no
        variable in them, see `written_whole`), by their node: the same for every request of
        a statement, so read and checked once, when it was compiled."""
        self._values.update(values)

    def once(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A value several parameters share (a whole `films` page), computed once."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


def written_whole(node: FieldNode) -> bool:
    """Whether every argument of the field is written in the document, no variable in it:
    then its values, and their checks, are the same for every request."""
    return all(_written(argument.value) for argument in node.arguments or ())


def _written(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return False
    if isinstance(value, ListValueNode):
        return all(_written(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return all(_written(item.value) for item in value.fields)
    return True


# A parameter's placeholder in a statement.
PLACEHOLDER = re.compile(r"\$(\d+)")

# A bound parameter: its value for one request, or a UserInputError/NotFoundError.
Source = Callable[[Arguments], Any]


def constant(value: Any) -> Source:
    return lambda _: value


def argument(selected: Selected, name: str, check: Callable[[Any], Any]) -> Source:
    return lambda args: check(args.of(selected).get(name))


# Connection arguments: the window, not a filter.
WINDOW = ("first", "after", "last", "before")


def _role(value: Any) -> str | None:
    return None if value is None else str(value.name)


def _roles_param(value: Any) -> list[str] | None:
    roles = _roles(value)
    return None if roles is None else list(roles)


def page_first(first: int | None) -> int:
    """A connection's first page size, checked as graph/pagination.py's window checks it."""
    win = window("", first, None, None, None)
    assert win.first is not None
    return win.first


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


# The parameters of the statements the compiler embeds (graph/mapping.py, Embedded), by
# statement and by the name its `parameters` give them: each computed from the field's
# arguments by the resolver's own checks, or a constant of the resolver's module, and cast.
Parameter = tuple[Callable[[dict[str, Any]], Any], str]
EMBEDDED_PARAMETERS: dict[str, dict[str, Parameter]] = {
    "similar_films_by_film_id": {
        "first": (lambda a: similar.similar_count(a["first"]), "int"),
        "linking_credits": (lambda _: similar.LINKING_CREDITS, "int"),
        "genre_candidates": (lambda _: similar.GENRE_CANDIDATES, "int"),
        "people_candidates": (lambda _: similar.PEOPLE_CANDIDATES, "int"),
    },
    "offers_by_film_id_and_regions": {
        "regions": (lambda a: list(watch.region_codes(a["regions"])), "text[]"),
    },
    "best_offers_by_film_id": {
        "region": (lambda a: region_code(a["region"]), "text"),
        "subscriptions": (
            lambda a: list(watch.subscription_ids(a.get("subscriptions"))),
            "bigint[]",
        ),
    },
    "collaborators_page": {
        "first": (lambda a: page_first(a.get("first")), "bigint"),
        "role": (lambda a: _role(a.get("role")), "text"),
    },
    "shared_films_by_people": {
        "first": (lambda a: collaborators.shared_films_count(a["first"]), "int"),
    },
    "common_films_page": {
        "people": (lambda a: collaborators.common_people(a["people"]), "bigint[]"),
        "first": (lambda a: page_first(a.get("first")), "bigint"),
    },
    "nodes_by_external_id": {
        "kinds": (lambda a: external.parse(a["ids"])[0], "text[]"),
        "values": (lambda a: external.parse(a["ids"])[1], "text[]"),
        "numbers": (lambda a: external.parse(a["ids"])[2], "int[]"),
    },
}


def embedded_parameter(selected: Selected, statement: str, name: str) -> tuple[Source, str]:
    """The Source of one parameter of an embedded statement, and its cast."""
    compute, cast = EMBEDDED_PARAMETERS[statement][name]
    return (lambda args: compute(args.of(selected))), cast


# The scope of the cursors of an Embedded page (shape "page"), by statement: as its resolver
# seals them, from the field's arguments and the parent's key (its text; "0" at the root).
EMBEDDED_SCOPES: dict[str, Callable[[dict[str, Any], str], str]] = {
    "collaborators_page": lambda a, parent: collaborators.collaborators_scope(
        parent, _role(a.get("role"))
    ),
    "common_films_page": lambda a, _: collaborators.common_films_scope(
        collaborators.common_people(a["people"])
    ),
}
