"""Deadlines and bounds for receiving a request: its head within FILMGRAPH_HEADER_TIMEOUT_MS of
the wait for it starting, and no longer than max_head_bytes; its body within
FILMGRAPH_BODY_TIMEOUT_MS of the head.

uvicorn bounds none of these: its keep-alive timer stops at the first byte of the next
request, so a client sending a byte a second holds a connection (and its buffers) forever, and
a few hundred of them hold as many; and its httptools parser (llhttp) keeps a header line of
any length. Its httptools protocol is subclassed here as little as possible: the bytes of a
head counted as they arrive, and a timer per phase, set and cleared from the parser's
callbacks, checked after every read. Written against uvicorn 0.55's
httptools_impl.HttpToolsProtocol, whose `data_received`, `on_headers_complete`, `on_body`,
`on_message_complete`, `on_response_complete`, `connection_made` and `connection_lost` it
extends. httptools rather than h11 (which bounds the head itself): the same answers, with the
request parsed and the response written in C, where h11 took a seventh of a compiled film
page's CPU (bench/README.md).

It also refuses a /graphql request that admission refuses (graph/admission.py) as soon as the
request's head is read, rather than in the app. A storm of 500 connections brings 500 heads
to the event loop at once; uvicorn hands each to the app as a task, and the loop runs every
task made ready before it looks for new connections again, so a /healthz probe arriving then
waited for a whole batch of app refusals (100-270 ms, bench/pool_storm.py). Refused here, in
the callback that completes the head, a request costs no task, no app and no response
object, and the probe waits for less (see bench/README.md).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from graph import errors
from graph.accesslog import AccessLog
from graph.admission import BODY as BUSY_BODY
from graph.admission import Admission
from graph.cancel import HANG_UP
from graph.observe import REQUEST_ID_HEADER, request_id

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
# Written as bytes: the connection is closed right after.
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


class ReceiveDeadlines(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request's head runs past
    max_head_bytes (a plain 400, as uvicorn answers a request it cannot parse) or whose head
    or body does not arrive in time: 408 when a request had begun, silently when the
    connection was idle (as uvicorn's keep-alive timeout does)."""

    head_timeout: float = 10.0
    body_timeout: float = 10.0
    max_head_bytes: int = 65_536
    admission: Admission | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The same line, written for less (graph/accesslog.py).
        self.access_logger = AccessLog(self.access_logger)  # type: ignore[assignment]
        self._phase: str | None = None
        # The phase's deadline (loop time), and the timer that checks it. A keep-alive
        # connection moves from phase to phase twice a request: the timer is not moved with
        # each (a timer set and cancelled cost a compiled film page about 1% of its CPU), it
        # checks the deadline when it fires and is set again for the time left, or earlier
        # when a phase with a shorter timeout begins.
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._lingering = False
        # Bytes received of the head being read; True from a head's end to its body's.
        self._head_bytes = 0
        self._in_body = False
        self._refused = False  # refused early: the rest of what arrives is dropped
        # What the app of a request asked to be told if its client hangs up (HANG_UP).
        self._hang_up: tuple[RequestResponseCycle, Callable[[], None]] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._follow()

    def data_received(self, data: bytes) -> None:
        if self._lingering or self._refused:
            return
        if not self._in_body:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            not self._in_body
            and self._head_bytes > self.max_head_bytes
            and not self.transport.is_closing()
        ):
            # Within one read, a head may end past the bound (as with h11's bound): what is
            # bounded is what the server keeps of a head that has not ended.
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        self._follow()

    def on_headers_complete(self) -> None:
        if self._refused or self._refuse_early():
            return
        self._in_body = True
        super().on_headers_complete()
        # The app learns of a hang-up from connection_lost, without a task of its own that
        # waits on receive() (graph/envelope.py): one task and two of its steps fewer a request.
        if self.cycle is not None:
            scope = cast(dict[str, Any], self.scope)
            scope[HANG_UP] = functools.partial(self._on_hang_up, self.cycle)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_body = False
        self._head_bytes = 0
        super().on_message_complete()

    def _refuse_early(self) -> bool:
        """Refuse a POST to /graphql here, with admission's 503, when admission would. A GET
        goes through the app: the response cache may answer it without the pool (CacheFront,
        graph/httpcache.py), and admission refuses it there when not. One with an Origin (CORS
        headers to add) or an Upgrade goes through the app, which refuses it there."""
        admission = self.admission
        if admission is None or self.parser.get_method() != b"POST":
            return False
        if self.url != b"/graphql" and not self.url.startswith(b"/graphql?"):
            return False
        if any(name in (b"origin", b"upgrade") for name, _ in self.headers):
            return False
        if not admission.busy():
            return False
        self._refused = True
        self._unset_keepalive_if_required()
        if self.access_log:  # the line uvicorn writes for a response of the app
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                f"{self.client[0]}:{self.client[1]}" if self.client else "",
                "POST",
                self.url.decode("latin1"),
                self.parser.get_http_version(),
                503,
            )
        answer = [
            *self.server_state.default_headers,
            *admission.refuse(self.headers),
            (REQUEST_ID_HEADER, request_id(self.headers).encode()),
        ]
        # The connection is closed right after (`connection: close`, as the app's refusal; a
        # body is left unread).
        self.transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\n"
            + b"".join(name + b": " + value + b"\r\n" for name, value in answer)
            + b"\r\n"
            + BUSY_BODY
        )
        self.transport.close()
        self.server_state.total_requests += 1
        return True

    def on_response_complete(self) -> None:
        # The next request's wait starts here (or a pipelined one was read on).
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        told, self._hang_up = self._hang_up, None
        super().connection_lost(exc)
        if told is not None and not told[0].response_complete:
            told[1]()

    def _on_hang_up(self, cycle: RequestResponseCycle, callback: Callable[[], None] | None) -> None:
        """The scope's cancel.HANG_UP: call `callback` if the client hangs up before `cycle`'s
        response is complete (None: no longer)."""
        self._hang_up = None if callback is None else (cycle, callback)

    def _follow(self) -> None:
        """Time the phase the client's side is in: its head while the server waits for one (no
        response in progress), its body while it reads one; nothing while the app works."""
        if self.transport.is_closing():
            phase = None
        elif self._in_body:
            phase = BODY
        elif self.cycle is None or self.cycle.response_complete:
            phase = HEAD
        else:
            phase = None
        if phase != self._phase:
            self._set(phase)

    def _set(self, phase: str | None) -> None:
        self._phase = phase
        if phase is None:
            self._deadline = None
            return
        timeout = self.head_timeout if phase == HEAD else self.body_timeout
        self._deadline = deadline = self.loop.time() + timeout
        if self._timer is not None and self._timer_at <= deadline:
            return  # it fires first, and checks this deadline then
        self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._check)

    def _check(self) -> None:
        """The timer: the phase's deadline has passed, or the phase has moved on since it was
        set (then it is set again for the deadline of the phase the connection is in now)."""
        self._timer = None
        deadline, phase = self._deadline, self._phase
        if deadline is None or phase is None:
            return
        if self.loop.time() < deadline:
            self._arm(deadline)
            return
        self._deadline = None
        self._expire(phase)

    def _expire(self, phase: str) -> None:
        if self.transport.is_closing():
            return
        began = phase == BODY or self._head_bytes > 0
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


def protocol(
    head_timeout_s: float,
    body_timeout_s: float,
    max_head_bytes: int,
    admission: Admission | None = None,
) -> type[ReceiveDeadlines]:
    """The protocol class for uvicorn's `http` setting, with these deadlines and this bound
    on a request's line and headers, refusing early what `admission` refuses."""
    return type(
        "ReceiveDeadlines",
        (ReceiveDeadlines,),
        {
            "head_timeout": head_timeout_s,
            "body_timeout": body_timeout_s,
            "max_head_bytes": max_head_bytes,
            "admission": admission,
        },
    )
