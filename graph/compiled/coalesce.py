"""Coalescing: compiled requests that run the same statement (the same SQL text, other
parameters) at the same time share one database round trip (FILMGRAPH_COALESCE).

The batched form of a statement runs it once per request in one statement, each request's
parameters a row of arrays:

    select b.i, s.data, s.ok
    from unnest($1::text[], $2::int[], ...) with ordinality b(p1, p2, ..., i)
    cross join lateral (<the statement, each $k::cast written b.pk::cast>) s

built from the statement's own text and fixed fragments (no value of a request is written
in SQL). A statement with an array parameter, none at all, or planned for its values
(custom_plan) has no batched form: it runs alone, as does every request when coalescing is
off.

A batch opens with its first request and takes those of the same statement that ask before
it has a connection (the same turn of the event loop, or while the pool is busy), up to
BATCH_SIZE. It runs in a task of its own on a connection of the pool, so that a request
whose client hangs up drops only its own answer. A batch that fails in any way (an error,
a statement or pool timeout, a lost connection) answers no one: each request then runs its
statement alone, as without coalescing, with its own errors and timeouts.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from typing import Any

from graph.observe import CURRENT

# The most requests one batch answers: its statement runs at most this many times as long as
# one request's under the same statement_timeout.
BATCH_SIZE = 16

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


class _Batch:
    def __init__(self, sql: str, alone: str) -> None:
        self.sql = sql
        self.alone = alone
        self.params: list[list[Any]] = []
        self.answers: list[asyncio.Future[tuple[str, bool] | None]] = []
        self.open = True


class Coalescer:
    """One process's batches, by statement text, over the pool (a BoundedPool)."""

    def __init__(self, pool: Any, size: int = BATCH_SIZE) -> None:
        self.pool = pool
        self.size = size
        self._open: dict[str, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # For tests and the bench: batches run, requests they answered, batches that failed.
        self.batches = 0
        self.answered = 0
        self.failed = 0

    async def row(self, sql: str, alone: str, params: list[Any]) -> tuple[str, bool] | None:
        """This request's (data, ok) from a batch of its statement's batched form `sql` (a
        batch of one runs the statement itself, `alone`); None when the batch failed (the
        request then runs alone)."""
        batch = self._open.get(sql)
        if batch is None or not batch.open:
            batch = _Batch(sql, alone)
            self._open[sql] = batch
            # In a context of its own: the statement is no one request's (each counts its own).
            task = asyncio.get_running_loop().create_task(
                self._run(batch), context=contextvars.Context()
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        answer: asyncio.Future[tuple[str, bool] | None] = asyncio.get_running_loop().create_future()
        batch.params.append(params)
        batch.answers.append(answer)
        if len(batch.answers) >= self.size:
            self._close(batch)
        started = time.monotonic()
        # A request that is cancelled (its client gone, its timeout) cancels its own answer
        # only: the batch runs on for the others.
        got = await answer
        observed = CURRENT.get()
        if observed is not None and got is not None:
            observed.statements += 1
            observed.sql_seconds += time.monotonic() - started
        return got

    def _close(self, batch: _Batch) -> None:
        batch.open = False
        if self._open.get(batch.sql) is batch:
            del self._open[batch.sql]

    async def _run(self, batch: _Batch) -> None:
        rows: list[Any] | None = None
        try:
            async with self.pool.acquire() as conn:
                self._close(batch)  # those that come now make the next batch
                if len(batch.params) == 1:
                    # No one came: the statement itself, which costs less than its batch.
                    rows = [(1, *row) for row in await conn.fetch(batch.alone, *batch.params[0])]
                else:
                    columns = [list(column) for column in zip(*batch.params, strict=True)]
                    rows = await conn.fetch(batch.sql, *columns)
        except Exception:
            self.failed += 1
            rows = None
        finally:
            self._close(batch)
            got: dict[int, tuple[str, bool]] = {}
            if rows is not None:
                got = {row[0]: (row[1], row[2]) for row in rows}
                if len(got) != len(batch.answers):
                    self.failed += 1
                    got = {}
                else:
                    self.batches += 1
                    self.answered += len(got)
            for i, answer in enumerate(batch.answers, start=1):
                if not answer.done():
                    answer.set_result(got.get(i))

    async def close(self) -> None:
        for task in list(self._tasks):
            await task
