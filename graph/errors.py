"""Errors a client can act on, each with a stable `extensions.code`."""

from __future__ import annotations

from graphql import GraphQLError

BAD_USER_INPUT = "BAD_USER_INPUT"
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
QUERY_TIMEOUT = "QUERY_TIMEOUT"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


def text_argument(value: str, argument: str) -> str:
    """A string argument PostgreSQL can take: no NUL, no lone surrogate (invalid UTF-8)."""
    if "\x00" in value:
        raise UserInputError(f"{argument}: must not contain NUL characters", argument=argument)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UserInputError(f"{argument}: not valid Unicode text", argument=argument) from None
    return value


class UserInputError(GraphQLError):
    """The request was understood but an argument is wrong: fix the request, don't retry it."""

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        extensions: dict[str, object] = {"code": BAD_USER_INPUT}
        if argument is not None:
            extensions["argument"] = argument
        super().__init__(message, extensions=extensions)
