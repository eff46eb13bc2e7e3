"""Every string a client passes to a field, wherever it sits (an argument, a list, an input
object, from a literal or a variable), is text PostgreSQL can take: no NUL, no lone surrogate.

Checked once for all fields, before any resolver runs, rather than by each resolver for the
arguments it knows of: a list of genre slugs that no resolver checked reached asyncpg, which
failed to encode it (INTERNAL, with a traceback in the log).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo
from strawberry.extensions import SchemaExtension

from graph.errors import text_argument


class TextArguments(SchemaExtension):
    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if kwargs:
            check_text(kwargs)
        return _next(root, info, *args, **kwargs)


def check_text(arguments: dict[str, Any]) -> None:
    """BAD_USER_INPUT naming the first string that is not valid text, e.g.
    `filter.genresAny[1]`. Arguments arrive coerced: input objects as dicts keyed by their
    GraphQL field names, lists as lists."""
    stack: list[tuple[str, Any]] = list(arguments.items())
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            text_argument(value, path)
        elif isinstance(value, dict):
            stack.extend((f"{path}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
