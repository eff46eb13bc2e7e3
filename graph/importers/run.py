"""One import run: a connection, one transaction under an advisory lock, the error budget,
the per-table tally, and a watchdog that notices a dead database within seconds.

Everything an importer writes happens inside the transaction that `run_import` opens, so the
graph changes all at once or not at all: an exception, a SIGKILL or a lost connection rolls
it back (the server does that itself when the client vanishes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import asyncpg

from graph import db
from graph.dsn import address
from graph.httpcache import TABLE_TAGS
from graph.importers.progress import FileProgress, terminal
from graph.importers.readahead import Filter, ReadAhead
from graph.importers.reader import REPEATED_HEADER, Reject, Source, csv_rows

log = logging.getLogger(__name__)

T = TypeVar("T")

# Any fixed number: only one import runs against a database at a time.
IMPORT_LOCK_ID = 0x494D5054  # "IMPT"
# The watchdog asks the server for a sign of life this often, and gives up after this long:
# a connection that dies silently is noticed within about 7 s.
WATCHDOG_EVERY_S = 2.0
WATCHDOG_TIMEOUT_S = 5.0

# The summary lists tables in this order: nodes before the links between them.
TABLE_ORDER = (
    "film",
    "rating",  # a film's IMDb rating and votes: not a table, but what title.ratings gives
    "film_alternative_title",
    "genre",
    "film_genre",
    "person",
    "credit",
    "provider",
    "offer",
)

# Rows naming a title or person that is not there are an extract's nature: a few of them are
# shown as examples, per file and reason, and the rest counted.
DANGLING_EXAMPLES = 3
# Why header lines inside a file are skipped (Run.repeated_headers).
REPEATED_HEADERS = "repeated header line(s) of files joined together"

SESSION_SETTINGS = {
    "application_name": "filmgraph import",
    # Merges of millions of rows take longer than the API's statement limit.
    "statement_timeout": "0",
    # An import waits on row locks as long as it must; only the wait for the import lock is
    # bounded (--wait), and this is the value it returns to after that wait.
    "lock_timeout": "0",
    # Should the client hang between statements, the server ends the transaction (and so
    # releases its locks) rather than keep it open.
    "idle_in_transaction_session_timeout": "60s",
    # A client that dies during a long statement is noticed by the server within seconds,
    # and a silent network loss by TCP keepalive, so no transaction outlives its importer.
    "client_connection_check_interval": "2s",
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "2",
}


class ImportFailed(Exception):
    """The import wrote nothing; `code` is the exit status of the command."""

    code = 2


class TooManyRejects(ImportFailed):
    code = 1


class ImportBusy(ImportFailed):
    code = 3


class ConnectionLost(ImportFailed):
    code = 2


@dataclass
class Tally:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    deleted: int = 0


@dataclass
class Run:
    """What an importer works with: the connection (inside the transaction) and the books."""

    conn: asyncpg.Connection
    max_errors: int
    out: TextIO | None = field(default_factory=terminal)
    rejected: int = 0
    tallies: dict[str, Tally] = field(default_factory=dict)
    # (file, reason) -> rows left out for naming what neither the files nor the graph has.
    dangling: dict[tuple[str, str], int] = field(default_factory=dict)

    def tally(self, table: str) -> Tally:
        return self.tallies.setdefault(table, Tally())

    def merged(self, table: str, inserted: int, updated: int, total: int) -> None:
        """Count a merge of `total` rows into table, of which some were new or changed."""
        t = self.tally(table)
        t.inserted += inserted
        t.updated += updated
        t.unchanged += total - inserted - updated

    def reject(self, item: Reject, table: str) -> None:
        """Report a bad row; past the budget, abort the whole import."""
        if self.out:
            self.out.write("\r\x1b[K")
        print(item, file=sys.stderr, flush=True)
        self.count_rejects(1, table)

    def count_rejects(self, n: int, table: str) -> None:
        self.rejected += n
        self.tally(table).rejected += n
        if self.rejected > self.max_errors:
            raise TooManyRejects(
                f"{self.rejected} bad row(s), more than --max-errors {self.max_errors}; "
                "nothing was imported"
            )

    def heard(self, item: Reject, table: str, headers: list[int]) -> None:
        """A reader's reject: a bad row, or a repeated header (its line goes to headers)."""
        if item.reason == REPEATED_HEADER:
            headers.append(item.line)
        else:
            self.reject(item, table)

    def repeated_headers(self, file: str, lines: list[int]) -> None:
        """Say once how many header lines a file had again (copies joined), and where: not
        bad rows, they spend no --max-errors; the summary counts them as skipped."""
        shown = [f"line {n}" for n in sorted(lines)[:DANGLING_EXAMPLES]]
        self.skip_dangling(file, REPEATED_HEADERS, len(lines), shown)

    def note(self, message: str) -> None:
        if self.out:
            self.out.write("\r\x1b[K")
        print(f"filmgraph: {message}", file=sys.stderr, flush=True)

    def skip_dangling(self, file: str, reason: str, count: int, examples: list[str]) -> None:
        """Leave out rows that name what neither the files nor the graph has: an extract's
        references, not bad rows, so they do not spend --max-errors. One line on stderr per
        file and reason, with a few examples; the summary gives the totals."""
        if not count:
            return
        key = (file, reason)
        self.dangling[key] = self.dangling.get(key, 0) + count
        shown = ", ".join(examples)
        more = f", e.g. {shown}" if shown else ""
        self.note(f"{file}: {count} {reason} skipped{more}")

    def name_unread(self, directory: Path, read: set[str]) -> None:
        """Say which files in directory this import does not read (a misspelt name, a file
        of another dataset), so that nobody takes them for imported."""
        unread = sorted(
            p.name for p in directory.iterdir() if p.name not in read and not p.name.startswith(".")
        )
        if unread:
            self.note(f"{directory}: not read: {', '.join(unread)}")

    async def resolve(self, statement: str, file: str, reason: str) -> int:
        """Run a resolve statement (sql/queries/import_imdb.sql: it removes the rows naming
        what is not there and returns, per file, skipped, dangling, lines and refs); report
        the dangling rows, return how many were skipped (of title types left out)."""
        skipped = 0
        for row in await self.conn.fetch(db.sql(statement), DANGLING_EXAMPLES, file):
            skipped += row["skipped"]
            listed = zip(row["lines"] or [], row["refs"] or [], strict=True)
            examples = [f"line {line} ({ref})" for line, ref in listed]
            self.skip_dangling(row["file"], reason, row["dangling"], examples)
        return skipped

    def budget(self) -> int:
        """How many rejects a SQL check should list: one past the budget is enough to stop."""
        return self.max_errors - self.rejected + 1

    async def check(self, statement: str, file: str, table: str, *args: object) -> int:
        """Run a set-based check (see sql/queries/import*.sql: it removes the rows it rejects
        and returns rejected, skipped, lines, reasons); report its rejects, return skipped."""
        return await self._listed(db.sql(statement), file, table, *args)

    async def reject_rows(self, statement: str, stage: str, file: str, table: str) -> None:
        """Remove from `stage` the rows `statement` gives a reason for (it selects line and
        reason, null for a good row), and report them."""
        await self._listed(_REJECT.format(reasons=db.sql(statement), stage=stage), file, table)

    async def _listed(self, sql: str, file: str, table: str, *args: object) -> int:
        row = await self.conn.fetchrow(sql, self.budget(), file, *args)
        listing = zip(row["files"] or [], row["lines"] or [], row["reasons"] or [], strict=True)
        for name, line, reason in listing:
            self.reject(Reject(name, line, reason), table)
        listed = len(row["lines"] or [])
        if row["rejected"] > listed:
            self.count_rejects(row["rejected"] - listed, table)
        skipped: int = row["skipped"]
        return skipped

    def progress(self, source: Source) -> FileProgress:
        return FileProgress(source.name, source.size, lambda: source.position, self.out)

    async def stage_tsv(
        self,
        table: str,
        path: Path,
        header: list[str],
        target: str,
        keep: Callable[[bytes], bytes] | None = None,
        *,
        last: Callable[[], bytes] | None = None,
        again: bool = False,
        drop: Filter | None = None,
        ahead: ReadAhead | None = None,
    ) -> tuple[str, int]:
        """Stream a tab-separated file into a staging table (`line` + its columns as text),
        the lines `drop` wants left out left out by the reader (see kept.py), each COPY block
        through `keep` if given (it may drop lines, see digests.py), then what `last` gives
        after the last block. `again`: the file is read a second time, and its bad lines,
        reported the first, are not reported again. `ahead`: the file's reader, started
        before (ReadAhead.spool), instead of one started now.

        Returns the file's name and how many of its lines were read."""
        source = Source(path)  # a missing or unreadable file fails here, as it did
        source.close()

        headers: list[int] = []

        def reject(item: Reject) -> None:
            if not again:
                self.heard(item, target, headers)

        reader: ReadAhead
        progress = FileProgress(source.name, source.size, lambda: reader.position, self.out)
        if ahead is None:
            reader = ReadAhead(path, header, reject, progress.add, drop)
        else:
            reader = ahead
            reader.reject, reader.counted = reject, progress.add
        # Closed here, whatever ends the COPY: that ends the child too.
        async with contextlib.aclosing(reader.blocks()) as read:
            blocks = read if keep is None else _filtered(read, keep, last)
            await self.conn.copy_to_table(
                table, source=blocks, columns=["line", *_columns(header)], format="text"
            )
        progress.done()
        self.repeated_headers(source.name, headers)
        await self.conn.execute(f"analyze {table}")
        return source.name, progress.rows

    async def stage_csv(
        self, table: str, path: Path, header: list[str], target: str
    ) -> tuple[str, int]:
        """Stream a comma-separated file into a staging table, like stage_tsv."""
        source = Source(path)
        progress = self.progress(source)
        try:
            headers: list[int] = []
            rows = csv_rows(source, header, lambda r: self.heard(r, target, headers), progress.add)
            records = ((n, *fields) for n, fields in rows)
            await self.conn.copy_records_to_table(
                table, records=_aiter_records(records), columns=["line", *_columns(header)]
            )
        finally:
            source.close()
        progress.done()
        self.repeated_headers(source.name, headers)
        await self.conn.execute(f"analyze {table}")
        return source.name, progress.rows

    async def add_tally(self) -> None:
        """Add this import's rows to the totals /metrics reports (migration 0018)."""
        outcomes = ("inserted", "updated", "unchanged", "rejected", "deleted")
        rows = [(t, o, getattr(c, o)) for t, c in self.tallies.items() for o in outcomes]
        await self.conn.execute(
            db.sql("import_tally_add"),
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )

    def summary(self, seconds: float) -> str:
        width = max([len(t) for t in self.tallies] + [5])
        heads = ("inserted", "updated", "unchanged", "rejected", "deleted")
        lines = [f"{'table':<{width}} " + " ".join(f"{h:>10}" for h in heads)]
        order = {table: i for i, table in enumerate(TABLE_ORDER)}
        for table, t in sorted(self.tallies.items(), key=lambda kv: order.get(kv[0], 99)):
            if t == Tally():
                continue  # a table this import had nothing for
            lines.append(
                f"{table:<{width}} {t.inserted:>10} {t.updated:>10} {t.unchanged:>10} "
                f"{t.rejected:>10} {t.deleted:>10}"
            )
        for (file, reason), count in self.dangling.items():
            lines.append(f"skipped {file}: {count} {reason}")
        lines.append(f"cache tags: {' '.join(self.cache_tags()) or 'none'}")
        lines.append(f"done in {seconds:.1f} s")
        return "\n".join(lines)

    def cache_tags(self) -> list[str]:
        """The Cache-Tag type tags of what this import changed (docs/caching.md): purging
        them at a CDN purges every cached answer that may show a change."""
        changed = {
            table for table, t in self.tallies.items() if t.inserted or t.updated or t.deleted
        }
        return sorted({tag for table in changed for tag in TABLE_TAGS.get(table, ())})


# The shared half of every row check: drop the rows that have a reason from the stage table,
# count them and list the first $1 of them, in line order, for file $2.
_REJECT = """with checked as ({reasons}), gone as (
    delete from {stage} s using checked c
    where c.reason is not null and s.line = c.line
    returning s.line, c.reason
)
select (select count(*) from gone) as rejected, 0::bigint as skipped,
       array_agg($2::text) as files, array_agg(line order by line) as lines,
       array_agg(reason order by line) as reasons
from (select line, reason from gone order by line limit $1) listed"""


def _columns(header: list[str]) -> list[str]:
    """Staging columns are the file's own column names, lower-cased."""
    return [h.lower() for h in header]


async def _filtered(
    blocks: AsyncIterator[bytes],
    keep: Callable[[bytes], bytes],
    last: Callable[[], bytes] | None,
) -> AsyncIterator[bytes]:
    async for block in blocks:
        if kept := keep(block):
            yield kept
    if last is not None and (rest := last()):
        yield rest


async def _aiter_records(
    records: Iterator[tuple[object, ...]],
) -> AsyncIterator[tuple[object, ...]]:
    for record in records:
        yield record


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """A connection for an import step, given up on if the server does not answer within
    WATCHDOG_TIMEOUT_S (it may accept the TCP connection and then say nothing)."""
    try:
        conn: asyncpg.Connection = await asyncpg.connect(dsn, timeout=WATCHDOG_TIMEOUT_S, **kwargs)
    except TimeoutError:
        raise ConnectionLost(
            f"lost the database connection: no answer within {WATCHDOG_TIMEOUT_S:g} s "
            f"({address(dsn)})"
        ) from None
    return conn


async def _probe(dsn: str) -> asyncpg.Connection | None:
    """The watchdog's own connection, made before the step starts, so that a server that
    stops answering at any point after is noticed (None: no watchdog)."""
    try:
        probe: asyncpg.Connection = await connect(
            dsn, server_settings={"application_name": "filmgraph import watchdog"}
        )
    except asyncpg.PostgresError as exc:
        # The step's own connection has just been made, so the server is there: perhaps out
        # of connection slots. Carry on without a watchdog rather than fail the import.
        log.warning("watchdog off error=%r", str(exc))
        return None
    except OSError as exc:
        raise ConnectionLost(f"lost the database connection: {exc}") from None
    return probe


async def _silence(probe: asyncpg.Connection) -> None:
    """Ping the server on the probe connection; return once it stops answering."""
    try:
        while True:
            await asyncio.sleep(WATCHDOG_EVERY_S)
            await asyncio.wait_for(probe.fetchval(db.sql("import_ping")), WATCHDOG_TIMEOUT_S)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        log.warning("database not answering timeout_s=%.0f", WATCHDOG_TIMEOUT_S)
    finally:
        probe.terminate()


async def watched(dsn: str, conn: asyncpg.Connection, step: Coroutine[Any, Any, T]) -> T:
    """Run one step of an import on conn while a watchdog pings the server; if the server
    stops answering, cut conn and end the step with ConnectionLost.

    Cutting the connection is not enough on its own: a statement waiting for its answer ends
    with it, but a COPY waiting for the server to take more data waits on the socket's
    buffer, which nothing drains any more. So the step runs as a task of its own, and is
    cancelled."""
    try:
        probe = await _probe(dsn)
    except BaseException:
        step.close()
        raise
    task = asyncio.ensure_future(step)
    if probe is None:
        return await task
    silence = asyncio.create_task(_silence(probe))
    try:
        await asyncio.wait({task, silence}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            conn.terminate()
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise ConnectionLost(
                f"lost the database connection: no answer within {WATCHDOG_TIMEOUT_S:g} s"
            )
        try:
            return task.result()
        except (asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError, OSError) as exc:
            if conn.is_closed():
                raise ConnectionLost(f"lost the database connection: {exc}") from None
            raise
    finally:
        # Also when this coroutine is cancelled itself (SIGTERM): the step goes with it, and
        # rolls back.
        for t in (silence, task):
            t.cancel()
        for t in (silence, task):
            with contextlib.suppress(BaseException):
                await t


# Statement text to its name in sql/queries, for the log of each statement's time.
_NAMES = {statement.sql: name for name, statement in db.STATEMENTS.items()}


def _log_statement(query: asyncpg.connection.LoggedQuery) -> None:
    """Each statement of the import and its time, at debug level: where an import spends its
    time (bench/imdb_scale.py reads these lines)."""
    if log.isEnabledFor(logging.DEBUG):
        name = _NAMES.get(query.query) or " ".join(query.query.split()[:3])
        log.debug("statement name=%s seconds=%.3f", name, query.elapsed)


async def _take_lock(run: Run, wait_s: float) -> None:
    """Take the import lock for the run's transaction. If another import holds it, fail at
    once (wait_s 0) or say so and wait up to wait_s seconds for it to finish."""
    conn = run.conn
    if await conn.fetchval(db.sql("import_lock_try"), IMPORT_LOCK_ID):
        return
    running = await _running(conn)
    if wait_s <= 0:
        raise ImportBusy(f"{running}; run this one when it has finished, or pass --wait SECONDS")
    run.note(f"{running}; waiting up to {wait_s:g} s for it to finish")
    limit_ms = max(math.ceil(wait_s * 1000), 1)
    try:
        # A savepoint, so that a timeout leaves the transaction usable to name the holder.
        async with conn.transaction():
            # The server's lock queue wakes us the moment the holder ends, without polling.
            # Until then this transaction holds nothing, so its wait blocks no one; the
            # watchdog and a cancellation end it like any other statement.
            await conn.fetchval(db.sql("import_lock_wait_limit"), str(limit_ms))
            await conn.fetchval(db.sql("import_lock_wait"), IMPORT_LOCK_ID)
            await conn.fetchval(db.sql("import_lock_wait_limit"), SESSION_SETTINGS["lock_timeout"])
    except asyncpg.LockNotAvailableError:
        running = await _running(conn)
        raise ImportBusy(
            f"gave up after waiting {wait_s:g} s: {running}; nothing was imported"
        ) from None


async def _running(conn: asyncpg.Connection) -> str:
    """Who holds the import lock, asked in a savepoint that is then rolled back: that releases
    the catalog locks of the question, so that a waiting import holds no lock at all."""
    question = conn.transaction()
    await question.start()
    try:
        holder = await conn.fetchval(db.sql("import_lock_holder"), IMPORT_LOCK_ID)
    finally:
        await question.rollback()
    # None: it has just finished, or it is a prepared transaction (no server process).
    return "another import is running" + (f" (server pid {holder})" if holder else "")


async def run_import(
    dsn: str, max_errors: int, work: Callable[[Run], Awaitable[None]], wait_s: float = 0
) -> tuple[Run, float]:
    """Run `work` in one transaction under the import lock, waiting up to wait_s seconds for
    another import to finish; return the run and its seconds."""
    start = time.monotonic()
    conn = await connect(dsn, server_settings=SESSION_SETTINGS)
    conn.add_query_logger(_log_statement)
    run = Run(conn, max_errors)
    try:
        await watched(dsn, conn, _in_transaction(run, work, wait_s))
    finally:
        # Closed already when the watchdog cut it; a server that stops answering now is
        # given up on after the timeout.
        await conn.close(timeout=WATCHDOG_TIMEOUT_S)
    return run, time.monotonic() - start


async def _in_transaction(run: Run, work: Callable[[Run], Awaitable[None]], wait_s: float) -> None:
    async with run.conn.transaction():
        await _take_lock(run, wait_s)
        await work(run)
        await run.add_tally()
        # Fold the facet tallies the import appended to (migration 0003), in the same
        # transaction: imports run one at a time, and readers see either ledger whole.
        await run.conn.fetchval(db.sql("compact_film_tally"))
