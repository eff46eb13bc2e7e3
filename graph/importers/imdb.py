"""`filmgraph import imdb DIR`: the IMDb dataset files, as published.

Each file is streamed into a staging table, then checked, resolved and merged set-based (see
sql/queries/import_imdb.sql). Films come from title.basics (of the kept title types) with
their ratings; people from name.basics (those credited here or already in the graph); credits
from title.principals and title.crew; alternative titles from title.akas.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from graph import db
from graph.importers.digests import AKAS, CREDITS, NAMES, Digests, Titles
from graph.importers.genres import merge_genres
from graph.importers.kept import Kept
from graph.importers.priority import yield_cpu
from graph.importers.readahead import ReadAhead
from graph.importers.reader import InputError
from graph.importers.run import DANGLING_EXAMPLES, Run

# Feature-length kinds: cinema releases and films made for television. Shorts, series,
# episodes, videos and games are left out unless --title-types asks for them.
DEFAULT_TITLE_TYPES = ("movie", "tvMovie")
TITLE_TYPES = (
    "movie",
    "tvMovie",
    "video",
    "short",
    "tvShort",
    "tvSpecial",
    "tvSeries",
    "tvMiniSeries",
    "tvEpisode",
    "videoGame",
    "tvPilot",
)


@dataclass(frozen=True)
class DatasetFile:
    name: str
    header: list[str]
    stage: str
    check: str
    table: str


FILES = [
    DatasetFile(
        "title.basics",
        [
            "tconst",
            "titleType",
            "primaryTitle",
            "originalTitle",
            "isAdult",
            "startYear",
            "endYear",
            "runtimeMinutes",
            "genres",
        ],
        "imdb_title_stage",
        "imdb_titles_check",
        "film",
    ),
    DatasetFile(
        "title.ratings",
        ["tconst", "averageRating", "numVotes"],
        "imdb_rating_stage",
        "imdb_ratings_check",
        "film",
    ),
    DatasetFile(
        "name.basics",
        [
            "nconst",
            "primaryName",
            "birthYear",
            "deathYear",
            "primaryProfession",
            "knownForTitles",
        ],
        "imdb_name_stage",
        "imdb_names_check",
        "person",
    ),
    DatasetFile(
        "title.principals",
        ["tconst", "ordering", "nconst", "category", "job", "characters"],
        "imdb_principal_stage",
        "imdb_principals_check",
        "credit",
    ),
    DatasetFile(
        "title.crew",
        ["tconst", "directors", "writers"],
        "imdb_crew_stage",
        "imdb_crew_check",
        "credit",
    ),
    DatasetFile(
        "title.akas",
        [
            "titleId",
            "ordering",
            "title",
            "region",
            "language",
            "types",
            "attributes",
            "isOriginalTitle",
        ],
        "imdb_aka_stage",
        "imdb_akas_check",
        "film_alternative_title",
    ),
]
# Files are read in this order: title.basics first, to know the titles the others are about;
# name.basics last, to know the people the credits name (see kept.py).
STAGING_ORDER = (
    "title.basics",
    "title.crew",  # before title.principals: the credits' digest is of both (digests.py)
    "title.principals",
    "title.ratings",
    "title.akas",
    "name.basics",
)
# Why rows of an extract are left out (see Run.skip_dangling).
UNKNOWN_TITLE = "reference(s) to a title in neither title.basics nor the graph"
UNKNOWN_PERSON = "reference(s) to a person in neither name.basics nor the graph"
# Lines left out because a later line gives their id again, with other content.
AGAIN = "earlier line(s) of an id given again with other content (the last kept)"
# The statements that find them (imdb_*_again): title.ratings' once checked (its stage holds
# the ratings of the titles kept), the others' only when the counts tell some lines were
# merged with others (see _films, _akas and _people).

DERIVED_STAGES = ("imdb_film_stage", "imdb_credit_stage", "imdb_person_stage")


def find_files(directory: Path) -> dict[str, Path]:
    """The dataset files present in directory: NAME.tsv.gz or NAME.tsv."""
    if not directory.exists():
        raise InputError(f"{directory}: no such file or directory")
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory")
    found: dict[str, Path] = {}
    for f in FILES:
        both = [directory / (f.name + s) for s in (".tsv.gz", ".tsv")]
        present = [path for path in both if path.is_file()]
        if len(present) > 1:
            # Which one is meant cannot be told: `gunzip -k` gives the copy its original's
            # time, and a copy kept beside a newer download is older. Reading either would
            # import one silently, perhaps an older release.
            raise InputError(
                f"{directory}: both {present[0].name} and {present[1].name}: "
                "remove or rename the one not to import"
            )
        if present:
            found[f.name] = present[0]
    if not found:
        names = ", ".join(f.name + ".tsv[.gz]" for f in FILES)
        raise InputError(f"{directory}: none of the IMDb dataset files ({names})")
    return found


def parse_title_types(text: str) -> list[str]:
    types = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in types if t not in TITLE_TYPES]
    if not types or unknown:
        raise InputError(
            f"--title-types: unknown type(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(TITLE_TYPES)}"
        )
    return types


def _count(status: str) -> int:
    """Rows an INSERT/UPDATE/DELETE touched, from its command status."""
    return int(status.rsplit(" ", 1)[-1])


async def import_imdb(
    run: Run,
    directory: Path,
    title_types: list[str],
    *,
    prune: bool = False,
    first_load: bool = True,
) -> None:
    """Import the dataset files in directory. With prune, the files are taken as IMDb's whole
    dataset: what they no longer list is removed (see _prune). Into an empty graph, the
    import takes the first-load path (see _first_load) unless first_load is False; the graph
    it makes is the same."""
    found = find_files(directory)
    run.name_unread(directory, {path.name for path in found.values()})
    conn = run.conn
    empty = await conn.fetchval(db.sql("imdb_graph_empty"))
    if not first_load or not empty:
        # The graph is serving reads (into an empty one, there is nothing to serve yet).
        await yield_cpu(conn)
    for f in FILES:
        await conn.execute(db.sql(f"{f.stage}_create"))
    for stage in DERIVED_STAGES:
        await conn.execute(db.sql(f"{stage}_create"))
    await conn.execute(db.sql("import_genre_stage_create"))

    kept = Kept(title_types)
    ahead = Ahead(found, kept)
    try:
        await _import(
            run, found, kept, ahead, title_types, empty, prune=prune, first_load=first_load
        )
    finally:
        await ahead.close()
        kept.close()


async def _import(
    run: Run,
    found: dict[str, Path],
    kept: Kept,
    ahead: Ahead,
    title_types: list[str],
    empty: bool,
    *,
    prune: bool,
    first_load: bool,
) -> None:
    conn = run.conn
    await conn.fetchval(db.sql("imdb_import_memory"))  # a first load's is more (_first_load)
    await _in_graph(conn, "imdb_film_ids", kept.titles_in_graph)
    if not empty:
        # title.basics' reader needs the films' marks, name.basics' nothing: both read while
        # the people in the graph and the stored digests are loaded (at full scale the first
        # minute of a daily re-import, one core idle until now).
        ahead.start(["title.basics", "name.basics"])
    await _in_graph(conn, "imdb_person_ids", kept.people_in_graph)
    await conn.execute(db.sql("imdb_digest_stage_create"))
    # Into an empty graph, a digest left from an earlier one says nothing: none is read.
    changes = Changes(found, compare_all=prune or empty)
    await changes.load(conn)
    if first_load and empty and await _first_load(run):
        await _pipelined(run, found, kept, ahead, changes, title_types, prune=prune)
        return
    names: dict[str, str] = {}
    ahead.start(["name.basics"])
    if "title.basics" not in found:
        ahead.start(STAGING_ORDER[1:])
    for f in sorted(FILES, key=lambda f: STAGING_ORDER.index(f.name)):
        if f.name in found:
            names[f.name] = await _stage_file(run, f, found, kept, changes, ahead)
            if f.name == "title.basics":
                ahead.start(STAGING_ORDER[1:])
    await changes.staged(conn)
    for f in FILES:
        if f.name in found:
            await _check_file(run, f, names, changes)

    if prune:
        prune = _can_prune(run)
    forget_ratings = prune and "title.ratings" in found
    await _films(
        run,
        names.get("title.basics"),
        title_types,
        kept.kept_title_lines,
        forget_ratings=forget_ratings,
    )
    if prune:
        await _prune(run, found)
    await _credits_stage(run, kept, names)
    await _credits(run, found, kept, changes, prune=prune, first=False)
    if "title.ratings" in found:
        await _ratings(run, kept, names, prune=prune)
    if "title.akas" in found:
        await _akas(run, kept, changes, names, prune=prune, first=False)
    await _store(run, changes)


# The first load's readers, in the order they start once title.basics is staged: the longest
# first, beside the small ones; name.basics once the credits' people are known (_pipelined).
READING_ORDER = ("title.ratings", "title.principals", "title.akas", "title.crew")


async def _pipelined(
    run: Run,
    found: dict[str, Path],
    kept: Kept,
    ahead: Ahead,
    changes: Changes,
    title_types: list[str],
    *,
    prune: bool,
) -> None:
    """A first load, pipelined: each merge runs as soon as the files it needs are staged and
    checked, on the import's one connection, while the readers read the later files on the
    other core (rather than the server waiting for every file to be read, then the readers'
    core idle through the merges). Staged in this order: title.basics; title.ratings, then
    the films (their ratings come with them); title.akas, then the alternative titles;
    title.crew and title.principals, then the credits staged; name.basics, read once those
    have marked the people they credit (its reader leaves out the others), then the people
    and the credits. The graph and the summary are those of _import's order; the notes come
    with the merges, in this order.

    Into an empty graph, --prune removes nothing (every film and person in it is from these
    files): whether it would have is still said, once every file is checked."""
    names: dict[str, str] = {}
    by_name = {f.name: f for f in FILES}

    async def stage(name: str) -> bool:
        if name not in found:
            return False
        names[name] = await _stage_file(run, by_name[name], found, kept, changes, ahead)
        return True

    async def check(name: str) -> None:
        if name in found:
            await _check_file(run, by_name[name], names, changes)

    # The other readers need title.basics' marks of titles, known once it is staged.
    await stage("title.basics")
    ahead.start(READING_ORDER)
    await check("title.basics")
    await stage("title.ratings")
    await check("title.ratings")
    await _films(
        run,
        names.get("title.basics"),
        title_types,
        kept.kept_title_lines,
        forget_ratings=False,
        first=True,
    )
    if "title.ratings" in found:
        await _ratings(run, kept, names, prune=False)
    if await stage("title.akas"):
        await check("title.akas")
        await _akas(run, kept, changes, names, prune=False, first=True)
    await stage("title.crew")
    await stage("title.principals")
    # Both credit files' readers have marked the people they credit.
    ahead.start(["name.basics"], people_known=True)
    await check("title.crew")
    await check("title.principals")
    await _credits_stage(run, kept, names)
    await stage("name.basics")
    await check("name.basics")
    if prune:
        _can_prune(run)
    await _credits(run, found, kept, changes, prune=False, first=True)
    await _build_again(run)
    # Nothing was left out by a digest (none is read into an empty graph), so staging the
    # digests now drops no title.crew line (Changes.staged).
    await changes.staged(run.conn)
    await run.conn.execute(db.sql("imdb_first_load_drop_digest_key"))
    await _store(run, changes)
    await run.conn.execute(db.sql("imdb_first_load_digest_key"))


async def _stage_file(
    run: Run,
    f: DatasetFile,
    found: dict[str, Path],
    kept: Kept,
    changes: Changes,
    ahead: Ahead,
) -> str:
    rejected = run.rejected
    reader = await ahead.take(f.name, run.conn)
    name = await _stage(run, f, found[f.name], kept, changes, reader)
    changes.rejected(f.name, run.rejected > rejected)
    return name


async def _check_file(run: Run, f: DatasetFile, names: dict[str, str], changes: Changes) -> None:
    rejected = run.rejected
    await run.reject_rows(f.check, f.stage, names[f.name], f.table)
    changes.rejected(f.name, run.rejected > rejected)
    if f.name == "title.ratings":
        await _again(run, "imdb_ratings_again", names[f.name])


async def _again(run: Run, statement: str, file: str, *args: object) -> int:
    """Count and name the earlier lines of ids that `file` gives again with other content
    (statement: imdb_*_again); return its other figure, if any (else 0)."""
    row = await run.conn.fetchrow(db.sql(statement), DANGLING_EXAMPLES, file, *args)
    listed = zip(row["lines"] or [], row["refs"] or [], strict=True)
    run.skip_dangling(file, AGAIN, row["lost"], [f"line {line} ({ref})" for line, ref in listed])
    return int(row["merged"]) if "merged" in row else 0


async def _credits_stage(run: Run, kept: Kept, names: dict[str, str]) -> None:
    """The credits of title.principals and title.crew, typed, of the films in the graph."""
    conn = run.conn
    principals = names.get("title.principals", "title.principals")
    crew = names.get("title.crew", "title.crew")
    await conn.execute(db.sql("imdb_credits_stage"), principals, crew)
    await conn.execute("analyze imdb_credit_stage")
    skipped = await run.resolve("imdb_titles_resolve", crew, UNKNOWN_TITLE)
    skipped += kept.left_out.get("title.principals", 0) + kept.left_out.get("title.crew", 0)
    if skipped:
        run.note(f"{skipped} credit line(s) of titles of other types left out")


async def _credits(
    run: Run, found: dict[str, Path], kept: Kept, changes: Changes, *, prune: bool, first: bool
) -> None:
    """The people of name.basics, then the staged credits of the people in the graph."""
    conn = run.conn
    await run.resolve("imdb_people_resolve", "", UNKNOWN_PERSON)
    file = found["name.basics"].name if "name.basics" in found else None
    await _people(run, file, kept.left_out.get("name.basics", 0), first=first)
    run.merged("person", 0, 0, changes.unchanged_rows(NAMES))
    if first:
        inserted = _count(await conn.execute(db.sql("imdb_credits_insert_first")))
        run.merged("credit", inserted, 0, inserted)
    else:
        inserted, updated, total = await conn.fetchrow(db.sql("imdb_credits_merge"))
        run.merged("credit", inserted, updated, total)
    run.merged("credit", 0, 0, changes.unchanged_rows(CREDITS))
    if "title.principals" in found and "title.crew" in found:
        if run.tally("credit").rejected:
            run.note("credits no longer listed are kept: some credit lines were rejected")
        elif not first:  # a first load has no credits from before
            run.tally("credit").deleted += await conn.fetchval(db.sql("imdb_credits_prune"), prune)


async def _ratings(run: Run, kept: Kept, names: dict[str, str], *, prune: bool) -> None:
    """The ratings of films in the graph that title.basics did not stage."""
    conn = run.conn
    if prune:
        changed = await conn.fetchval(db.sql("imdb_ratings_prune"))
        run.merged("film", 0, changed, changed)
        run.tally("rating").deleted += changed
    skipped = await run.resolve("imdb_ratings_resolve", names["title.ratings"], UNKNOWN_TITLE)
    skipped += kept.left_out.get("title.ratings", 0)
    if skipped:
        run.note(f"{skipped} rating(s) of titles of other types left out")
    inserted, updated, total = await conn.fetchrow(db.sql("imdb_ratings_update"))
    run.merged("film", 0, inserted + updated, total)
    run.merged("rating", inserted, updated, total)


async def _akas(
    run: Run,
    kept: Kept,
    changes: Changes,
    names: dict[str, str],
    *,
    prune: bool,
    first: bool,
) -> None:
    """The alternative titles of title.akas, of the films in the graph."""
    conn = run.conn
    akas = names["title.akas"]
    skipped = await run.resolve("imdb_akas_resolve", akas, UNKNOWN_TITLE)
    skipped += kept.left_out.get("title.akas", 0)
    if skipped:
        run.note(f"{skipped} alternative title(s) of titles of other types left out")
    if first:
        inserted = _count(await conn.execute(db.sql("imdb_akas_insert_first")))
        run.merged("film_alternative_title", inserted, 0, inserted)
    else:
        inserted, updated, total = await conn.fetchrow(db.sql("imdb_akas_merge"))
        run.merged("film_alternative_title", inserted, updated, total)
    if await conn.fetchval(db.sql("imdb_akas_staged")) > (inserted if first else total):
        await _again(run, "imdb_akas_again", akas)
    run.merged("film_alternative_title", 0, 0, changes.unchanged_rows(AKAS))
    if run.tally("film_alternative_title").rejected:
        run.note("alternative titles no longer listed are kept: some lines were rejected")
    elif not first:
        run.tally("film_alternative_title").deleted += await conn.fetchval(
            db.sql("imdb_akas_prune"), prune
        )


async def _store(run: Run, changes: Changes) -> None:
    # Without a credit left out for naming an unknown person, every staged title's credits
    # were merged whole, and none need be looked for.
    unknown_people = any(reason == UNKNOWN_PERSON for _, reason in run.dangling)
    await changes.store(run.conn, unknown_people=unknown_people)


async def _stage(
    run: Run,
    f: DatasetFile,
    path: Path,
    kept: Kept,
    changes: Changes,
    reader: ReadAhead | None,
) -> str:
    """Stage one file (read ahead by reader, if given); the lines of titles whose digest did
    not change are left out."""
    titles = changes.reader(f.name)
    drop = kept.reader_filter(f.name) if reader is None else None
    # name.basics read ahead before the credits were read whole: its lines are left out here
    # (Ahead).
    whole = reader is not None and reader.drop is None
    keep = kept.names if whole and f.name == "name.basics" else None
    if titles is None:
        name, _ = await run.stage_tsv(
            f.stage, path, f.header, f.table, keep, drop=drop, ahead=reader
        )
        return name
    left_out = kept.left_out.get(f.name, 0)
    name, _ = await run.stage_tsv(
        f.stage,
        path,
        f.header,
        f.table,
        titles if keep is None else _chain(keep, titles),
        last=titles.rest,
        drop=drop,
        ahead=reader,
    )
    if not titles.in_order and titles.skipped:
        # Titles left out may come again further on: the file is read again, whole.
        await run.conn.execute(f"truncate {f.stage}")
        kept.left_out[f.name] = left_out
        titles = changes.reader(f.name, whole=True)
        assert titles is not None
        name, _ = await run.stage_tsv(
            f.stage,
            path,
            f.header,
            f.table,
            titles,
            last=titles.rest,
            again=True,
            drop=kept.reader_filter(f.name),
        )
    changes.read(f.name, titles)
    return name


# How many files' readers run at once: each takes a core (gunzip, split, drop in Python),
# while the import's process and the server's COPY of the lines kept take little.
READERS_AT_ONCE = 2


class Ahead:
    """Files read ahead of their turn, READERS_AT_ONCE at a time, each into a spool file
    (ReadAhead.spool), while the import stages the files before them: name.basics from the
    start, beside title.basics (its lines of people nobody credits are then left out as it is
    staged, by Kept.names: the credits are read by then); title.crew, title.principals,
    title.ratings and title.akas once title.basics is staged (they need its marks of titles).
    The files are still staged one at a time, in STAGING_ORDER, on the import's one
    connection. A first load (_pipelined) reads name.basics last instead, once the credits
    are staged, its reader given their marks of people."""

    def __init__(self, found: dict[str, Path], kept: Kept) -> None:
        self.found = found
        self.kept = kept
        self.slots = asyncio.Semaphore(READERS_AT_ONCE)
        self.tasks: dict[str, asyncio.Task[ReadAhead]] = {}

    def start(self, names: Iterable[str], *, people_known: bool = False) -> None:
        """Start reading these files (as slots free up, in this order); people_known: the
        credits are staged (their readers' marks of people read back), so name.basics' reader
        is given them and leaves out the people nobody credits."""
        for name in names:
            if name in self.found and name not in self.tasks:
                self.tasks[name] = asyncio.create_task(self._read(name, people_known))

    async def take(self, name: str, conn: asyncpg.Connection) -> ReadAhead | None:
        """The file's reader, done reading; None if it was not read ahead. Meanwhile the
        import's transaction is idle on conn: at full scale title.principals takes minutes to
        read, and the server ends a transaction idle past idle_in_transaction_session_timeout
        (a minute: run.SESSION_SETTINGS), so the import says a word within a third of it."""
        task = self.tasks.pop(name, None)
        if task is None:
            return None
        limit_ms = await conn.fetchval(db.sql("import_idle_limit"))
        every = limit_ms / 3000 if limit_ms else None
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=every)
                if done:
                    return task.result()
                await conn.execute(db.sql("import_keepalive"))
        except BaseException:
            task.cancel()  # a failed or stopped import: the reader is of no more use
            raise

    async def _read(self, name: str, people_known: bool) -> ReadAhead:
        async with self.slots:
            f = next(f for f in FILES if f.name == name)
            # name.basics read before the credits have marked their people: unfiltered.
            filtered = name != "name.basics" or people_known
            drop = self.kept.reader_filter(name) if filtered else None
            reader = ReadAhead(self.found[name], f.header, _unheard, _unheard, drop)
            await reader.spool()
        return reader

    async def close(self) -> None:
        """Stop the readers still reading (a failed import)."""
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(BaseException):
                await task


def _unheard(_: object) -> None:
    """A reader's rejects and counts are heard as its file is staged (Run.stage_tsv)."""


LOAD = {
    AKAS: "imdb_digests_of_akas",
    CREDITS: "imdb_digests_of_credits",
    NAMES: "imdb_digests_of_names",
}
STORE = {
    AKAS: "imdb_digests_store_akas",
    CREDITS: "imdb_digests_store_credits",
    NAMES: "imdb_digests_store_names",
}
# The files each digest is of, the one whose reading decides first.
DIGESTED = {
    AKAS: ("title.akas",),
    CREDITS: ("title.principals", "title.crew"),
    NAMES: ("name.basics",),
}


async def _aiter(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _chain(keep: Callable[[bytes], bytes], titles: Titles) -> Callable[[bytes], bytes]:
    return lambda block: titles(keep(block))


class Changes:
    """The digests of one import (digests.py): those stored by the last imports, loaded
    before reading, and those of the titles staged, stored at the end."""

    def __init__(self, found: dict[str, Path], *, compare_all: bool) -> None:
        self.found = found
        # With --prune, every title is staged and compared (a stored digest is not read),
        # and the digests of those the files do not list are forgotten.
        self.prune = compare_all
        self.stored: dict[str, Digests] = {}
        self.titles: dict[str, Titles] = {}
        self.broken: set[str] = set()  # digest files not to store (rejects, not in order)

    def kind(self, name: str) -> str | None:
        if name == "title.akas":
            return AKAS
        if name == "name.basics":
            return NAMES
        if name in ("title.principals", "title.crew"):
            both = "title.principals" in self.found and "title.crew" in self.found
            return CREDITS if both else None
        return None

    async def load(self, conn: asyncpg.Connection) -> None:
        for kind in DIGESTED:
            self.stored[kind] = Digests()
            if not self.prune:
                await conn.copy_from_query(db.sql(LOAD[kind]), output=self.stored[kind].read)

    def reader(self, name: str, *, whole: bool = False) -> Titles | None:
        """The filter of a file's COPY blocks, or None (not a file read by title)."""
        kind = self.kind(name)
        if kind is None:
            return None
        stored = Digests() if whole else self.stored[kind]
        if name == "title.crew":
            return Titles(None)
        if name == "name.basics":
            return Titles(stored, prefix=b"nm")
        crew = self.titles.get("title.crew") if name == "title.principals" else None
        if crew is not None and not crew.in_order:
            self.broken.add(CREDITS)
            stored = Digests()
        return Titles(stored, crew.seen if crew is not None else None)

    def read(self, name: str, titles: Titles) -> None:
        self.titles[name] = titles
        kind = self.kind(name)
        if kind is not None and not titles.in_order:
            self.broken.add(kind)

    def rejected(self, name: str, any_rejected: bool) -> None:
        kind = self.kind(name)
        if kind is not None and any_rejected:
            self.broken.add(kind)
        elif any_rejected and name in ("title.principals", "title.crew"):
            self.broken.add(CREDITS)

    def unchanged_rows(self, kind: str) -> int:
        titles = self.titles.get(DIGESTED[kind][0])
        return titles.unchanged_rows if titles is not None else 0

    async def staged(self, conn: asyncpg.Connection) -> None:
        """Stage the digests of the titles staged; leave out title.crew's lines of titles
        whose credits did not change."""
        text = (
            chunk
            for kind, names in DIGESTED.items()
            if names[0] in self.titles
            for chunk in self.titles[names[0]].staged_text(kind)
        )
        await conn.copy_to_table("imdb_digest_stage", source=_aiter(text), format="text")
        # Planned blind, the digests' stores probed person's key once per staged person.
        await conn.execute("analyze imdb_digest_stage")
        principals = self.titles.get("title.principals")
        if principals is not None and principals.skipped:
            await conn.execute(db.sql("imdb_crew_unchanged_drop"))

    async def store(self, conn: asyncpg.Connection, *, unknown_people: bool) -> None:
        """Store the digests of the titles merged whole; forget those of files that had a
        line rejected or were not in order. With --prune, forget every other digest: the
        import may have removed films, people, credits and alternative titles of titles the
        files do not list."""
        if self.prune:
            await conn.execute(db.sql("imdb_digests_forget"))
        for kind, names in DIGESTED.items():
            if not any(n in self.found for n in names):
                continue
            if kind in self.broken or self.kind(names[0]) is None:
                await conn.execute(db.sql("imdb_digests_forget_file"), kind)
                continue
            await conn.execute(db.sql("imdb_digests_replace"), kind)
            args = (unknown_people,) if kind == CREDITS else ()
            await conn.execute(db.sql(STORE[kind]), *args)


async def _in_graph(
    conn: asyncpg.Connection, statement: str, note: Callable[[list[bytes]], None]
) -> None:
    """Hand the IMDb ids a statement lists to note, streamed (millions of them at full scale)."""
    rest = b""

    async def lines(chunk: bytes) -> None:
        nonlocal rest
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        note(data[:cut].split())

    await conn.copy_from_query(db.sql(statement), output=lines)
    note(rest.split())


def _can_prune(run: Run) -> bool:
    """Removing what the files do not list is only safe when every line of them was read:
    a rejected line would make its film or person look gone."""
    if run.rejected:
        run.note("--prune: nothing removed, because some lines were rejected")
        return False
    return True


async def _prune(run: Run, found: dict[str, Path]) -> None:
    """Remove the films and people from IMDb that title.basics and name.basics no longer list,
    before credits are resolved: credit lines naming them are then unknown references."""
    conn = run.conn
    if "title.basics" in found:
        films, credits, titles, genre_links, offers = await conn.fetchrow(
            db.sql("imdb_films_prune")
        )
        run.tally("film").deleted += films
        run.tally("credit").deleted += credits
        run.tally("film_alternative_title").deleted += titles
        run.tally("film_genre").deleted += genre_links
        run.tally("offer").deleted += offers
    if "name.basics" in found:
        people, credits = await conn.fetchrow(db.sql("imdb_people_prune"))
        run.tally("person").deleted += people
        run.tally("credit").deleted += credits


async def _films(
    run: Run,
    file: str | None,
    title_types: list[str],
    kept_lines: int,
    *,
    forget_ratings: bool,
    first: bool = False,
) -> None:
    """Merge the films of title.basics (file, if read: it staged kept_lines lines of the kept
    title types); with forget_ratings, a rating that title.ratings does not list is removed
    from the film (--prune). A first load's films are all new: none has genre links to
    prune."""
    conn = run.conn
    total = _count(await conn.execute(db.sql("imdb_films_stage"), title_types))
    await conn.execute("analyze imdb_film_stage")
    # An id given again has several lines of a kept type, or a last line of another type (no
    # film): then title.basics staged more lines of a kept type than there are films. Only
    # then is the stage looked through for them (at full scale that costs 8 s).
    if file is not None and kept_lines > total:
        await _again(run, "imdb_titles_again", file, title_types)
    run.merged("rating", *await conn.fetchrow(db.sql("imdb_film_ratings_tally")))
    updated = await conn.fetchval(db.sql("imdb_films_update"), forget_ratings)
    inserted = await conn.fetchval(db.sql("imdb_films_insert"))
    run.merged("film", inserted, updated, total)
    await conn.execute(db.sql("imdb_film_genres_stage"))
    await merge_genres(run, "imdb", new_films=first)


async def _people(run: Run, file: str | None, dropped: int, *, first: bool) -> None:
    """Merge the people of name.basics (file, if read); `dropped` lines of it were left out
    as read."""
    conn = run.conn
    left_out, total = await conn.fetchrow(db.sql("imdb_people_stage"))
    if left_out and file is not None:
        # Some lines were not staged: of people nobody credits, or again of one who is.
        left_out -= await _again(run, "imdb_names_again", file)
    left_out += dropped
    if left_out:
        run.note(f"{left_out} name.basics row(s) of people not credited here left out")
    await conn.execute("analyze imdb_person_stage")
    if first:
        inserted = _count(await conn.execute(db.sql("imdb_people_insert_first")))
        run.merged("person", inserted, 0, total)
        # For the plan of the credits' insert, which joins them (a hash, not two sorts).
        await conn.execute("analyze person")
        return
    updated = await conn.fetchval(db.sql("imdb_people_update"))
    inserted = await conn.fetchval(db.sql("imdb_people_insert"))
    run.merged("person", inserted, updated, total)


# A first load drops these (sql/queries/import_imdb_first.sql) and builds them again.
FIRST_LOAD_DROP = (
    "imdb_first_load_drop_indexes",
    "imdb_first_load_drop_credit_keys",
    "imdb_first_load_drop_hub_key",
    "imdb_first_load_drop_person_keys",
    "imdb_first_load_drop_alternative_title_keys",
    "imdb_first_load_drop_film_genre_keys",
    "imdb_first_load_credit_trigger_off",
    "imdb_first_load_person_words_off",
    "imdb_first_load_credit_tally_clear",
    "imdb_first_load_drop_person_stage_key",
)
FIRST_LOAD_BUILD = (
    "imdb_first_load_credit_trigger_on",
    "imdb_first_load_person_words_on",
    "imdb_first_load_drop_credit_tally_key",
    "imdb_first_load_credit_tally",
    "imdb_first_load_credit_tally_key",
    "imdb_first_load_film_rating_idx",
    "imdb_first_load_film_runtime_idx",
    "imdb_first_load_film_search_vector_idx",
    "imdb_first_load_film_title_idx",
    "imdb_first_load_film_title_prefix_idx",
    "imdb_first_load_film_votes_idx",
    "imdb_first_load_film_year_idx",
    "imdb_first_load_film_genre_keys",
    "imdb_first_load_film_genre_genre_idx",
    "imdb_first_load_person_keys",
    "imdb_first_load_hub_key",
    "imdb_first_load_person_name_idx",
    "imdb_first_load_person_name_prefix_idx",
    "imdb_first_load_person_name_words_idx",
    "imdb_first_load_credit_keys",
    "imdb_first_load_credit_person_role_idx",
    "imdb_first_load_credit_filmography_idx",
    "imdb_first_load_collaborations",
    "imdb_first_load_alternative_title_keys",
    "imdb_first_load_analyze",
)


async def _first_load(run: Run) -> bool:
    """Whether this import takes the first-load path, and if so, set it up: into an empty
    graph there is nothing to serve, so the import takes the graph's tables until it commits
    and drops their indexes and constraints, to build each again in one pass at the end
    (_build_again) rather than keep it up row by row. Same rows, same schema, one transaction:
    a failure rolls the drops back with the rest."""
    conn = run.conn
    if not await conn.fetchval(db.sql("imdb_graph_empty")):
        return False
    # Asked again holding the tables, in a savepoint: should the graph have filled in the
    # meantime, rolling it back lets the tables go again.
    savepoint = conn.transaction()
    await savepoint.start()
    await conn.execute(db.sql("imdb_first_load_lock"))
    if not await conn.fetchval(db.sql("imdb_graph_empty")):
        await savepoint.rollback()
        return False
    await savepoint.commit()
    await conn.fetchval(db.sql("imdb_first_load_memory"))
    for statement in FIRST_LOAD_DROP:
        await conn.execute(db.sql(statement))
    return True


async def _build_again(run: Run) -> None:
    """The end of a first load: the indexes and constraints _first_load dropped."""
    for statement in FIRST_LOAD_BUILD:
        await run.conn.execute(db.sql(statement))
