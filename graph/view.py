"""The /graphql view: Strawberry's ASGI view with this server's request checks, limits, error
codes and HTTP statuses (GraphQL over HTTP)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from graph.compiled import fast
from graph.compiled.run import RawJson
from graph.context import Context
from graph.cost import OPERATION_COST
from graph.db import RequestConnection
from graph.envelope import (
    GRAPHQL_RESPONSE_JSON,
    check_variables_depth,
    decode_json,
    refusal,
)
from graph.errors import (
    DOMAIN_CODES,
    RATE_LIMITED,
    SERVICE_UNAVAILABLE,
    TIMEOUT,
    classify,
    in_document_order,
)
from graph.graphiql import page as graphiql_page
from graph.httpcache import HttpCache, no_store
from graph.loaders import Loaders
from graph.observe import current
from graph.persisted import NO_TRUSTED_DOCUMENTS, Documents
from graph.ratelimit import Limiter, client_key, rate_limited
from graph.schema import OPERATION_NAME_GIVEN, Schema, create_schema
from graph.schema_gate import SchemaGate
from graph.settings import Settings
from graph.variables import reworded_all

log = logging.getLogger(__name__)

# How long a client refused for load (503) is asked to wait before it tries again.
RETRY_AFTER_S = 2


class SubResponse(Response):
    """What the view decides about one HTTP response while it processes the results."""

    graphql_response_json = False


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's ASGI view, with fresh loaders per request on the app's pool."""

    schema: Schema

    def __init__(
        self,
        settings: Settings,
        rate_limiter: Limiter | None,
        schema_gate: SchemaGate | None = None,
        documents: Documents | None = None,
        http_cache: HttpCache | None = None,
        *,
        traced: bool = False,
    ) -> None:
        super().__init__(
            create_schema(settings, traced=traced),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,
        )
        self.settings = settings
        self.schema_gate = schema_gate or SchemaGate()
        self.rate_limiter = rate_limiter
        self.documents = documents or Documents(
            NO_TRUSTED_DOCUMENTS, trusted_only=False, apq_bytes=settings.apq_cache_bytes
        )
        self.http_cache = http_cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            # The route allows HEAD with GET (Starlette adds it), and Strawberry refuses it:
            # answered as GET, and uvicorn, which knows the request was HEAD, drops the body.
            scope = {**scope, "method": "GET"}
        if scope["method"] == "GET" and self.http_cache is not None:
            # A GET may be answered from the cache (or with 304) before anything is parsed.
            await self.http_cache.serve(scope, receive, send, self._answer)
        else:
            await self._answer(scope, receive, no_store(send))

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope=scope, receive=receive)
        state = request.app.state
        database = state.pool.for_request(getattr(state, "replicas", None))
        response = await self._respond(request, database)
        if database.replica_failed:
            response = await self.answer_again(request)
        await response(scope, receive, send)

    async def answer_again(self, request: Request) -> Response:
        """The answer from the primary to a request whose replica failed under it (gone, or
        a statement cancelled by the replay of the primary's changes): the first answer may
        hold that error (graph/replicas.py). The body was read once, and is kept."""
        log.info("replica failed under a request, answered again from the primary")
        # Charged once, and counted by the answer the client gets, not the one dropped.
        request.state.charged = True
        observed = current()
        if observed is not None:
            observed.code = None
        return await self._respond(request, request.app.state.pool.for_request())

    async def _respond(self, request: Request, database: RequestConnection) -> Response:
        # The request's one connection (see get_context), given back before the answer is
        # sent, and whatever ended the request: an answer, an error, a cancellation.
        request.state.database = database
        try:
            # An operation served compiled before skips Strawberry's pipeline (same answer).
            response: Response = await fast.answer(self, request) or await self.run(request)
        except HTTPException as exc:
            # Strawberry answers these in plain text; a GraphQL client reads them as any other
            # answer. A browser asking for a GraphiQL that is switched off gets a plain 404.
            if exc.status_code == 404:
                response = PlainTextResponse(exc.reason, status_code=404)
            else:
                response = refusal(exc.status_code, exc.reason, request.headers.get("accept", ""))
            if exc.status_code == 405:
                # Only a mutation sent with GET is refused here (the route refuses other
                # methods, with an Allow of its own): it may be sent with POST.
                response.headers["allow"] = "POST"
        finally:
            if database.settled():
                await database.release()
            else:
                # Shielded: a second cancellation while it waits for its turn (a statement
                # still running) must not leave the connection taken.
                await asyncio.shield(database.release())
        return response

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A persisted GET sends no `query`, only its hash in `extensions`.
        return "extensions" not in request.query_params and bool(
            super().should_render_graphql_ide(request)
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's page loads GraphiQL from a CDN: blank without internet. Ours loads the
        # copy vendored in the package.
        return graphiql_page()

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        address = request.client.host if request.client else None
        return Context(
            loaders=Loaders(request.state.database),
            cursor_key=request.app.state.cursor_key,
            client=client_key(request.headers.get("x-api-key"), address, self.settings.api_keys),
            rate_limiter=self.limiter(request),
        )

    def limiter(self, request: Request | WebSocket) -> Limiter | None:
        """The limiter to charge for `request`: none when it is answered again from the
        primary, after a replica failed under it (see _answer), its charges already made."""
        return None if getattr(request.state, "charged", False) else self.rate_limiter

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = SubResponse()
        sub_response.status_code = None  # type: ignore[assignment]
        del sub_response.headers["content-length"]
        # GraphQL over HTTP: a client that accepts application/graphql-response+json gets it,
        # with 4xx for a request that never reached execution; others get application/json
        # and 200 for every GraphQL result.
        sub_response.graphql_response_json = GRAPHQL_RESPONSE_JSON in request.headers.get(
            "accept", ""
        )
        request.state.sub_response = sub_response
        return sub_response

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        # The one exit of every HTTP result: each error leaves with a stable code, and an
        # unexpected one without its internals.
        observed = current()
        if result.errors:
            request_id = observed.request_id if observed else secrets.token_hex(8)
            result.errors = in_document_order(
                [
                    classify(e, request_id, suggestions=self.settings.suggestions)
                    for e in result.errors
                ]
            )
        if observed is not None:
            observed.outcome([(e.extensions or {}).get("code") for e in result.errors or ()])
        processed = await super().process_result(request, result)
        sub_response = getattr(request.state, "sub_response", None)
        if isinstance(sub_response, SubResponse):
            _set_status(sub_response, result, processed)
        return processed

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        if isinstance(sub_response, SubResponse) and sub_response.graphql_response_json:
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        return response

    def encode_json(self, data: object) -> bytes:
        # A compiled operation's data is JSON text from PostgreSQL: written as is. The rest
        # goes through orjson, which writes UTF-8 as is where json.dumps escapes non-ASCII.
        if isinstance(data, dict) and isinstance(data.get("data"), RawJson):
            return _with_raw_data(data)
        if isinstance(data, list) and any(
            isinstance(d, dict) and isinstance(d.get("data"), RawJson) for d in data
        ):
            return b"[" + b",".join(self.encode_json(d) for d in data) + b"]"
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return decode_json(data)

    async def parse_http_body(self, request: Any) -> Any:
        # A body that is JSON but not a GraphQL request (null, a string, invalid UTF-8, nesting
        # deep enough to exhaust the parser) is the client's mistake: 400, not 500.
        try:
            parsed = await super().parse_http_body(request)
        except (AttributeError, TypeError, ValueError, RecursionError) as exc:
            log.info("malformed request body error=%r", exc)
            raise HTTPException(
                400, "Malformed request: expected a JSON object with a `query` string"
            ) from None
        for data in parsed if isinstance(parsed, list) else [parsed]:
            # Strawberry checks the types of a single request's members, not those of each
            # request of a batch: a `query` list there reached the parser, a 500.
            if not isinstance(data.query, str | None):
                raise HTTPException(400, "Malformed request: `query` must be a string")
            if data.query is not None and len(data.query) > self.settings.max_document_chars:
                # The lexer reads a document character by character, before the token limit
                # can stop it: 1 MB of comment, string or whitespace took 0.1-0.5 s.
                raise HTTPException(
                    413, f"Document longer than {self.settings.max_document_chars} characters"
                )
            if not isinstance(data.operation_name, str | None):
                raise HTTPException(400, "Malformed request: `operationName` must be a string")
            if not isinstance(data.variables, dict | None):
                raise HTTPException(400, "Malformed request: `variables` must be an object")
            if not isinstance(data.extensions, dict | None):
                raise HTTPException(400, "Malformed request: `extensions` must be an object")
            check_variables_depth(data.variables, self.settings.max_variables_depth)
        return parsed

    async def execute_single(self, *args: Any, **kwargs: Any) -> Any:
        # The whole operation runs under a wall-clock limit. Cancelling it cancels its loads
        # (a DataLoader batch stops once no caller waits for it) and so their statements.
        context = kwargs.get("context")
        request_data = kwargs.get("request_data")
        OPERATION_NAME_GIVEN.set(getattr(request_data, "operation_name", None) is not None)
        if isinstance(context, Context) and context.rate_limiter is not None:
            # One point per operation up front, so that documents that never run (invalid,
            # refused) still count; its cost is charged when it runs.
            wait = await context.rate_limiter.charge(context.client, 1)
            if wait is not None:
                return ExecutionResult(data=None, errors=[rate_limited(context.rate_limiter, wait)])
        if isinstance(context, Context):
            refusal = await self.schema_gate.refusal(context.loaders.pool)
            if refusal is not None:
                error = GraphQLError(refusal, extensions={"code": SERVICE_UNAVAILABLE})
                return ExecutionResult(data=None, errors=[error])
        if request_data is not None:
            # A persisted document's hash becomes its text here, before anything parses it.
            try:
                document = self.documents.resolve(request_data.query, request_data.extensions)
            except GraphQLError as error:
                return ExecutionResult(data=None, errors=[error])
            kwargs["request_data"] = dataclasses.replace(request_data, query=document)
            request = kwargs.get("request")
            if isinstance(request, Request):
                # For the Cache-Tag of the answer (graph/httpcache.py).
                request.state.document = document
        limit = self.settings.request_timeout_ms / 1000
        OPERATION_COST.set(None)
        try:
            async with asyncio.timeout(limit) as deadline:
                result = await self._execute_single(*args, **kwargs)
        except TimeoutError:
            if not deadline.expired():
                raise
            log.warning("request timed out limit_ms=%d", self.settings.request_timeout_ms)
            message = "The request took too long; ask for less (smaller pages, fewer lists)."
            # The operation was costed before it ran, but the extension that reports the cost
            # was cancelled with it.
            cost = OPERATION_COST.get()
            return ExecutionResult(
                data=None,
                errors=[GraphQLError(message, extensions={"code": TIMEOUT})],
                extensions=None if cost is None else {"cost": cost},
            )
        finally:
            self._observe(kwargs.get("request_data"))
        if isinstance(result, ExecutionResult) and result.errors and request_data is not None:
            variables = request_data.variables
            result.errors = reworded_all(result.errors, variables)
        return result

    def _observe(self, request_data: Any) -> None:
        """The request's operation and cost, for its figures and log line (graph/observe.py)."""
        observed = current()
        if observed is None or request_data is None or not isinstance(request_data.query, str):
            return
        observed.cost = OPERATION_COST.get()
        entry = self.schema.document_cache.entries.get(request_data.query)
        document = entry.document if entry is not None else None
        observed.operation(document, request_data.operation_name, request_data.query)

    async def _execute_single(self, *args: Any, **kwargs: Any) -> Any:
        # GraphQL over HTTP: a mutation sent with GET is 405 Method Not Allowed (Strawberry
        # answers 400).
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                raise HTTPException(405, exc.reason) from exc
            raise


def _set_status(sub_response: SubResponse, result: ExecutionResult, processed: Any) -> None:
    """The HTTP status of a GraphQL result: 429 or 503 with Retry-After when it was refused
    for the rate limit or when nothing could be served; with graphql-response+json, 400 for a
    request error (parse, validation, limits, variables). A request that failed before
    execution has no `data` at all, whatever the media type (the GraphQL spec, "Response")."""
    errors = result.errors or []
    codes = [(e.extensions or {}).get("code") for e in errors]
    # A request that timed out had begun to execute: it keeps its `"data": null`.
    before_execution = result.data is None and errors and all(e.path is None for e in errors)
    if before_execution and not _timed_out(errors):
        processed.pop("data", None)
    if RATE_LIMITED in codes:
        sub_response.status_code = 429
        wait = (errors[codes.index(RATE_LIMITED)].extensions or {}).get("retryAfter")
        sub_response.headers["retry-after"] = str(wait)
    elif codes and set(codes) == {SERVICE_UNAVAILABLE} and not any((result.data or {}).values()):
        sub_response.status_code = 503
        sub_response.headers["retry-after"] = str(RETRY_AFTER_S)
    elif sub_response.graphql_response_json and _timed_out(errors):
        # GraphQL over HTTP: a response without `data` takes a 4xx or 5xx. The request was
        # ended, not answered in part, so it has none; 504, as a gateway whose upstream (the
        # database) did not answer in time.
        sub_response.status_code = 504
        processed.pop("data", None)
    elif (
        sub_response.graphql_response_json
        and result.data is None
        and codes
        and all(e.path is None for e in errors)
        and not DOMAIN_CODES.intersection(codes)
    ):
        sub_response.status_code = 400
        processed.pop("data", None)


def _with_raw_data(response: dict[str, Any]) -> bytes:
    parts = [
        b'"data":' + value.encode()
        if key == "data"
        else orjson.dumps(key) + b":" + orjson.dumps(value)
        for key, value in response.items()
    ]
    return b"{" + b",".join(parts) + b"}"


def _timed_out(errors: list[GraphQLError]) -> bool:
    """The whole request ran past its wall-clock limit (a statement timeout is a field error,
    with a path, and the rest of the answer stands)."""
    return any(e.path is None and (e.extensions or {}).get("code") == TIMEOUT for e in errors)
