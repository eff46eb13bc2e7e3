"""`filmgraph import imdb DIR`: the IMDb dataset files, as published.

Each file is streamed into a staging table, then checked, resolved and merged set-based (see
sql/queries/import_imdb.sql). Films come from title.basics (of the kept title types) with
their ratings; people from name.basics (those credited here or already in the graph); credits
from title.principals and title.crew; alternative titles from title.akas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graph import db
from graph.importers.genres import merge_genres
from graph.importers.reader import InputError
from graph.importers.run import Run

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
# Why rows of an extract are left out (see Run.skip_dangling).
UNKNOWN_TITLE = "reference(s) to a title in neither title.basics nor the graph"
UNKNOWN_PERSON = "reference(s) to a person in neither name.basics nor the graph"

DERIVED_STAGES = ("imdb_film_stage", "imdb_credit_stage", "imdb_person_stage")


def find_files(directory: Path) -> dict[str, Path]:
    """The dataset files present in directory: NAME.tsv.gz or NAME.tsv."""
    if not directory.exists():
        raise InputError(f"{directory}: no such file or directory")
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory")
    found: dict[str, Path] = {}
    for f in FILES:
        for suffix in (".tsv.gz", ".tsv"):
            path = directory / (f.name + suffix)
            if path.is_file():
                found[f.name] = path
                break
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
    run: Run, directory: Path, title_types: list[str], *, prune: bool = False
) -> None:
    """Import the dataset files in directory. With prune, the files are taken as IMDb's whole
    dataset: what they no longer list is removed (see _prune)."""
    found = find_files(directory)
    run.name_unread(directory, {path.name for path in found.values()})
    conn = run.conn
    for f in FILES:
        await conn.execute(db.sql(f"{f.stage}_create"))
    for stage in DERIVED_STAGES:
        await conn.execute(db.sql(f"{stage}_create"))
    await conn.execute(db.sql("import_genre_stage_create"))

    names: dict[str, str] = {}
    for f in FILES:
        if f.name in found:
            names[f.name], _ = await run.stage_tsv(f.stage, found[f.name], f.header, f.table)
    for f in FILES:
        if f.name in found:
            await run.reject_rows(f.check, f.stage, names[f.name], f.table)

    if prune:
        prune = _can_prune(run)
    await _films(run, title_types, forget_ratings=prune and "title.ratings" in found)
    if prune:
        await _prune(run, found)
    principals = names.get("title.principals", "title.principals")
    crew = names.get("title.crew", "title.crew")
    await conn.execute(db.sql("imdb_credits_stage"), principals, crew)
    await conn.execute("analyze imdb_credit_stage")
    skipped = await run.resolve("imdb_titles_resolve", "", UNKNOWN_TITLE)
    if skipped:
        run.note(f"{skipped} credit line(s) of titles of other types left out")
    await run.resolve("imdb_people_resolve", "", UNKNOWN_PERSON)
    await _people(run)
    inserted, updated, total = await conn.fetchrow(db.sql("imdb_credits_merge"))
    run.merged("credit", inserted, updated, total)
    if "title.principals" in found and "title.crew" in found:
        if run.tally("credit").rejected:
            run.note("credits no longer listed are kept: some credit lines were rejected")
        else:
            run.tally("credit").deleted += await conn.fetchval(db.sql("imdb_credits_prune"), prune)
    if "title.ratings" in found:
        if prune:
            changed = await conn.fetchval(db.sql("imdb_ratings_prune"))
            run.merged("film", 0, changed, changed)
            run.tally("rating").deleted += changed
        skipped = await run.resolve("imdb_ratings_resolve", names["title.ratings"], UNKNOWN_TITLE)
        if skipped:
            run.note(f"{skipped} rating(s) of titles of other types left out")
        inserted, updated, total = await conn.fetchrow(db.sql("imdb_ratings_update"))
        run.merged("film", 0, inserted + updated, total)
        run.merged("rating", inserted, updated, total)
    if "title.akas" in found:
        akas = names["title.akas"]
        skipped = await run.resolve("imdb_akas_resolve", akas, UNKNOWN_TITLE)
        if skipped:
            run.note(f"{skipped} alternative title(s) of titles of other types left out")
        inserted, updated, total = await conn.fetchrow(db.sql("imdb_akas_merge"))
        run.merged("film_alternative_title", inserted, updated, total)
        if run.tally("film_alternative_title").rejected:
            run.note("alternative titles no longer listed are kept: some lines were rejected")
        else:
            run.tally("film_alternative_title").deleted += await conn.fetchval(
                db.sql("imdb_akas_prune"), prune
            )


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


async def _films(run: Run, title_types: list[str], *, forget_ratings: bool) -> None:
    """Merge the films of title.basics; with forget_ratings, a rating that title.ratings does
    not list is removed from the film (--prune)."""
    conn = run.conn
    total = _count(await conn.execute(db.sql("imdb_films_stage"), title_types))
    await conn.execute("analyze imdb_film_stage")
    run.merged("rating", *await conn.fetchrow(db.sql("imdb_film_ratings_tally")))
    updated = await conn.fetchval(db.sql("imdb_films_update"), forget_ratings)
    inserted = await conn.fetchval(db.sql("imdb_films_insert"))
    run.merged("film", inserted, updated, total)
    await conn.execute(db.sql("imdb_film_genres_stage"))
    await merge_genres(run, "imdb")


async def _people(run: Run) -> None:
    conn = run.conn
    left_out, total = await conn.fetchrow(db.sql("imdb_people_stage"))
    if left_out:
        run.note(f"{left_out} name.basics row(s) of people not credited here left out")
    await conn.execute("analyze imdb_person_stage")
    updated = await conn.fetchval(db.sql("imdb_people_update"))
    inserted = await conn.fetchval(db.sql("imdb_people_insert"))
    run.merged("person", inserted, updated, total)
