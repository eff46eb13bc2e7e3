"""The rate limit shared by every process and server of a deployment: the buckets of
graph/ratelimit.py kept in PostgreSQL (FILMGRAPH_RATE_LIMIT_STORE=postgres, migration 0016).

A statement per charge would put a round trip on every request, and several on some (the
size of a body, then one point up front, then the cost). So a process takes points from a
client's shared bucket a lease at a time (FILMGRAPH_RATE_LIMIT_LEASE_POINTS, one statement,
`rate_limit_take`) and spends them locally; it asks again only once the lease cannot pay a
charge. The points a process holds are gone from the shared bucket, so the sum admitted over
all processes stays within the limit; a client spread over N processes may find up to N leases
of its points held by the others, a little less than its limit. A lease is spent within
LEASE_TTL_S of being taken, or dropped: points taken long ago and spent late would let a client
exceed its rate over a short window.

When the database cannot be reached (or is not migrated yet), each process falls back to a
limiter of its own, as with FILMGRAPH_RATE_LIMIT_STORE=process, and says so in the log once.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from graph.db import CONNECTION_ERRORS, BoundedPool, sql
from graph.ratelimit import PRUNE_AT, RateLimiter

log = logging.getLogger(__name__)

# How long a process may spend a lease after taking it.
LEASE_TTL_S = 1.0
# Every this many leases, a process drops the shared buckets nobody has touched for a minute.
FORGET_EVERY = 1_000


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
        pool: Callable[[], BoundedPool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(points_per_minute)
        self.per_second = points_per_minute / 60
        self.lease_points = float(min(lease_points, points_per_minute))
        self.pool = pool
        self.clock = clock
        self.leases: dict[str, _Lease] = {}
        self.leases_taken = 0
        # Used while the database cannot be reached.
        self.fallback = RateLimiter(points_per_minute, clock)
        self.falling_back = False

    async def charge(self, client: str, points: int) -> int | None:
        """Charge `points` to `client`; None when it had them, else the seconds to wait."""
        points = min(points, int(self.capacity))  # the most costly request still gets through
        now = self.clock()
        lease = self.leases.get(client)
        held = lease.points if lease is not None and lease.until > now else 0.0
        if held >= points:
            assert lease is not None
            lease.points -= points
            return None
        need = points - held
        try:
            granted, available = await self._take(client, need)
        except (*CONNECTION_ERRORS, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
            if not self.falling_back:
                log.warning("shared rate limit unavailable; limiting per process error=%r", exc)
                self.falling_back = True
            return self.fallback.take(client, points)
        if self.falling_back:
            log.info("shared rate limit available again")
            self.falling_back = False
        if granted < need:
            return max(1, math.ceil((need - available) / self.per_second))
        if lease is None and len(self.leases) >= PRUNE_AT:
            self.leases = {k: v for k, v in self.leases.items() if v.until > now}
        self.leases[client] = _Lease(held + granted - points, now + LEASE_TTL_S)
        return None

    async def _take(self, client: str, need: float) -> tuple[float, float]:
        pool = self.pool()
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                sql("rate_limit_take"),
                client,
                self.capacity,
                self.per_second,
                need,
                self.lease_points,
            )
            self.leases_taken += 1
            if self.leases_taken % FORGET_EVERY == 0:
                await conn.execute(sql("rate_limit_forget"), self.capacity / self.per_second)
        return row["granted"], row["available"]
