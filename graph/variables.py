"""Errors in a request's variables, in GraphQL's terms: graphql-core quotes a wrong value as
Python writes it (`['US']`, `None`, `True`); a client sent JSON and reads GraphQL, so the
value is quoted in GraphQL's value syntax (`["US"]`, `null`, `true`) and the variable is
named in `extensions.argument` (`"$region"`)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from graphql.pyutils import inspect

_VARIABLE = re.compile(r"^Variable '\$(\w+)' ")
# graphql-core's words for a null where a value is required.
_NONE = re.compile(r"\bnot to be None\b")


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


def reworded(error: GraphQLError, variables: dict[str, Any] | None) -> GraphQLError:
    """The error with its quoted values in GraphQL syntax and the variable it is about in
    `extensions.argument`; any other error as it is."""
    match = _VARIABLE.match(error.message)
    if match is None or error.path is not None:
        return error
    name = match.group(1)
    message = _NONE.sub("not to be null", error.message)
    if variables and name in variables:
        # graphql-core quotes the wrong value, or the object or list around it, after a
        # colon: each inspect() text of a part of the value, longest first, so that a list is
        # replaced whole before its items. (inspect() shortens long values: those stay.)
        quoted = {inspect(v): graphql_value(v) for v in _values(variables[name])}
        for python in sorted(quoted, key=len, reverse=True):
            if python != quoted[python]:
                message = message.replace(f": {python}", f": {quoted[python]}")
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), "argument": f"${name}"},
    )
