"""An import whose database goes away: restarted under it, or silent (every server process
stopped), mid-import or while the import waits its turn (--wait). The importer notices within
10 s, exits non-zero, and the graph is as it was. These tests run a PostgreSQL of their own,
since they stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from graph.embedded import EmbeddedPostgres
from graph.importers.run import IMPORT_LOCK_ID
from graph.migrate import MIGRATION_LOCK_ID, migrate
from tests.importing import Importer, filmgraph_import, fingerprint, import_backends, wait_until
from tests.test_import_imdb import BASICS, dataset

NOTICE_WITHIN_S = 10


@pytest.fixture
def own_server(scratch_dir: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(scratch_dir / "pgdata", settings={"fsync": "off"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _server_processes(server: EmbeddedPostgres) -> list[int]:
    """The postmaster and its children."""
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(entry.name))
    return [postmaster, *children]


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        # A backend that was just ending (a closed connection's) may be gone already.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


async def _blocked_import(dsn: str, files: Path) -> tuple[Importer, asyncpg.Connection]:
    """An import waiting, inside its transaction, on a film row the returned connection holds."""
    holder = await asyncpg.connect(dsn)
    await holder.execute("begin; select 1 from film where imdb_id = 'tt0000002' for update")
    importer = Importer(dsn, "imdb", files)

    # Watched from a connection of its own: inside the holder's transaction pg_stat_activity
    # would show the same snapshot every time.
    watcher = await asyncpg.connect(dsn)

    async def waiting() -> bool:
        if importer.proc.poll() is not None:
            _, _, err = importer.finish()
            raise AssertionError(f"the import ended early:\n{err}")
        return await import_backends(watcher, waiting=True) == 1

    try:
        await wait_until(waiting, "the import to wait on the row lock")
    finally:
        await watcher.close()
    return importer, holder


def _newer(scratch_dir: Path) -> Path:
    return dataset(scratch_dir / "v2", basics=BASICS.replace("Amélie\tLe", "Amélie!\tLe"))


async def test_a_database_restart_mid_import_fails_it_and_changes_nothing(
    own_server: EmbeddedPostgres, scratch_dir: Path
) -> None:
    dsn = own_server.dsn
    assert filmgraph_import(dsn, "imdb", dataset(scratch_dir / "v1")).returncode == 0
    before = await fingerprint(dsn)
    importer, holder = await _blocked_import(dsn, _newer(scratch_dir))
    stopped = time.monotonic()
    own_server.stop()
    code, _, err = importer.finish(timeout=NOTICE_WITHIN_S * 3)
    assert time.monotonic() - stopped < NOTICE_WITHIN_S
    holder.terminate()
    assert code == 2, err
    last = err.splitlines()[-1]
    assert last.startswith("filmgraph: "), err
    assert "Traceback" not in err
    own_server.start()
    assert await fingerprint(dsn) == before


async def _stop_answering(server: EmbeddedPostgres, importer: Importer) -> None:
    """Freeze every server process (the network stays up, nothing answers): the importer must
    notice within NOTICE_WITHIN_S and exit 2 with a one-line reason."""
    processes = _server_processes(server)
    _signal(processes, signal.SIGSTOP)
    try:
        await _noticed(importer)
    finally:
        _signal(processes, signal.SIGCONT)


async def _noticed(importer: Importer) -> None:
    """The importer, facing a server that stopped answering, exits 2 within NOTICE_WITHIN_S
    with a one-line reason."""
    stopped = time.monotonic()
    try:
        code, _, err = importer.finish(timeout=NOTICE_WITHIN_S * 3)
    finally:
        if importer.proc.poll() is None:  # hung: not left behind
            importer.proc.kill()
            importer.proc.wait()
    noticed = time.monotonic() - stopped
    assert noticed < NOTICE_WITHIN_S, err
    assert code == 2, err
    assert err.splitlines()[-1].startswith("filmgraph: lost the database connection"), err
    assert "Traceback" not in err


async def test_a_silent_database_is_noticed_within_10_seconds(
    own_server: EmbeddedPostgres, scratch_dir: Path
) -> None:
    dsn = own_server.dsn
    assert filmgraph_import(dsn, "imdb", dataset(scratch_dir / "v1")).returncode == 0
    before = await fingerprint(dsn)
    importer, holder = await _blocked_import(dsn, _newer(scratch_dir))
    await _stop_answering(own_server, importer)
    await holder.execute("rollback")
    await holder.close()

    async def gone() -> bool:
        conn = await asyncpg.connect(dsn)
        try:
            return await import_backends(conn) == 0
        finally:
            await conn.close()

    # Once the server runs again it finds the client gone and rolls the import back.
    await wait_until(gone, "the import's server process to end")
    assert await fingerprint(dsn) == before


async def test_a_database_that_stops_answering_while_an_import_waits_its_turn_is_noticed(
    own_server: EmbeddedPostgres, scratch_dir: Path
) -> None:
    dsn = own_server.dsn
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    before = await fingerprint(dsn)
    # The running import, played by a transaction holding the import lock.
    holder = await asyncpg.connect(dsn)
    await holder.execute("begin")
    await holder.execute("select pg_advisory_xact_lock($1)", IMPORT_LOCK_ID)
    importer = Importer(dsn, "imdb", dataset(scratch_dir / "v1"), "--wait", "600")
    importer.wait_for("waiting up to 600 s")
    await _stop_answering(own_server, importer)
    await holder.execute("rollback")
    await holder.close()
    assert await fingerprint(dsn) == before


def _big_basics(directory: Path, rows: int) -> Path:
    """A title.basics long enough that its COPY is still streaming when the server freezes."""
    directory.mkdir(parents=True, exist_ok=True)
    header = BASICS.splitlines()[0]
    line = "tt{n:08d}\tmovie\tFilm {n}\tFilm {n}\t0\t2000\t\\N\t90\tDrama\n"
    with (directory / "title.basics.tsv").open("w") as out:
        out.write(header + "\n")
        out.writelines(line.format(n=n) for n in range(1, rows + 1))
    return directory


# How the test sees, on the server, that the import is at a step: the number of server
# processes there (other than the asker's).
AT_STEP = {
    # Its COPY has taken rows, and more are on their way.
    "copy": """select count(*) from pg_stat_progress_copy p join pg_stat_activity a using (pid)
               where a.application_name = 'filmgraph import' and p.tuples_processed > 0""",
    # Waiting for the migration lock, which the test holds (a migration running elsewhere).
    "migrate": """select count(*) from pg_stat_activity
                  where wait_event = 'advisory' and pid <> pg_backend_pid()""",
}


@pytest.mark.parametrize("step", ["connect", "migrate", "copy"])
async def test_a_database_that_stops_answering_at_any_step_is_noticed(
    own_server: EmbeddedPostgres, scratch_dir: Path, step: str
) -> None:
    """Each step of an import that talks to the server, frozen while the import is in it.
    (Waiting for the import lock and merging: the tests above.)"""
    dsn = own_server.dsn
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        before = await fingerprint(dsn)
        if step == "migrate":
            await conn.execute("select pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        files = _big_basics(scratch_dir / "big", 1_000_000 if step == "copy" else 10)
        if step == "connect":
            processes = _server_processes(own_server)
            _signal(processes, signal.SIGSTOP)
            try:
                importer = Importer(dsn, "imdb", files)
                await _noticed(importer)
            finally:
                _signal(processes, signal.SIGCONT)
        else:
            importer = Importer(dsn, "imdb", files)
            await wait_until(lambda: _at(dsn, importer, AT_STEP[step]), f"the import's {step}")
            await _stop_answering(own_server, importer)
    finally:
        await conn.close()
    assert await fingerprint(dsn) == before


async def _at(dsn: str, importer: Importer, question: str) -> bool:
    if importer.proc.poll() is not None:
        _, _, err = importer.finish()
        raise AssertionError(f"the import ended early:\n{err}")
    conn = await asyncpg.connect(dsn)
    try:
        n: int = await conn.fetchval(question)
        return n > 0
    finally:
        await conn.close()
