"""Forward-only migrations: sql/migrations/NNNN_name.sql, applied once each, in order.

A landed migration is never edited: each is recorded with the sha256 of its file when it is
applied, and filmgraph refuses to work on a database whose applied migrations do not match its
own files (an edited file, or a migration this filmgraph does not know).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from graph.db import sql, sql_dir
from graph.server_version import check_server_version

log = logging.getLogger(__name__)

# Any fixed number works; it only has to be the same for every filmgraph process.
MIGRATION_LOCK_ID = 0x46494C4D  # "FILM"

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# A migration that rewrites a table whole (an UPDATE of every row) leaves it twice its size,
# half of it dead rows, and no page of it all-visible, so that index-only scans read the heap
# for every row until autovacuum has been through it: at 1M films the film page took 1.36
# times as long as at 50k after 0009, 1.11 after VACUUM FULL (bench/README.md). VACUUM cannot
# run in a migration's transaction, so a migration names the tables it rewrites on a line
#     -- vacuum after: credit, film
# and the migrator rewrites them compactly (VACUUM FULL), marks their pages all-visible
# (VACUUM) and analyses them once the run's migrations have committed. Landed migrations,
# which cannot be edited, are named here.
_VACUUM = re.compile(r"^-- vacuum after: ([a-z_][a-z0-9_]*(?:, *[a-z_][a-z0-9_]*)*) *$", re.M)
LANDED_REWRITES: dict[int, tuple[str, ...]] = {9: ("credit",)}

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

    @property
    def rewrites(self) -> tuple[str, ...]:
        """The tables this migration rewrites whole, to vacuum after it commits."""
        named = [t.strip() for m in _VACUUM.finditer(self.sql) for t in m.group(1).split(",")]
        return LANDED_REWRITES.get(self.version, ()) + tuple(named)


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


async def migrate(
    conn: asyncpg.Connection, known: Sequence[Migration] | None = None
) -> list[Migration]:
    """Apply pending migrations (of `known`, by default this filmgraph's files), each in its
    own transaction; return those applied. Then, when any was applied, vacuum and analyse the
    tables they rewrote (see tidy()).

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
        known = available() if known is None else known
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
        if applied_now:
            await tidy(conn, applied_now)
        return applied_now
    finally:
        await conn.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK_ID)


async def tidy(conn: asyncpg.Connection, applied_now: Sequence[Migration]) -> None:
    """After migrations have committed: each table they rewrote made compact (VACUUM FULL)
    with its pages all-visible (VACUUM) and analysed, so that the first statements after a
    migration are planned with its rows as they now are. In a transaction of the caller's,
    where VACUUM cannot run, only the ANALYZE.

    Only those tables: the others' statistics are as good as before. Analysing the whole
    database made a fresh one's empty tables look empty to the planner for good (an
    unanalysed table is assumed to have some rows), and the first IMDb load's film insert,
    planned on that, took 36 s where it took under 4 (bench/imdb_scale.py at scale 0.1)."""
    tables = list(dict.fromkeys(t for m in applied_now for t in m.rewrites))
    vacuum = not conn.is_in_transaction()
    for table in tables:
        # The name matched _VACUUM's identifier pattern (or is one of LANDED_REWRITES).
        start = time.monotonic()
        if vacuum:
            await conn.execute(f'vacuum (full) "{table}"')
            await conn.execute(f'vacuum "{table}"')
        await conn.execute(f'analyze "{table}"')
        log.info("table tidied table=%s seconds=%.1f", table, time.monotonic() - start)
