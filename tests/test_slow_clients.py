"""Slow clients against the real server: a request's head and body must arrive within their
deadlines (FILMGRAPH_HEADER_TIMEOUT_MS, FILMGRAPH_BODY_TIMEOUT_MS), idle connections are
closed, and the server keeps answering others meanwhile. Real sockets, each client sending a
byte at a time; the waits between bytes pace the clients, every wait has a deadline."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from graph.app import create_app
from graph.settings import Settings
from tests.conftest import LiveServer, gql

QUERY = '{ film(slug: "refusenik-2007") { title } }'
FILM = {"film": {"title": "Refusenik"}}
# Seconds between two bytes of a slow client: far shorter than the deadlines, so no gap
# between bytes is what times the connection out.
PACE = 0.1
HEAD = b"POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"


@pytest.fixture(scope="module")
def server(dsn: str) -> Iterator[tuple[LiveServer, Settings]]:
    settings = Settings(header_timeout_ms=2_000, body_timeout_ms=2_000)
    with LiveServer(create_app(settings, dsn), settings) as live:
        yield live, settings


class Slow:
    """A client sending `prefix` at once, then `data` a byte every PACE seconds until the
    server answers or closes."""

    def __init__(self, port: int, data: bytes, prefix: bytes = b"") -> None:
        self.port = port
        self.prefix = prefix
        self.data = data
        self.sent = 0
        self.started = asyncio.Event()
        self.task = asyncio.ensure_future(self.run())

    async def run(self) -> tuple[bytes, float]:
        """(what the server sent until it closed, seconds from connecting to the close)."""
        # Timed from before the connection: the server's clock starts once it accepts, which
        # can be well before this coroutine resumes on a busy loop.
        start = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(self.prefix)
        try:
            for byte in self.data:
                try:
                    writer.write(bytes([byte]))
                    await writer.drain()
                except ConnectionError:
                    break
                self.sent += 1
                if self.sent == 2:
                    self.started.set()
                # The pace: wait for the server's answer, at most until the next byte.
                try:
                    first = await asyncio.wait_for(reader.read(65536), PACE)
                except TimeoutError:
                    continue
                return first + await reader.read(), time.monotonic() - start
            return await reader.read(), time.monotonic() - start
        finally:
            writer.close()


def answered_408(received: bytes) -> None:
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received
    assert b"connection: close" in head.lower(), received
    assert json.loads(body) == {
        "errors": [
            {
                "message": "The request was not received in time.",
                "extensions": {"code": "REQUEST_TIMEOUT"},
            }
        ]
    }


async def test_200_slow_heads_are_cut_off_and_others_are_served(
    server: tuple[LiveServer, Settings],
) -> None:
    live, settings = server
    timeout = settings.header_timeout_ms / 1000
    # A head that, at this pace, would take minutes to arrive.
    head = HEAD + b"x-padding: " + b"a" * 2_000 + b"\r\n\r\n"
    async with asyncio.timeout(timeout + 20):
        clients = [Slow(live.port, head) for _ in range(200)]
        await asyncio.gather(*(c.started.wait() for c in clients))
        # With every slow client connected and sending, others are served.
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200
            assert await gql(client, QUERY) == FILM
        assert not any(c.task.done() for c in clients), "a slow client was cut off too early"
        results = await asyncio.gather(*(c.task for c in clients))
    for received, seconds in results:
        answered_408(received)
        assert timeout - 0.1 <= seconds < timeout + 5, seconds


async def test_a_slow_body_is_cut_off(server: tuple[LiveServer, Settings]) -> None:
    live, settings = server
    timeout = settings.body_timeout_ms / 1000
    body = json.dumps({"query": QUERY, "padding": "a" * 2_000}).encode()
    head = HEAD + f"content-length: {len(body)}\r\n\r\n".encode()
    async with asyncio.timeout(timeout + 20):
        clients = [Slow(live.port, body, prefix=head) for _ in range(20)]
        results = await asyncio.gather(*(c.task for c in clients))
    for received, seconds in results:
        answered_408(received)
        assert timeout - 0.1 <= seconds < timeout + 5, seconds


async def test_a_body_the_app_does_not_read_is_cut_off_too(
    server: tuple[LiveServer, Settings],
) -> None:
    # /healthz takes no POST: 405 at once, with the body still coming.
    live, settings = server
    body = b"a" * 2_000
    head = f"POST /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n\r\n"
    timeout = settings.body_timeout_ms / 1000
    async with asyncio.timeout(timeout + 20):
        slow = Slow(live.port, body, prefix=head.encode())
        received, seconds = await slow.task
    assert received.startswith(b"HTTP/1.1 405 "), received
    # Answered at once, and the connection closed at the deadline, before the body ended.
    assert received.count(b"HTTP/1.1") == 1, received
    assert timeout - 0.1 <= seconds < timeout + 5, seconds
    assert slow.sent < len(body)


async def test_idle_connections_are_closed(server: tuple[LiveServer, Settings]) -> None:
    live, settings = server
    async with asyncio.timeout(settings.header_timeout_ms / 1000 + 20):
        # A connection that never sends a byte: closed without an answer.
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        assert await reader.read() == b""
        writer.close()
        # Nor one idle after a request it was answered (keep-alive).
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.endswith(b'{"status":"ok"}'), answer


async def test_a_connection_serves_requests_past_the_deadline_each_in_time(
    server: tuple[LiveServer, Settings],
) -> None:
    # The deadline is per request: a keep-alive connection outlives it, and a head sent in
    # pieces within it is read.
    live, settings = server
    timeout = settings.header_timeout_ms / 1000
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        start = time.monotonic()
        for _ in range(3):
            assert await gql(client, QUERY) == FILM
            await asyncio.sleep(timeout / 2)  # pacing: the connection idles between requests
        assert await gql(client, QUERY) == FILM
        assert time.monotonic() - start > timeout
    async with asyncio.timeout(timeout + 20):
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        for piece in (b"GET /healthz HTTP/1.1\r\n", b"host: 127.0.0.1\r\n", b"\r\n"):
            writer.write(piece)
            await asyncio.sleep(timeout / 4)  # pacing: the head arrives in three pieces
        answer = await reader.readuntil(b'{"status":"ok"}')
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer


async def test_keep_alive_connections_are_closed_when_idle(live: LiveServer) -> None:
    # As `filmgraph serve` runs: uvicorn's keep-alive timeout (5 s) closes a connection idle
    # after its answer, before the head deadline (10 s) would.
    async with asyncio.timeout(30):
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        await reader.readuntil(b'{"status":"ok"}')
        idle = time.monotonic()
        assert await reader.read() == b""
        writer.close()
    assert 4.5 < time.monotonic() - idle < 9, time.monotonic() - idle
