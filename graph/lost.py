"""A connection lost under a statement: what asyncpg raises when the server ended the
connection (pg_terminate_backend's 57P01, a restart) while the pool kept it, the server never
having answered the statement. Such a statement may be asked again on a fresh connection
(graph/compiled/run.py), and a batch of requests that lost its connection has each run alone
(graph/compiled/coalesce.py)."""

from __future__ import annotations

import asyncpg

# asyncpg finds out on the next use: a closed connection; a reset; the server's last message
# read in the middle of the next statement (InternalClientError).
LOST: tuple[type[BaseException], ...] = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
)
