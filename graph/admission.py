"""Admission control for /graphql: once enough requests are in progress that `queue` of them
must wait for a connection, a new request is refused at once, before it is read or parsed.

Under a storm of slow requests (the pool held, hundreds of requests arriving together) the
server's one event loop, not the pool, is what runs out first: parsing, validating and
running each request until it waits for a connection costs milliseconds of CPU, and hundreds
of them queue every other request, /healthz included, behind that work. A refusal made here
costs a fraction of it, and comes at once rather than after the pool wait. A refusal that
can be is made earlier still, by the HTTP protocol (graph/receive.py), without the app.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from graph import errors
from graph.db import BoundedPool
from graph.envelope import GRAPHQL_RESPONSE_JSON

log = logging.getLogger(__name__)

BUSY_MESSAGE = "The server is busy; try again shortly."
# A storm refuses hundreds of requests a second: one log line per this many seconds, at most.
LOG_EVERY_S = 10.0
BODY = json.dumps(
    {"errors": [{"message": BUSY_MESSAGE, "extensions": {"code": errors.SERVICE_UNAVAILABLE}}]}
).encode()


class Admission:
    """Counts the requests in progress; refuses one (503, SERVICE_UNAVAILABLE, Retry-After)
    when `queue` are in progress already and the pool has no connection free, or when
    `queue` more than the pool has connections are in progress: each needs one, so that many
    wait, or soon will. (A burst arrives faster than its requests reach the pool: until the
    first of them has asked for a connection, the pool looks free to all the others.)"""

    def __init__(
        self,
        app: ASGIApp,
        queue: int,
        connections: int,
        retry_after_s: int,
        pool: Callable[[], BoundedPool],
    ) -> None:
        self.app = app
        self.queue = queue
        self.limit = queue + connections
        self.retry_after = str(retry_after_s).encode()
        self.pool = pool
        self.in_progress = 0
        self.refused = 0
        self.logged_at = -LOG_EVERY_S

    def busy(self) -> bool:
        """Whether a request arriving now is refused. Also asked by graph/receive.py, which
        refuses a request as soon as its head is read (see `refusal_headers`)."""
        return self.in_progress >= self.limit or (
            self.in_progress >= self.queue and self.pool().saturated()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.busy():
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": self.refuse(scope["headers"]),
                }
            )
            await send({"type": "http.response.body", "body": BODY})
            return
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1

    def refuse(self, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """Count a refusal of a request with these (lower-cased) headers, and give its 503's
        headers; its body is BODY."""
        self.refused += 1
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
