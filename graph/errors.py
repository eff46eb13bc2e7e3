"""Errors a client can act on, each with a stable `extensions.code`.

Request errors (the document or its variables are wrong, or past a limit) keep their message;
domain outcomes (timeout, database down) get a fixed message; anything else leaves as
"Unexpected error.", and the server log repeats its request id beside the traceback. Every
error carries the request's id.
"""

from __future__ import annotations

import logging
import re

import asyncpg
from graphql import GraphQLError, GraphQLSyntaxError
from graphql.validation.validate import ValidationAbortedError

from graph.db import DatabaseUnavailable

log = logging.getLogger(__name__)

# Request errors.
BAD_USER_INPUT = "BAD_USER_INPUT"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
TOO_MANY_DIRECTIVES = "TOO_MANY_DIRECTIVES"
TOO_MANY_ROOT_FIELDS = "TOO_MANY_ROOT_FIELDS"
QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
TOO_MANY_FIELDS = "TOO_MANY_FIELDS"
# A path search (graph/paths.py) that would read more links in one step than it may.
PATH_TOO_COSTLY = "PATH_TOO_COSTLY"
# Requests refused before GraphQL sees them (graph/envelope.py), each with its HTTP status.
BAD_REQUEST = "BAD_REQUEST"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
URI_TOO_LONG = "URI_TOO_LONG"
# Persisted documents (graph/persisted.py): a hash this process does not know (the client
# sends the document again), a document that is not the hash's, one that is not trusted.
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
DOCUMENT_NOT_TRUSTED = "DOCUMENT_NOT_TRUSTED"
# A request whose head or body did not arrive in time (graph/receive.py), with 408.
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
# Domain outcomes.
NOT_FOUND = "NOT_FOUND"
TIMEOUT = "TIMEOUT"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
RATE_LIMITED = "RATE_LIMITED"
INTERNAL = "INTERNAL"
DOMAIN_CODES = frozenset({NOT_FOUND, TIMEOUT, SERVICE_UNAVAILABLE, RATE_LIMITED, INTERNAL})

# graphql-core appends its suggestions last: "... Did you mean 'title'?".
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
# The parser's token limit is a syntax error like any other; only its text tells it apart.
_TOKEN_LIMIT = re.compile(r"^Syntax Error: Document contains more than \d+ tokens\.")
_NESTED_TOO_DEEPLY = re.compile(r"^Syntax Error: Document is nested too deeply\.")
# Variable coercion runs at execution, so its errors come without a code of their own; past
# 50 of them graphql-core stops with one more, which has no location either.
_BAD_VARIABLE = re.compile(
    r"^(Variable ('\$\w+' has invalid (default )?value|values are nested)"
    r"|Too many errors processing variables)"
)

MAX_MESSAGE = 300

_DATABASE_ERRORS = (
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.OperatorInterventionError,  # class 57: shutdown, cancelled, cannot connect now
    asyncpg.InvalidCatalogNameError,  # the database was dropped
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    # The server went away under a connection in use: asyncpg then finds its protocol in a
    # state it did not expect ("cannot switch to state 12; another operation is in
    # progress"), as during a PostgreSQL restart under load.
    asyncpg.InternalClientError,
    # The role lost a privilege it needs (a deployment fault, as a refused login is).
    asyncpg.InsufficientPrivilegeError,
    ConnectionError,  # and DatabaseUnavailable: unreachable, or the login refused
    OSError,
    TimeoutError,
)


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


class NotFoundError(GraphQLError):
    """An argument names something that must exist (a filter's genre, person or provider) and
    nothing has that key: the answer would otherwise be silently empty. A lookup by key
    (`film(slug:)`, `node(id:)`) answers null instead, as GraphQL clients expect."""

    def __init__(self, message: str, *, argument: str) -> None:
        super().__init__(message, extensions={"code": NOT_FOUND, "argument": argument})


def limit_error(message: str, code: str, **details: object) -> GraphQLError:
    """A document refused for going past a limit: the message says which, and by how much."""
    return GraphQLError(message, extensions={"code": code, **details})


def classify(error: GraphQLError, request_id: str, *, suggestions: bool = True) -> GraphQLError:
    """Give every error a stable code and the request's id (`extensions.requestId`, which
    the server's log lines and the X-Request-Id header repeat); hide internals of anything
    unexpected.

    Returns a new error: the validation cache shares its error objects between requests.
    """
    original = error.original_error
    if isinstance(original, ValueError) and error.path is None:
        # A literal Python cannot convert (an Int of 5000 digits): the document is wrong.
        original = None
    if original is None and error.path is not None and not (error.extensions or {}).get("code"):
        # A field error graphql-core raised itself (a null in a non-null field): our bug.
        original = RuntimeError(error.message)
    if original is None or isinstance(original, GraphQLError):
        extensions = dict(error.extensions or {})
        if isinstance(original, GraphQLError) and original.extensions:
            extensions.update(original.extensions)
        if not extensions.get("code"):
            extensions["code"] = _request_error_code(error)
        message = error.message if suggestions else _SUGGESTION.sub("", error.message)
        if message == "Validation aborted.":
            message = "Validation aborted: the document is too complex to check."
        if len(message) > MAX_MESSAGE:
            # graphql-core quotes the offending value, which can be a megabyte long.
            message = message[:MAX_MESSAGE] + "…"
        extensions["requestId"] = request_id
        return _reworded(error, message, extensions)
    extra: dict[str, object] = {}
    if isinstance(original, asyncpg.QueryCanceledError):
        log.warning("statement timed out path=%s request_id=%s", error.path, request_id)
        message, code = (
            "The query took too long; ask for less (smaller pages, fewer nested lists).",
            TIMEOUT,
        )
    elif isinstance(original, _DATABASE_ERRORS):
        described = original if isinstance(original, DatabaseUnavailable) else f"error={original!r}"
        log.warning("database unavailable %s request_id=%s", described, request_id)
        message, code = "The database is unavailable; try again shortly.", SERVICE_UNAVAILABLE
    else:
        log.error(
            "unexpected error path=%s request_id=%s", error.path, request_id, exc_info=original
        )
        message, code = "Unexpected error.", INTERNAL
    return _reworded(error, message, {"code": code, **extra, "requestId": request_id})


def _reworded(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    """The error with this message and these extensions, at the same place in the document
    and the response."""
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def _request_error_code(error: GraphQLError) -> str:
    if isinstance(error, ValidationAbortedError):
        # graphql-core's own budget for comparing fields and walking fragments ran out.
        return GRAPHQL_VALIDATION_FAILED
    if _NESTED_TOO_DEEPLY.match(error.message):
        return QUERY_TOO_DEEP
    if _BAD_VARIABLE.match(error.message):
        return BAD_USER_INPUT
    if error.message == "Maximum introspection depth exceeded":  # MaxIntrospectionDepthRule
        return QUERY_TOO_DEEP
    if isinstance(error, GraphQLSyntaxError) or not error.nodes:
        return TOO_MANY_TOKENS if _TOKEN_LIMIT.match(error.message) else GRAPHQL_PARSE_FAILED
    return GRAPHQL_VALIDATION_FAILED


def in_document_order(errors: list[GraphQLError]) -> list[GraphQLError]:
    """The errors of one result in a fixed order: by where in the document each arose, then
    by its path (list items by index). The resolvers report errors as their tasks happen to
    finish, so the same request could list them differently each time, and a response with
    errors would change its bytes (and its ETag) from one request to the next. Errors
    without a place (a request refused whole, or "error limit reached" after the others)
    come last, in the order they were raised."""
    return sorted(errors, key=_place)


def _place(error: GraphQLError) -> tuple[object, ...]:
    where = tuple((loc.line, loc.column) for loc in error.locations or ())
    path = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in error.path or ())
    return (not (where or path), where, path)
