"""A burst of requests behind a held pool, for the tests of coalescing (graph/compiled/coalesce.py)
and of admission under it (graph/admission.py): every connection of the server's pool held by
a request whose statement waits on a lock, the burst sent, and the lock released only once
every request of the burst waits in a batch (or has been answered: refused, say). The batches
then form the same way on every run, however fast the server answers.

The burst goes in waves of at most WAVE requests, each sent once the one before waits: a
request counts for admission as soon as its head is read, before its body says what it asks,
and until it joins a batch it owes a pool turn of its own. A whole burst sent at once can have
more requests than the queue between the two (their bodies read later than their heads), which
admission rightly refuses behind a stuck pool; in waves, those in between stay under the
queue, and what is checked is how admission counts the batches.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

from graph.settings import Settings

T = TypeVar("T")

FILM_PAGE = (Path(__file__).parent.parent / "examples" / "film-page.graphql").read_text()

# At most half of the default FILMGRAPH_POOL_QUEUE (20) requests between two looks.
WAVE = Settings().pool_queue // 2


async def until(check: Callable[[], Awaitable[bool]], deadline: float = 10) -> None:
    """Until `check()` is true, asked again after each answer, under a deadline."""
    async with asyncio.timeout(deadline):
        while not await check():
            pass


def holder(i: int) -> dict[str, Any]:
    """A request whose statement waits on the lock (`film`), one of its own (an alias each)."""
    return {"query": f'{{ held{i}: film(slug: "no-such-film") {{ title }} }}'}


class Held:
    """The server's pool, every connection held by a statement waiting on `film`'s lock."""

    def __init__(self, app: Any, admin: asyncpg.Connection, lock: Any) -> None:
        self.app = app
        self.admin = admin
        self.lock = lock
        self.holders: list[asyncio.Future[httpx.Response]] = []
        self.released = False

    async def look(self) -> None:
        """A round trip between two looks at the server's state (it runs in another thread)."""
        await self.admin.fetchval("select 1")

    async def burst(
        self, requests: Sequence[Callable[[], Awaitable[T]]]
    ) -> list[asyncio.Future[T]]:
        """Send `requests` in waves of at most WAVE, each once the requests before it wait in
        batches or have been answered; returns them, still waiting. Only requests that run a
        statement with a batched form (or are refused) ever wait so."""
        coalescer = self.app.state.pool.coalescer
        asked: list[asyncio.Future[T]] = []

        async def waiting() -> bool:
            await self.look()
            done = sum(request.done() for request in asked)
            return bool(coalescer.waiting() + done >= len(asked))

        for start in range(0, len(requests), WAVE):
            asked += [asyncio.ensure_future(r()) for r in requests[start : start + WAVE]]
            await until(waiting, 30)
        return asked

    async def release(self) -> None:
        """Release the lock: the holders get their (empty) answers, the burst its turns."""
        if self.released:
            return
        self.released = True
        await self.lock.rollback()
        async with asyncio.timeout(30):
            for i, answer in enumerate(await asyncio.gather(*self.holders)):
                assert answer.json()["data"] == {f"held{i}": None}, answer.content


@contextlib.asynccontextmanager
async def held_pool(app: Any, client: httpx.AsyncClient, dsn: str) -> AsyncIterator[Held]:
    """The pool of `app` (served to `client`) held, until `Held.release()` or the end."""
    admin = await asyncpg.connect(dsn)
    locker = await asyncpg.connect(dsn)
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("lock table film in access exclusive mode")
        held = Held(app, admin, lock)
        try:
            connections: int = app.state.pool.pool.get_max_size()
            held.holders = [
                asyncio.ensure_future(client.post("/graphql", json=holder(i)))
                for i in range(connections)
            ]

            async def blocked() -> bool:
                waiting: int = await admin.fetchval(
                    "select count(*) from pg_stat_activity where application_name = 'filmgraph'"
                    " and wait_event_type = 'Lock'"
                )
                return waiting >= connections

            await until(blocked, 30)
            yield held
            await held.release()
        finally:
            if not held.released:  # the test failed: the lock goes, unchecked
                held.released = True
                await lock.rollback()
                for answer in held.holders:
                    answer.cancel()
                await asyncio.gather(*held.holders, return_exceptions=True)
    finally:
        await admin.close()
        await locker.close()


def film(slug: str) -> dict[str, Any]:
    """The film page's request for one film, with US offers."""
    return {"query": FILM_PAGE, "variables": {"slug": slug, "region": "US"}}


def pool_stuck(pool: Any, client: httpx.AsyncClient, queue: int) -> Callable[[], Awaitable[bool]]:
    """A condition for until(): the server's pool has given no connection back for so long
    that `queue` requests, each owing a turn, would not be served within the pool wait (they
    would be refused). A round trip to the server between looks."""

    async def stuck() -> bool:
        await client.get("/healthz")
        return bool(pool.expected_wait(queue) > pool.acquire_timeout)

    return stuck
