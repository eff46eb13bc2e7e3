"""An import into a graph that is serving reads yields the CPU to the API.

On a small machine the importer and its server process can keep every core busy for minutes,
and the API's answers then wait for a core (the film page p95 during a daily IMDb import was
four times its idle p95 on two cores). Both run at a lower priority (nice NICE): they still
get every cycle nobody else wants, so an import on an idle machine takes as long.

The server process is reniced only when it is on this machine, run by this user, and is the
connection's own: its pid as the server gives it, and a process of that pid whose working
directory is the server's data directory (a PostgreSQL backend's is). Otherwise (another
host, a container, a role not allowed to read data_directory) only the importer is.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import asyncpg

from graph import db

log = logging.getLogger(__name__)

NICE = 10


async def yield_cpu(conn: asyncpg.Connection) -> None:
    """Lower the CPU priority of this process and, where it can be told apart, of conn's
    server process. Nothing is raised: at worst the import runs at its usual priority."""
    _renice(os.getpid())
    try:
        async with conn.transaction():  # a savepoint: a refusal leaves the import's going
            row = await conn.fetchrow(db.sql("import_server_process"))
    except asyncpg.PostgresError as exc:  # not allowed to read data_directory
        log.debug("server process not reniced error=%r", str(exc))
        return
    pid = row["pid"]
    same = _in_data_directory(pid, row["data_directory"])
    if same:
        _renice(pid)
    log.debug("priority nice=%d server_pid=%d server_reniced=%s", NICE, pid, same)


def _in_data_directory(pid: int, data_directory: str) -> bool:
    """Whether process pid on this machine works in data_directory (a backend of it does)."""
    try:
        return Path(f"/proc/{pid}/cwd").resolve(strict=True) == Path(data_directory).resolve()
    except OSError:
        return False


def _renice(pid: int) -> None:
    # Only ever lowered: the current value and more, never back (which needs privileges).
    with contextlib.suppress(OSError):
        current = os.getpriority(os.PRIO_PROCESS, pid)
        if current < NICE:
            os.setpriority(os.PRIO_PROCESS, pid, NICE)
