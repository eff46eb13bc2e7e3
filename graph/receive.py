"""Deadlines for receiving a request: its head within FILMGRAPH_HEADER_TIMEOUT_MS of the wait
for it starting, its body within FILMGRAPH_BODY_TIMEOUT_MS of the head.

uvicorn bounds neither: its keep-alive timer stops at the first byte of the next request, so a
client sending a byte a second holds a connection (and its buffers) forever, and a few hundred
of them hold as many. Its h11 protocol is subclassed here as little as possible: a timer per
phase, set and cleared from h11's own view of the client's side of the exchange, checked after
every event uvicorn handles. Written against uvicorn 0.55's h11_impl.H11Protocol, whose
`data_received`, `on_response_complete`, `connection_made` and `connection_lost` it extends.

It also refuses a /graphql request that admission refuses (graph/admission.py) as soon as the
request's head is read, rather than in the app. A storm of 500 connections brings 500 heads
to the event loop at once; uvicorn hands each to the app as a task, and the loop runs every
task made ready before it looks for new connections again, so a /healthz probe arriving then
waited for a whole batch of app refusals (100-270 ms, bench/pool_storm.py). Refused here, in
the callback that reads the head, a request costs no task, no app and no h11 response, and
the probe waits for less (see bench/README.md). Written against `handle_events`, which it
extends too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from graph import errors
from graph.admission import BODY as BUSY_BODY
from graph.admission import Admission

log = logging.getLogger(__name__)

_BODY = json.dumps(
    {
        "errors": [
            {
                "message": "The request was not received in time.",
                "extensions": {"code": errors.REQUEST_TIMEOUT},
            }
        ]
    }
).encode()
# Written as bytes, not through h11: before a request's head h11 will not send a response, and
# the connection is closed right after, so its state no longer matters.
REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n"
    b"connection: close\r\n"
    b"\r\n" + _BODY
)

HEAD = "head"
BODY = "body"
# After a 408, how long the client's further bytes are read and dropped before the connection
# is closed: closing a socket with unread bytes resets it, and a reset can reach the client
# before the 408 does (a "lingering close", as nginx's).
LINGER_S = 2.0


class ReceiveDeadlines(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request's head or body does not
    arrive in time: 408 when a request had begun, silently when the connection was idle (as
    uvicorn's keep-alive timeout does)."""

    head_timeout: float = 10.0
    body_timeout: float = 10.0
    admission: Admission | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = Coalescing(transport, self.loop)  # type: ignore[assignment]
        self._follow()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        super().data_received(data)
        self._follow()

    def handle_events(self) -> None:
        if not self._refuse_early():
            super().handle_events()

    def _refuse_early(self) -> bool:
        """Refuse a POST to /graphql here, with admission's 503, when admission would. A GET
        goes through the app: the response cache may answer it without the pool (CacheFront,
        graph/httpcache.py), and admission refuses it there when not.

        Decided on the head still in h11's buffer, unparsed: a request h11 has parsed cannot
        be handed back to uvicorn. One with an Origin (CORS headers to add) or an Upgrade goes
        through the app, which refuses it there."""
        admission = self.admission
        if admission is None or self.conn.their_state is not h11.IDLE:
            return False
        buffered = self.conn.trailing_data[0]
        if not buffered.startswith(b"POST /graphql"):
            return False
        end = buffered.find(b"\r\n\r\n")
        if end < 0:
            return False  # the head is not whole yet: back here with the next bytes
        head = buffered[:end]
        target = head.split(b" ", 2)[1]
        head = head.lower()
        if target != b"/graphql" and not target.startswith(b"/graphql?"):
            return False
        if b"\norigin:" in head or b"\nupgrade:" in head or not admission.busy():
            return False
        try:
            event = self.conn.next_event()
        except h11.RemoteProtocolError:
            return False  # uvicorn answers 400: h11 raises again
        assert isinstance(event, h11.Request), event  # a whole head, checked above
        self._unset_keepalive_if_required()
        headers = [(name.lower(), value) for name, value in event.headers]
        if self.access_log:  # the line uvicorn writes for a response of the app
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                f"{self.client[0]}:{self.client[1]}" if self.client else "",
                event.method.decode("ascii"),
                event.target.decode("latin1"),
                event.http_version.decode("ascii"),
                503,
            )
        answer = self.server_state.default_headers + admission.refuse(headers)
        # Written as bytes, not through h11 (as the 408 is): the connection is closed right after
        # (`connection: close`, as the app's refusal; a body is left unread), so h11's state no
        # longer matters, and its checks of every header cost as much as the rest.
        self.transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\n"
            + b"".join(name + b": " + value + b"\r\n" for name, value in answer)
            + b"\r\n"
            + BUSY_BODY
        )
        self.transport.close()
        self.on_response_complete()
        return True

    def on_response_complete(self) -> None:
        # The response leaves in one write (see Coalescing), now rather than on the loop's
        # next turn.
        flush = getattr(self.transport, "flush", None)
        if flush is not None:
            flush()
        # The next request's wait starts here (or a pipelined one was read on).
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set(None)
        super().connection_lost(exc)

    def _follow(self) -> None:
        """Time the phase the client's side is in: its head while h11 waits for one (both
        sides idle), its body while h11 reads one; nothing while the app works."""
        if self.transport.is_closing():
            phase = None
        elif self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
            phase = HEAD
        elif self.conn.their_state is h11.SEND_BODY:
            phase = BODY
        else:
            phase = None
        if phase != self._phase:
            self._set(phase)

    def _set(self, phase: str | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._phase = phase
        if phase is not None:
            timeout = self.head_timeout if phase == HEAD else self.body_timeout
            self._timer = self.loop.call_later(timeout, self._expire, phase)

    def _expire(self, phase: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        began = phase == BODY or bool(self.conn.trailing_data[0])
        cycle = self.cycle if phase == BODY else None
        if cycle is not None:
            # The app, still reading the body, reads a disconnect; what it sends is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        if not began or (cycle is not None and cycle.response_started):
            self.transport.close()
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown"
        log.info("request not received in time phase=%s client=%s", phase, client)
        self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        if not self.transport.can_write_eof():  # TLS: no half-close
            self.transport.close()
            return
        self._lingering = True
        self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


class Coalescing:
    """A transport whose writes made in one turn of the event loop leave in one system call.

    uvicorn writes a response's head, body and end as separate writes, and the transport
    sends each at once: two sends, two TCP segments, for every small answer. Here they are
    joined and sent when the response is complete (ReceiveDeadlines.on_response_complete), or
    at the loop's next turn for anything else (a streamed response's chunks, a refusal)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._pending is None:
            self._pending = [bytes(data)]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(bytes(data))

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def protocol(
    head_timeout_s: float, body_timeout_s: float, admission: Admission | None = None
) -> type[ReceiveDeadlines]:
    """The protocol class for uvicorn's `http` setting, with these deadlines, refusing early
    what `admission` refuses."""
    return type(
        "ReceiveDeadlines",
        (ReceiveDeadlines,),
        {"head_timeout": head_timeout_s, "body_timeout": body_timeout_s, "admission": admission},
    )
