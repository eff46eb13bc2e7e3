"""Admission control for /graphql: a request that would wait for a connection past the pool
wait is refused at once, before it is read or parsed, once `queue` requests are in line.

Under a storm of slow requests (the pool held, hundreds of requests arriving together) the
server's one event loop, not the pool, is what runs out first: parsing, validating and
running each request until it waits for a connection costs milliseconds of CPU, and hundreds
of them queue every other request, /healthz included, behind that work. A refusal made here
costs a fraction of it, and comes at once rather than after the pool wait. A refusal that
can be is made earlier still, by the HTTP protocol (graph/receive.py), without the app.

Under plain overload (more clients than connections, each request quick) the pool serves the
line in time, and a request is queued, not refused. A rule on counts alone (refuse once
`queue` requests are in progress while every connection is in use, or `queue` more than the
pool has connections) refused list pages from 32 clients on a pool of 10 although each would
have had its connection within milliseconds (bench/serving.py --page list tells admission's
refusals from pool waits that ran out).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from graph import errors
from graph.envelope import GRAPHQL_RESPONSE_JSON

log = logging.getLogger(__name__)

BUSY_MESSAGE = "The server is busy; try again shortly."
# A storm refuses hundreds of requests a second: one log line per this many seconds, at most.
LOG_EVERY_S = 10.0
BODY = json.dumps(
    {"errors": [{"message": BUSY_MESSAGE, "extensions": {"code": errors.SERVICE_UNAVAILABLE}}]}
).encode()


class Line(Protocol):
    """Where requests wait for a connection: the pool (graph/db.py's BoundedPool), or the
    pools of the replicas and the primary together (graph/replicas.py's ReadPools)."""

    @property
    def holding(self) -> int: ...

    @property
    def acquire_timeout(self) -> float: ...

    @property
    def sharing(self) -> int: ...

    def expected_wait(self, ahead: int) -> float: ...


class Admission:
    """Counts the requests in progress; refuses one (503, SERVICE_UNAVAILABLE, Retry-After)
    when at least `queue` turns of the pool are owed to requests in progress that hold no
    connection (each will ask for one, or waits for one already: a burst arrives faster than
    its requests reach the pool) and the pool would not serve it within its wait
    (BoundedPool.expected_wait), which a pool held by stuck statements, or idle before the
    burst, shows at once. A request owes one turn, but the requests of one batch of compiled
    requests (graph/compiled/coalesce.py) owe one between them; a request not yet read may
    join a batch or not, and owes one."""

    def __init__(
        self,
        app: ASGIApp,
        queue: int,
        retry_after_s: int,
        pool: Callable[[], Line],
    ) -> None:
        self.app = app
        self.queue = queue
        self.retry_after = str(retry_after_s).encode()
        self.pool = pool
        self.in_progress = 0
        self.refused = 0  # since the last log line
        self.refusals = 0  # since start (for /metrics)
        self.logged_at = -LOG_EVERY_S

    def busy(self) -> bool:
        """Whether a request arriving now is refused. Also asked by graph/receive.py, which
        refuses a request as soon as its head is read (see `refusal_headers`)."""
        pool = self.pool()
        ahead = self.in_progress - pool.holding
        if ahead < self.queue:
            return False  # the common case, decided without looking at batches
        # Requests of one statement waiting together in a batch (graph/compiled/coalesce.py)
        # take one turn of the pool between them, not one each.
        ahead -= pool.sharing
        return ahead >= self.queue and pool.expected_wait(ahead) > pool.acquire_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.admit(self.app, scope, receive, send)

    async def admit(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run `app` for the request, counted in progress, or refuse it when busy. Also the
        lane's (graph/lane.py), in front of its own app."""
        if self.busy():
            headers = self.refuse(scope["headers"])
            if scope["method"] in ("GET", "HEAD"):
                # Its media type follows Accept, as every GET answer's: a CDN keeps them apart.
                headers.append((b"vary", b"accept"))
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": BODY})
            return
        self.in_progress += 1
        try:
            await app(scope, receive, send)
        finally:
            self.in_progress -= 1

    def refuse(self, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """Count a refusal of a request with these (lower-cased) headers, and give its 503's
        headers; its body is BODY."""
        self.refused += 1
        self.refusals += 1
        now = time.monotonic()
        if now - self.logged_at >= LOG_EVERY_S:
            log.warning(
                "pool busy; requests refused refused=%d in_progress=%d",
                self.refused,
                self.in_progress,
            )
            self.logged_at = now
            self.refused = 0
        accept = b""
        for name, value in headers:
            if name == b"accept":
                accept = value
        media = GRAPHQL_RESPONSE_JSON if GRAPHQL_RESPONSE_JSON.encode() in accept else None
        content_type = f"{media or 'application/json'}; charset=utf-8".encode()
        return [
            (b"content-type", content_type),
            (b"content-length", str(len(BODY)).encode()),
            (b"retry-after", self.retry_after),
            # The body is left unread: the connection cannot carry another request.
            (b"connection", b"close"),
        ]
