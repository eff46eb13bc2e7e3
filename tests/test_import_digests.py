"""A re-import leaves out the lines of titles whose digest did not change
(graph/importers/digests.py), and still makes exactly the graph, and the summary, that a first
load of the changed files, and a re-import comparing every title, make."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import asyncpg

from graph.imdb_files import generate_imdb
from graph.importers import digests
from graph.importers.run import Run, Tally
from tests.conftest import create_database, drop_database
from tests.test_import_first_load import _content, _import

SCALE, SEED = 0.0005, 7


def _edit(path: Path, change: Callable[[int, bytes], bytes | None]) -> None:
    """Rewrite a gzip file line by line (the header is line 0): change gives the new line,
    or None to drop it."""
    with gzip.open(path, "rb") as f:
        lines = f.read().split(b"\n")[:-1]
    out = [lines[0]] + [new for n, line in enumerate(lines[1:], 1) if (new := change(n, line))]
    with gzip.open(path, "wb") as f:
        f.write(b"\n".join(out) + b"\n")


def _fields(
    change: Callable[[int, list[bytes]], list[bytes] | None],
) -> Callable[..., bytes | None]:
    def line(n: int, text: bytes) -> bytes | None:
        fields = change(n, text.split(b"\t"))
        return None if fields is None else b"\t".join(fields)

    return line


def _days(root: Path) -> tuple[Path, Path]:
    """Two days of files: the second has 5% of titles and ratings changed, and changed,
    added and removed credits, crew and alternative titles. The first lacks some people of
    name.basics, so that some of its credits name a person not known yet."""
    day0, day1 = root / "day0", root / "day1"
    generate_imdb(day0, SCALE, SEED)
    generate_imdb(day1, SCALE, SEED, changed=0.05)
    _edit(day0 / "name.basics.tsv.gz", lambda n, line: None if n % 40 == 0 else line)

    # Lines are removed but never a title's first (ordering 1): a title that a file no longer
    # mentions at all keeps what it had, unless --prune.
    def principal(n: int, f: list[bytes]) -> list[bytes] | None:
        if n % 37 == 0 and f[1] != b"1":
            return None
        if n % 23 == 0:
            f[4] = b"stand-in"
        return f

    def crew(n: int, f: list[bytes]) -> list[bytes] | None:
        if n % 11 == 0:
            f[2] = b"\\N"
        return f

    def aka(n: int, f: list[bytes]) -> list[bytes] | None:
        if n % 41 == 0 and f[1] != b"1":
            return None
        if n % 19 == 0:
            f[2] += b" (changed)"
        return f

    _edit(day1 / "title.principals.tsv.gz", _fields(principal))
    _edit(day1 / "title.crew.tsv.gz", _fields(crew))
    _edit(day1 / "title.akas.tsv.gz", _fields(aka))
    return day0, day1


def _counts(run: Run) -> dict[str, Tally]:
    return {t: c for t, c in run.tallies.items() if c != Tally()}


def _unslugged(graph: list[str]) -> list[str]:
    """The rows of _content without the slugs of films and people (their first field: a film
    or person keeps its slug when its title or name changes, so that its address stays), and
    without the tallies, search words and counted collaborations (which keep what films left
    in the graph gave)."""
    return sorted(
        row[:2] + row.split(",", 1)[1] if row.startswith(("f(", "p(")) else row
        for row in graph
        if not row.startswith(("t(", "w(", "ct(", "co(", "hnm"))
    )


def _films_of(graph: list[str], first: list[str]) -> list[str]:
    """The rows of graph about the films and people of the graph first (a re-import keeps a
    film of a title whose type is no longer imported, with its credits and alternative titles,
    and a person no longer credited: a first load of the same files has neither)."""
    films = {row.rsplit(",", 1)[1].rstrip(")") for row in first if row.startswith(("f(", "p("))}
    return [
        row
        for row in _unslugged(graph)
        if row.startswith("g(")
        or (row.startswith(("f(", "p(")) and row.rsplit(",", 1)[1].rstrip(")") in films)
        or (not row.startswith("f(") and row.split("(", 1)[1].split(",", 1)[0] in films)
    ]


def _out_of_order(day: Path) -> Path:
    """A copy of day's files with the first lines of title.principals moved to its end."""
    moved = day.parent / f"{day.name}-out-of-order"
    shutil.copytree(day, moved)
    path = moved / "title.principals.tsv.gz"
    with gzip.open(path, "rb") as f:
        lines = f.read().split(b"\n")[:-1]
    with gzip.open(path, "wb") as f:
        f.write(b"\n".join([lines[0], *lines[200:], *lines[1:200]]) + b"\n")
    return moved


async def _forget_digests(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("delete from imdb_digest")
    finally:
        await conn.close()


async def test_a_re_import_stages_only_what_changed_and_makes_the_same_graph(
    server_dsn: str, scratch_dir: Path
) -> None:
    day0, day1 = _days(scratch_dir / "imdb")
    graphs, counts = {}, {}
    for how in ("first load", "digests", "every title"):
        name = f"filmgraph_digests_{how.replace(' ', '_')}"
        dsn = await create_database(server_dsn, name)
        try:
            if how != "first load":
                await _import(dsn, day0, first_load=True, max_errors=0)
            if how == "every title":
                await _forget_digests(dsn)
            run, statements = await _import(dsn, day1, first_load=True, max_errors=0)
            left_out = any("name=imdb_crew_unchanged_drop" in s for s in statements)
            assert left_out == (how == "digests")
            # Every file's digests are kept (some title.akas lines are quoted, and repaired
            # in their place).
            assert not any("name=imdb_digests_forget_file" in s for s in statements)
            graphs[how], counts[how] = await _content(dsn), _counts(run)
            if how == "digests":
                # Nothing changed: every title is left out, and nothing is written.
                run, _ = await _import(dsn, day1, first_load=True, max_errors=0)
                again = _counts(run)
                assert {t: c.unchanged for t, c in again.items()} == {
                    t: c.inserted + c.updated + c.unchanged for t, c in counts[how].items()
                }
                assert await _content(dsn) == graphs[how]
                # The same lines out of order: a title's lines seen again after it was left
                # out, so the file is read again whole, and the graph stays as it is.
                _, statements = await _import(
                    dsn, _out_of_order(day1), first_load=True, max_errors=0
                )
                assert any("truncate imdb_principal_stage" in s for s in statements)
                assert await _content(dsn) == graphs[how]
                # Emptied by hand, the graph is loaded whole again: the digests left from
                # before say nothing.
                conn = await asyncpg.connect(dsn)
                try:
                    await conn.execute("truncate film, person cascade")
                finally:
                    await conn.close()
                await _import(dsn, day1, first_load=True, max_errors=0)
                assert _unslugged(await _content(dsn)) == _unslugged(graphs["first load"])
        finally:
            await drop_database(server_dsn, name)
    assert len(graphs["first load"]) > 500
    assert graphs["digests"] == graphs["every title"]
    assert _films_of(graphs["digests"], graphs["first load"]) == _unslugged(graphs["first load"])
    assert counts["digests"] == counts["every title"]
    changed = counts["digests"]
    assert changed["credit"].inserted > 0 and changed["credit"].deleted > 0
    assert changed["film_alternative_title"].updated > 0
    assert changed["film_alternative_title"].deleted > 0


async def test_a_film_and_a_person_deleted_by_hand_come_back_whole(
    server_dsn: str, scratch_dir: Path
) -> None:
    """A film deleted between imports (by hand, or by another importer's prune) comes back
    with its credits and alternative titles, and a person deleted comes back, though the
    digests of their lines did not change: the re-import makes the graph it made before."""
    day0, day1 = _days(scratch_dir / "imdb")
    name = "filmgraph_digests_deleted"
    dsn = await create_database(server_dsn, name)
    try:
        await _import(dsn, day0, first_load=True, max_errors=0)
        before = _unslugged(await _content(dsn))
        conn = await asyncpg.connect(dsn)
        try:
            film = await conn.fetchval(
                "select f.imdb_id from film f where exists (select 1 from credit c"
                " where c.film_id = f.id) and exists (select 1 from film_alternative_title a"
                " where a.film_id = f.id) order by f.imdb_id limit 1"
            )
            person = await conn.fetchval(
                "select p.imdb_id from person p join credit c on c.person_id = p.id"
                " join film f on f.id = c.film_id where f.imdb_id <> $1"
                " order by p.imdb_id limit 1",
                film,
            )
            assert film is not None and person is not None
            await conn.execute("delete from film where imdb_id = $1", film)
            await conn.execute("delete from person where imdb_id = $1", person)
        finally:
            await conn.close()
        await _import(dsn, day0, first_load=True, max_errors=0)
        assert _unslugged(await _content(dsn)) == before
        # The next day's changes, digests left out: the hubs' collaborations (migration
        # 0019's trigger) are what counting them from scratch gives.
        await _import(dsn, day1, first_load=True, max_errors=0)
        assert await _collaborations(dsn) == await _collaborations(dsn, afresh=True)
    finally:
        await drop_database(server_dsn, name)


async def _collaborations(dsn: str, *, afresh: bool = False) -> list[tuple[int, str, int, int]]:
    """The counted collaborations; `afresh`: those of the same hubs counted from scratch (in
    a transaction rolled back)."""
    conn = await asyncpg.connect(dsn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        if afresh:
            await conn.execute("delete from collaboration")
            await conn.execute(
                "select collaborations_count(array(select person_id from collaborator_hub))"
            )
        rows = await conn.fetch("select * from collaboration order by 1, 2, 3")
        assert rows
        return [(r[0], r[1], r[2], r[3]) for r in rows]
    finally:
        await transaction.rollback()
        await conn.close()


def test_once_an_id_is_out_of_order_every_later_id_is_staged_whole_blocks_too() -> None:
    """Once an id came out of order, every later id is staged and no digest is kept (the
    file is then read again, whole). The ids whole in a block were compared with the stored
    digests regardless (adda9cb): an unchanged id was left out and counted as skipped, and
    at full scale that is a second reading of name.basics. Found by review."""
    stored = digests.Digests()
    stored.add(5, digests.digest(b"tt0000005\tb"), 3)  # tt0000005 as the last import left it
    first = b"1\ttt0000002\ta\n2\ttt0000001\ta\n"  # out of order
    second = b"3\ttt0000004\ta\n4\ttt0000005\tb\n5\ttt0000006\ta\n"  # tt0000005 whole here
    titles = digests.Titles(stored)
    out = titles(first) + titles(second) + titles.rest()
    assert out == first + second
    assert not titles.in_order
    assert not titles.skipped
    assert titles.unchanged_rows == 0
    assert list(titles.changed.numbers) == [2]
