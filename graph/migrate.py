"""Forward-only migrations: sql/migrations/NNNN_name.sql, applied once each, in order.

A landed migration is never edited: each is recorded with the sha256 of its file when it is
applied, and filmgraph refuses to work on a database whose applied migrations do not match its
own files (an edited file, or a migration this filmgraph does not know).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from graph.db import sql, sql_dir
from graph.server_version import check_server_version

log = logging.getLogger(__name__)

# Any fixed number works; it only has to be the same for every filmgraph process.
MIGRATION_LOCK_ID = 0x46494C4D  # "FILM"

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# Migrations applied before filmgraph recorded checksums (0001-0005, some of them edited after
# they landed) get the checksum of today's file once this one, which brings any of their
# earlier texts into line, has been applied.
CONVERGED_BY = 6


class MigrationError(RuntimeError):
    """The database's applied migrations do not match this filmgraph's files."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    # sha256 of the file's bytes, as `sha256sum` prints it.
    checksum: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class Applied:
    """A row of schema_migration; checksum None: applied before checksums were recorded."""

    version: int
    name: str
    checksum: str | None

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class SchemaState:
    """How a database's applied migrations compare with this filmgraph's."""

    pending: tuple[Migration, ...]
    # Applied from a file whose checksum differs from today's file.
    changed: tuple[Migration, ...]
    # Applied, but this filmgraph has no such migration: the schema is ahead of the code.
    unknown: tuple[Applied, ...]

    def problem(self) -> str | None:
        """Why this filmgraph cannot serve the database, in a few words; None when it can."""
        if self.changed:
            return "migration changed"
        if self.unknown:
            return "ahead of this filmgraph"
        if self.pending:
            return "not migrated"
        return None

    def detail(self) -> dict[str, list[str]]:
        """The migrations behind problem(), by label."""
        if self.changed:
            return {"changed": [m.label for m in self.changed]}
        if self.unknown:
            return {"unknown": [a.label for a in self.unknown]}
        if self.pending:
            return {"pending": [m.label for m in self.pending]}
        return {}

    def explain(self) -> str | None:
        """problem() as a message that says what to do; None when there is no problem."""
        if self.changed:
            labels = ", ".join(m.label for m in self.changed)
            return (
                f"migration {labels} was applied to this database from a different file than "
                f"sql/migrations has now: a landed migration must never be edited. Restore the "
                f"file as it was applied (its sha256 is in schema_migration.checksum) and put "
                f"the change in a new migration"
            )
        if self.unknown:
            labels = ", ".join(a.label for a in self.unknown)
            return (
                f"the database has migration {labels} applied, which this filmgraph does not "
                f"know: its schema is newer than this version; run the filmgraph that migrated it"
            )
        if self.pending:
            labels = ", ".join(m.label for m in self.pending)
            return f"the database is not migrated (pending: {labels}): run `filmgraph migrate`"
        return None


def available() -> list[Migration]:
    found: list[Migration] = []
    for entry in sql_dir().joinpath("migrations").iterdir():
        m = _FILE.match(entry.name)
        if m:
            data = entry.read_bytes()
            found.append(
                Migration(
                    int(m.group(1)),
                    m.group(2),
                    data.decode("utf-8"),
                    hashlib.sha256(data).hexdigest(),
                )
            )
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError("two migrations share a version number")
    return found


def compare(applied: Sequence[Applied], known: Sequence[Migration]) -> SchemaState:
    done = {a.version: a for a in applied}
    by_version = {m.version: m for m in known}
    return SchemaState(
        pending=tuple(m for m in known if m.version not in done),
        changed=tuple(
            m
            for m in known
            if m.version in done and done[m.version].checksum not in (None, m.checksum)
        ),
        unknown=tuple(a for a in applied if a.version not in by_version),
    )


async def applied(conn: asyncpg.Connection) -> list[Applied]:
    """The rows of schema_migration; none when the database was never migrated."""
    try:
        rows = await conn.fetch(sql("migrations_applied"))
    except asyncpg.UndefinedTableError:
        return []
    return [Applied(r["version"], r["name"], r["checksum"]) for r in rows]


async def schema_state(
    conn: asyncpg.Connection, known: Sequence[Migration] | None = None
) -> SchemaState:
    """Compare without changing anything (serve and its readiness probe look with this)."""
    return compare(await applied(conn), available() if known is None else known)


async def ensure_current(conn: asyncpg.Connection) -> None:
    """Refuse (MigrationError) a database whose schema is not this filmgraph's, for commands
    that work on a database they do not migrate."""
    message = (await schema_state(conn)).explain()
    if message is not None:
        raise MigrationError(message)


async def migrate(conn: asyncpg.Connection) -> list[Migration]:
    """Apply pending migrations, each in its own transaction; return those applied.

    Raises MigrationError, before changing anything, when an applied migration's file has
    changed or the database has migrations this filmgraph does not know. A session-level
    advisory lock serialises concurrent runs: the second waits, then finds nothing left to do.
    A server older than filmgraph supports is refused first (UnsupportedServer).
    """
    await check_server_version(conn)
    await conn.execute("select pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(sql("migration_table_create"))
        await conn.execute(sql("migration_table_checksum"))
        known = available()
        state = await schema_state(conn, known)
        if state.changed or state.unknown:
            raise MigrationError(state.explain())
        applied_now: list[Migration] = []
        for mig in state.pending:
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(sql("migration_record"), mig.version, mig.name, mig.checksum)
            log.info("migration applied version=%04d name=%s", mig.version, mig.name)
            applied_now.append(mig)
        if any(m.version == CONVERGED_BY for m in known):
            legacy = [m for m in known if m.version < CONVERGED_BY]
            await conn.executemany(
                sql("migration_record_checksum"), [(m.version, m.checksum) for m in legacy]
            )
        return applied_now
    finally:
        await conn.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
