"""OpenTelemetry tracing (FILMGRAPH_TRACING; the SDK is the `filmgraph[otel]` extra).

A span per /graphql request, named by its operation's type and name (`query FilmPage`), with
children for parse, validate and execute (schema extension `Traced`) and one per SQL
statement, after OpenTelemetry's semantic conventions (http.*, graphql.operation.*, db.*).
Off, nothing of this runs and OpenTelemetry is not imported: the view has no extension, the
endpoint no span, and a statement's logger stops at `observed.span is None`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from importlib import metadata
from typing import TYPE_CHECKING, Any

from strawberry.extensions import SchemaExtension

from graph.observe import Observed, current

if TYPE_CHECKING:
    from starlette.types import Scope

DB_SYSTEM = "postgresql"


class Tracing:
    """Spans of requests, on `provider` (an SDK TracerProvider) or the global one."""

    def __init__(self, provider: Any = None) -> None:
        from opentelemetry import trace

        self.trace = trace
        provider = provider or trace.get_tracer_provider()
        self.tracer = provider.get_tracer("filmgraph", metadata.version("filmgraph"))

    @contextlib.contextmanager
    def request(self, scope: Scope, observed: Observed) -> Iterator[None]:
        client = scope.get("client")
        server = scope.get("server")
        attributes: dict[str, Any] = {
            "http.request.method": scope["method"],
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
            "filmgraph.request_id": observed.request_id,
        }
        if client:
            attributes["client.address"] = client[0]
        if server:
            attributes["server.address"], attributes["server.port"] = server[0], server[1]
        kind = self.trace.SpanKind.SERVER
        with self.tracer.start_as_current_span(
            "GraphQL Operation", kind=kind, attributes=attributes, record_exception=True
        ) as span:
            observed.span = span
            observed.tracer = self.tracer
            try:
                yield
            finally:
                _finish(self.trace, span, observed)


def _finish(trace: Any, span: Any, observed: Observed) -> None:
    if observed.operation_type:
        span.update_name(f"{observed.operation_type} {observed.shown_name()}".strip())
        span.set_attribute("graphql.operation.type", observed.operation_type)
    if observed.operation_name:
        span.set_attribute("graphql.operation.name", observed.shown_name())
    if observed.cost is not None:
        span.set_attribute("filmgraph.cost", observed.cost)
    span.set_attribute("http.response.status_code", observed.status)
    code = observed.final_code()
    if code != "OK":
        span.set_attribute("error.type", code)
    if observed.status >= 500:
        span.set_status(trace.Status(trace.StatusCode.ERROR, code))


def statement_span(record: Any) -> None:
    """A span for a SQL statement that has just ended (asyncpg's LoggedQuery), a child of the
    span current where it ran, timed by the statement's own clock."""
    observed = current()
    if observed is None or observed.tracer is None:
        return
    from opentelemetry import trace

    end = time.time_ns()
    start = end - int(record.elapsed * 1e9)
    words = record.query.split(None, 1)
    attributes: dict[str, Any] = {
        "db.system": DB_SYSTEM,
        "db.system.name": DB_SYSTEM,
        "db.query.text": record.query,
        "db.statement": record.query,
    }
    if record.conn_addr and isinstance(record.conn_addr, tuple):
        attributes["server.address"] = str(record.conn_addr[0])
        attributes["server.port"] = int(record.conn_addr[1])
    params = record.conn_params
    if params is not None and getattr(params, "database", None):
        attributes["db.namespace"] = params.database
        attributes["db.name"] = params.database
    span = observed.tracer.start_span(
        words[0].upper() if words else DB_SYSTEM,
        kind=trace.SpanKind.CLIENT,
        attributes=attributes,
        start_time=start,
    )
    if record.exception is not None:
        span.record_exception(record.exception)
        span.set_status(trace.Status(trace.StatusCode.ERROR, type(record.exception).__name__))
        span.set_attribute("error.type", type(record.exception).__name__)
    span.end(end_time=end)


class Traced(SchemaExtension):
    """Spans for parse, validate and execute, children of the request's span (in the schema
    only when tracing is on)."""

    @contextlib.contextmanager
    def _span(self, name: str) -> Iterator[None]:
        observed = current()
        if observed is None or observed.tracer is None:
            yield
            return
        with observed.tracer.start_as_current_span(name):
            yield

    def on_parse(self) -> Iterator[None]:
        with self._span("graphql.parse"):
            yield

    def on_validate(self) -> Iterator[None]:
        with self._span("graphql.validate"):
            yield

    def on_execute(self) -> Iterator[None]:
        with self._span("graphql.execute"):
            yield


@contextlib.contextmanager
def execute_span(tracer: Any) -> Iterator[None]:
    """The fast path's execute span (it skips Strawberry's pipeline, parse and validate)."""
    with tracer.start_as_current_span("graphql.execute"):
        yield


def provider_for(setting: str) -> Any:
    """The SDK TracerProvider that FILMGRAPH_TRACING names: `console` (spans as JSON on
    stdout) or `otlp` (OTLP over HTTP, configured by the OTEL_EXPORTER_OTLP_* variables)."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise SystemExit(
            f"FILMGRAPH_TRACING={setting} needs the OpenTelemetry SDK: pip install "
            "'filmgraph[otel]'"
        ) from None
    exporter: Any
    if setting == "console":
        exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError:
            raise SystemExit(
                "FILMGRAPH_TRACING=otlp needs the OTLP exporter: pip install 'filmgraph[otel]'"
            ) from None
        exporter = OTLPSpanExporter()
    # Named filmgraph unless OTEL_SERVICE_NAME names it.
    named = os.environ.get("OTEL_SERVICE_NAME")
    resource = Resource.create({} if named else {"service.name": "filmgraph"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
