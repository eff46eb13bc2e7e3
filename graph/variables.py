"""Errors in a request's variables, in GraphQL's terms: graphql-core quotes a wrong value as
Python writes it (`['US']`, `None`, `True`, `'director'`); a client sent JSON and reads
GraphQL, so the value is quoted in GraphQL's value syntax (`["US"]`, `null`, `true`,
`"director"`) and the variable is named in `extensions.argument` (`"$region"`)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from itertools import islice
from typing import Any

from graphql import GraphQLError
from graphql.pyutils import inspect

_VARIABLE = re.compile(r"^Variable '\$(\w+)' ")
# graphql-core's words for a null where a value is required.
_NONE = re.compile(r"\bnot to be None\b")
# graphql-core's words for a string that names no value of an enum, the string in quotes of
# its own (the enum's name is a GraphQL name: no quote in it).
_NO_SUCH_ENUM_VALUE = re.compile(r"\bValue '(.*)' does not exist in '(\w+)' enum\.")
# How many parts of a variable's value are looked for in its errors' messages: a hostile
# object of 20,000 fields gets up to a hundred errors, and looking for each of its parts in
# each message took seconds of CPU. Parts past these stay as graphql-core quoted them.
MAX_PARTS = 200


def graphql_value(value: Any) -> str:
    """`value`, decoded from JSON, in GraphQL's value syntax."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # not JSON, so never sent; kept as graphql-core wrote it
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(graphql_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {graphql_value(v)}" for k, v in value.items()) + "}"
    return inspect(value)


def _values(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, list):
        for item in value:
            yield from _values(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _values(item)


def reworded_all(
    errors: list[GraphQLError], variables: dict[str, Any] | None
) -> list[GraphQLError]:
    """`reworded` for each of a request's errors, each variable's parts quoted once."""
    quotes: dict[str, list[tuple[str, str]]] = {}
    return [reworded(error, variables, quotes) for error in errors]


def _quotes(value: Any) -> list[tuple[str, str]]:
    # Each inspect() text of a part of the value that GraphQL writes otherwise, longest
    # first, so that a list is replaced whole before its items. (inspect() shortens long
    # values: those stay.)
    quoted = {inspect(v): graphql_value(v) for v in islice(_values(value), MAX_PARTS)}
    return sorted(
        ((python, graphql) for python, graphql in quoted.items() if python != graphql),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )


def reworded(
    error: GraphQLError,
    variables: dict[str, Any] | None,
    quotes: dict[str, list[tuple[str, str]]] | None = None,
) -> GraphQLError:
    """The error with its quoted values in GraphQL syntax and the variable it is about in
    `extensions.argument`; any other error as it is. `quotes` keeps each variable's quoted
    parts from one error to the next."""
    match = _VARIABLE.match(error.message)
    if match is None or error.path is not None:
        return error
    name = match.group(1)
    message = _NONE.sub("not to be null", error.message)
    message = _NO_SUCH_ENUM_VALUE.sub(
        lambda m: f"Value {graphql_value(m[1])} does not exist in '{m[2]}' enum.", message, 1
    )
    if variables and name in variables:
        # graphql-core quotes the wrong value, or the object or list around it, after a colon.
        quotes = {} if quotes is None else quotes
        if name not in quotes:
            quotes[name] = _quotes(variables[name])
        for python, graphql in quotes[name]:
            message = message.replace(f": {python}", f": {graphql}")
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), "argument": f"${name}"},
    )
