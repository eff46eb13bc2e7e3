"""One import at a time: a second import fails at once, or with `--wait SECONDS` waits its turn.
The running import is played by a connection holding the import lock, so that each test
decides when it ends."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from graph.importers.run import IMPORT_LOCK_ID
from graph.migrate import migrate
from tests.importing import Importer, filmgraph_import, fingerprint, wait_until
from tests.test_import_imdb import summary
from tests.test_import_tmdb import PROVIDERS


@pytest.fixture
async def graph_dsn(empty_dsn: str) -> str:
    """An empty graph: migrated, so that it can be fingerprinted before any import."""
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return empty_dsn


class ImportLock:
    """The import lock held by a transaction of the test's own, as a running import holds it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def __aenter__(self) -> ImportLock:
        self.conn = await asyncpg.connect(self.dsn)
        self.tx = self.conn.transaction()
        await self.tx.start()
        await self.conn.execute("select pg_advisory_xact_lock($1)", IMPORT_LOCK_ID)
        self.pid: int = self.conn.get_server_pid()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.tx.rollback()
        await self.conn.close()


# Each lock of each filmgraph import backend: (pid, locktype, granted).
IMPORT_LOCKS = """
select l.pid, l.locktype, l.granted from pg_locks l join pg_stat_activity a using (pid)
where a.datname = current_database() and a.application_name = 'filmgraph import'
order by 1, 2, 3
"""


async def _import_locks(dsn: str) -> list[tuple[int, str, bool]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch(IMPORT_LOCKS)]
    finally:
        await conn.close()


async def _waiting_on(dsn: str) -> list[str]:
    """The kinds of lock the filmgraph imports are waiting for."""
    return [kind for _, kind, granted in await _import_locks(dsn) if not granted]


def _providers(path: Path, doc: dict[str, Any] = PROVIDERS) -> Path:
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


async def _names(dsn: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch("select tmdb_id, name from provider order by 1")]
    finally:
        await conn.close()


def _waiting_line(pid: int, seconds: str) -> str:
    return (
        f"filmgraph: another import is running (server pid {pid}); "
        f"waiting up to {seconds} s for it to finish\n"
    )


async def test_by_default_a_second_import_fails_at_once(graph_dsn: str, scratch_dir: Path) -> None:
    path = _providers(scratch_dir / "providers.json")
    before = await fingerprint(graph_dsn)
    async with ImportLock(graph_dsn) as lock:
        # Run while the lock is held: an import that waited would hang here until its timeout.
        result = await asyncio.to_thread(filmgraph_import, graph_dsn, "tmdb-providers", path)
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [
        f"filmgraph: another import is running (server pid {lock.pid}); "
        "run this one when it has finished, or pass --wait SECONDS"
    ]
    assert await fingerprint(graph_dsn) == before


async def test_with_wait_an_import_waits_for_the_running_one_then_imports(
    graph_dsn: str, scratch_dir: Path
) -> None:
    path = _providers(scratch_dir / "providers.json")
    before = await fingerprint(graph_dsn)
    async with ImportLock(graph_dsn) as lock:
        importer = Importer(graph_dsn, "tmdb-providers", path, "--wait", "120")
        importer.wait_for("waiting up to")
        assert importer.seen == [_waiting_line(lock.pid, "120")]

        async def queued() -> bool:
            return await _waiting_on(graph_dsn) == ["advisory"]

        await wait_until(queued, "the import to queue for the import lock")
        # While it waits, its transaction holds no lock but its own id: it blocks no one.
        assert [(kind, granted) for _, kind, granted in await _import_locks(graph_dsn)] == [
            ("advisory", False),
            ("virtualxid", True),
        ]
        assert await fingerprint(graph_dsn) == before
    code, out, err = importer.finish()
    assert code == 0, err
    assert err == _waiting_line(lock.pid, "120"), "the waiting line, once, and nothing more"
    assert summary(out)["provider"] == [4, 0, 0, 0]
    assert await _names(graph_dsn) == [
        (8, "Netflix"),
        (9, "Amazon Prime Video"),
        (119, "Amazon Prime Video"),
        (191, "Kanopy"),
    ]


async def test_an_import_that_waited_holds_the_lock_until_it_commits(
    graph_dsn: str, scratch_dir: Path
) -> None:
    assert (
        filmgraph_import(
            graph_dsn, "tmdb-providers", _providers(scratch_dir / "v1.json")
        ).returncode
        == 0
    )
    renamed = json.loads(json.dumps(PROVIDERS))
    # A new logo: a provider keeps its first name, but its logo is brought up to date.
    renamed["results"][0]["logo_path"] = "/netflix-2.jpg"
    path = _providers(scratch_dir / "v2.json", renamed)
    # A row the waiting import will update, held so that it stops inside its transaction.
    row = await asyncpg.connect(graph_dsn)
    row_tx = row.transaction()
    await row_tx.start()
    await row.execute("select 1 from provider where tmdb_id = 8 for update")
    try:
        async with ImportLock(graph_dsn):
            importer = Importer(graph_dsn, "tmdb-providers", path, "--wait", "120")
            importer.wait_for("waiting up to")

        async def on_the_row() -> bool:
            return await _waiting_on(graph_dsn) == ["transactionid"]

        await wait_until(on_the_row, "the import to take the lock and wait on the provider row")
        (waiter,) = {pid for pid, _, _ in await _import_locks(graph_dsn)}
        third = await asyncio.to_thread(filmgraph_import, graph_dsn, "tmdb-providers", path)
        assert third.returncode == 3, third.stderr
        assert f"another import is running (server pid {waiter})" in third.stderr
    finally:
        await row_tx.rollback()
        await row.close()
    code, out, err = importer.finish()
    assert code == 0, err
    assert summary(out)["provider"] == [0, 1, 3, 0]
    conn = await asyncpg.connect(graph_dsn)
    try:
        logo = await conn.fetchval("select logo_url from provider where tmdb_id = 8")
    finally:
        await conn.close()
    assert logo == "https://image.tmdb.org/t/p/original/netflix-2.jpg"


async def test_a_wait_that_runs_out_fails_and_writes_nothing(
    graph_dsn: str, scratch_dir: Path
) -> None:
    path = _providers(scratch_dir / "providers.json")
    before = await fingerprint(graph_dsn)
    async with ImportLock(graph_dsn) as lock:
        result = await asyncio.to_thread(
            filmgraph_import, graph_dsn, "tmdb-providers", path, "--wait", "0.5"
        )
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [
        _waiting_line(lock.pid, "0.5").rstrip("\n"),
        f"filmgraph: gave up after waiting 0.5 s: another import is running "
        f"(server pid {lock.pid}); nothing was imported",
    ]
    assert await fingerprint(graph_dsn) == before
    assert await _import_locks(graph_dsn) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_ends_the_wait_cleanly(
    graph_dsn: str, scratch_dir: Path, signum: signal.Signals
) -> None:
    path = _providers(scratch_dir / "providers.json")
    before = await fingerprint(graph_dsn)
    async with ImportLock(graph_dsn):
        importer = Importer(graph_dsn, "tmdb-providers", path, "--wait", "120")
        importer.wait_for("waiting up to")
        importer.proc.send_signal(signum)
        code, _, err = importer.finish(timeout=30)
        assert code == 130, err
        assert err.splitlines()[-1] == "filmgraph: interrupted", err
        assert "Traceback" not in err

        async def gone() -> bool:
            return await _import_locks(graph_dsn) == []

        # Its server process ends too, rather than stay queued for the lock.
        await wait_until(gone, "the interrupted import's server process to end")
    assert await fingerprint(graph_dsn) == before


def test_wait_takes_a_number_of_seconds(graph_dsn: str, scratch_dir: Path) -> None:
    path = _providers(scratch_dir / "providers.json")
    for bad, message in [
        ("soon", "not a number of seconds: 'soon'"),
        ("-1", "must be 0 to"),
        ("nan", "must be 0 to"),
    ]:
        result = filmgraph_import(graph_dsn, "tmdb-providers", path, f"--wait={bad}")
        assert result.returncode == 2, result.stderr
        assert message in result.stderr.splitlines()[-1], result.stderr
