"""Helpers for the importer tests: run `filmgraph import` as a user does, fingerprint the
graph, and wait on conditions (never on the clock alone)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gzip
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from tests.child import Child

# Every table an import writes to, as one comparable value.
FINGERPRINT = """
select md5(string_agg(x, '|' order by x)) from (
    select 'f' || row(f.*)::text as x from film f
    union all select 'p' || row(p.*)::text from person p
    union all select 'g' || row(g.*)::text from genre g
    union all select 'fg' || row(fg.*)::text from film_genre fg
    union all select 'c' || row(c.*)::text from credit c
    union all select 'v' || row(v.*)::text from provider v
    union all select 'o' || row(o.*)::text from offer o
    union all select 'a' || row(a.*)::text from film_alternative_title a
) t
"""


# However busy the machine, an import of a test's files takes seconds.
IMPORT_LIMIT_S = 300


def env(dsn: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    out["DATABASE_URL"] = dsn
    return out


def filmgraph_import(dsn: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`filmgraph import ARGS…` to completion. One that does not finish within IMPORT_LIMIT_S
    fails the test with what it wrote on stderr, its database's sessions and its reader
    processes as they were then: where it was waiting (pytest would show three lines)."""
    command = [sys.executable, "-m", "graph.cli", "import", *map(str, args)]
    with subprocess.Popen(
        command, env=env(dsn), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=IMPORT_LIMIT_S)
        except subprocess.TimeoutExpired:
            waiting = _waiting(dsn, proc.pid)
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(
                f"filmgraph import {' '.join(map(str, args))} did not finish within "
                f"{IMPORT_LIMIT_S} s; its stderr:\n{err}\n{waiting}"
            ) from None
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


SESSIONS = """
select pid, application_name, state, wait_event_type, wait_event, now() - state_change,
       left(query, 160)
from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
"""


def _waiting(dsn: str, pid: int) -> str:
    """The sessions of dsn's database, and the processes pid started (its readers)."""

    async def sessions() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return list(await conn.fetch(SESSIONS))
        finally:
            await conn.close()

    # Called from a test's running event loop: the question gets a loop of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            rows = [str(tuple(r)) for r in pool.submit(asyncio.run, sessions()).result(30)]
        except Exception as exc:  # the answer is for a failure message: say why there is none
            rows = [f"(sessions not read: {exc!r})"]
    ps = subprocess.run(
        ["ps", "-ww", "-o", "pid,stat,etime,args", "--ppid", str(pid)],
        capture_output=True,
        text=True,
        check=False,
    )
    return "sessions:\n" + "\n".join(rows) + "\nits processes:\n" + ps.stdout


class Importer(Child):
    """`filmgraph import ARGS…` running in the background; its stderr read line by line."""

    def __init__(self, dsn: str, *args: str | Path) -> None:
        super().__init__(["import", *map(str, args)], env(dsn), stdout=True)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        super().wait_for(text, timeout)

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        """Exit status, stdout and all of stderr."""
        # Not communicate(): that would read stderr too, racing the reader thread for lines.
        self.proc.wait(timeout=timeout)
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self.drain()
        return self.proc.returncode, out, "".join(self.seen)


async def fingerprint(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        value: str | None = await conn.fetchval(FINGERPRINT)
        return value or "empty"
    finally:
        await conn.close()


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, within_s: float = 30) -> None:
    """Poll check() until it holds; fail after within_s seconds."""
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def import_backends(conn: asyncpg.Connection, *, waiting: bool = False) -> int:
    """Server processes of filmgraph imports (only those waiting on a lock, if asked)."""
    n: int = await conn.fetchval(
        """select count(*) from pg_stat_activity
           where datname = current_database() and application_name = 'filmgraph import'
             and (not $1 or wait_event_type = 'Lock')""",
        waiting,
    )
    return n


def write(path: Path, text: str, *, crlf: bool = False, final_newline: bool = True) -> Path:
    """A dataset file: `.gz` names are gzipped; CRLF line ends and a missing final newline on
    request."""
    data = text if final_newline else text.rstrip("\n")
    if crlf:
        data = data.replace("\n", "\r\n")
    raw = data.encode()
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path
