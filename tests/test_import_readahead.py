"""Each IMDb file is read by a reader process of the import's own (graph/importers/readahead.py):
whatever ends the import or the reader, the other goes with it, and the graph is as it was."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.importing import Importer, filmgraph_import, fingerprint, wait_until
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
