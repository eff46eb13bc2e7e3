"""The connection pool and the named SQL statements in sql/queries."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import asyncpg

from graph.dsn import address
from graph.settings import Settings

_NAME = re.compile(r"^-- name: (\w+)( \(paged\))?\s*$", re.MULTILINE)

# Wraps a paged statement (see sql/queries/films.sql): numbers its rows per parent, keeps the
# window that after/before/first/last select, and reports every parent's total, also for a
# parent whose window came out empty. $1 after (position, 0 for none), $2 before (position or
# null), $3 first, $4 last.
PAGE_FRAGMENT = """\
with page_base as (
{inner}
), page_total as (
    select parent, count(*) as total from page_base group by parent
)
select t.parent as page_parent, t.total as page_total, b.*
from page_total t
left join page_base b
  on b.parent = t.parent
 and b.rn > $1::bigint
 and b.rn < least($2::bigint, t.total + 1)
 and ($3::bigint is null or b.rn <= $1::bigint + $3::bigint)
 and ($4::bigint is null or b.rn >= least($2::bigint, t.total + 1) - $4::bigint)
order by t.parent, b.rn"""


@dataclass(frozen=True)
class Statement:
    name: str
    sql: str
    paged: bool


def sql_dir() -> Any:
    """The sql/ folder: packaged as graph.sql in a wheel, beside the package in a checkout.

    The wheel's copy is looked for first: in site-packages, the folder beside the package is
    site-packages/sql, which any other distribution could own."""
    installed = Path(__file__).resolve().parent / "sql"
    if installed.is_dir():
        return installed
    checkout = installed.parent.parent / "sql"
    if checkout.is_dir():
        return checkout
    return resources.files("graph.sql")


def parse_statements(text: str) -> dict[str, Statement]:
    """Split one .sql file into its `-- name:` blocks."""
    out: dict[str, Statement] = {}
    matches = list(_NAME.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[m.end() : end].strip().rstrip(";").strip()
        paged = m.group(2) is not None
        sql = PAGE_FRAGMENT.format(inner=body) if paged else body
        out[m.group(1)] = Statement(m.group(1), sql, paged)
    return out


def load_statements() -> dict[str, Statement]:
    out: dict[str, Statement] = {}
    for entry in sorted(sql_dir().joinpath("queries").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            for name, stmt in parse_statements(entry.read_text(encoding="utf-8")).items():
                if name in out:
                    raise RuntimeError(f"duplicate SQL statement name {name} in {entry.name}")
                out[name] = stmt
    return out


STATEMENTS = MappingProxyType(load_statements())


def sql(name: str) -> str:
    return STATEMENTS[name].sql


# Session settings of every connection the API opens.
# - No parallel workers: the API runs many small statements at once, so a worker that one
#   statement takes is a core the others lose. On the 2-core benchmark machine, a parallel
#   walk of the title index for a four-filter page took 100 ms where a plain one took 20.
SESSION_SETTINGS = {"max_parallel_workers_per_gather": "0", "application_name": "filmgraph"}
# The shortest wait an acquire is given, even once its request's budget is spent: time to
# take a free connection, or to open one.
MIN_ACQUIRE_S = 0.1


class WaitBudget:
    """How long one request may still wait for connections, all its acquires together. The
    clock runs while at least one of them waits: a request whose loads wait side by side pays
    that wait once, and one that waits at each level of its query (the film, then its
    directors, then their films) pays each wait from what is left, not the whole pool wait
    again at every level."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        self.waiting = 0
        self.since = 0.0

    def remaining(self) -> float:
        if self.waiting:
            return self.left - (time.monotonic() - self.since)
        return self.left

    def start(self) -> None:
        if self.waiting == 0:
            self.since = time.monotonic()
        self.waiting += 1

    def stop(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.left -= time.monotonic() - self.since


class BoundedPool:
    """The API's connection pool, whose every acquire waits at most `acquire_timeout` seconds
    (opening a new connection included): under a flood of slow requests the rest fail fast
    (TimeoutError, so SERVICE_UNAVAILABLE) instead of queueing without end. A request's view
    (`for_request()`) bounds the waits of all its acquires together: its refusal comes within
    `acquire_timeout` however many levels its query has (the film, then its directors, then
    their films), not after a full wait at each. Built on asyncpg's public pool API; the API
    reaches the database only through it."""

    def __init__(
        self, pool: asyncpg.Pool, acquire_timeout: float, budget: WaitBudget | None = None
    ) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        self.budget = budget

    def for_request(self) -> BoundedPool:
        """A view of this pool for one request, with a wait budget of its own."""
        return BoundedPool(self.pool, self.acquire_timeout, WaitBudget(self.acquire_timeout))

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        """`async with pool.acquire() as conn`, as asyncpg's, with the bounded wait."""
        conn = await self._acquire()
        try:
            yield conn
        finally:
            await self.pool.release(conn)

    async def _acquire(self) -> Any:
        budget = self.budget
        if budget is None:
            return await self.pool.acquire(timeout=self.acquire_timeout)
        wait = budget.remaining()
        if wait <= 0 and self.saturated():
            raise TimeoutError("the request has waited for connections as long as it may")
        budget.start()
        try:
            # A free connection (or one to open) is still taken once the budget is spent.
            return await self.pool.acquire(timeout=max(wait, MIN_ACQUIRE_S))
        finally:
            budget.stop()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
            return rows

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(query, *args)

    def saturated(self) -> bool:
        """Whether every connection the pool may open is open and in use."""
        idle: int = self.pool.get_idle_size()
        size: int = self.pool.get_size()
        return idle == 0 and size >= self.pool.get_max_size()

    async def close(self) -> None:
        await self.pool.close()


class DatabaseUnavailable(ConnectionError):
    """No connection to the database could be made. `reason` says why in words that stay the
    same from release to release (/readyz reports it): one of REASONS. Its text names the
    server (host and port) and the driver's error, for a log line."""

    def __init__(self, reason: str, where: str, error: BaseException) -> None:
        super().__init__(f"reason={reason!r} {where} error={str(error) or repr(error)!r}")
        self.reason = reason


UNREACHABLE = "unreachable"
REASONS = (
    UNREACHABLE,
    "authentication failed",
    "permission denied",
    "database does not exist",
    "too many connections",
)


def unavailable_reason(error: BaseException) -> str:
    """Why a connection attempt failed, as one of REASONS."""
    # Class 28 covers a wrong password, an unknown user and a pg_hba.conf rule that rejects
    # the connection: PostgreSQL tells them apart only in the message, on purpose.
    if isinstance(
        error, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
    ):
        return "authentication failed"
    if isinstance(error, asyncpg.InsufficientPrivilegeError):  # no CONNECT on the database
        return "permission denied"
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        return "database does not exist"
    if isinstance(error, asyncpg.TooManyConnectionsError):
        return "too many connections"
    return UNREACHABLE


# What talking to the database raises when it cannot be reached or refuses: OSError (TimeoutError
# and DatabaseUnavailable among them), PostgresError, and InterfaceError for a connection the
# client found broken.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


async def _connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """asyncpg.connect for the pool, whose every failure is a DatabaseUnavailable that says
    why and where: the pool logs it and the API answers it with SERVICE_UNAVAILABLE."""
    try:
        conn: asyncpg.Connection = await asyncpg.connect(dsn, **kwargs)
    except CONNECTION_ERRORS as exc:
        raise DatabaseUnavailable(unavailable_reason(exc), address(dsn), exc) from exc
    return conn


def _one_line(record: logging.LogRecord) -> bool:
    """While the database is down, asyncpg's pool retries the connections it keeps open
    (pool_min_size) with a growing delay and logs each failure with a traceback: one line
    that says why and where is enough."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, DatabaseUnavailable):
        record.msg = "database unavailable, reconnecting the pool %s"
        record.args = (error,)
        record.exc_info = None
        record.exc_text = None
    return True


async def create_pool(settings: Settings, dsn: str, *, min_size: int | None = None) -> BoundedPool:
    # Idempotent: a filter added twice is kept once.
    logging.getLogger("asyncpg.pool").addFilter(_one_line)
    pool = await asyncpg.create_pool(
        dsn,
        connect=_connect,
        min_size=settings.pool_min_size if min_size is None else min_size,
        max_size=settings.pool_max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        server_settings={
            **SESSION_SETTINGS,
            "statement_timeout": str(settings.statement_timeout_ms),
        },
        timeout=10,
        command_timeout=settings.statement_timeout_ms / 1000 + 5,
    )
    return BoundedPool(pool, settings.pool_timeout_ms / 1000)
