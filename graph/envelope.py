"""What an HTTP request must be before GraphQL sees it: a bounded URL and body, and a JSON
envelope of sane shape. Each refusal is a 4xx whose body is a GraphQL response with one error:
a one-line reason and a stable code, never a 500."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from cross_web import HTTPException
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph import cancel, errors
from graph.observe import current
from graph.ratelimit import BYTES_PER_POINT, Limiter, client_key, rate_limited
from graph.settings import Settings

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# The code of each refusal, by HTTP status.
CODES = {
    400: errors.BAD_REQUEST,
    405: errors.METHOD_NOT_ALLOWED,
    413: errors.REQUEST_TOO_LARGE,
    414: errors.URI_TOO_LONG,
}
# A body up to this many times the limit is read (and dropped) before the 413; past that the
# connection is closed on the client.
DRAIN_FACTOR = 4
# A client refused for its rate limit before its body is read waits this long (or until its
# points are back, if sooner) for the answer.
REFUSAL_DELAY_S = 1.0
# A reason quoting the client (an unknown operation name) is cut to this many characters.
MAX_REASON = 150
# No GraphQL scalar holds more: Int is 32-bit, Float a double.
MAX_NUMBER_DIGITS = 100


class BoundedRequest:
    """Refuse a URL longer than max_url_bytes (414) or a body larger than max_body_bytes (413),
    counting the bytes as they arrive: a chunked body has no Content-Length to trust."""

    def __init__(self, app: ASGIApp, settings: Settings, limiter: Limiter | None = None) -> None:
        self.app = app
        self.max_url = settings.max_url_bytes
        self.max_body = settings.max_body_bytes
        self.limiter = limiter
        self.api_keys = settings.api_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url_bytes = len(scope.get("raw_path") or scope["path"].encode()) + len(
            scope.get("query_string", b"")
        )
        if url_bytes > self.max_url:
            await _refuse(414, f"URL longer than {self.max_url} bytes", scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > DRAIN_FACTOR * self.max_body:
            await _refuse(413, self._too_large, scope, receive, send)
            return
        # A body it declares is charged before it is read: a client past its rate limit is
        # refused without the server reading (or decoding, or parsing) what it sends.
        if not await self._charge(url_bytes + (declared or 0), scope, receive, send):
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body:
                chunks.append(chunk)
            elif size > DRAIN_FACTOR * self.max_body:
                break  # stop reading; the refusal closes the connection
            if not message.get("more_body", False):
                break
        if size > self.max_body:
            # A body somewhat over the limit is read to its end, so that the client, still
            # sending, reads the 413 rather than a reset connection.
            await _refuse(413, self._too_large, scope, receive, send)
            return
        if declared is None and not await self._charge(size, scope, receive, send):
            return  # a chunked body: charged once read, before it is decoded
        await _until_disconnect(self.app, scope, b"".join(chunks), receive, send)

    async def _charge(self, size: int, scope: Scope, receive: Receive, send: Send) -> bool:
        """Charge the client for `size` bytes; False once refused for its rate limit."""
        if self.limiter is None or size < BYTES_PER_POINT:
            return True
        headers = Headers(scope=scope)
        address = scope["client"][0] if scope.get("client") else None
        client = client_key(headers.get("x-api-key"), address, self.api_keys)
        wait = await self.limiter.charge(client, size // BYTES_PER_POINT)
        if wait is None:
            return True
        # Held before the answer, unread: a client that sends again at once, whatever
        # Retry-After says, would otherwise cost a connection and a refusal per attempt (four
        # such clients made 1,400 a second, 60% of a core). Its body is never read.
        await asyncio.sleep(min(wait, REFUSAL_DELAY_S))
        error = rate_limited(self.limiter, wait)
        await _refuse(
            429, error.message, scope, receive, send, error.extensions, {"retry-after": str(wait)}
        )
        return False

    @property
    def _too_large(self) -> str:
        return f"Request body larger than {self.max_body} bytes"


async def _until_disconnect(
    app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send
) -> None:
    """Run the app on the body read already, and cancel it if the client goes away: the work
    a request started (its statements too) stops with it.

    The app runs in this task. The server's protocol says when the client hangs up
    (graph/receive.py, the scope's cancel.HANG_UP); under another server, a second task
    watches receive() for it. Either cancels this one."""
    gone = asyncio.Event()
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    serving = asyncio.current_task()
    assert serving is not None
    orphans: dict[asyncio.Task[Any], list[Any]] | None = None

    def hung_up() -> None:
        nonlocal orphans
        log.info("client disconnected; request cancelled path=%s", scope["path"])
        gone.set()
        orphans = cancel.unstarted()
        serving.cancel()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        hung_up()

    told = scope.get(cancel.HANG_UP)
    watching = asyncio.ensure_future(watch()) if told is None else None
    if told is not None:
        told(hung_up)
    try:
        await app(scope, replay, send)
    except asyncio.CancelledError:
        # Ours (the client went away) is answered here; one from elsewhere (the server
        # stopping) goes on.
        if orphans is None or serving.uncancel() > 0:
            raise
    finally:
        if watching is not None:
            watching.cancel()
        if told is not None:
            told(None)
    if orphans:
        cancel.close_orphans(orphans)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(
    status: int,
    reason: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    extensions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    response = refusal(status, reason, Headers(scope=scope).get("accept", ""), extensions)
    response.headers.update(headers or {})
    if scope["method"] in ("GET", "HEAD"):
        # Its media type follows Accept, as every GET answer's: a CDN keeps them apart.
        response.headers["vary"] = "accept"
    # Close the connection: the rest of the body (oversized, or not paid for) is not worth
    # reading.
    response.headers["connection"] = "close"
    await response(scope, receive, send)


def refusal(
    status: int, reason: str, accept: str, extensions: dict[str, Any] | None = None
) -> Response:
    """A request refused before GraphQL saw it, as a GraphQL response (no `data`: nothing was
    executed) in the media type the client accepts, as any other answer of /graphql.

    The reason may quote the client (an unknown operation's name), and JSON may carry a lone
    surrogate, which has no UTF-8 encoding: ASCII-only JSON, as Strawberry writes its answers,
    escapes it instead of failing on it."""
    media_type = GRAPHQL_RESPONSE_JSON if GRAPHQL_RESPONSE_JSON in accept else "application/json"
    if len(reason) > MAX_REASON:
        reason = reason[:MAX_REASON] + "…"
    extensions = dict(extensions or {"code": CODES.get(status, errors.BAD_REQUEST)})
    observed = current()
    if observed is not None:
        extensions["requestId"] = observed.request_id
    body = {"errors": [{"message": reason, "extensions": extensions}]}
    # Never stored by an HTTP cache: a refusal says nothing of the answer to come.
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=media_type,
        headers={"cache-control": "no-store"},
    )


def decode_json(data: str | bytes) -> Any:
    """json.loads that refuses numbers with too many digits (Python would spend quadratic time
    converting them, and refuses past 4300 digits anyway) and the non-JSON NaN and Infinity."""
    return json.loads(data, parse_int=_bounded_int, parse_constant=_no_constant)


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise HTTPException(
            400, f"Malformed request: a number has more than {MAX_NUMBER_DIGITS} digits"
        )
    return int(text)


def _no_constant(text: str) -> Any:
    raise HTTPException(400, f"Malformed request: {text} is not JSON")


def check_variables_depth(variables: Any, max_depth: int) -> None:
    """400 for variables nested deeper than max_depth (no input type of ours goes past ~5)."""
    stack = [(variables, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise HTTPException(
                400, f"Malformed request: variables nested deeper than {max_depth} levels"
            )
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
