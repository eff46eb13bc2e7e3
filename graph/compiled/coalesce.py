"""Coalescing: compiled requests that run the same statement (the same SQL text, other
parameters) at the same time share one database round trip (FILMGRAPH_COALESCE, on by
default).

The batched form of a statement runs it once per request in one statement, each request's
parameters a row of arrays:

    select b.i, s.data, s.ok
    from unnest($1::text[], $2::int[], ...) with ordinality b(p1, p2, ..., i)
    cross join lateral (<the statement, each $k::cast written b.pk::cast>) s

built from the statement's own text and fixed fragments (no value of a request is written
in SQL). A statement with an array parameter, none at all, or planned for its values
(custom_plan) has no batched form: it runs alone, as does every request when coalescing is
off, on a replica, or holding a connection already.

A batch opens with its first request and takes those of the same statement that ask before
it has a connection (the same turn of the event loop, or while the pool is busy), up to its
size. It runs in a task of its own on a connection of the pool. A batch of one runs the
statement itself, which costs less than its batched form.

Limits: a request keeps the bounds it has alone, one pool wait and one statement_timeout.
- The batch waits for the pool once, bounded as any take: when no connection comes in time
  (or the database cannot be reached), each request gets that error, as alone, without a
  second wait.
- The batch's statement runs under the session's statement_timeout from the connection its
  requests share, as each of theirs would alone. Its size is chosen so that it is expected to
  take at most a quarter of that (SHARE, from the statement's recent batches): a batch of
  slow statements is small, one of statements slower than a quarter of the timeout runs alone.
  A batch of several that times out all the same may owe it to one request's values (a
  page of a hundred films among pages of one): each request runs alone, within what remains
  of its own bounds (below), so that the cheap ones get their answers and the dear one its
  timeout; none waits longer than alone.
- A request whose client hangs up or whose wall-clock limit expires leaves its batch; when
  the last one leaves, the batch's task is cancelled, which cancels its statement on the
  server (asyncpg sends the cancel request), as the request's own would be. A batch thus
  lives until the latest deadline of its requests, never after.
- A batch whose connection was lost under it, or that failed otherwise with several
  requests (one request's values may be at fault), answers each with `Alone`: the request
  runs its statement alone, but only within what remains of its own bounds (its pool wait
  and statement_timeout, counted from when it asked); past that it gets what it would get
  alone (graph/compiled/run.py): a pool wait that ran out while it waits for a connection,
  a statement timeout while its statement runs.

Admission (graph/admission.py) counts the requests of a batch as one turn of the pool
(`sharing`): a burst of one statement waits in a few batches rather than being refused.

Statements: the batch is one statement on the server for all its requests; each request's
figures (graph/observe.py) count it as its one statement, and its whole time as the
request's SQL time (the time the request waited on it, not a share).
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.connection import LoggedQuery

from graph.lost import LOST
from graph.observe import CURRENT, count_statement

# The most requests one batch answers.
BATCH_SIZE = 16
# The share of statement_timeout a batch is expected to take at most (see `size`).
SHARE = 0.25
# Statements whose recent cost per request is remembered (a bound on memory; past it, the
# memory starts afresh and batches are BATCH_SIZE until they are timed again).
REMEMBERED = 1_000

# A parameter as the compiler writes it (graph/compiled/sql.py, Builder.param): `$n::cast`.
_PARAM = re.compile(r"\$(\d+)::([a-z][a-z0-9_]*)\b(\[\])?")
# The casts whose array type is the cast and `[]`: any other keeps a statement apart.
_SCALARS = frozenset({"text", "int", "bigint", "numeric", "boolean", "date", "timestamptz"})


def batched(sql: str) -> str | None:
    """The batched form of a compiled statement's SQL; None when it has none (an array
    parameter, a parameter without its cast, or none at all)."""
    casts: dict[int, str] = {}
    for match in _PARAM.finditer(sql):
        number, cast, array = int(match.group(1)), match.group(2), match.group(3)
        if array or cast not in _SCALARS:
            return None
        casts.setdefault(number, cast)
    if not casts or sorted(casts) != list(range(1, len(casts) + 1)):
        return None
    if len(re.findall(r"\$\d+", sql)) != len(_PARAM.findall(sql)):
        return None  # a placeholder without a cast
    inner = _PARAM.sub(lambda m: f"b.p{m.group(1)}::{m.group(2)}", sql)
    arrays = ", ".join(f"${n}::{casts[n]}[]" for n in sorted(casts))
    names = ", ".join(f"p{n}" for n in sorted(casts))
    return (
        f"select b.i, s.data, s.ok\nfrom unnest({arrays}) with ordinality b({names}, i)\n"
        f"cross join lateral ({inner}) s"
    )


@dataclass(frozen=True)
class Alone:
    """The batch could not answer: run the statement alone, by `deadline` (loop time)."""

    deadline: float


Answer = tuple[str, bool] | Alone


class _Member:
    __slots__ = ("answer", "asked", "params")

    def __init__(self, params: list[Any], answer: asyncio.Future[Answer], asked: float) -> None:
        self.params = params
        self.answer = answer
        self.asked = asked


class _Batch:
    def __init__(self, sql: str, alone: str, size: int) -> None:
        self.sql = sql
        self.alone = alone
        self.size = size
        self.members: list[_Member] = []
        self.open = True
        self.task: asyncio.Task[None] | None = None
        # The statement it ran, and how long it took, once it has.
        self.ran: str | None = None
        self.elapsed = 0.0


class Coalescer:
    """One process's batches, by statement text, over the pool (a BoundedPool)."""

    def __init__(self, pool: Any, statement_timeout: float, size: int = BATCH_SIZE) -> None:
        self.pool = pool
        self.statement_timeout = statement_timeout
        self.max_size = size
        self._open: dict[str, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: set[_Batch] = set()  # those without a connection yet
        self._live: set[_Batch] = set()  # those whose task has not ended
        # Seconds per request of each statement's recent batches (a moving average).
        self._cost: dict[str, float] = {}
        # For /metrics, tests and the bench: batches that answered, the requests they
        # answered, batches that failed (their requests got the error, or ran alone).
        self.batches = 0
        self.answered = 0
        self.failed = 0

    def waiting(self) -> int:
        """Requests in batches that wait for a connection."""
        return sum(len(batch.members) for batch in self._waiting)

    def sharing(self) -> int:
        """Requests that need no pool turn of their own: those waiting in a batch (for its
        connection, or for its statement) beyond the batch's first. For admission
        (graph/admission.py): a batch takes one turn for all its requests."""
        shared = 0
        for batch in self._live:
            waiting = sum(not member.answer.done() for member in batch.members)
            if waiting > 1:
                shared += waiting - 1
        return shared

    def size(self, sql: str) -> int:
        """How many requests a batch of the statement takes: as many as fit in SHARE of
        statement_timeout at its recent cost per request, from 1 to the most."""
        cost = self._cost.get(sql)
        if not cost:
            return self.max_size
        return max(1, min(self.max_size, int(self.statement_timeout * SHARE / cost)))

    def _budget(self, member: _Member) -> float:
        wait: float = self.pool.acquire_timeout
        return member.asked + wait + self.statement_timeout

    async def row(self, sql: str, alone: str, params: list[Any]) -> Answer:
        """This request's (data, ok) from a batch of its statement's batched form `sql` (a
        batch of one runs the statement itself, `alone`), or Alone when the request must run
        it alone. Raises the error the request would get alone: no connection in time, the
        database unreachable, a statement timeout."""
        loop = asyncio.get_running_loop()
        batch = self._open.get(sql)
        if batch is None:
            batch = _Batch(sql, alone, self.size(sql))
            self._open[sql] = batch
            # In a context of its own: the statement is no one request's (each counts its own).
            task = loop.create_task(self._run(batch), context=contextvars.Context())
            batch.task = task
            self._tasks.add(task)
            self._waiting.add(batch)
            self._live.add(batch)
            task.add_done_callback(self._ended(batch))
        member = _Member(params, loop.create_future(), loop.time())
        batch.members.append(member)
        if len(batch.members) >= batch.size:
            self._close(batch)
        try:
            got = await member.answer
        except asyncio.CancelledError:
            if member.answer.done() and not member.answer.cancelled():
                member.answer.exception()  # answered as it left: retrieved, not logged
            self._leave(batch)
            raise
        except Exception as exc:
            self._count(batch, exc)
            raise
        if not isinstance(got, Alone):
            self._count(batch, None)
        return got

    @staticmethod
    def _count(batch: _Batch, error: BaseException | None) -> None:
        """The batch's statement, that ran (or failed) for this request: counted as its one
        statement, and its span (graph/observe.py), in the request's context."""
        if batch.ran is not None and CURRENT.get() is not None:
            count_statement(LoggedQuery(batch.ran, (), None, batch.elapsed, error, None, None))

    def _close(self, batch: _Batch) -> None:
        batch.open = False
        if self._open.get(batch.sql) is batch:
            del self._open[batch.sql]

    def _leave(self, batch: _Batch) -> None:
        """A request left (cancelled: its client gone, its limit expired); with it the last,
        the batch ends, and its statement with it."""
        if all(member.answer.done() for member in batch.members):
            self._close(batch)
            if batch.task is not None and not batch.task.done():
                batch.task.cancel()

    async def _run(self, batch: _Batch) -> None:
        try:
            conn = await self.pool.take()
        except Exception as exc:
            self._waiting.discard(batch)
            # No connection in time, or none could be opened: each request's error, as alone.
            self._close(batch)
            self.failed += 1
            for member in batch.members:
                if not member.answer.done():
                    member.answer.set_exception(exc)
            return
        self._close(batch)  # those that come now make the next batch
        self._waiting.discard(batch)
        members = [member for member in batch.members if not member.answer.done()]
        clean = False
        started = time.perf_counter()  # uvloop's loop.time() counts whole milliseconds
        try:
            if len(members) == 1:
                batch.ran = batch.alone
                rows = [(1, *row) for row in await conn.fetch(batch.alone, *members[0].params)]
            elif members:
                batch.ran = batch.sql
                each = (member.params for member in members)
                columns = [list(column) for column in zip(*each, strict=True)]
                rows = await conn.fetch(batch.sql, *columns)
            else:
                rows = []
            clean = True
            batch.elapsed = time.perf_counter() - started
        except Exception as exc:
            batch.elapsed = time.perf_counter() - started
            self.failed += 1
            if isinstance(exc, asyncpg.QueryCanceledError):
                # Slow statements (a lock, a heavy page) make smaller batches from now on.
                self._learn(batch.sql, batch.elapsed / len(members))
            self._failed(members, exc)
            return
        finally:
            await self.pool.give_back(conn, clean)
        if not members:
            return
        got = {row[0]: (row[1], row[2]) for row in rows}
        if len(got) != len(members):
            self.failed += 1
            for member in members:
                if not member.answer.done():
                    member.answer.set_result(Alone(self._budget(member)))
            return
        self._learn(batch.sql, batch.elapsed / len(members))
        self.batches += 1
        self.answered += len(members)
        for i, member in enumerate(members, start=1):
            if not member.answer.done():
                member.answer.set_result(got[i])

    def _failed(self, members: list[_Member], exc: Exception) -> None:
        for member in members:
            if member.answer.done():
                continue
            if isinstance(exc, LOST) or len(members) > 1:
                # Lost (alone, it is asked again on a fresh connection), or one request's
                # values may be at fault (an error, or a statement past the timeout that
                # would time out the cheap ones beside it): alone, within its own bounds.
                member.answer.set_result(Alone(self._budget(member)))
            else:
                # Its own statement's error, or its own statement's timeout.
                member.answer.set_exception(exc)

    def _learn(self, sql: str, cost: float) -> None:
        if len(self._cost) >= REMEMBERED and sql not in self._cost:
            self._cost.clear()
        before = self._cost.get(sql)
        self._cost[sql] = cost if before is None else 0.8 * before + 0.2 * cost

    def _ended(self, batch: _Batch) -> Callable[[asyncio.Task[None]], None]:
        def ended(task: asyncio.Task[None]) -> None:
            # Whatever ended the task (cancelled before it began, by close()), no request is
            # left waiting for it: those still there run alone.
            self._tasks.discard(task)
            self._waiting.discard(batch)
            self._live.discard(batch)
            self._close(batch)
            for member in batch.members:
                if not member.answer.done():
                    member.answer.set_result(Alone(self._budget(member)))

        return ended

    async def close(self) -> None:
        """End the batches still running (the pool is closing): their requests run alone."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
