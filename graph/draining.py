"""Draining before a stop: SIGTERM turns `/readyz` 503 and refuses new requests with 503
`SERVICE_UNAVAILABLE` and `Retry-After`, while the requests already in flight finish, for at
most FILMGRAPH_DRAIN_TIMEOUT_MS; then the server stops (graph/cli.py's _Server).

The socket stays open meanwhile, so a client that still arrives (its load balancer has not yet
seen `/readyz`) is told to retry elsewhere rather than refused a connection. uvicorn alone
would close the socket at once and wait for the requests in flight without a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.errors import SERVICE_UNAVAILABLE

# What a client is told to wait before it tries again: by then a load balancer has moved on.
RETRY_AFTER_S = 2

# What a refusal reads of a request's body before it answers, at most.
READ_BEFORE_REFUSAL_BYTES = 1_000_000
READ_BEFORE_REFUSAL_S = 1.0

_REFUSAL = json.dumps(
    {
        "errors": [
            {
                "message": "The server is stopping; try again shortly.",
                "extensions": {"code": SERVICE_UNAVAILABLE},
            }
        ]
    }
).encode()
_STOPPING = json.dumps({"status": "unavailable", "server": "stopping"}).encode()


class Drain:
    """Requests in flight, and whether (and until when) the server is draining."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.in_flight: set[asyncio.Task[object]] = set()
        self.deadline: float | None = None
        self.cut = False

    @property
    def started(self) -> bool:
        return self.deadline is not None

    def start(self) -> None:
        """Begin draining; safe to call from a signal handler (it only sets a deadline)."""
        if self.deadline is None:
            self.deadline = time.monotonic() + self.timeout_s

    def finished(self) -> bool:
        """Whether the server may stop: nothing left in flight. Past the deadline, the requests
        still in flight are cancelled, and answered as new ones are (`serve`)."""
        if self.deadline is None:
            return False
        if self.in_flight and not self.cut and time.monotonic() >= self.deadline:
            self.cut = True
            for task in self.in_flight:
                task.cancel()
        return not self.in_flight

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a request of the app, counted as in flight; one cut while the server stops (at
        the deadline, or by uvicorn after a second signal) gets 503 as a new one would, unless
        its answer had begun (then its connection just closes)."""
        task = asyncio.current_task()
        assert task is not None
        began = False

        async def sending(message: Message) -> None:
            nonlocal began
            began = True
            await send(message)

        self.in_flight.add(task)
        try:
            await app(scope, receive, sending)
        except asyncio.CancelledError:
            # Cut at the drain's deadline, or by uvicorn once a second signal's grace
            # (graph/cli.py's STOP_MARGIN_S) has run out: uvicorn would answer it 500.
            if not self.started or began:
                raise
            task.uncancel()
            await self.refuse(scope, receive, send, read_body=False)  # the app has read it
        finally:
            self.in_flight.discard(task)

    async def refuse(
        self, scope: Scope, receive: Receive, send: Send, *, read_body: bool = True
    ) -> None:
        """503 with `Retry-After` and `connection: close`: `/readyz` says the server is
        stopping, anything else gets `SERVICE_UNAVAILABLE`."""
        if read_body:
            # Read first (up to a bound, briefly): closing a connection with bytes unread
            # resets it, and the client may never read the answer.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(READ_BEFORE_REFUSAL_S):
                    await _read_body(receive)
        body = _STOPPING if scope["path"] == "/readyz" else _REFUSAL
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(RETRY_AFTER_S).encode()),
                    (b"cache-control", b"no-store"),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> None:
    read = 0
    while read <= READ_BEFORE_REFUSAL_BYTES:
        message = await receive()
        read += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return
