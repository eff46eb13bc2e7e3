"""/metrics: the server's figures in the Prometheus text format (prometheus-client).

Each app counts in a registry of its own. With `serve --workers N` every worker writes its
figures to files in one directory of the server's (prometheus-client's multiprocess mode, see
`across_workers`), and whichever worker answers a scrape sums them all: the figures are the
server's, not one worker's. A request's figures are recorded once, when it ends
(graph/observe.py): a counter and three histograms, and the few counters kept as plain
integers by the caches and the pool, carried over by their change since the last request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from graph.db import CONNECTION_ERRORS, BoundedPool, sql

if TYPE_CHECKING:
    from graph.admission import Admission
    from graph.doccache import DocumentCache
    from graph.httpcache import HttpCache
    from graph.observe import Observed
    from graph.replicas import Replicas

log = logging.getLogger(__name__)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Operation names are the client's: past this many distinct ones per process, the rest are
# counted as OTHER, so that a client cannot grow the server's memory and the scrape without
# bound; so is an operationName the document does not define. Names are cut to NAME_CHARS.
MAX_OPERATIONS = 100
NAME_CHARS = 80
OTHER = "OTHER"
ANONYMOUS = "anonymous"

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SQL_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0)
STATEMENT_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34)


class ProcessId:
    """This process's id for prometheus-client, which asks for it before every write of a
    figure, to notice a fork (a worker then writes files of its own): os.getpid() is a system
    call, and a request writes a dozen figures. Read once, and again in a child after a fork."""

    def __init__(self) -> None:
        self.value = os.getpid()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self.value = os.getpid()

    def __call__(self) -> int:
        return self.value


# One per process: a fork updates it (register_at_fork cannot be undone, so not one per server).
PROCESS_ID = ProcessId()


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_DIR))


@contextlib.contextmanager
def across_workers() -> Iterator[str]:
    """For `serve --workers N`, around forking the workers: a fresh directory for their
    figures (so a scrape never sums a previous server's), removed when the server stops."""
    directory = tempfile.mkdtemp(prefix="filmgraph-metrics-")
    previous = os.environ.get(MULTIPROCESS_DIR)
    previous_class = values.ValueClass
    os.environ[MULTIPROCESS_DIR] = directory
    # prometheus-client picks the kind of value once, when it is imported.
    values.ValueClass = values.MultiProcessValue(PROCESS_ID)  # type: ignore[no-untyped-call]
    try:
        yield directory
    finally:
        values.ValueClass = previous_class
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIR, None)
        else:
            os.environ[MULTIPROCESS_DIR] = previous
        shutil.rmtree(directory, ignore_errors=True)


class Metrics:
    """The metrics of one app, and what /metrics answers."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "filmgraph_requests",
            "GraphQL requests answered, by operation name and outcome code (OK or the first "
            "error's extensions.code)",
            ["operation", "code"],
            registry=r,
        )
        self.duration = Histogram(
            "filmgraph_request_duration_seconds",
            "Time from a request's arrival to its answer, by operation name",
            ["operation"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.statements = Histogram(
            "filmgraph_request_sql_statements",
            "SQL statements one request ran",
            buckets=STATEMENT_BUCKETS,
            registry=r,
        )
        self.sql_duration = Histogram(
            "filmgraph_request_sql_duration_seconds",
            "Time one request's SQL statements took, added up",
            buckets=SQL_DURATION_BUCKETS,
            registry=r,
        )
        self.rate_limited = Counter(
            "filmgraph_rate_limited_requests",
            "Requests refused for the rate limit (429 RATE_LIMITED)",
            registry=r,
        )
        self.pool = Gauge(
            "filmgraph_pool_connections",
            "Database connections of the pool, by state (in_use, idle)",
            ["state"],
            multiprocess_mode="livesum",
            registry=r,
        )
        waits = Counter(
            "filmgraph_pool_waits",
            "Times a request found every connection in use and waited for one",
            registry=r,
        )
        self.busy = Counter(
            "filmgraph_busy_refusals",
            "Requests refused with 503 because the pool would not serve them in time "
            "(FILMGRAPH_POOL_QUEUE), most as soon as their head was read",
            registry=r,
        )
        self.batches = Counter(
            "filmgraph_coalesced_batches",
            "Batches of compiled requests that shared one statement (FILMGRAPH_COALESCE), by "
            "outcome (answered; failed: their requests got the error, or ran alone)",
            ["outcome"],
            registry=r,
        )
        self.coalesced = Counter(
            "filmgraph_coalesced_requests",
            "Compiled requests answered by a batch's statement (FILMGRAPH_COALESCE)",
            registry=r,
        )
        self.cache = Counter(
            "filmgraph_cache_lookups",
            "Lookups of the parse, validation and response caches, by result (hit, miss)",
            ["cache", "result"],
            registry=r,
        )
        self._operations: dict[str, Any] = {}
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._in_use = self.pool.labels("in_use")
        self._idle = self.pool.labels("idle")
        self._pool_seen = (-1, -1, 0)
        self._pool: Callable[[], tuple[int, int, int]] | None = None
        # Plain integers kept elsewhere (the caches, the pool), carried over by their change.
        self._counts: list[tuple[Any, Callable[[], int]]] = []
        self._seen: list[int] = []
        self._waits = waits

    def watch_pool(self, state: Callable[[], tuple[int, int, int]]) -> None:
        """The pool's (in use, idle, waits so far), read after every request."""
        self._pool = state

    def count(self, counter: Any, value: Callable[[], int]) -> None:
        self._counts.append((counter, value))
        self._seen.append(0)

    def watch_cache(self, cache: str, hits: Callable[[], int], misses: Callable[[], int]) -> None:
        self.count(self.cache.labels(cache, "hit"), hits)
        self.count(self.cache.labels(cache, "miss"), misses)

    def request(self, observed: Observed, seconds: float) -> None:
        """Record one request that has ended."""
        code = observed.final_code()
        operation = self._operation(observed)
        children = self._children.get((operation, code))
        if children is None:
            children = (self.requests.labels(operation, code), self.duration.labels(operation))
            self._children[(operation, code)] = children
        children[0].inc()
        children[1].observe(seconds)
        if observed.document is not None:
            self.statements.observe(observed.statements)
            self.sql_duration.observe(observed.sql_seconds)
        if code == "RATE_LIMITED":
            self.rate_limited.inc()
        self.refresh()

    def refresh(self) -> None:
        """Carry the caches' and the pool's figures over."""
        for i, (counter, value) in enumerate(self._counts):
            now = value()
            if now != self._seen[i]:
                if now > self._seen[i]:
                    counter.inc(now - self._seen[i])
                self._seen[i] = now
        if self._pool is not None:
            pool = self._pool()
            seen = self._pool_seen
            if pool != seen:
                if pool[:2] != seen[:2]:
                    self._in_use.set(pool[0])
                    self._idle.set(pool[1])
                if pool[2] > seen[2]:
                    self._waits.inc(pool[2] - seen[2])
                self._pool_seen = pool

    def _operation(self, observed: Observed) -> str:
        name = observed.operation_name
        if not name:
            return ANONYMOUS
        if not observed.operation_type:
            return OTHER  # an operationName the document does not define: the client's alone
        label = self._operations.get(name)
        if label is None:
            if len(self._operations) >= MAX_OPERATIONS:
                return OTHER  # not remembered: the names past the bound would grow memory
            label = self._operations[name] = name[:NAME_CHARS]
        return label

    def render(self, imports: dict[tuple[str, str], int] | None) -> bytes:
        """The text of a scrape: every worker's figures, and the rows imports wrote."""
        self.refresh()
        if multiprocess():
            registry = CollectorRegistry()
            MultiProcessCollector(registry, os.environ[MULTIPROCESS_DIR])  # type: ignore[no-untyped-call]
            text = generate_latest(registry)
        else:
            text = generate_latest(self.registry)
        if imports is not None:
            rows = CounterMetricFamily(
                "filmgraph_import_rows",
                "Rows imports have written, by table and outcome (inserted, updated, "
                "unchanged, rejected, deleted); kept in the database, so every process and "
                "server reports the same",
                labels=["table", "outcome"],
            )
            for (table, outcome), value in sorted(imports.items()):
                rows.add_metric([table, outcome], value)
            extra = CollectorRegistry()
            extra.register(_Fixed([rows]))
            text += generate_latest(extra)
        return text

    def authorized(self, request: Request) -> bool:
        return self.authorized_by(request.headers.get("authorization", ""))

    def authorized_by(self, authorization: str) -> bool:
        if self.token is None:
            return True
        return hmac.compare_digest(authorization.encode(), f"Bearer {self.token}".encode())


def watch(
    metrics: Metrics,
    documents: DocumentCache,
    http: HttpCache,
    admission: Admission,
    state: Any,
) -> None:
    """Carry the caches', admission's and the pool's counts into `metrics`; `state()` is the
    app's state, whose pool the lifespan opens."""
    metrics.count(metrics.busy, lambda: admission.refusals)

    def coalesced(figure: str) -> Callable[[], int]:
        found: list[Any] = []  # the pool's coalescer, once the lifespan has opened the pool

        def value() -> int:
            if not found:
                coalescer = getattr(getattr(state(), "pool", None), "coalescer", None)
                if coalescer is None:
                    return 0
                found.append(coalescer)
            figure_now: int = getattr(found[0], figure)
            return figure_now

        return value

    metrics.count(metrics.batches.labels("answered"), coalesced("batches"))
    metrics.count(metrics.batches.labels("failed"), coalesced("failed"))
    metrics.count(metrics.coalesced, coalesced("answered"))
    metrics.watch_cache("parse", lambda: documents.parse_hits, lambda: documents.parse_misses)
    metrics.watch_cache(
        "validation", lambda: documents.validation_hits, lambda: documents.validation_misses
    )
    metrics.watch_cache("response", lambda: http.hits, lambda: http.misses)

    def pool() -> tuple[int, int, int]:
        app = state()
        primary: BoundedPool | None = getattr(app, "pool", None)
        if primary is None:
            return (0, 0, 0)
        replicas: Replicas | None = getattr(app, "replicas", None)
        pools = [primary, *(r.pool for r in replicas.replicas)] if replicas else [primary]
        return (
            sum(p.holding for p in pools),
            sum(p.idle() for p in pools),
            sum(p.waits for p in pools),
        )

    metrics.watch_pool(pool)


# How long a scrape waits for the import totals before it answers without them.
IMPORT_ROWS_TIMEOUT_S = 1.0


async def import_rows(pool: BoundedPool) -> dict[tuple[str, str], int] | None:
    """The rows imports have written (migration 0018), None when the database does not say
    in time: the scrape still answers, with the process's own figures."""
    try:
        async with asyncio.timeout(IMPORT_ROWS_TIMEOUT_S):
            rows = await pool.fetch(sql("import_tally"))
    except (*CONNECTION_ERRORS, asyncpg.InternalClientError) as exc:
        log.warning("import totals unavailable for /metrics error=%r", exc)
        return None
    return {(r["table_name"], r["outcome"]): r["rows"] for r in rows}


# A scrape's request, on the port of its own: its head within these bounds.
HEAD_BYTES = 16_384
HEAD_TIMEOUT_S = 5.0


async def serve_separately(
    metrics: Metrics, host: str, port: int, pool: Callable[[], BoundedPool]
) -> asyncio.Server:
    """/metrics on a port of its own (FILMGRAPH_METRICS_PORT): one GET per connection, nothing
    else. Every worker of `serve --workers N` listens on it (SO_REUSEPORT), and the kernel
    hands each scrape to one of them, which reports the whole server's figures."""

    async def scrape(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
        # OSError: the scraper reset the connection (TimeoutError is one too).
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        text = "text/plain; charset=utf-8"
        if method != "GET" or path != "/metrics":
            status, body, kind = "404 Not Found", b"Not Found\n", text
        elif not metrics.authorized_by(headers.get("authorization", "")):
            status, body, kind = "401 Unauthorized", UNAUTHORIZED, text
        else:
            body = metrics.render(await import_rows(pool()))
            status, kind = "200 OK", CONTENT_TYPE_LATEST
        if writer.is_closing():
            return  # the scraper went away meanwhile (writing would raise)
        writer.write(
            f"HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    return await asyncio.start_server(scrape, host, port, reuse_port=True, limit=HEAD_BYTES)


class _Fixed:
    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        return self.families


UNAUTHORIZED = b"/metrics needs Authorization: Bearer <FILMGRAPH_METRICS_TOKEN>\n"


def unauthorized() -> Response:
    return PlainTextResponse(
        UNAUTHORIZED,
        status_code=401,
        headers={"www-authenticate": 'Bearer realm="metrics"'},
    )


def response(text: bytes) -> Response:
    return Response(text, media_type=CONTENT_TYPE_LATEST)
