"""`filmgraph import imdb` into an empty graph takes the first-load path (indexes and
constraints dropped and built again at the end): the same graph, schema and summary as the
path for a graph that has data, on the same files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from graph.imdb_files import generate_imdb
from graph.importers.imdb import DEFAULT_TITLE_TYPES, import_imdb
from graph.importers.reader import InputError
from graph.importers.run import ImportFailed, Run, run_import
from graph.migrate import migrate
from tests.conftest import create_database, drop_database
from tests.schema_dump import SCHEMA_SQL, schema_sql
from tests.test_import_imdb import dataset

# Every row an import writes, by natural keys (ids are the database's own and may be given out
# in another order).
CONTENT = """
select 'f' || row(f.slug, f.title, f.original_title, f.year, f.runtime_minutes, f.imdb_rating,
                  f.imdb_votes, f.imdb_id)::text as x from film f
union all select 'p' || row(p.slug, p.name, p.birth_year, p.death_year, p.imdb_id)::text
from person p
union all select 'g' || row(g.slug, g.name)::text from genre g
union all select 'fg' || row(f.imdb_id, g.slug)::text
from film_genre fg join film f on f.id = fg.film_id join genre g on g.id = fg.genre_id
union all select 'c' || row(f.imdb_id, p.imdb_id, c.role, c.character_name, c.billing_order,
                            c.film_year, c.film_release_date, c.film_title)::text
from credit c join film f on f.id = c.film_id join person p on p.id = c.person_id
union all select 'ct' || row(p.imdb_id, t.role, t.films)::text
from credit_tally t join person p on p.id = t.person_id where t.films <> 0
union all select 'h' || p.imdb_id from collaborator_hub h join person p on p.id = h.person_id
union all select 'co' || row(p.imdb_id, c.role, o.imdb_id, c.shared)::text
from collaboration c join person p on p.id = c.person_id join person o on o.id = c.other_id
union all select 'a' || row(f.imdb_id, a.ordering, a.title, a.region, a.language, a.types,
                            a.attributes, a.is_original)::text
from film_alternative_title a join film f on f.id = a.film_id
union all select 't' || row(facet, value, films)::text from film_tally
union all select 'w' || row(word, in_titles, in_names)::text from search_word
"""


async def _import(
    dsn: str, files: Path, *, first_load: bool, max_errors: int
) -> tuple[Run, list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        # Collaborations counted ahead for people of 3 credits and more (migration 0019), so
        # that both paths count some.
        await conn.execute("update collaboration_setting set min_credits = 3")
    finally:
        await conn.close()
    with logged_statements() as statements:
        run, _ = await run_import(
            dsn,
            max_errors,
            lambda run: import_imdb(run, files, list(DEFAULT_TITLE_TYPES), first_load=first_load),
        )
    return run, statements


@contextlib.contextmanager
def logged_statements() -> Iterator[list[str]]:
    """The importer's debug log lines of the statements it runs ("statement name=... ..."),
    as they are run."""
    statements: list[str] = []

    class Statements(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            statements.append(record.getMessage())

    logger = logging.getLogger("graph.importers.run")
    handler = Statements(logging.DEBUG)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def _content(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return sorted(r["x"] for r in await conn.fetch(CONTENT))
    finally:
        await conn.close()


@pytest.mark.parametrize("files", ["generated", "quirks"])
async def test_first_load_and_normal_path_make_the_same_graph(
    server_dsn: str, scratch_dir: Path, files: str
) -> None:
    if files == "generated":
        directory = scratch_dir / "imdb"
        generate_imdb(directory, 0.0002, 5)
        max_errors = 0
    else:
        directory = dataset(scratch_dir / "imdb")
        max_errors = 10  # the quirks' rejects: the same on both paths
    graphs, summaries = [], []
    for first_load in (True, False):
        name = f"filmgraph_first_{files}_{int(first_load)}"
        dsn = await create_database(server_dsn, name)
        try:
            run, statements = await _import(
                dsn, directory, first_load=first_load, max_errors=max_errors
            )
            took = any("name=imdb_first_load_lock" in s for s in statements)
            assert took == first_load
            graphs.append(await _content(dsn))
            summaries.append(run.tallies)
            if first_load:
                assert schema_sql(dsn) == SCHEMA_SQL.read_text()
        finally:
            await drop_database(server_dsn, name)
    assert len(graphs[0]) > 20
    if files == "generated":
        assert any(x.startswith("co") for x in graphs[0])
    assert graphs[0] == graphs[1]
    assert summaries[0] == summaries[1]


async def test_a_graph_with_data_is_not_loaded_as_a_first_load(
    empty_dsn: str, scratch_dir: Path
) -> None:
    directory = dataset(scratch_dir / "imdb")
    await _import(empty_dsn, directory, first_load=True, max_errors=10)
    _, statements = await _import(empty_dsn, directory, first_load=True, max_errors=10)
    assert not any("name=imdb_first_load_lock" in s for s in statements)
    assert any("name=imdb_credits_merge" in s for s in statements)


async def test_a_first_load_that_fails_midway_leaves_the_graph_as_it_was(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """The first load drops indexes, keys and triggers and empties credit_tally in its own
    transaction: its connection lost after those, everything is as before, schema included,
    and the next import loads the files whole."""
    directory = scratch_dir / "imdb"
    generate_imdb(directory, 0.0002, 5)
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        # Rows a first load empties or writes beside the graph: a tally a deletion left at 0,
        # a genre, a search word.
        person = await conn.fetchval(
            "insert into person (slug, name) values ('gone', 'Gone Person') returning id"
        )
        await conn.execute("insert into credit_tally values ($1, 'ACTOR', 0)", person)
        await conn.execute("delete from person")
        await conn.execute("insert into genre (slug, name) values ('noir', 'Noir')")
        before = await _content(empty_dsn)
        before_tally = await conn.fetch("select * from credit_tally")
        # The import stops at the search words, which its films' insert writes after the drops:
        # held here.
        holder = await asyncpg.connect(empty_dsn)
        hold = holder.transaction()
        await hold.start()
        await holder.execute("lock table search_word in access exclusive mode")
        task = asyncio.create_task(_import(empty_dsn, directory, first_load=True, max_errors=0))
        deadline = time.monotonic() + 60
        waiting = None
        while waiting is None and time.monotonic() < deadline and not task.done():
            waiting = await conn.fetchval(
                "select pid from pg_stat_activity where application_name = 'filmgraph import'"
                " and wait_event_type = 'Lock'"
            )
            if waiting is None:
                await asyncio.sleep(0.05)  # polling the server's view, under a deadline
        assert waiting is not None, "the import never waited for the search words"
        dropped = await conn.fetchval(
            "select count(*) from pg_locks l join pg_class c on c.oid = l.relation"
            " where l.pid = $1 and c.relname = 'credit' and l.mode = 'AccessExclusiveLock'",
            waiting,
        )
        assert dropped == 1  # the import holds the tables it empties and rebuilds
        await conn.fetchval("select pg_terminate_backend($1)", waiting)
        with pytest.raises(ImportFailed, match="lost the database connection"):
            await task
        await hold.rollback()
        await holder.close()
        assert await _content(empty_dsn) == before
        assert await conn.fetch("select * from credit_tally") == before_tally
        assert schema_sql(empty_dsn) == SCHEMA_SQL.read_text()
        run, statements = await _import(empty_dsn, directory, first_load=True, max_errors=0)
        assert any("name=imdb_first_load_lock" in s for s in statements)
        assert run.tallies["credit"].inserted == await conn.fetchval("select count(*) from credit")
        assert await conn.fetchval("select count(*) from credit") > 20
    finally:
        await conn.close()


async def test_a_first_load_fails_on_a_file_read_after_its_merges_began_and_changes_nothing(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """A first load merges the films and their alternative titles while the credits are still
    being read: a credit file that turns out unreadable then still fails the whole import, and
    the graph, its tallies and its schema are as before."""
    directory = scratch_dir / "imdb"
    generate_imdb(directory, 0.0002, 5)
    crew = directory / "title.crew.tsv.gz"
    whole = crew.read_bytes()
    crew.write_bytes(whole[: len(whole) // 2])  # a download cut short
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        before = await _content(empty_dsn)
        before_tally = await conn.fetch("select * from credit_tally")
        with (
            logged_statements() as logged,
            pytest.raises(InputError, match=r"title\.crew\.tsv\.gz: corrupt or truncated"),
        ):
            await run_import(
                empty_dsn, 0, lambda run: import_imdb(run, directory, list(DEFAULT_TITLE_TYPES))
            )
        statements = [line.split()[1] for line in logged]
        # The films and alternative titles were merged before title.crew was staged.
        assert "name=imdb_first_load_lock" in statements
        assert "name=imdb_films_insert" in statements
        assert "name=imdb_akas_insert_first" in statements
        assert "name=imdb_credits_stage" not in statements
        assert await _content(empty_dsn) == before
        assert await conn.fetch("select * from credit_tally") == before_tally
        assert await conn.fetchval("select count(*) from film") == 0
        assert schema_sql(empty_dsn) == SCHEMA_SQL.read_text()
    finally:
        await conn.close()
