"""Argument values of one request, checked by the very functions the resolvers use.

A compiled statement is cached without its values: each bound parameter has a `Source` that
reads it from the request's arguments and checks it as the field's resolver would (page sizes,
ids, regions, roles, filters). When a check fails, the compiled path steps aside and the
resolvers run the operation, so the error a client sees is the reference path's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLSchema
from graphql.execution.values import VariableValues, get_argument_values

from graph.compiled.plan import Selected
from graph.textinput import check_text


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

    def once(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A value several parameters share (a whole `films` page), computed once."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


# A bound parameter: its value for one request, or a UserInputError/NotFoundError.
Source = Callable[[Arguments], Any]


def constant(value: Any) -> Source:
    return lambda _: value


def argument(selected: Selected, name: str, check: Callable[[Any], Any]) -> Source:
    return lambda args: check(args.of(selected).get(name))
