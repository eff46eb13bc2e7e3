"""The lane: a POST /graphql for an operation served compiled before (graph/compiled/fast.py),
answered in one coroutine from the app's first callable, with the response PostgreSQL's JSON
text in bytes built here.

The normal path runs such a request through eleven ASGI layers: the request's observer, the
cache front, admission, the body's bounds, the view, Strawberry's result processing and
response, Starlette's Response, and a `send` wrapper per layer that adds a header. A compiled
film page cost 0.40 ms of the server's CPU, and those layers about a third of it
(bench/README.md, "The lane"). The lane runs the same guards, by the same objects, in the same
order (the observer's request id, metrics and log line; admission; the URL and body bounds and
the rate limit's charge for the bytes; the hang-up's cancellation; the fast path's checks,
charges, schema gate, trusted documents, timeout and cost), and writes the answer with the
headers those layers give it, in their order: Content-Length, Content-Type,
`Cache-Control: no-store`, X-Request-Id, `Vary: Origin`.

It takes only what ends well: a result with data and no error. Anything else leaves it where
it stands, for the normal path's code: a request it cannot take is handed to the normal path
before anything is counted or read; once the body is read, to the view (with the body, which
is read once); a result with errors, or from a replica that failed under it, is answered by
the view's own code, as the fast path answers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
from starlette.datastructures import State
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.types import ExecutionResult

from graph.admission import Admission
from graph.compiled import fast
from graph.compiled.run import RawJson
from graph.db import RequestConnection
from graph.envelope import GRAPHQL_RESPONSE_JSON, BoundedRequest
from graph.httpcache import no_store
from graph.observe import REQUEST_ID_HEADER, Observe, current
from graph.ratelimit import client_key
from graph.view import GraphQLView

# The Content-Type of an answer, as Starlette's Response and the view set it.
_JSON = b"application/json"
_MEDIA = GRAPHQL_RESPONSE_JSON.encode() + b"; charset=utf-8"


class Lane:
    """The lane for one app: an ASGI app for a POST /graphql without an Origin (graph/app.py's
    App sends it here), answered by the lane itself or by `normal`, the normal path (the app's
    /graphql endpoint under VaryOrigin)."""

    def __init__(
        self,
        normal: ASGIApp,
        vary: Callable[[Send], Send],
        observe: Observe,
        admission: Admission,
        view: GraphQLView,
        state: State,
    ) -> None:
        self.normal = normal
        self.vary = vary
        self.observe = observe
        self.admission = admission
        # The body's bounds and the charge for its bytes, before this lane's answer.
        self.bounded = BoundedRequest(self._answer, view.settings, view.rate_limiter)
        self.view = view
        self.state = state
        self.answers = 0  # requests answered by the lane itself (tests, bench)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        media = self._takes(scope)
        if media is None:
            await self.normal(scope, receive, send)
            return

        async def run(sending: Send) -> bool:
            sends = _Sends(sending, send, media)
            await self.admission.admit(self.bounded, scope, receive, sends)
            return True

        # What is not written whole here goes out as on the normal path: the observer's
        # X-Request-Id, then VaryOrigin's Vary.
        await self.observe.observed(scope, self.vary(send), run)

    def _takes(self, scope: Scope) -> bytes | None:
        """The Content-Type of the lane's answer, when it may take the request (nothing read
        or counted yet); else None. What the bounds refuse is left to the normal path, as is
        a body without a Content-Length, a query string, and tracing (its spans)."""
        if self.observe.tracing is not None or scope.get("query_string"):
            return None
        # Of a header sent twice, the first, as Starlette's Headers.get reads it.
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in (b"content-type", b"accept", b"content-length"):
                headers.setdefault(name.decode(), value.decode("latin-1"))
        declared = headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > self.bounded.max_body:
            return None
        if len(scope.get("raw_path") or b"") > self.bounded.max_url:
            return None
        if not fast.takes(self.view, headers) or self.admission.busy():
            return None
        return _MEDIA if GRAPHQL_RESPONSE_JSON in headers.get("accept", "") else _JSON

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """BoundedRequest's app: the body read and charged for. `send` is _Sends."""
        assert isinstance(send, _Sends)
        body: bytes = (await receive()).get("body", b"")
        view = self.view
        ready = fast.prepared(view, body, self.state.cursor_key)
        if ready is None:
            # The view's normal path, on the body already read.
            await view(scope, _replay(body, receive), send)
            return
        fast.begin(view, ready)
        database = self.state.pool.for_request(getattr(self.state, "replicas", None))
        state = State()
        api_key = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                api_key = value.decode("latin-1")
                break
        client = scope.get("client")
        who = client_key(api_key, client[0] if client else None, view.settings.api_keys)
        try:
            result = await fast.execute(view, ready, view.rate_limiter, who, database, state)
        finally:
            # Given back before the answer is sent, as the view does.
            if database.settled():
                await database.release()
            else:
                await asyncio.shield(database.release())
        data = result.data
        if result.errors or database.replica_failed or not isinstance(data, RawJson):
            await self._by_the_view(scope, body, receive, send, database, state, result)
            return
        observed = current()
        assert observed is not None  # the lane runs under the observer (serve)
        observed.outcome([])
        content = b'{"data":' + data.encode()
        if result.extensions:
            content += b',"extensions":' + orjson.dumps(result.extensions)
        content += b"}"
        self.answers += 1
        headers = [
            (b"content-length", str(len(content)).encode()),
            (b"content-type", send.media),
            (b"cache-control", b"no-store"),
            (REQUEST_ID_HEADER, observed.request_id.encode()),
            (b"vary", b"Origin"),
        ]
        observed.status = 200  # as the observer's `sending` records it
        await send.raw({"type": "http.response.start", "status": 200, "headers": headers})
        await send.raw({"type": "http.response.body", "body": content})

    async def _by_the_view(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        database: RequestConnection,
        state: State,
        result: ExecutionResult,
    ) -> None:
        """The answer the view gives to a result with errors (statuses, codes), or to one from
        a replica that failed under it (the primary answers again), as the fast path's."""
        request = Request(scope, _replay(body, receive))
        request.state.database = database
        request.state.document = getattr(state, "document", None)
        if database.replica_failed:
            response = await self.view.answer_again(request)
        else:
            response = await fast.respond(self.view, request, result)
        await response(scope, receive, no_store(send))


class _Sends:
    """The lane's `send`: the observer's over VaryOrigin's, for whatever the normal path's
    code answers; `raw`, the one beneath them, for the answer written whole here with the
    headers they add; and that answer's Content-Type."""

    def __init__(self, observed: Send, raw: Send, media: bytes) -> None:
        self.observed = observed
        self.raw = raw
        self.media = media

    async def __call__(self, message: Message) -> None:
        await self.observed(message)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` giving the body read already, then what the server's gives."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
