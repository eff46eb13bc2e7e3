"""`filmgraph import movielens DIR`: movies.csv and links.csv of a MovieLens release ("latest-
small" layout). Genres and TMDB ids are merged onto films matched by IMDb id; films the graph
does not know yet are created from the MovieLens title and year.

MovieLens writes titles as a library catalogue does: the article moved to the end, and the
original title after it in parentheses, "400 Blows, The (Les quatre cents coups) (1959)".
They become "The 400 Blows" of 1959, with "Les quatre cents coups" as an alternative title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from graph import db
from graph.importers.genres import merge_genres
from graph.importers.reader import InputError
from graph.importers.run import DANGLING_EXAMPLES, Run

MOVIES = ["movieId", "title", "genres"]
LINKS = ["movieId", "imdbId", "tmdbId"]
# Warnings shown per line (duplicate ids); the rest are counted in one more.
WARNINGS = 5
# The other files of a MovieLens release, which filmgraph does not read.
OTHER_FILES = ("ratings.csv", "tags.csv", "genome-scores.csv", "genome-tags.csv", "README.txt")

# Articles that MovieLens moves to the end ("Blows, The"), in the languages of its titles:
# English, French, German, Spanish, Italian, Portuguese, Dutch, the Scandinavian languages.
ARTICLES = (
    *("The", "A", "An"),
    *("Le", "La", "Les", "L'", "Un", "Une"),
    *("Der", "Die", "Das", "Den", "Dem", "Des", "Ein", "Eine"),
    *("El", "Los", "Las", "Una"),
    *("Il", "Lo", "I", "Gli", "Uno"),
    *("O", "Os", "As", "Um", "Uma"),
    *("De", "Het", "Een"),
    *("En", "Ett", "Det"),
)
_TRAILING_ARTICLE = re.compile(
    r"^(?P<rest>.*\S),\s*(?P<article>" + "|".join(re.escape(a) for a in ARTICLES) + r")$"
)
_YEAR = re.compile(r"^(?P<rest>.*?)\s*\((?P<year>[0-9]{4})(?:[-\u2013][0-9]{0,4})?\)$")
_PART = re.compile(r"^(?P<rest>.*\S)\s*\((?P<part>[^()]+)\)$")
_AKA = re.compile(r"^(?:a\.k\.a\.|aka)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Title:
    title: str
    year: int | None
    alternatives: list[str]


def front_article(text: str) -> str:
    """ "400 Blows, The" -> "The 400 Blows"; "Auberge espagnole, L'" -> "L'Auberge espagnole"."""
    text = text.strip()
    match = _TRAILING_ARTICLE.match(text)
    if not match:
        return text
    article = match["article"]
    return article + ("" if article.endswith("'") else " ") + match["rest"]


def movielens_title(raw: str) -> Title:
    """A MovieLens title split into the title, its year and its alternative titles (the
    parenthesized parts before the year, "a.k.a." dropped), articles put in front."""
    text = raw.strip()
    year = None
    match = _YEAR.match(text)
    if match and match["rest"]:
        text, year = match["rest"], int(match["year"])
    parts: list[str] = []
    while (match := _PART.match(text)) and match["rest"]:
        text = match["rest"]
        part = _AKA.sub("", match["part"].strip())
        # A year written twice ("Eden (2014) (2014)") is no title.
        if not _YEAR.match(f"({part})"):
            parts.insert(0, part)
    title = front_article(text) or raw.strip()
    alternatives: list[str] = []
    for part in parts:
        alternative = front_article(part)
        if alternative and alternative != title and alternative not in alternatives:
            alternatives.append(alternative)
    return Title(title, year if year is None or 1870 <= year <= 2100 else None, alternatives)


# Releases in the older formats: '::'-separated movies.dat (ml-1m, ml-10m), latin-1 u.item
# (ml-100k). Neither links a movie to an IMDb or TMDB id, so none of their movies could be
# merged onto a film: they are refused by name rather than imported as nothing.
OLD_FORMATS = {
    "movies.dat": "the MovieLens 1M/10M format ('::'-separated movies.dat)",
    "u.item": "the MovieLens 100K format (u.item)",
}


def _file(directory: Path, name: str) -> Path:
    if not directory.exists():
        raise InputError(f"{directory}: no such file or directory")
    if not directory.is_dir():
        if directory.suffix.lower() == ".zip":
            raise InputError(
                f"{directory}: a zip archive, not a directory: unzip it and give the directory "
                "holding movies.csv and links.csv"
            )
        raise InputError(f"{directory}: not a directory")
    for old, format_ in OLD_FORMATS.items():
        if (directory / old).is_file() and not (directory / name).is_file():
            raise InputError(
                f"{directory / old}: {format_}, which gives no IMDb or TMDB id to merge a film "
                "by; filmgraph reads the releases with movies.csv and links.csv (ml-latest, "
                "ml-latest-small, ml-20m, ml-25m, ml-32m)"
            )
    present = [c for c in (directory / name, directory / f"{name}.gz") if c.is_file()]
    if len(present) > 1:
        # Which is meant cannot be told, as for IMDb's files (imdb.find_files).
        raise InputError(
            f"{directory}: both {present[0].name} and {present[1].name}: "
            "remove or rename the one not to import"
        )
    if present:
        return present[0]
    # The directory the release's zip was unzipped in, rather than the release's own.
    within = sorted(
        p.parent.name for n in (name, f"{name}.gz") for p in directory.glob(f"*/{n}") if p.is_file()
    )
    hint = f"; {directory / within[0]} holds one: give that directory" if within else ""
    raise InputError(
        f"{directory}: no {name} (a MovieLens release has movies.csv and links.csv){hint}"
    )


async def import_movielens(run: Run, directory: Path) -> None:
    movies, links = _file(directory, "movies.csv"), _file(directory, "links.csv")
    run.name_unread(directory, {movies.name, links.name})
    conn = run.conn
    for stage in (
        "movielens_movie_stage",
        "movielens_link_stage",
        "movielens_title_stage",
        "movielens_film_stage",
    ):
        await conn.execute(db.sql(f"{stage}_create"))
    await conn.execute(db.sql("import_genre_stage_create"))
    before = run.rejected
    movies_name, _ = await run.stage_csv("movielens_movie_stage", movies, MOVIES, "film")
    # A movie rejected leaves its links.csv row without a movie too: not an extract's.
    rejected_movies = run.rejected - before
    links_name, _ = await run.stage_csv("movielens_link_stage", links, LINKS, "film")
    await conn.execute(db.sql("movielens_links_nulls"))
    before = run.rejected
    await run.reject_rows("movielens_movies_check", "movielens_movie_stage", movies_name, "film")
    rejected_movies += run.rejected - before
    await run.reject_rows("movielens_links_check", "movielens_link_stage", links_name, "film")
    dangling, lines, refs = await conn.fetchrow(
        db.sql("movielens_links_dangling"), DANGLING_EXAMPLES
    )
    examples = [f"line {n} (movieId {ref})" for n, ref in zip(lines or [], refs or [], strict=True)]
    missing = "does not have or rejected" if rejected_movies else "does not have"
    run.skip_dangling(
        links_name, f"row(s) naming a movieId {movies_name} {missing}", dangling, examples
    )
    replaced, lines, reasons = await conn.fetchrow(db.sql("movielens_movies_repeated"), WARNINGS)
    _warn(run, movies_name, replaced, lines, reasons, "movie row(s) replaced by a later one")
    await _titles(run)
    total, unlinked, lines, refs, merged, merged_lines, reasons = await conn.fetchrow(
        db.sql("movielens_films_stage"), DANGLING_EXAMPLES, WARNINGS
    )
    # A movie without a links.csv row has no IMDb id to be merged by: an extract's reference.
    run.skip_dangling(
        movies_name,
        f"movie(s) without a row in {links_name}",
        unlinked,
        [f"line {n} (movieId {ref})" for n, ref in zip(lines or [], refs or [], strict=True)],
    )
    _warn(run, links_name, merged, merged_lines, reasons, "row(s) merged into another film")
    await conn.execute("analyze movielens_film_stage")
    await _tmdb_clashes(run, links_name)
    updated = await conn.fetchval(db.sql("movielens_films_update"))
    inserted = await conn.fetchval(db.sql("movielens_films_insert"))
    run.merged("film", inserted, updated, total)
    inserted, updated, total = await conn.fetchrow(db.sql("movielens_alternative_titles_merge"))
    run.merged("film_alternative_title", inserted, updated, total)
    run.tally("film_alternative_title").deleted += await conn.fetchval(
        db.sql("movielens_alternative_titles_prune")
    )
    await conn.execute(db.sql("movielens_film_genres_stage"))
    await merge_genres(run, "movielens")


async def _titles(run: Run) -> None:
    """Split every staged title (see movielens_title) into movielens_title_stage."""
    records = []
    for line, raw in await run.conn.fetch(db.sql("movielens_movie_titles")):
        title = movielens_title(raw)
        records.append((line, title.title, title.year, title.alternatives))
    await run.conn.copy_records_to_table(
        "movielens_title_stage",
        records=records,
        columns=["line", "title", "year", "alternatives"],
    )


async def _tmdb_clashes(run: Run, links_name: str) -> None:
    """A TMDB id that links.csv gives to several films (real releases do) goes to one: the
    film that already has it in the graph, else the first in links.csv. The others are
    imported without it, and named as a warning."""
    clashes, lines, reasons = await run.conn.fetchrow(db.sql("movielens_tmdb_clashes"), WARNINGS)
    _warn(run, links_name, clashes, lines, reasons, "film(s) imported without a TMDB id")


def _warn(
    run: Run,
    file: str,
    count: int,
    lines: list[int] | None,
    reasons: list[str] | None,
    more: str,
) -> None:
    """A warning per line for the first WARNINGS of count, then one for the rest."""
    for line, reason in zip(lines or [], reasons or [], strict=True):
        run.note(f"warning: {file}:{line}: {reason}")
    if count > len(lines or []):
        run.note(f"warning: {count - len(lines or [])} more {more}")
