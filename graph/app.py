"""App assembly: the Starlette application with /graphql, /healthz, /readyz and its lifespan
(the pool). The /graphql view is graph/view.py; the server process, graph/server.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from importlib import metadata
from typing import Any

import asyncpg
import strawberry
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.admission import Admission
from graph.cors import cors_middleware
from graph.dataversion import DataVersion
from graph.db import (
    CONNECTION_ERRORS,
    UNREACHABLE,
    BoundedPool,
    DatabaseUnavailable,
    create_pool,
)
from graph.draining import Drain
from graph.envelope import BoundedRequest
from graph.graphiql import routes as graphiql_routes
from graph.httpcache import CacheFront, HttpCache, fingerprint, log_version_change
from graph.lane import Lane
from graph.linked import routes as linked_routes
from graph.metrics import (
    Metrics,
    import_rows,
    response,
    serve_separately,
    unauthorized,
    watch,
)
from graph.observe import Front, Observe
from graph.persisted import Documents, TrustedDocuments, trusted_documents
from graph.ratelimit import Limiter, RateLimiter
from graph.replicas import ReadPools, Replicas
from graph.schema_gate import SchemaGate
from graph.server import server_config
from graph.settings import Settings
from graph.sharedlimit import CONNECTIONS as LEASE_CONNECTIONS
from graph.sharedlimit import SharedRateLimiter
from graph.tracing import Tracing, provider_for
from graph.unrouted import HANDLERS as UNROUTED
from graph.view import RETRY_AFTER_S, GraphQLView

__all__ = ["create_app", "server_config"]

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 2.0


class App(Starlette):
    """Starlette, with a GET or POST of /graphql from a client that sends no Origin taken to
    the endpoint directly, past the middleware stack and the router: they cost a tenth of a
    compiled film page's CPU, and do nothing for such a request besides what is done here.
    CORS adds only `Vary: Origin` to an answer without an Origin (VaryOrigin), the router
    finds the same endpoint, and an unexpected error is answered as Starlette answers it
    (ServerErrorMiddleware, the same class: a plain 500, and the error raised to uvicorn,
    which logs it). Anything else (an Origin, a preflight, HEAD, another path) goes through
    Starlette. Every HTTP request is counted in flight first, or refused once the server is
    stopping (graph/draining.py)."""

    def __init__(
        self, graphql: ASGIApp, drain: Drain, front: Front | None = None, **options: Any
    ) -> None:
        super().__init__(**options)
        self.graphql = ServerErrorMiddleware(VaryOrigin(graphql))
        self.drain = drain
        # A cache hit is answered before those two as well, with the Vary they would give it
        # (ServerErrorMiddleware's 500 and uvicorn's for an error raised here are the same).
        self.front = front
        # A POST goes to the lane (graph/lane.py), which hands what it does not take to
        # VaryOrigin(graphql) under the same ServerErrorMiddleware; None: no lane.
        self.lane: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # Once the server is stopping, it only refuses (graph/draining.py), but for /healthz and
        # /metrics, which a scraper reads through the stop; until then it counts the requests
        # in flight, which the stop waits for.
        if self.drain.started and scope["path"] not in ("/healthz", "/metrics"):
            await self.drain.refuse(scope, receive, send)
            return
        await self.drain.serve(self._serve, scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["path"] == "/graphql"
            and scope["method"] in ("GET", "POST")
            and not scope.get("root_path")
            and all(name != b"origin" for name, _ in scope["headers"])
        ):
            scope["app"] = self
            if (
                scope["method"] == "GET"
                and self.front is not None
                and await self.front.hit(scope, send, ACCEPT_ORIGIN)
            ):
                return
            if scope["method"] == "POST" and self.lane is not None:
                await self.lane(scope, receive, send)
                return
            await self.graphql(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


# The Vary of a cached answer once VaryOrigin has added Origin to it.
ACCEPT_ORIGIN = b"accept, Origin"


class VaryOrigin:
    """Adds `Vary: Origin` to the answer, as Starlette's CORSMiddleware does to an answer for
    a request without an Origin (one value with those the answer varies by already)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, vary_origin(send))


def vary_origin(send: Send) -> Send:
    """`send` adding Origin to the answer's Vary (VaryOrigin's)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            vary = [i for i, (name, _) in enumerate(headers) if name == b"vary"]
            joined = (b"vary", b", ".join([*(headers[i][1] for i in vary), b"Origin"]))
            if vary:  # in place of the first, as Starlette's MutableHeaders sets it
                headers[vary[0]] = joined
                for i in reversed(vary[1:]):
                    del headers[i]
            else:
                headers.append(joined)
            message = {**message, "headers": headers}
        await send(message)

    return sending


def create_app(
    settings: Settings,
    dsn: str | None = None,
    trusted: TrustedDocuments | None = None,
    tracer_provider: Any = None,
) -> Starlette:
    """The app for `settings`; `dsn` overrides settings.database_url (embedded server);
    `trusted`, the documents of settings.trusted_documents, when read already;
    `tracer_provider`, an OpenTelemetry TracerProvider to trace to (else the one
    settings.tracing names, if any)."""
    database = dsn or settings.database_url
    if database is None:
        raise ValueError("no database: pass a DSN or set DATABASE_URL")

    # Without a secret (see graph/cursor_secret.py), cursors are sealed with a key of this
    # process: they stop working on restart and differ between instances.
    if settings.cursor_secret:
        # blake2s takes keys of up to 32 bytes; a secret of any length is hashed to that.
        cursor_key = hashlib.sha256(settings.cursor_secret.encode()).digest()
    else:
        cursor_key = secrets.token_bytes(32)
        log.warning(
            "cursor secret not set: films and people cursors will not work after a restart "
            "or on another instance; set FILMGRAPH_CURSOR_SECRET"
        )

    if (
        settings.environment == "production"
        and settings.metrics
        and settings.metrics_token is None
        and settings.metrics_port is None
    ):
        log.warning(
            "metrics public: /metrics answers anyone who reaches the API's port; set "
            "FILMGRAPH_METRICS_TOKEN or FILMGRAPH_METRICS_PORT, or FILMGRAPH_METRICS=0"
        )

    schema_gate = SchemaGate()
    if trusted is None:
        trusted = trusted_documents(settings)
    documents = Documents(trusted, settings.trusted_only, settings.apq_cache_bytes)
    # One bucket per client for both charges: the size of what it sends, as it arrives, and
    # the cost of what it asks for.
    limiter: Limiter | None = None
    if settings.rate_limit and settings.rate_limit_store == "postgres":
        limiter = SharedRateLimiter(
            settings.rate_limit_points,
            settings.rate_limit_lease_points,
            lambda: create_pool(
                dataclasses.replace(settings, pool_min_size=0, pool_max_size=LEASE_CONNECTIONS),
                database,
            ),
        )
    elif settings.rate_limit:
        limiter = RateLimiter(settings.rate_limit_points)
    # The cache's answers differ between deployments that differ in these (cursors are sealed
    # with the key, the execution path shows in `extensions`, JSON-LD @ids start with the
    # public URL): so do their ETags.
    deployment = fingerprint(
        metadata.version("filmgraph"),
        hashlib.sha256(cursor_key).hexdigest(),
        settings.execution,
        settings.explain_execution,
        settings.public_url,
    )
    data_version = DataVersion(database)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.cursor_key = cursor_key
        try:
            app.state.pool = await create_pool(settings, database)
        except (OSError, asyncpg.PostgresError) as exc:
            # Start anyway: /readyz answers 503 and queries SERVICE_UNAVAILABLE until the
            # database answers; the pool connects on demand from then on.
            described = exc if isinstance(exc, DatabaseUnavailable) else f"error={exc!r}"
            log.warning("database unavailable at start-up %s", described)
            app.state.pool = await create_pool(settings, database, min_size=0)
        else:
            # Checked now, so that operations on a current schema run unchecked from the first.
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await schema_gate.check(app.state.pool)
        # Reads go to the replicas, if any, once checked (graph/replicas.py).
        app.state.replicas = None
        app.state.reads = app.state.pool
        if settings.replica_urls:
            app.state.replicas = await Replicas.open(
                settings, database, lambda: data_version.current
            )
            app.state.reads = ReadPools(app.state.pool, app.state.replicas)
            app.state.replicas.start()
        # Not waited for: the first answers are not cached until the version is known,
        # usually a few milliseconds after start.
        data_version.start()
        scrapes = None
        if metrics is not None and settings.metrics_port is not None:
            scrapes = await serve_separately(
                metrics, settings.host, settings.metrics_port, lambda: app.state.pool
            )
        try:
            yield
        finally:
            if scrapes is not None:
                scrapes.close()
            await data_version.stop()
            if app.state.replicas is not None:
                await app.state.replicas.stop()
            await app.state.pool.close()
            if isinstance(limiter, SharedRateLimiter):
                await limiter.close()

    async def healthz(request: Request) -> Response:
        if getattr(request.app.state, "worker", False) and settings.environment != "production":
            # Which worker of `serve --workers N` answered (tests/test_workers.py).
            return JSONResponse({"status": "ok", "worker": os.getpid()})
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        pool: BoundedPool = request.app.state.pool
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                schema = await schema_gate.check(pool)
        # InternalClientError: a connection the server dropped while in use.
        except (*CONNECTION_ERRORS, asyncpg.InternalClientError) as exc:
            # Every connection in use and none came free: the database answered a moment ago,
            # this node just cannot take more work now. Say which, for whoever reads the probe.
            if isinstance(exc, DatabaseUnavailable):
                state = exc.reason
                log.warning("readiness check failed %s", exc)
            else:
                state = "busy" if pool.saturated() else UNREACHABLE
                log.warning("readiness check failed reason=%r error=%r", state, exc)
            return JSONResponse(
                {"status": "unavailable", "database": state},
                status_code=503,
                headers={"retry-after": "1"},
            )
        problem = schema.problem()
        if problem is not None:
            # Not migrated, or migrated by another version: `filmgraph migrate` (or the right
            # filmgraph) fixes it, and this probe recovers without a restart.
            log.warning(
                "readiness check failed database=%r migrations=%s",
                problem,
                ",".join(*schema.detail().values()),
            )
            return JSONResponse(
                {"status": "unavailable", "database": problem, **schema.detail()},
                status_code=503,
                headers={"retry-after": "1"},
            )
        replicas: Replicas | None = request.app.state.replicas
        if replicas is None:
            return JSONResponse({"status": "ok", "database": "ok"})
        # Replicas that cannot serve do not make this server unready: reads fall back to the
        # primary.
        return JSONResponse({"status": "ok", "database": "ok", "replicas": replicas.report()})

    tracing = None
    if tracer_provider is not None or settings.tracing != "off":
        tracing = Tracing(tracer_provider or provider_for(settings.tracing))
    metrics = Metrics(settings.metrics_token) if settings.metrics else None

    async def metrics_page(request: Request) -> Response:
        assert metrics is not None
        if not metrics.authorized(request):
            return unauthorized()
        return response(metrics.render(await import_rows(request.app.state.pool)))

    graphql = GraphQLView(settings, limiter, schema_gate, documents, traced=tracing is not None)
    assert isinstance(graphql.schema, strawberry.Schema)
    graphql.http_cache = HttpCache(
        settings.cache_max_age_s,
        settings.response_cache_bytes,
        lambda: data_version.current,
        deployment,
        limiter,
        settings.api_keys,
        graphql.schema._schema,
    )
    cache_changed = log_version_change(graphql.http_cache.cache)

    def version_changed(version: int | None) -> None:
        cache_changed(version)
        replicas: Replicas | None = getattr(app.state, "replicas", None)
        if replicas is not None:
            replicas.changed(version)

    data_version.on_change = version_changed
    admission = Admission(
        BoundedRequest(graphql, settings, limiter),
        settings.pool_queue,
        RETRY_AFTER_S,
        # Set by the lifespan, before the first request: the pool, or it and the replicas'.
        pool=lambda: app.state.reads,
    )
    endpoint = Observe(
        CacheFront(admission, graphql.http_cache, settings.max_url_bytes),
        metrics,
        settings.log_format == "json",
        tracing,
    )
    app = App(
        endpoint,
        Drain(settings.drain_timeout_ms / 1000),
        endpoint,
        routes=[
            Route("/graphql", endpoint, methods=["GET", "POST"]),
            *linked_routes(settings, lambda: data_version.current, deployment, limiter),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *(
                [Route("/metrics", metrics_page, methods=["GET"])]
                if metrics and settings.metrics_port is None
                else []
            ),
            *(graphiql_routes() if settings.graphiql else []),
        ],
        lifespan=lifespan,
        middleware=[cors_middleware(settings)],
        exception_handlers=UNROUTED,
    )
    # For the HTTP protocol, which refuses a request before the app (see server_config).
    app.state.admission = admission
    if tracing is None:
        lane = Lane(VaryOrigin(endpoint), vary_origin, endpoint, admission, graphql, app.state)
        app.lane = ServerErrorMiddleware(lane)
    if metrics is not None:
        watch(
            metrics, graphql.schema.document_cache, graphql.http_cache, admission, lambda: app.state
        )
    return app
