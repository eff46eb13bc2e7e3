"""Read replicas: which database each GraphQL request reads from.

With FILMGRAPH_REPLICA_URLS set, a request reads from the usable replicas in turn (its one
connection, see graph/db.py's RequestConnection), and from the primary (DATABASE_URL) when
none is usable. Everything else uses the primary: imports, migrations, the demo load, the
data version's listener, the JSON-LD pages and /readyz's schema check.

A background check reads every replica's state each FILMGRAPH_REPLICA_CHECK_MS, each under a
deadline (CHECK_TIMEOUT_S). A replica is usable when it answered the last check, is a standby
(in recovery), and lags the primary by at most FILMGRAPH_REPLICA_MAX_LAG_MS. The lag is
measured on the primary's WAL: each check samples the primary's WAL position, and a replica's
lag is the time since the primary was first past what the replica has replayed (0 when it
has replayed what the primary had written at the last sample).

A usable replica serves a request only if it has replayed the data version this process
knows (graph/dataversion.py, from the primary's notifications), so that an answer cached or
given an ETag under a version holds that version's data or newer, never older: after a
write, requests read from the primary until the check sees the replica at the new version
(a new version wakes the check at once, and a replica behind it is checked again within
milliseconds, backing off to the usual period).

A replica that fails under a request (gone, restarting, or a statement cancelled because it
conflicted with the replay of the primary's changes) is left out at once, and the request is
answered again from the primary (graph/view.py), so a client sees no error of the replica's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg

from graph.db import (
    CONNECTION_ERRORS,
    UNREACHABLE,
    BoundedPool,
    DatabaseUnavailable,
    create_pool,
    sql,
    unavailable_reason,
)
from graph.dsn import address
from graph.settings import Settings

log = logging.getLogger(__name__)

# Each check of one database, connecting included, ends within this.
CHECK_TIMEOUT_S = 2.0
# A replica behind the data version is checked again after this, doubling up to the period.
CATCH_UP_S = 0.02

OK = "ok"
LAGGING = "lagging"
NOT_A_STANDBY = "not a standby"
NOT_MIGRATED = "not migrated"
NOT_CHECKED = "not checked yet"

# What a statement on a replica raises when the replica went away or is going: the request
# is answered again from the primary, and the replica left out until a check finds it back.
LOST: tuple[type[BaseException], ...] = (
    ConnectionError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, a connection closed mid-statement too
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)
# A statement a standby cancelled because it conflicted with the replay of the primary's
# changes (SQLSTATE 40001): answered again from the primary; the replica stays in.
CONFLICT: tuple[type[BaseException], ...] = (asyncpg.SerializationError,)


def describe(url: str) -> str:
    """A database's host, port and name, for /readyz and the logs: never its password."""
    name = unquote(urlsplit(url).path.lstrip("/"))
    return f"{address(url)} database={name}" if name else address(url)


@dataclass
class Replica:
    """One replica: its pool, and what the last check found."""

    url: str
    name: str
    pool: BoundedPool
    state: str = NOT_CHECKED
    # The data version it had replayed at the last check (it only grows: replay goes forward).
    version: int | None = None
    lag_ms: int | None = None
    check: asyncpg.Connection | None = None  # the check's own connection

    def serves(self, version: int | None) -> bool:
        """Whether a request may read from it while this process knows `version` (None: not
        known, and then nothing is cached or given an ETag)."""
        if self.state != OK:
            return False
        return version is None or (self.version is not None and self.version >= version)


class Replicas:
    """The replicas of one server process, checked in the background between start() and
    stop(). `version` is the data version the process knows."""

    def __init__(
        self,
        settings: Settings,
        primary: str,
        pools: list[tuple[str, BoundedPool]],
        version: Callable[[], int | None],
    ) -> None:
        self.primary = primary
        self.replicas = [Replica(url, describe(url), pool) for url, pool in pools]
        self.version = version
        self.every_s = settings.replica_check_ms / 1000
        self.max_lag_s = settings.replica_max_lag_ms / 1000
        # The primary's WAL position by time (monotonic), one sample per position it moved
        # to, back to the start of the lag bound's window.
        self.samples: deque[tuple[float, int]] = deque()
        self._next = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._primary: asyncpg.Connection | None = None
        self._primary_failing = False

    @classmethod
    async def open(
        cls, settings: Settings, primary: str, version: Callable[[], int | None]
    ) -> Replicas:
        """Pools for settings.replica_urls: a replica down at start-up gets an empty pool that
        connects on demand, as the primary's does."""
        pools = []
        for url in settings.replica_urls:
            try:
                pool = await create_pool(settings, url)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning(
                    "replica unavailable at start-up replica=%r error=%r", describe(url), exc
                )
                pool = await create_pool(settings, url, min_size=0)
            pools.append((url, pool))
        return cls(settings, primary, pools, version)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for replica in self.replicas:
            _close(replica.check)
            await replica.pool.close()
        _close(self._primary)

    def choose(self) -> Replica | None:
        """The next replica in turn that may serve a request now; None: read from the primary."""
        version = self.version()
        count = len(self.replicas)
        for i in range(count):
            replica = self.replicas[(self._next + i) % count]
            if replica.serves(version):
                self._next = (self._next + i + 1) % count
                return replica
        return None

    def lost(self, replica: Replica, error: BaseException) -> None:
        """A request found the replica gone: left out until a check finds it back."""
        reason = error.reason if isinstance(error, DatabaseUnavailable) else UNREACHABLE
        self._set(replica, reason, repr(error))
        self._wake.set()

    def failed(self, replica: Replica, error: BaseException) -> bool:
        """Whether `error`, raised by a statement on the replica, is the replica's failure
        rather than the statement's (the request is then answered again from the primary)."""
        if isinstance(error, LOST):
            self.lost(replica, error)
            return True
        return isinstance(error, CONFLICT)

    def changed(self, version: int | None) -> None:
        """The data version changed: check the replicas now, to read from them again as soon
        as they have replayed it."""
        self._wake.set()

    def report(self) -> list[dict[str, Any]]:
        """Each replica's state, for /readyz."""
        return [
            {
                "database": r.name,
                "state": r.state,
                "serving": r.serves(self.version()),
                "lag_ms": r.lag_ms,
                "data_version": r.version,
            }
            for r in self.replicas
        ]

    async def _run(self) -> None:
        catch_up = CATCH_UP_S
        while True:
            self._wake.clear()
            await self.check()
            version = self.version()
            behind = any(r.state == OK and not r.serves(version) for r in self.replicas)
            wait = catch_up if behind else self.every_s
            catch_up = min(2 * catch_up, self.every_s) if behind else CATCH_UP_S
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            if self._wake.is_set():
                catch_up = CATCH_UP_S

    async def check(self) -> None:
        """One round: the primary's WAL position, then every replica at once."""
        now = time.monotonic()
        position = await self._primary_position()
        if position is not None and (not self.samples or position > self.samples[-1][1]):
            self.samples.append((now, position))
        window = self.max_lag_s + 2 * self.every_s
        while len(self.samples) > 1 and self.samples[1][0] < now - window:
            self.samples.popleft()
        # A primary that did not answer cannot say how far behind a replica is: the replicas
        # keep serving (reads from the primary would fail too).
        await asyncio.gather(*(self._check(r, position is not None) for r in self.replicas))

    async def _primary_position(self) -> int | None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                if self._primary is None or self._primary.is_closed():
                    self._primary = await _connect(self.primary)
                position: int = await self._primary.fetchval(sql("primary_wal_position"))
        except (*CONNECTION_ERRORS, asyncpg.InternalClientError, TimeoutError) as exc:
            if not self._primary_failing:
                log.warning("replica lag unknown: the primary does not answer error=%r", exc)
                self._primary_failing = True
            _close(self._primary)
            self._primary = None
            return None
        self._primary_failing = False
        return position

    async def _check(self, replica: Replica, lag_known: bool) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                if replica.check is None or replica.check.is_closed():
                    replica.check = await _connect(replica.url)
                row = await replica.check.fetchrow(sql("replica_state"))
        except (*CONNECTION_ERRORS, asyncpg.InternalClientError, TimeoutError) as exc:
            _close(replica.check)
            replica.check = None
            if isinstance(exc, asyncpg.UndefinedTableError):
                reason = NOT_MIGRATED
            elif isinstance(exc, TimeoutError):
                reason = UNREACHABLE
            else:
                reason = unavailable_reason(exc)
            self._set(replica, reason, repr(exc))
            return
        assert row is not None
        if not row["in_recovery"]:
            # A server that is not replaying the primary's WAL (one promoted, or the primary
            # itself): what it holds may differ from the primary's.
            self._set(replica, NOT_A_STANDBY, "not in recovery")
            return
        replica.version = row["version"]
        if lag_known:
            replica.lag_ms = round(1000 * self._lag(row["replayed"]))
        lagging = replica.lag_ms is not None and replica.lag_ms > 1000 * self.max_lag_s
        self._set(replica, LAGGING if lagging else OK, f"lag_ms={replica.lag_ms}")

    def _lag(self, replayed: int) -> float:
        """Seconds since the primary was first seen past `replayed` (0: not past it)."""
        for at, position in self.samples:
            if position > replayed:
                return time.monotonic() - at
        return 0.0

    def _set(self, replica: Replica, state: str, detail: str) -> None:
        if state == replica.state:
            return
        if state == OK:
            log.info("replica usable replica=%r %s", replica.name, detail)
        else:
            log.warning("replica left out replica=%r reason=%r %s", replica.name, state, detail)
        replica.state = state


class ReadPools:
    """The pools requests read from, as admission (graph/admission.py) sees one pool: a
    request holding a replica's connection is not waiting for one, and the line is shared by
    the replicas that serve, in turn (the primary alone when none does)."""

    def __init__(self, primary: BoundedPool, replicas: Replicas) -> None:
        self.primary = primary
        self.replicas = replicas
        self.acquire_timeout = primary.acquire_timeout

    @property
    def holding(self) -> int:
        return self.primary.holding + sum(r.pool.holding for r in self.replicas.replicas)

    @property
    def sharing(self) -> int:
        # A request that may read from a replica runs its statement alone: only the primary's
        # batches, if any, share.
        return self.primary.sharing

    def expected_wait(self, ahead: int) -> float:
        version = self.replicas.version()
        serving = [r.pool for r in self.replicas.replicas if r.serves(version)]
        if not serving:
            return self.primary.expected_wait(ahead)
        share = -(-ahead // len(serving))  # the line, split among them in turn
        return sum(pool.expected_wait(share) for pool in serving) / len(serving)


async def _connect(url: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(
        url,
        timeout=CHECK_TIMEOUT_S,
        server_settings={"application_name": "filmgraph replica check"},
    )
    return conn


def _close(conn: asyncpg.Connection | None) -> None:
    if conn is not None:
        conn.terminate()
