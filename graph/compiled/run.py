"""Running a compiled operation: the schema extension that serves an operation with one SQL
statement when it can, and steps aside for the resolvers when it cannot.

It runs after parsing, validation and the cost check (graph/cost.py), so limits, cost and
`extensions.cost` are those of every operation, and inside the view's request timeout. It
serves the operation only when it is sure the resolvers would give the same answer without
errors: every argument passes the resolvers' own checks, and everything a filter names exists.
Otherwise the resolvers run it, and give the error.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from graphql import GraphQLError, is_non_null_type
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from graphql.execution.values import get_variable_values
from strawberry.extensions import SchemaExtension

from graph.compiled.arguments import Arguments
from graph.compiled.cache import NOT_COMPILABLE, Document, Served, StatementCache, signature
from graph.compiled.coalesce import Alone
from graph.compiled.plan import NotCompilable, operation_of
from graph.compiled.sql import Statement, compile_operation
from graph.db import RequestConnection
from graph.discovery.pages import fetch
from graph.lost import LOST
from graph.settings import Settings

log = logging.getLogger(__name__)

# A cursor's marker in the statement's JSON (graph/compiled/sql.py): its slot and payload.
_MARKER = re.compile(r'"\\u0000(\d+):([^"]*)"')


# What the resolvers report as TIMEOUT or SERVICE_UNAVAILABLE (graph.errors.classify); any
# other error of the statement is a compiler bug, and the resolvers serve the operation.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.QueryCanceledError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InsufficientPrivilegeError,
    asyncpg.InternalClientError,
    OSError,  # ConnectionError and TimeoutError (no pool connection in time) among them
)


class RawJson(str):
    """The `data` of a response as JSON text from PostgreSQL: written into the response as is
    (graph/view.py), never decoded."""


class CompiledExecution(SchemaExtension):
    def __init__(self, settings: Settings, cache: StatementCache) -> None:
        self.settings = settings
        self.cache = cache
        self.served: str | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.result is None:  # not refused (cost, rate limit)
            try:
                result = await self.compiled()
            except Exception:
                # A compiler bug must not cost the client its answer: the resolvers give it.
                log.exception("compiled execution failed; the resolvers serve the operation")
                result = None
            if result is not None:
                context.result = result
                self.served = "compiled"
            elif self.served is None:
                self.served = "resolvers"
        yield

    def get_results(self) -> dict[str, Any]:
        if self.served in (None, "none") or not self.settings.explain_execution:
            return {}
        return {"execution": self.served}

    async def compiled(self) -> GraphQLExecutionResult | None:
        context = self.execution_context
        if self.settings.execution != "compiled" or not context.query:
            return None
        document = context.graphql_document
        schema = context.schema._schema
        try:
            operation = operation_of(document, context.operation_name)
        except NotCompilable:
            return None
        # Capped as graph/cost.py caps it: each error of a hostile variable quotes it whole.
        coerced = get_variable_values(
            schema,
            operation.variable_definitions or (),
            context.variables or {},
            max_errors=1,
            hide_suggestions=True,
        )
        if isinstance(coerced, list):
            # A request error, with no execution to speak of: graphql-core reports it.
            self.served = "none"
            return None
        request = context.context
        # Keyed by the document's digest, not the document: entries stay small however long
        # the documents a client sends.
        digest = hashlib.sha256(context.query.encode()).digest()
        info = self.cache.document(digest, context.query, document)
        key = (digest, context.operation_name, signature(coerced.coerced, info.steering))
        args = Arguments(schema, coerced)
        args.memo["cursor_key"] = request.cursor_key
        if self.cache.get(key) is None:
            try:
                self._compile(key, info, document, args, context)
            except GraphQLError:
                return None  # an argument the resolvers refuse: they say why
        prepared = prepare(self.cache, key, args)
        if prepared is None:
            return None
        statement, params = prepared
        result = await run(request.loaders.pool, statement, params, args)
        if result is not None and not result.errors:
            # Under the name the request gave (Strawberry's operation_name is the one chosen).
            given = context._provided_operation_name
            served = Served(context.operation_name, info)
            self.cache.learn(digest, given, served)
        return result

    def _compile(
        self, key: Any, info: Document, document: Any, args: Arguments, context: Any
    ) -> Any:
        try:
            statement: Statement | object = compile_operation(
                context.schema, document, context.operation_name, args
            )
        except NotCompilable as exc:
            log.debug("not compiled reason=%s", exc)
            statement = NOT_COMPILABLE
        self.cache.put(key, statement, info)
        return statement


def reading_roots(statement: Statement) -> int:
    """How many root fields read the database (all but `__typename`)."""
    return sum(root.name != "__typename" for root in statement.roots)


def timeouts_to_resolvers(statement: Statement) -> bool:
    """Whether the resolvers answer when the statement times out: when it holds several root
    fields that read, or a graph question's statement. The resolvers time out only the
    fields whose own statement is slow, and answer the others; the one statement cannot say
    which were slow."""
    return reading_roots(statement) > 1 or statement.embeds


def prepare(cache: StatementCache, key: Any, args: Arguments) -> tuple[Statement, list[Any]] | None:
    """The statement compiled for the key and its parameters for these arguments; None when
    the compiler does not take the operation or the resolvers refuse an argument (they say
    why)."""
    statement = cache.get(key)
    if not isinstance(statement, Statement):
        return None
    args.written(statement.written)
    try:
        for selected in statement.checked:
            args.of(selected)
        for unused in statement.unused:
            unused(args)  # for its errors: `first: 0` is refused with only a count selected
        return statement, [source(args) for source in statement.sources]
    except GraphQLError:
        return None


async def run(
    pool: Any, statement: Statement, params: list[Any], args: Arguments
) -> GraphQLExecutionResult | None:
    """The statement's answer; None when it says a filter names something that does not
    exist (the resolvers give the NOT_FOUND), or when a statement of several root fields or
    with a graph question timed out (the resolvers answer the fields that were not slow)."""
    try:
        rows = await _rows(pool, statement, params)
    except UNAVAILABLE as exc:
        if isinstance(exc, asyncpg.QueryCanceledError) and timeouts_to_resolvers(statement):
            # The resolvers run them, at the cost of a second wait.
            return None
        # No pool connection in time, a statement timeout, the database gone: reported on
        # the root fields, as the resolvers report it on theirs (graph.errors.classify
        # gives the code). Running the resolvers after would wait a second time.
        return _failed(statement, exc)
    row = rows[0]
    if not row["ok"]:
        return None
    text: str = row["data"]
    if statement.cursors:
        text = _cursors(text, statement, args)
    return GraphQLExecutionResult(data=RawJson(text))  # type: ignore[arg-type]


async def _rows(pool: Any, statement: Statement, params: list[Any]) -> list[Any]:
    """The statement's rows. With coalescing (graph/compiled/coalesce.py), its row from a
    batch of requests running the same statement, for a request on the primary that holds no
    connection yet; when the batch cannot answer, the statement runs alone within what remains
    of the request's bounds."""
    if (
        statement.batched is not None
        and isinstance(pool, RequestConnection)
        and pool.pool.coalescer is not None
        and pool.replicas is None
        and not pool.holding()
    ):
        got = await pool.pool.coalescer.row(statement.batched, statement.sql, params)
        if not isinstance(got, Alone):
            return [{"data": got[0], "ok": got[1]}]
        try:
            async with asyncio.timeout_at(got.deadline) as bound:
                return await _alone(pool, statement, params)
        except TimeoutError:
            if not bound.expired() or not pool.holding():
                # The pool's own wait ran out, or its bounds did while it waited for the
                # pool: the error of a pool wait that runs out alone (SERVICE_UNAVAILABLE).
                raise
            # Spent with its statement running: the statement timeout it would get alone.
            raise asyncpg.QueryCanceledError(
                "canceling statement due to statement timeout"
            ) from None
    return await _alone(pool, statement, params)


async def _alone(pool: Any, statement: Statement, params: list[Any]) -> list[Any]:
    """The statement's rows, run alone. A statement reads only, and runs before anything of
    the answer is sent: one whose connection was lost under it (the server ended it while the
    pool kept it) is asked again, once, on a fresh connection, rather than answered
    SERVICE_UNAVAILABLE."""
    try:
        async with pool.acquire() as conn:
            return await fetch(conn, statement.sql, params, statement.custom_plan)
    except LOST as exc:
        if not isinstance(pool, RequestConnection) or not await pool.replace():
            raise
        log.info("connection lost under a statement; asked again on another error=%r", exc)
    async with pool.acquire() as conn:
        return await fetch(conn, statement.sql, params, statement.custom_plan)


def _failed(statement: Statement, exc: BaseException) -> GraphQLExecutionResult:
    # `__typename` reads nothing: it is "Query" whatever became of the statement, as on the
    # resolver path; every other root field reports the error.
    failed = [root for root in statement.roots if root.name != "__typename"]
    errors = [
        GraphQLError(
            str(exc),
            nodes=[root.node],
            path=[root.key],
            original_error=exc if isinstance(exc, Exception) else None,
        )
        for root in failed
    ]
    nullable = all(not is_non_null_type(root.definition.type) for root in failed)
    data = (
        {root.key: None if root.name != "__typename" else "Query" for root in statement.roots}
        if nullable
        else None
    )
    return GraphQLExecutionResult(data=data, errors=errors)


def _cursors(text: str, statement: Statement, args: Arguments) -> str:
    def cursor(match: re.Match[str]) -> str:
        slot = statement.cursors[int(match.group(1))]
        return json.dumps(slot.cursor(args, match.group(2)))

    return _MARKER.sub(cursor, text)
