"""Forward-only migrations: sql/migrations/NNNN_name.sql, applied once each, in order."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import asyncpg

from graph.db import sql_dir
from graph.server_version import check_server_version

log = logging.getLogger(__name__)

# Any fixed number works; it only has to be the same for every filmgraph process.
MIGRATION_LOCK_ID = 0x46494C4D  # "FILM"

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """\
create table if not exists schema_migration (
    version    integer primary key,
    name       text not null,
    applied_at timestamptz not null default now()
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found: list[Migration] = []
    for entry in sql_dir().joinpath("migrations").iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError("two migrations share a version number")
    return found


async def migrate(conn: asyncpg.Connection) -> list[Migration]:
    """Apply pending migrations, each in its own transaction; return those applied.

    A session-level advisory lock serialises concurrent runs: the second waits, then finds
    nothing left to do. A server older than filmgraph supports is refused before anything is
    applied (UnsupportedServer).
    """
    await check_server_version(conn)
    await conn.execute("select pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(_CREATE_TABLE)
        done = {r["version"] for r in await conn.fetch("select version from schema_migration")}
        applied: list[Migration] = []
        for mig in available():
            if mig.version in done:
                continue
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(
                    "insert into schema_migration (version, name) values ($1, $2)",
                    mig.version,
                    mig.name,
                )
            log.info("migration applied version=%04d name=%s", mig.version, mig.name)
            applied.append(mig)
        return applied
    finally:
        await conn.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
