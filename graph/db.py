"""The connection pool and the named SQL statements in sql/queries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import asyncpg

from graph.dsn import address
from graph.observe import count_statement, current
from graph.settings import Settings

if TYPE_CHECKING:
    from graph.replicas import Replica, Replicas

log = logging.getLogger(__name__)

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


class BoundedPool:
    """The API's connection pool, whose every acquire waits at most `acquire_timeout` seconds
    (opening a new connection included): under a flood of slow requests the rest fail fast
    (TimeoutError, so SERVICE_UNAVAILABLE) instead of queueing without end. Waiters are served
    first come, first served (see `_turns`). A request uses the pool through its own view,
    `for_request()`: one connection at most. Built on asyncpg's public pool API; the API
    reaches the database only through it."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        # asyncpg's pool hands a released connection to whoever asks next, and a waiter woken
        # for it loses it to a newcomer that asks first and goes back to the end of the line,
        # which lengthens the longest waits (p99 92 ms against 67 in bench/pool_fairness.py).
        # A FIFO semaphore of the pool's size, taken before asking, serves waiters in order:
        # one holding a turn always finds a connection free, or one to open.
        self._turns = asyncio.Semaphore(pool.get_max_size())
        # For admission (graph/admission.py): connections given out; when the line last moved
        # (a give-back, or a take that found a connection free); and how often it moves (a
        # moving average of the time between two moves ending in a give-back).
        self.holding = 0
        # Connections given back clean, kept for the next take: asyncpg's acquire and release
        # (a queue, a proxy, an inactivity timer; a task of its own for the release, a timeout
        # context and two reset coroutines) cost a compiled film page 8% of its CPU
        # (bench/README.md, "The lane"). Only a connection whose user saw no error comes back
        # here (`give_back(conn, clean=True)`); any other goes back through asyncpg, which
        # waits for a cancelled statement and resets what it must.
        self._kept: list[Any] = []
        # Batches of compiled requests (graph/compiled/coalesce.py), with FILMGRAPH_COALESCE.
        self.coalescer: Any = None
        # Takes that found every connection in use and waited (for /metrics).
        self.waits = 0
        self._moved_at = time.monotonic()
        self._back_every = 0.0

    def for_request(self, replicas: Replicas | None = None) -> RequestConnection:
        """One request's view of this pool (and of the replicas, if any): see
        RequestConnection."""
        return RequestConnection(self, replicas)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        """`async with pool.acquire() as conn`, as asyncpg's, with the bounded wait."""
        conn = await self.take()
        clean = False
        try:
            yield conn
            clean = True
        finally:
            await self.give_back(conn, clean)

    async def take(self) -> Any:
        """A connection, after waiting at most acquire_timeout; give it back with give_back."""
        if self.holding < self.pool.get_max_size():
            self._moved_at = time.monotonic()
        elif self._turns.locked():
            self.waits += 1
        if self._turns.locked():
            async with asyncio.timeout(self.acquire_timeout):
                await self._turns.acquire()
        else:
            # A turn is free: taken at once, without arming a timer that would never fire.
            await self._turns.acquire()
        try:
            # A turn held means a connection is free or may be opened; opening one is bounded
            # by the pool's connect timeout.
            conn = self._kept.pop() if self._kept else None
            if conn is not None and not _usable(conn):
                # The server ended it while it was kept: asyncpg cleans up after it.
                await self._release(conn)
                conn = None
            if conn is None:
                conn = await self.pool.acquire()
        except BaseException:
            self._turns.release()
            raise
        self.holding += 1
        return conn

    async def give_back(self, conn: Any, clean: bool = False) -> None:
        """Give back a connection of take(); `clean`: its user saw no error (no statement was
        cancelled or failed on it), so it is kept for the next take as it is."""
        try:
            if clean and _usable(conn):
                self._kept.append(conn)
                observed = current()
                if observed is not None and observed.span is not None:
                    # asyncpg calls the statement counter (graph/observe.py) soon after each
                    # statement, which makes its span: once, while the request's is open.
                    await asyncio.sleep(0)
            else:
                await self._release(conn)
        finally:
            self._turns.release()
            self.holding -= 1
            now = time.monotonic()
            gap = now - self._moved_at
            self._back_every = gap if not self._back_every else 0.8 * self._back_every + 0.2 * gap
            self._moved_at = now

    async def _release(self, conn: Any) -> None:
        try:
            await self.pool.release(conn)
        except (*CONNECTION_ERRORS, asyncpg.InternalClientError) as exc:
            # The connection was lost while in use (the server restarted or ended it): the pool
            # has closed it, and may have freed its slot already (asyncpg then reports an
            # InternalClientError); it opens a new one on demand. Its statement's error, which
            # the request has reported, said why.
            log.info("connection lost before it was released error=%r", exc)

    def idle(self) -> int:
        """Connections open and free: asyncpg's idle ones and those kept here."""
        idle: int = self.pool.get_idle_size()
        return idle + len(self._kept)

    @property
    def sharing(self) -> int:
        """Requests waiting for a connection, or running on one, in a batch of compiled
        requests beyond its first (graph/compiled/coalesce.py): they need no turn of their own."""
        return self.coalescer.sharing() if self.coalescer is not None else 0

    def expected_wait(self, ahead: int) -> float:
        """How long a request with `ahead` others before it in the line would wait for a
        connection: the pool's free connections serve the first of them at once, and the rest
        one per give-back, at the recent rate, or slower if the line has not moved for longer
        (a pool held by stuck statements)."""
        free: int = self.pool.get_max_size() - self.holding
        turns = ahead + 1 - free
        if turns <= 0:
            return 0.0
        every = max(self._back_every, time.monotonic() - self._moved_at)
        return turns * every

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
            return rows

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(query, *args)

    def saturated(self) -> bool:
        """Whether every connection the pool may open is open and in use."""
        size: int = self.pool.get_size()
        return self.idle() == 0 and size >= self.pool.get_max_size()

    async def close(self) -> None:
        if self.coalescer is not None:
            await self.coalescer.close()
        while self._kept:
            await self._release(self._kept.pop())
        await self.pool.close()


def _usable(conn: Any) -> bool:
    """Whether a kept connection may serve as it is: open, outside a transaction. One that
    the server closed may have gone back to asyncpg's pool already (its proxy then refuses)."""
    try:
        return not conn.is_closed() and not conn.is_in_transaction()
    except asyncpg.InterfaceError:
        return False


class RequestConnection:
    """One request's connection: taken from the pool by its first statement, given back by
    `release()` when the request ends (answered, timed out, or its client gone). A request's
    DataLoader batches run side by side, and a connection runs one statement at a time: they
    take turns on it, in the order they asked. The same API as BoundedPool's for statements
    (`acquire`, `fetch`, `fetchval`), so code that runs one takes either.

    With `replicas` (graph/replicas.py), the first statement takes the connection from the
    next replica that may serve, or from `pool`, the primary's, when none may. When the
    replica fails under a statement, `replica_failed` is set, the replica left out, and the
    request's later statements fail at once: the view answers the request again from the
    primary."""

    def __init__(self, pool: BoundedPool, replicas: Replicas | None = None) -> None:
        self.pool = pool
        self.replicas = replicas
        self.replica: Replica | None = None  # the one this request reads from, if any
        self.replica_failed = False
        self._conn: Any = None
        self._turn = asyncio.Lock()
        self._released = False
        self._clean = True  # no statement has failed or been cancelled on the connection
        self._replaced = False

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self._turn:
            if self._released:
                # A straggler of a request that has ended: its connection is someone else's.
                raise asyncpg.InterfaceError("the request has ended; its connection is released")
            if self.replica_failed:
                raise asyncpg.InterfaceError("the request is answered again from the primary")
            if self._conn is None:
                self._conn = await self._take()
            try:
                yield self._conn
            except BaseException as exc:
                self._clean = False
                if not isinstance(exc, Exception):
                    raise  # cancelled: asyncpg's release waits for the statement's end
                replica = self.replica
                if replica is None or self.replicas is None:
                    raise
                if not self.replicas.failed(replica, exc):
                    raise
                self.replica_failed = True
                self.replica = None
                conn, self._conn = self._conn, None
                await replica.pool.give_back(conn)
                raise

    async def _take(self) -> Any:
        replica = self.replicas.choose() if self.replicas is not None else None
        if replica is not None:
            assert self.replicas is not None
            try:
                conn = await replica.pool.take()
            except TimeoutError:
                pass  # its pool is busy: the primary's may not be
            except CONNECTION_ERRORS as exc:
                self.replicas.lost(replica, exc)
            else:
                self.replica = replica
                return conn
        return await self.pool.take()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
            return rows

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(query, *args)

    def saturated(self) -> bool:
        return self.pool.saturated()

    async def replace(self) -> bool:
        """Give back the primary's connection that a statement just lost (graph/lost.py), so that
        the next statement takes a fresh one; once a request. False when there is nothing to
        replace: no connection, a replica's (graph/replicas.py answers that), or a second
        loss."""
        async with self._turn:
            if self._released or self._replaced or self._conn is None or self.replica:
                return False
            self._replaced = True
            conn, self._conn = self._conn, None
            self._clean = True
            await self.pool.give_back(conn)  # not clean: asyncpg closes or resets it
            return True

    def holding(self) -> bool:
        """Whether the request holds a connection already (a batch of compiled requests,
        graph/compiled/coalesce.py, would wait for another while it holds one)."""
        return self._conn is not None

    def settled(self) -> bool:
        """No statement runs on the connection and none waits for it: release() takes its
        turn at once, and a cancellation after that cannot keep the connection from the pool
        (asyncpg shields its give-back)."""
        return not self._turn.locked()

    async def release(self) -> None:
        """Give the connection back, once a statement running on it has ended (cancelled with
        its request, or bounded by statement_timeout). Idempotent."""
        async with self._turn:
            self._released = True
            conn, self._conn = self._conn, None
            if conn is not None:
                pool = self.replica.pool if self.replica is not None else self.pool
                await pool.give_back(conn, self._clean)


# What runs statements: the pool itself, or one request's connection.
Database = BoundedPool | RequestConnection


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release, in place of asyncpg's four statements (RESET ALL,
    UNLISTEN *, CLOSE ALL, pg_advisory_unlock_all()): the API's statements leave no session
    state behind (no SET, LISTEN, cursor or advisory lock; a statement planned for its values
    is prepared afresh, see graph/discovery/pages.py), so there is nothing to reset. An
    open transaction (a statement cancelled inside one) asyncpg rolls back before this runs.
    Code that changes session state must not use a pooled connection;
    tests/test_statement_count.py checks that no setting outlives a request."""


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


async def _count_statements(conn: asyncpg.Connection) -> None:
    # Each statement of a request, counted and timed for its figures (graph/observe.py).
    conn.add_query_logger(count_statement)


async def create_pool(settings: Settings, dsn: str, *, min_size: int | None = None) -> BoundedPool:
    # Idempotent: a filter added twice is kept once.
    logging.getLogger("asyncpg.pool").addFilter(_one_line)
    pool = await asyncpg.create_pool(
        dsn,
        init=_count_statements if settings.observed else None,
        connect=_connect,
        min_size=settings.pool_min_size if min_size is None else min_size,
        max_size=settings.pool_max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        reset=_keep_session,
        server_settings={
            **SESSION_SETTINGS,
            "statement_timeout": str(settings.statement_timeout_ms),
        },
        timeout=10,
        command_timeout=settings.statement_timeout_ms / 1000 + 5,
    )
    bounded = BoundedPool(pool, settings.pool_timeout_ms / 1000)
    if settings.coalesce:
        from graph.compiled.coalesce import Coalescer

        bounded.coalescer = Coalescer(bounded, settings.statement_timeout_ms / 1000)
    return bounded
