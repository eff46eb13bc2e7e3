"""The data version, known from memory: one connection per server process LISTENs for the
version every committed write announces (migration 0008), so a process knows of a write
within a moment of its commit without asking the database on each request.

Until it has read the version (at start, and again after losing its connection), a process
does not know it (`current` is None), and HTTP caching then neither answers from its cache
nor gives an ETag (graph/httpcache.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from graph.db import CONNECTION_ERRORS, sql

log = logging.getLogger(__name__)

CHANNEL = "filmgraph_data_version"
# The version is read again this often on the listening connection: a notification lost
# with a connection that died silently is then noticed, and the connection replaced, within
# CHECK_EVERY_S + CHECK_TIMEOUT_S.
CHECK_EVERY_S = 5.0
CHECK_TIMEOUT_S = 2.0
# Wait between attempts to reconnect while the database is away.
RECONNECT_S = 0.5
CONNECT_TIMEOUT_S = 5.0


class DataVersion:
    """The latest data version this process has heard of, kept current by a background task
    between start() and stop()."""

    def __init__(self, dsn: str, on_change: Callable[[int | None], None] | None = None) -> None:
        self.dsn = dsn
        self.current: int | None = None
        self.on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self._known = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def known(self) -> None:
        """Until the version is known (under a timeout of the caller's)."""
        await self._known.wait()

    def _set(self, version: int | None) -> None:
        if version == self.current:
            return
        self.current = version
        if version is None:
            self._known.clear()
        else:
            self._known.set()
        if self.on_change is not None:
            self.on_change(version)

    def _notified(self, conn: object, pid: int, channel: str, payload: object) -> None:
        # Notifications arrive in commit order, and each commit raises the version by one.
        try:
            version = int(str(payload))
        except ValueError:
            log.warning("data version notification not a number payload=%r", payload)
            return
        self._set(version)

    async def _listen(self) -> None:
        failing = False
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=CONNECT_TIMEOUT_S,
                    server_settings={"application_name": "filmgraph data version"},
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _, lost=lost: lost.set())
                # Listening before reading: a write committed in between is not missed.
                await conn.add_listener(CHANNEL, self._notified)
                while True:
                    async with asyncio.timeout(CHECK_TIMEOUT_S):
                        self._set(await conn.fetchval(sql("data_version")))
                    if failing:
                        log.info("data version known again version=%s", self.current)
                        failing = False
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(CHECK_EVERY_S):
                            await lost.wait()
                    if lost.is_set():
                        raise ConnectionError("the listening connection was closed")
            except (*CONNECTION_ERRORS, asyncpg.InternalClientError, TimeoutError) as exc:
                # The database is away, not migrated to 0008, or too slow: not knowing the
                # version only turns caching off.
                if not failing:
                    log.warning("data version unknown, caching off until it is error=%r", exc)
                    failing = True
            finally:
                self._set(None)
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(RECONNECT_S)
