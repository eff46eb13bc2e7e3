"""The rate limit shared by every process and server of a deployment: the buckets of
graph/ratelimit.py kept in PostgreSQL (FILMGRAPH_RATE_LIMIT_STORE=postgres, migration 0016).

A statement per charge would put a round trip on every request, and several on some (the
size of a body, then one point up front, then the cost). So a process takes points from a
client's shared bucket a lease at a time (FILMGRAPH_RATE_LIMIT_LEASE_POINTS, one statement,
`rate_limit_take`) and spends them locally. Once half a lease is spent, the next is asked for
in the background, so that a busy client seldom waits for the round trip; a charge the lease
cannot pay waits for it. The points a process holds are gone from the shared bucket, so the sum
admitted over all processes stays within the limit; a client spread over N processes may find
up to N leases of its points held by the others, a little less than its limit. Points are
spent within LEASE_TTL_S of being taken, or dropped: points taken long ago and spent late would
let a client exceed its rate over a short window.

The leases are taken on connections of their own (a pool of CONNECTIONS, opened on the first
lease), not the requests' pool: there a lease would wait in line behind the requests holding
connections, and every request of its client behind it.

When the database cannot be reached (or is not migrated yet, or a lease takes longer than
LEASE_TIMEOUT_S), each process falls back to a limiter of its own, as with
FILMGRAPH_RATE_LIMIT_STORE=process, asks the database again RETRY_S later, and says so in the
log once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from graph.db import CONNECTION_ERRORS, BoundedPool, sql
from graph.ratelimit import PRUNE_AT, RateLimiter

log = logging.getLogger(__name__)

# How long a process may spend a lease after taking it.
LEASE_TTL_S = 1.0
# The shortest time a lease lasts at the limit's rate.
LEASE_FLOOR_S = 0.1
# The connections a process keeps for leases, besides FILMGRAPH_POOL_MAX.
CONNECTIONS = 2
# Every this many leases, a process drops the shared buckets nobody has touched for a minute.
FORGET_EVERY = 1_000
# How long a lease (a connection, then its statement, a few milliseconds) may take before the
# process limits on its own; and for how long it does then, before it asks the database again,
# so that a store that hangs (its table locked, a primary gone silent) holds each request for
# at most this once, not each of its charges for the statement timeout.
LEASE_TIMEOUT_S = 0.5
RETRY_S = 1.0


@dataclass
class _Lease:
    points: float
    until: float


class SharedRateLimiter:
    """Token buckets per client in PostgreSQL, spent through leases; the same charges and
    answers as RateLimiter (None when admitted, else the seconds to wait)."""

    def __init__(
        self,
        points_per_minute: int,
        lease_points: int,
        open_pool: Callable[[], Awaitable[BoundedPool]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(points_per_minute)
        self.per_second = points_per_minute / 60
        # A lease lasts a busy client at least LEASE_FLOOR_S at the limit's rate: with a high
        # limit (a frontend's API key), leases of a fixed size would be spent in milliseconds,
        # and each client's requests would wait for the next one.
        floor = self.per_second * LEASE_FLOOR_S
        self.lease_points = float(min(max(lease_points, floor), points_per_minute))
        self.open_pool = open_pool
        self.pool: BoundedPool | None = None
        self.opening = asyncio.Lock()
        self.clock = clock
        self.leases: dict[str, _Lease] = {}
        self.leases_taken = 0
        self.prune_at = PRUNE_AT
        # Per client, the lease being asked for, when one is.
        self.asking: dict[str, asyncio.Future[None]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        # Used while the database cannot be reached.
        self.fallback = RateLimiter(points_per_minute, clock)
        self.falling_back = False
        self.retry_at = 0.0  # while falling back, when to ask the database again

    async def charge(self, client: str, points: int) -> int | None:
        """Charge `points` to `client`; None when it had them, else the seconds to wait."""
        points = min(points, int(self.capacity))  # the most costly request still gets through
        while not self._spend(client, points):
            # One lease at a time per client: the requests that find the lease short together
            # (all of a busy client's, at once) wait for the one that asks, then spend from
            # what it brought, instead of each asking for a lease of its own.
            asking = self.asking.get(client)
            if asking is None:
                return await self._lease(client, points)
            await asyncio.shield(asking)
        if self.leases[client].points < self.lease_points / 2 and client not in self.asking:
            # Half spent: the next lease is asked for now, in the background, so that a busy
            # client's requests find it there rather than wait for the round trip.
            self._ask_ahead(client)
        return None

    def _ask_ahead(self, client: str) -> None:
        self.asking[client] = asking = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._top_up(client, asking))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _top_up(self, client: str, asking: asyncio.Future[None]) -> None:
        try:
            granted, _ = await self._take(client, 1.0)
            if granted:
                now = self.clock()
                lease = self.leases.get(client)
                if lease is not None and lease.until > now:
                    lease.points += granted
                    lease.until = now + LEASE_TTL_S
                else:
                    self.leases[client] = _Lease(granted, now + LEASE_TTL_S)
        except (*CONNECTION_ERRORS, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
            # The next charge that finds the lease short asks again, and falls back if need be.
            log.info("shared rate limit: no lease ahead error=%r", exc)
        finally:
            del self.asking[client]
            asking.set_result(None)

    def _spend(self, client: str, points: int) -> bool:
        lease = self.leases.get(client)
        if lease is None or lease.points < points or lease.until <= self.clock():
            return False
        lease.points -= points
        return True

    async def _lease(self, client: str, points: int) -> int | None:
        """Take a lease from the shared bucket and charge `points` to it."""
        now = self.clock()
        lease = self.leases.pop(client, None)
        held = lease.points if lease is not None and lease.until > now else 0.0
        need = points - held
        if self.falling_back and now < self.retry_at:
            return self.fallback.take(client, points)
        self.asking[client] = asking = asyncio.get_running_loop().create_future()
        try:
            granted, available = await self._take(client, need)
        except (*CONNECTION_ERRORS, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
            if not self.falling_back:
                log.warning("shared rate limit unavailable; limiting per process error=%r", exc)
                self.falling_back = True
            self.retry_at = self.clock() + RETRY_S
            return self.fallback.take(client, points)
        finally:
            del self.asking[client]
            asking.set_result(None)
        if self.falling_back:
            log.info("shared rate limit available again")
            self.falling_back = False
        if granted < need:
            if lease is not None and held:
                self.leases[client] = lease  # still good for smaller charges
            return max(1, math.ceil((need - available) / self.per_second))
        if len(self.leases) >= self.prune_at:
            self.leases = {k: v for k, v in self.leases.items() if v.until > now}
            self.prune_at = max(PRUNE_AT, 2 * len(self.leases))  # as RateLimiter's
        self.leases[client] = _Lease(held + granted - points, now + LEASE_TTL_S)
        return None

    async def _take(self, client: str, need: float) -> tuple[float, float]:
        async with self.opening:
            if self.pool is None:
                self.pool = await self.open_pool()
        pool = self.pool
        # TimeoutError is an OSError, one of CONNECTION_ERRORS: the caller falls back.
        async with asyncio.timeout(LEASE_TIMEOUT_S):
            conn = await pool.take()
            try:
                row = await conn.fetchrow(
                    sql("rate_limit_take"),
                    bucket_name(client),
                    self.capacity,
                    self.per_second,
                    need,
                    self.lease_points,
                )
            except BaseException:
                await pool.give_back(conn)
                raise
        try:
            self.leases_taken += 1
            if self.leases_taken % FORGET_EVERY == 0:
                # Not under the lease's deadline (a large table takes longer), and the lease
                # is granted whatever becomes of it.
                try:
                    await conn.execute(sql("rate_limit_forget"), self.capacity / self.per_second)
                except (*CONNECTION_ERRORS, asyncpg.InterfaceError) as exc:
                    log.info("shared rate limit: old buckets not dropped error=%r", exc)
        finally:
            await pool.give_back(conn)
        return row["granted"], row["available"]

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


def bucket_name(client: str) -> str:
    """The name of `client`'s shared bucket: a digest, not the client (`key:<API key>`), since
    the table is in every pg_dump and readable by any role that reads the database."""
    return hashlib.sha256(client.encode()).hexdigest()
