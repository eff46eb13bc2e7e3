"""The embedded PostgreSQL: one owner at a time, and recovery after a crashed owner."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from graph.embedded import EmbeddedError, EmbeddedPostgres

OWNER = """
import sys
from pathlib import Path
from graph.embedded import EmbeddedPostgres
pg = EmbeddedPostgres(Path(sys.argv[1]))
print(pg.start(), flush=True)
sys.stdin.read()  # hold the server until killed
"""


def _query(dsn: str) -> int:
    async def run() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            value: int = await conn.fetchval("select 41 + 1")
            return value
        finally:
            await conn.close()

    return asyncio.run(run())


def test_a_server_left_by_a_killed_owner_is_taken_over(scratch_dir: Path) -> None:
    data_dir = scratch_dir / "pgdata"
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        first_dsn = owner.stdout.readline().strip()
        assert _query(first_dsn) == 42

        # While the owner lives, nobody else may use the data directory.
        with pytest.raises(EmbeddedError, match="another filmgraph process"):
            EmbeddedPostgres(data_dir).start()
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
    assert (data_dir / "postmaster.pid").exists(), "the orphaned server is still running"

    second = EmbeddedPostgres(data_dir)
    dsn = second.start()
    try:
        assert _query(dsn) == 42
    finally:
        second.stop()
    assert not (data_dir / "postmaster.pid").exists()
    with pytest.raises(OSError):
        _query(first_dsn)


def test_only_the_password_gets_in(scratch_dir: Path) -> None:
    server = EmbeddedPostgres(scratch_dir / "pgdata")
    dsn = server.start()
    try:
        assert _query(dsn) == 42
        password_file = scratch_dir / "pgdata.password"
        assert password_file.stat().st_mode & 0o077 == 0, "password file readable by others"
        without = dsn.replace(f":{server.password}@", "@")
        with pytest.raises(asyncpg.InvalidPasswordError):
            _query(without)
        with pytest.raises(asyncpg.InvalidPasswordError):
            _query(dsn.replace(server.password, "wrong"))
    finally:
        server.stop()
