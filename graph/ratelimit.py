"""Rate limiting per client, in cost points per minute: a token bucket per client key.

RateLimiter is in-process, so each process counts on its own: behind a load balancer of N
processes a client gets up to N times the limit (graph/sharedlimit.py shares one limit among
them, FILMGRAPH_RATE_LIMIT_STORE=postgres), and the client's address is the balancer's unless
the proxy headers are trusted (uvicorn's FORWARDED_ALLOW_IPS, loopback only by default).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from graphql import GraphQLError

from graph import errors

# What a request costs the server before its cost is known (reading, decoding and parsing it)
# grows with its size: one point per this many bytes of URL and body, charged as it arrives.
# A film-page request (1.4 KB) pays 14; a body of 1 MB, 10,000 (10 a minute at the default
# 100,000 points).
BYTES_PER_POINT = 100

# Past this many clients, buckets that have refilled completely are dropped: they hold nothing
# a new bucket would not.
PRUNE_AT = 10_000


class Limiter(Protocol):
    """What charges a request: RateLimiter (in this process) or graph/sharedlimit.py's
    SharedRateLimiter (in PostgreSQL, for the whole deployment)."""

    capacity: float

    async def charge(self, client: str, points: int) -> int | None:
        """Charge `points` to `client`; None when it had them, else the seconds to wait."""
        ...


@dataclass
class _Bucket:
    points: float
    at: float


class RateLimiter:
    def __init__(self, points_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(points_per_minute)
        self.per_second = points_per_minute / 60
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}
        # The number of buckets at which the next prune comes: twice what the last one left,
        # so that with many clients at once each new one does not scan them all again.
        self.prune_at = PRUNE_AT

    def take(self, client: str, points: int) -> int | None:
        """Charge `points` to `client`; None when it had them, else the seconds to wait."""
        points = min(points, int(self.capacity))  # the most costly request still gets through
        now = self.clock()
        bucket = self.buckets.get(client)
        if bucket is None:
            if len(self.buckets) >= self.prune_at:
                self._prune(now)
                self.prune_at = max(PRUNE_AT, 2 * len(self.buckets))
            bucket = self.buckets[client] = _Bucket(self.capacity, now)
        bucket.points = min(self.capacity, bucket.points + (now - bucket.at) * self.per_second)
        bucket.at = now
        if points <= bucket.points:
            bucket.points -= points
            return None
        missing = points - bucket.points
        return max(1, math.ceil(missing / self.per_second))

    async def charge(self, client: str, points: int) -> int | None:
        return self.take(client, points)

    def _prune(self, now: float) -> None:
        full = [
            key
            for key, b in self.buckets.items()
            if b.points + (now - b.at) * self.per_second >= self.capacity
        ]
        for key in full:
            del self.buckets[key]


def client_key(api_key: str | None, address: str | None, api_keys: frozenset[str]) -> str:
    """The bucket a request draws from: its API key when that key is configured, else its
    address (a key not configured would let a client mint a fresh bucket per request)."""
    if api_key is not None and api_key in api_keys:
        return f"key:{api_key}"
    return f"address:{address or 'unknown'}"


def rate_limited(limiter: Limiter, wait: int) -> GraphQLError:
    return errors.limit_error(
        f"Rate limit reached: {limiter.capacity:.0f} cost points per minute. Retry in {wait} s.",
        errors.RATE_LIMITED,
        retryAfter=wait,
    )
