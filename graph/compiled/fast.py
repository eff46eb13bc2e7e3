"""The fast path: a request for an operation already served compiled, answered without
Strawberry's request pipeline.

Parsing, validation and the operation's choice depend on the document alone, and passed when
the operation was first served (graph/compiled/run.py learns it then). What depends on the
variables is done again, by the same functions: their coercion, the cost (graph/cost.py), the
arguments' checks and parameters (graph/compiled/arguments.py). Then the same steps as the
view and the schema's extensions, in their order: one rate-limit point, the schema gate, the
request timeout, the cost's charge, the statement. The result leaves through the view's own
process_result and create_response, so errors, `extensions`, statuses and headers are those of
the normal path.

Anything else takes the normal path: another method or media type, a batch, `extensions` in
the request, variables that do not coerce, a cost over the limit, an argument the resolvers
refuse, a statement that may answer NOT_FOUND, one whose timeout the resolvers would answer
(several root fields, a graph question). Those checks come before anything is charged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from graphql import DocumentNode, GraphQLError
from graphql.execution.values import VariableValues, get_variable_values
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import ExecutionResult

from graph.compiled.arguments import Arguments
from graph.compiled.cache import Served, StatementCache, signature
from graph.compiled.plan import operation_of
from graph.compiled.run import prepare, run, timeouts_to_resolvers
from graph.compiled.sql import Statement
from graph.cost import cost_signature, operation_cost
from graph.envelope import check_variables_depth
from graph.errors import SERVICE_UNAVAILABLE, TIMEOUT
from graph.observe import current
from graph.ratelimit import Limiter, client_key, rate_limited
from graph.tracing import execute_span

if TYPE_CHECKING:
    from graph.view import GraphQLView

log = logging.getLogger(__name__)

# The request timeout's error (graph/view.py says the same).
TIMEOUT_MESSAGE = "The request took too long; ask for less (smaller pages, fewer lists)."


@dataclass
class Ready:
    """A request the fast path takes: everything checked, nothing charged yet."""

    query: str
    statement: Statement
    params: list[Any]
    args: Arguments
    cost: int
    document: DocumentNode
    name: str | None


async def answer(view: GraphQLView, request: Request) -> Response | None:
    """The response to a request for an operation served compiled before; None when the
    normal path must answer it (nothing has been charged then)."""
    if request.method != "POST" or not takes(view, request.headers):
        return None
    ready = prepared(view, await request.body(), request.app.state.cursor_key)
    if ready is None:
        return None
    begin(view, ready)
    address = request.client.host if request.client else None
    client = client_key(request.headers.get("x-api-key"), address, view.settings.api_keys)
    result = await execute(
        view, ready, view.limiter(request), client, request.state.database, request.state
    )
    return await respond(view, request, result)


def takes(view: GraphQLView, headers: Mapping[str, str]) -> bool:
    """Whether a POST with these headers may be the fast path's, before its body is read: the
    compiled execution on, an operation served compiled already, JSON, no streaming."""
    if not view.schema.statement_cache.served or view.settings.execution != "compiled":
        return False
    # The media type, as Strawberry reads it (its parameters are not it): `text/plain;
    # profile=application/json` is refused there.
    if "application/json" not in headers.get("content-type", "").split(";", 1)[0].strip():
        return False
    accept = headers.get("accept", "")
    return "text/event-stream" not in accept and "multipart/mixed" not in accept


def begin(view: GraphQLView, ready: Ready) -> None:
    """Count the request as the fast path's, and tell the request's observer its operation."""
    view.schema.statement_cache.fast_answers += 1
    documents = view.schema.document_cache
    documents.parse_hits += 1
    documents.validation_hits += 1
    observed = current()
    if observed is not None:
        observed.operation(ready.document, ready.name, ready.query)
        observed.cost = ready.cost


async def respond(view: GraphQLView, request: Request, result: ExecutionResult) -> Response:
    """The response for the result, as the view makes it (errors, statuses, headers)."""
    sub_response = await view.get_sub_response(request)
    if result.errors:
        view.schema.process_errors(result.errors)
    processed = await view.process_result(request, result)
    return view.create_response(processed, sub_response)


async def execute(
    view: GraphQLView,
    ready: Ready,
    limiter: Limiter | None,
    client: str,
    database: Any,
    state: Any,
) -> ExecutionResult:
    """The operation's result, traced when the request is."""
    observed = current()
    if observed is not None and observed.tracer is not None:
        with execute_span(observed.tracer):
            return await _execute(view, ready, limiter, client, database, state)
    return await _execute(view, ready, limiter, client, database, state)


def prepared(view: GraphQLView, raw: bytes, cursor_key: bytes) -> Ready | None:
    """The request whose body is `raw`, ready to run; None when the normal path must take it
    (nothing is charged or counted here)."""
    cache = view.schema.statement_cache
    try:
        # orjson, a third of the json module's time; what it refuses that json takes (an
        # integer past 64 bits, a lone surrogate, UTF-16) takes the normal path.
        body = orjson.loads(raw)
    except Exception:  # the normal path says what is wrong with it
        return None
    if not isinstance(body, dict) or body.get("extensions") is not None:
        return None
    if not body.keys() <= {"query", "operationName", "variables", "extensions"}:
        return None
    query, name, variables = body.get("query"), body.get("operationName"), body.get("variables")
    if not isinstance(query, str) or not isinstance(name, str | None):
        return None
    if not isinstance(variables, dict | None):
        return None
    try:
        # A lone surrogate has no UTF-8: the normal path answers.
        digest = hashlib.sha256(query.encode()).digest()
        served = cache.known(digest, name)
        # The parsed document, validated without errors, as the normal path would find it.
        entry = view.schema.document_cache.get(query)
        if served is None or entry is None or entry.errors != []:
            return None
        check_variables_depth(variables, view.settings.max_variables_depth)
        return _prepared(
            view, cache, Known(query, entry.document, digest, served), variables or {}, cursor_key
        )
    except Exception:
        return None


@dataclass
class Known:
    """An operation served compiled before, as this request names it."""

    query: str
    document: DocumentNode
    digest: bytes
    served: Served


def _prepared(
    view: GraphQLView,
    cache: StatementCache,
    known: Known,
    variables: dict[str, Any],
    cursor_key: bytes,
) -> Ready | None:
    schema = view.schema._schema
    name = known.served.name
    operation = operation_of(known.document, name)
    coerced = get_variable_values(
        schema,
        operation.variable_definitions or (),
        variables,
        max_errors=1,
        hide_suggestions=True,
    )
    if not isinstance(coerced, VariableValues):
        return None
    # Computed once for each shape of the variables the cost reads: the film page's slug is
    # only given or not.
    info = known.served.info
    cost_key = (known.digest, name, cost_signature(coerced.coerced, info.costed))
    cost = cache.cost(cost_key)
    if cost is None:
        cost = operation_cost(schema, known.document, operation, coerced)
        cache.learn_cost(cost_key, cost)
    if cost > view.settings.max_cost:
        return None
    key = (known.digest, name, signature(coerced.coerced, known.served.info.steering))
    args = Arguments(schema, coerced)
    args.memo["cursor_key"] = cursor_key
    prepared = prepare(cache, key, args)
    # A statement of several root fields, or with a graph question, that times out goes to
    # the resolvers (see run()), which would charge the request twice from here: those take
    # the normal path.
    if prepared is None or prepared[0].may_refuse or timeouts_to_resolvers(prepared[0]):
        return None
    statement, params = prepared
    return Ready(known.query, statement, params, args, cost, known.document, name)


async def _execute(
    view: GraphQLView,
    ready: Ready,
    limiter: Limiter | None,
    client: str,
    database: Any,
    state: Any,
) -> ExecutionResult:
    """The steps of GraphQLView.execute_single and the schema's extensions after parsing and
    validation, in their order. `state`, the request's, is told the document (for the
    Cache-Tag of a cached answer)."""
    if limiter is not None:
        wait = await limiter.charge(client, 1)
        if wait is not None:
            return ExecutionResult(data=None, errors=[rate_limited(limiter, wait)])
    refusal = await view.schema_gate.refusal(database)
    if refusal is not None:
        error = GraphQLError(refusal, extensions={"code": SERVICE_UNAVAILABLE})
        return ExecutionResult(data=None, errors=[error])
    try:
        # Trusted documents may be required (graph/persisted.py).
        state.document = view.documents.resolve(ready.query, None)
    except GraphQLError as untrusted:
        return ExecutionResult(data=None, errors=[untrusted])
    extensions: dict[str, Any] = {"cost": ready.cost}
    limit = view.settings.request_timeout_ms / 1000
    try:
        async with asyncio.timeout(limit) as deadline:
            if limiter is not None and ready.cost:
                wait = await limiter.charge(client, ready.cost)
                if wait is not None:
                    errors = [rate_limited(limiter, wait)]
                    return ExecutionResult(data=None, errors=errors, extensions=extensions)
            result = await run(database, ready.statement, ready.params, ready.args)
    except TimeoutError:
        if not deadline.expired():
            raise
        log.warning("request timed out limit_ms=%d", view.settings.request_timeout_ms)
        error = GraphQLError(TIMEOUT_MESSAGE, extensions={"code": TIMEOUT})
        return ExecutionResult(data=None, errors=[error], extensions=extensions)
    assert result is not None  # the statement cannot refuse (Ready)
    if view.settings.explain_execution:
        extensions["execution"] = "compiled"
    return ExecutionResult(data=result.data, errors=result.errors, extensions=extensions)
