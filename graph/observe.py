"""What one /graphql request did, for the operator: its request id (sent back in `X-Request-Id`
and on every error), and, when it ends, its figures for /metrics (graph/metrics.py), its JSON
log line (FILMGRAPH_LOG_FORMAT=json) and its span (graph/tracing.py).

The view and the fast path fill in the operation and its outcome as they learn them; SQL
statements are counted by a query logger on each pool connection (`count_statement`), which
asyncpg calls just after a statement ends, in the context of the request that ran it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson
from asyncpg.connection import LoggedQuery
from graphql import DocumentNode, OperationDefinitionNode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from graph.metrics import Metrics
    from graph.tracing import Tracing

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
# An incoming request id is kept when it is this plain (a load balancer's or a client's trace
# id, a UUID); any other is replaced, so a log line never carries what a client made up.
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")

# An operation name is the client's, up to a document's (or a body's) length: the log line and
# the span carry this much of it (log collectors split lines past 16 KB, which then are not JSON).
SHOWN_NAME_CHARS = 200

# The outcome of a response that carries no GraphQL error code, by its HTTP status.
_STATUS_CODES = {
    200: "OK",
    304: "OK",
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "REQUEST_TOO_LARGE",
    414: "URI_TOO_LONG",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


@dataclass
class Observed:
    """One request, as it goes."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    operation_type: str = ""
    operation_name: str = ""
    document: str | None = None
    cost: int | None = None
    # The first error's code, or OK; None until the view has seen a GraphQL result.
    code: str | None = None
    statements: int = 0
    sql_seconds: float = 0.0
    status: int = 0
    span: Any = None  # the request's span and its tracer, when tracing
    tracer: Any = None

    def operation(self, document: DocumentNode | None, name: str | None, query: str) -> None:
        """The operation the request ran (the first of a batch)."""
        if self.document is not None:
            return
        self.document = query
        self.operation_name = name or ""
        if document is None:
            return
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode) and (
                name is None or (definition.name is not None and definition.name.value == name)
            ):
                self.operation_type = definition.operation.value
                if definition.name is not None:
                    self.operation_name = definition.name.value
                return

    def outcome(self, codes: list[object]) -> None:
        code = next((c for c in codes if isinstance(c, str)), None)
        if code is None and codes:
            code = "INTERNAL"
        if self.code in (None, "OK"):
            self.code = code or "OK"

    def shown_name(self) -> str:
        """The operation name, cut to SHOWN_NAME_CHARS, for the log line and the span."""
        return self.operation_name[:SHOWN_NAME_CHARS]

    def final_code(self) -> str:
        if self.code is not None and (self.code != "OK" or self.status == 200):
            return self.code
        return _STATUS_CODES.get(self.status, f"HTTP_{self.status}")

    def document_hash(self) -> str | None:
        if self.document is None:
            return None
        return hashlib.sha256(self.document.encode("utf-8", "surrogatepass")).hexdigest()


CURRENT: ContextVar[Observed | None] = ContextVar("observed_request", default=None)


def current() -> Observed | None:
    return CURRENT.get()


def count_statement(record: Any) -> None:
    """asyncpg's query logger (Connection.add_query_logger): a statement of the request whose
    context this runs in (asyncpg schedules it from the statement's task) has ended."""
    observed = CURRENT.get()
    if observed is None:
        return  # a statement outside any request: the schema gate, the data version
    observed.statements += 1
    observed.sql_seconds += record.elapsed
    if observed.span is not None:
        from graph.tracing import statement_span

        statement_span(record)


@contextlib.contextmanager
def statement(query: str) -> Iterator[None]:
    """Count and time a statement asyncpg's query logger does not see: the run of a statement
    prepared with Connection.prepare (graph/discovery/pages.py)."""
    if CURRENT.get() is None:
        yield
        return
    start = time.monotonic()
    error: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        error = exc
        raise
    finally:
        elapsed = time.monotonic() - start
        count_statement(LoggedQuery(query, (), None, elapsed, error, None, None))


def request_id(headers: Iterable[tuple[bytes, bytes]], new: Callable[[], str] | None = None) -> str:
    """The request's id: the X-Request-Id it came with, when plain enough, else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SANE_ID.fullmatch(value):
                given: str = value.decode()
                return given
            break
    return new() if new is not None else secrets.token_hex(8)


def request_ids() -> Callable[[], str]:
    """New request ids: 16 hex digits, a random half of this process's and a count. Unique
    within the process, and across processes and restarts as random ids of 32 bits are;
    reading urandom for each (secrets.token_hex) took a tenth of the cost of observing one."""
    prefix = secrets.token_hex(4)
    count = itertools.count(secrets.randbelow(1 << 32))
    return lambda: f"{prefix}{next(count) & 0xFFFFFFFF:08x}"


class Observe:
    """The /graphql endpoint, with each request given an id and observed until it ends."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics | None,
        json_log: bool,
        tracing: Tracing | None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.json_log = json_log
        self.tracing = tracing
        self.new_id = request_ids()
        self.front = app if isinstance(app, Front) and tracing is None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def run(sending: Send) -> bool:
            await self.app(scope, receive, sending)
            return True

        await self.observed(scope, send, run)

    async def hit(self, scope: Scope, send: Send, vary: bytes = b"accept") -> bool:
        """Whether the cache in front (graph/httpcache.py CacheFront) answered the request,
        observed as any other request: graph/app.py's App asks this before the middleware. A
        miss records nothing (the request goes on through __call__, which observes it), and
        with tracing on every request goes through __call__, so that a miss makes no span."""
        front = self.front
        if front is None:
            return False
        return await self.observed(scope, send, lambda sending: front.hit(scope, sending, vary))

    async def observed(
        self, scope: Scope, send: Send, run: Callable[[Send], Awaitable[bool]]
    ) -> bool:
        """Run `run(sending)` as the request, observed: `sending` adds X-Request-Id to the
        answer; the request is recorded unless `run` says it did not answer (False). Also
        the lane's (graph/lane.py)."""
        observed = Observed(request_id(scope["headers"], self.new_id))
        token = CURRENT.set(observed)
        header = (REQUEST_ID_HEADER, observed.request_id.encode())

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                observed.status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        answered = True  # and so recorded, when run raises
        try:
            if self.tracing is None:
                answered = await run(sending)
            else:
                with self.tracing.request(scope, observed):
                    answered = await run(sending)
        finally:
            CURRENT.reset(token)
            if answered and (self.metrics is not None or self.json_log):
                seconds = time.perf_counter() - observed.started
                # Recorded once the event loop has run what it was given before: asyncpg
                # calls the statement counter (count_statement) with call_soon as each of the
                # request's statements ends, so every call comes first. (Waiting for them here
                # instead, a turn of the loop, resumed every coroutine of the request: 7 us of
                # a film page.)
                asyncio.get_running_loop().call_soon(self._record, scope, observed, seconds)
        return answered

    def _record(self, scope: Scope, observed: Observed, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.request(observed, seconds)
        if self.json_log:
            log.info(log_line(scope, observed, seconds))


@runtime_checkable
class Front(Protocol):
    """What answers a request early when it can (graph/httpcache.py CacheFront)."""

    async def hit(self, scope: Scope, send: Send, vary: bytes = b"accept") -> bool: ...


def log_line(scope: Scope, observed: Observed, seconds: float) -> str:
    """The request's JSON log line (FILMGRAPH_LOG_FORMAT=json)."""
    client = scope.get("client")
    return orjson.dumps(
        {
            "event": "request",
            "requestId": observed.request_id,
            "method": scope["method"],
            "operationType": observed.operation_type or None,
            "operationName": observed.shown_name() or None,
            "documentHash": observed.document_hash(),
            "cost": observed.cost,
            "sqlStatements": observed.statements,
            "sqlMs": round(observed.sql_seconds * 1000, 3),
            "durationMs": round(seconds * 1000, 3),
            "status": observed.status,
            "code": observed.final_code(),
            "client": client[0] if client else None,
        }
    ).decode()


class JsonFormatter(logging.Formatter):
    """Every log record as one JSON object per line: the request lines above as they are
    (their message is JSON already), any other with its level, logger and message."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == __name__ and message.startswith("{"):
            return message
        line: dict[str, object] = {
            "event": "log",
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()
