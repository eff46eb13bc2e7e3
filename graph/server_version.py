"""The PostgreSQL versions filmgraph supports, and a clear refusal of an older server.

filmgraph runs on every PostgreSQL still supported upstream, 15 to 18; the suite runs on 15
and 18. Older servers lack what the migrations use (the first already needs 15's
`unique nulls not distinct`), so they would fail half-way through a migration with an error
that does not say why.
"""

from __future__ import annotations

import asyncpg

OLDEST_SUPPORTED = 15
NEWEST_TESTED = 18


class UnsupportedServer(RuntimeError):
    """The database server is older than filmgraph supports."""


async def check_server_version(conn: asyncpg.Connection, oldest: int = OLDEST_SUPPORTED) -> None:
    """Raise UnsupportedServer, naming the version found, when the server is older than
    `oldest` (a parameter so that a test can see the refusal from a real, newer server)."""
    found = int(await conn.fetchval("show server_version_num"))
    if found // 10000 < oldest:
        version = await conn.fetchval("show server_version")
        raise UnsupportedServer(
            f"PostgreSQL {version} is not supported: filmgraph needs PostgreSQL {oldest} "
            f"or later ({OLDEST_SUPPORTED} to {NEWEST_TESTED} are tested)"
        )
