"""Each IMDb file is read by a reader process of the import's own (graph/importers/readahead.py):
whatever ends the import or the reader, the other goes with it, and the graph is as it was."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import cast

import asyncpg

from graph.importers.imdb import Ahead
from graph.importers.kept import Kept
from graph.importers.readahead import ReadAhead
from tests.importing import Importer, filmgraph_import, fingerprint, wait_until
from tests.test_import_imdb import dataset
from tests.test_import_resilience import _big_basics

READER = b"graph.importers.readahead"


def _readers(path: Path) -> list[int]:
    """Reader processes of path, whoever their parent."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if READER in argv and str(path).encode() in argv:
            found.append(int(entry.name))
    return found


async def test_a_reader_that_dies_fails_the_import_and_changes_nothing(
    empty_dsn: str, scratch_dir: Path
) -> None:
    files = _big_basics(scratch_dir / "big", 1_000_000)
    path = files / "title.basics.tsv"
    importer = Importer(empty_dsn, "imdb", files)

    async def reading() -> bool:
        assert importer.proc.poll() is None, importer.finish()
        return bool(_readers(path))

    await wait_until(reading, "the import's reader process")
    # The import stopped, its reader soon waits on the full pipe with most of the file unread.
    os.kill(importer.proc.pid, signal.SIGSTOP)
    try:
        (reader,) = _readers(path)
        os.kill(reader, signal.SIGKILL)
    finally:
        os.kill(importer.proc.pid, signal.SIGCONT)
    code, _, err = importer.finish()
    assert code == 4, err
    assert err.splitlines()[-1] == (
        "filmgraph: title.basics.tsv: the file's reader process ended without finishing; "
        "nothing was imported"
    ), err
    assert "Traceback" not in err
    assert await fingerprint(empty_dsn) == "empty"
    assert _readers(path) == []


async def test_an_import_that_ends_early_leaves_no_reader_behind(
    empty_dsn: str, scratch_dir: Path
) -> None:
    files = _big_basics(scratch_dir / "big", 300_000)
    path = files / "title.basics.tsv"
    lines = path.read_text().splitlines(keepends=True)
    lines[5] = "tt9999999\tmovie\tone column short\n"
    path.write_text("".join(lines))
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 1, result.stderr
    assert "title.basics.tsv:6: 3 columns, expected 9" in result.stderr
    assert await fingerprint(empty_dsn) == "empty"
    assert _readers(path) == []


def _big_names(directory: Path, rows: int) -> Path:
    """A name.basics long enough that its reader is still reading while title.basics is."""
    line = "nm{n:08d}\tPerson {n}\t1950\t\\N\tactor\t\\N\n"
    with (directory / "name.basics.tsv").open("w") as out:
        out.write("nconst\tprimaryName\tbirthYear\tdeathYear\tprimaryProfession\tknownForTitles\n")
        out.writelines(line.format(n=n) for n in range(1, rows + 1))
    return directory


async def test_name_basics_is_read_ahead_beside_title_basics_and_its_reader_dying_fails_the_import(
    empty_dsn: str, scratch_dir: Path
) -> None:
    # Into a graph with data (a first load reads name.basics once the credits are staged).
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "v1")).returncode == 0
    before = await fingerprint(empty_dsn)
    files = _big_names(_big_basics(scratch_dir / "big", 1_000_000), 1_000_000)
    basics, names = files / "title.basics.tsv", files / "name.basics.tsv"
    importer = Importer(empty_dsn, "imdb", files)

    async def both_reading() -> bool:
        assert importer.proc.poll() is None, importer.finish()
        return bool(_readers(basics)) and bool(_readers(names))

    # name.basics is read from the start, into a spool file, while title.basics is staged.
    await wait_until(both_reading, "the readers of title.basics and name.basics at once")
    (reader,) = _readers(names)
    os.kill(reader, signal.SIGKILL)
    code, _, err = importer.finish()
    assert code == 4, err
    assert err.splitlines()[-1] == (
        "filmgraph: name.basics.tsv: the file's reader process ended without finishing; "
        "nothing was imported"
    ), err
    assert "Traceback" not in err
    assert await fingerprint(empty_dsn) == before
    assert _readers(basics) == _readers(names) == []


async def test_waiting_for_a_slow_reader_keeps_the_imports_transaction(empty_dsn: str) -> None:
    """At full scale title.principals takes minutes to read, and a daily change's import
    waited for it idle in its transaction: past idle_in_transaction_session_timeout the server
    ended the session, and the import failed ("lost the database connection"). Here the limit
    is 1 s and the reader takes 3: the import says a word meanwhile, its transaction lives."""
    conn = await asyncpg.connect(empty_dsn)
    kept = Kept(["movie"])
    try:
        async with conn.transaction():
            await conn.execute("set local idle_in_transaction_session_timeout = '1s'")
            await conn.execute("create temp table kept_through (n int) on commit drop")
            ahead = Ahead({}, kept)
            done = asyncio.Event()
            reader = cast(ReadAhead, object())

            async def slow() -> ReadAhead:
                await done.wait()
                return reader

            ahead.tasks["title.principals"] = asyncio.create_task(slow())
            asyncio.get_running_loop().call_later(3, done.set)
            assert await ahead.take("title.principals", conn) is reader
            await conn.execute("insert into kept_through values (1)")
            assert await conn.fetchval("select count(*) from kept_through") == 1
    finally:
        kept.close()
        await conn.close()
