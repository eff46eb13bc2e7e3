"""Earlier states of sql/migrations on main, replayed as the code of the time applied them.

For each state that sql/migrations had on main's first-parent history, fixtures/migrations
holds the files that commit added or changed; the state at a commit is the overlay of its
folder on those of the commits before it (HISTORY lists them in order).
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

FIXTURES = Path(__file__).parent / "fixtures" / "migrations"
HISTORY = [
    line.split()[0]
    for line in (FIXTURES / "HISTORY").read_text().splitlines()
    if line and not line.startswith("#")
]

# schema_migration as graph/migrate.py created it before it recorded checksums.
OLD_TABLE = """create table if not exists schema_migration (
    version    integer primary key,
    name       text not null,
    applied_at timestamptz not null default now()
)"""
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def files_at(commit: str) -> dict[int, tuple[str, str]]:
    """sql/migrations at `commit`: version -> (name, text)."""
    files: dict[int, tuple[str, str]] = {}
    for step in HISTORY[: HISTORY.index(commit) + 1]:
        for path in sorted((FIXTURES / step).iterdir()):
            m = _FILE.match(path.name)
            assert m, path
            files[int(m.group(1))] = (m.group(2), path.read_text(encoding="utf-8"))
    return files


async def migrate_as_of(conn: asyncpg.Connection, commit: str) -> None:
    """What `filmgraph migrate` did at `commit`: apply each version not yet recorded."""
    await conn.execute(OLD_TABLE)
    done = {r["version"] for r in await conn.fetch("select version from schema_migration")}
    for version, (name, text) in sorted(files_at(commit).items()):
        if version in done:
            continue
        async with conn.transaction():
            await conn.execute(text)
            await conn.execute(
                "insert into schema_migration (version, name) values ($1, $2)", version, name
            )
