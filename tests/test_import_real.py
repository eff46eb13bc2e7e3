"""Importing files as users bring them: extracts of the published datasets, re-saved by
Python's csv or pandas (quoted minimally or fully), gzipped, cut short; MovieLens releases with
their catalogue titles and duplicate ids; TMDB answers of the wrong kind. Counts are checked
exactly against the fixture files (tests/fixtures/extract and tests/fixtures/movielens, small
files in the real formats: see the comments at EXPECTED)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import asyncpg
import pytest

from graph.importers.reader import BOM
from graph.migrate import migrate
from tests.conftest import create_database, drop_database
from tests.importing import filmgraph_import, fingerprint
from tests.test_import_imdb import rejects, summary

FIXTURES = Path(__file__).parent / "fixtures"
EXTRACT = FIXTURES / "extract"
MOVIELENS = FIXTURES / "movielens"
Quoting = Literal[0, 1, 2, 3]  # csv.QUOTE_MINIMAL, QUOTE_ALL, QUOTE_NONNUMERIC, QUOTE_NONE

# tests/fixtures/extract, counted by hand. Films: the four movie and tvMovie rows of
# title.basics (tt0000015 is an episode). Ratings: those of the four films that
# title.ratings has (3). People: the six of name.basics credited on those films. Credits:
# six from title.principals, and four writing credits from title.crew whose directing credits
# principals already give (nm0000022 and nm0000025). Alternative titles: 2 + 2.
EXPECTED = {
    "films": 4,
    "rated": 3,
    "people": 6,
    "credits": 10,
    "crew_writers": 4,
    "alternative_titles": 4,
    "genres": 6,
    "genre_links": 7,
}
# References to what neither the files nor the graph has, per file and kind (lines of
# principals, ratings and akas; each person of a crew line).
DANGLING = [
    ("title.principals.tsv", "title", 3, "line 12 (tt9999901), line 13 (tt9999902), line 14 (tt9999903)"),
    ("title.crew.tsv", "title", 1, "line 6 (tt9999901)"),
    ("title.crew.tsv", "person", 4, "line 2 (nm9999921), line 2 (nm9999922), line 3 (nm9999923)"),
    ("title.principals.tsv", "person", 4, "line 5 (nm9999911), line 7 (nm9999912), line 10 (nm9999913)"),
    ("title.ratings.tsv", "title", 2, "line 6 (tt9999901), line 7 (tt9999902)"),
    ("title.akas.tsv", "title", 1, "line 6 (tt9999901)"),
]  # fmt: skip
# The IMDb files' integer columns.
INTEGER_COLUMNS = {
    *("isAdult", "startYear", "endYear", "runtimeMinutes", "numVotes", "ordering"),
    *("birthYear", "deathYear", "isOriginalTitle"),
}
COUNTS = """
select (select count(*) from film) as films,
       (select count(*) from film where imdb_rating is not null) as rated,
       (select count(*) from person) as people,
       (select count(*) from credit) as credits,
       (select count(*) from credit where role = 'WRITER') as crew_writers,
       (select count(*) from film_alternative_title) as alternative_titles,
       (select count(*) from genre) as genres,
       (select count(*) from film_genre) as genre_links
"""


@pytest.fixture
async def fresh_dsn(server_dsn: str) -> AsyncIterator[Any]:
    """A factory of fresh, empty databases, dropped after the test."""
    names: list[str] = []

    async def make() -> str:
        names.append(f"filmgraph_scratch_{secrets.token_hex(4)}")
        return await create_database(server_dsn, names[-1])

    yield make
    for name in names:
        await drop_database(server_dsn, name)


async def _one(dsn: str, query: str, *args: object) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchrow(query, *args)
    finally:
        await conn.close()


async def _rows(dsn: str, query: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


def resave(source: Path, target: Path, quoting: Quoting, *, gz: bool = False) -> Path:
    """The dataset files written back as Python's csv module (and pandas, which uses it)
    writes them: tab-separated, quoted by `quoting`, CRLF line ends (csv's default)."""
    target.mkdir(parents=True)
    for path in sorted(source.glob("*.tsv")):
        rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
        out = io.StringIO()
        csv.writer(out, delimiter="\t", quoting=quoting).writerows(rows)
        data = out.getvalue().encode()
        if gz:
            (target / (path.name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (target / path.name).write_bytes(data)
    return target


def pandas_rows() -> list[tuple[Path, list[list[str]]]]:
    """The fields of each file of the extract as pandas wrote it (extract-pandas), to be
    written again in the variants a test makes of it."""
    return [
        (path, list(csv.reader(path.read_text(encoding="utf-8").splitlines(), delimiter="\t")))
        for path in sorted((FIXTURES / "extract-pandas").glob("*.tsv"))
    ]


def copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


async def imports_as(
    fresh_dsn: Any, source: str, files: Path, graph: str, label: str, *, counts: bool = True
) -> subprocess.CompletedProcess[str]:
    """Import files into a new database: exit 0, no line rejected, the extract's counts (with
    counts, for IMDb's) and the original's graph (fingerprint). The import's run."""
    dsn: str = await fresh_dsn()
    result = filmgraph_import(dsn, source, files)
    assert result.returncode == 0, (label, result.stderr)
    assert rejects(result.stderr) == [], label
    if counts:
        assert dict(await _one(dsn, COUNTS)) == EXPECTED, label
    assert await fingerprint(dsn) == graph, label
    return result


async def test_quoted_and_unquoted_copies_import_alike(fresh_dsn: Any, scratch_dir: Path) -> None:
    """IMDb's own unquoted text, and copies re-saved with QUOTE_MINIMAL (only fields holding a
    quote are quoted: the characters of title.principals) and QUOTE_ALL, plain or gzip, give
    the same graph. A title that starts with a quote in IMDb's text keeps it."""
    original = await fresh_dsn()
    result = filmgraph_import(original, "imdb", EXTRACT)
    assert result.returncode == 0, result.stderr
    assert dict(await _one(original, COUNTS)) == EXPECTED
    assert await _rows(
        original,
        """select f.title, f.original_title, c.character_name from credit c
           join film f on f.id = c.film_id join person p on p.id = c.person_id
           where p.imdb_id in ('nm0000023', 'nm0000024') and c.role = 'ACTOR'
           order by 1""",
    ) == [
        ('"Weird" Al: The Movie', '"Weird" Al: The Movie', 'Al "The Kid" Yankovic / Narrator'),
        ("Ice", '"Ice"', "Ice, the Skater"),
    ]
    graph = await fingerprint(original)
    variants: list[tuple[str, Quoting, bool]] = [
        ("minimal", csv.QUOTE_MINIMAL, False),
        ("all", csv.QUOTE_ALL, False),
        ("minimal-gz", csv.QUOTE_MINIMAL, True),
    ]
    for name, quoting, gz in variants:
        files = resave(EXTRACT, scratch_dir / name, quoting, gz=gz)
        await imports_as(fresh_dsn, "imdb", files, graph, name)


async def test_nulls_written_as_empty_fields_import_as_nulls(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """pandas writes a null as an empty field where IMDb writes `\\N`, and the numbers of an
    integer column that holds a null as floats (a birthYear of 1959 as "1959.0"):
    tests/fixtures/extract-pandas is the extract as pandas 3.1 re-saves it (read with
    read_csv(sep="\\t", quoting=csv.QUOTE_NONE, na_values=["\\N"], keep_default_na=False),
    written with to_csv(sep="\\t", index=False)), and a QUOTE_ALL copy writes `""`. A
    QUOTE_NONNUMERIC copy has every integer column as floats ("2020.0", an ordering "1.0", an
    isOriginalTitle "0.0"), as pandas writes a column with a null in any file, and to_csv's
    default (index=True) writes the row numbers first, under an empty name. All give the
    graph IMDb's own text gives, with no line rejected (an empty startYear was "bad startYear
    ''", an empty characters "not JSON", a birthYear "bad birthYear '1959.0'", an index "header
    is '|tconst|…'")."""
    original = await fresh_dsn()
    assert filmgraph_import(original, "imdb", EXTRACT).returncode == 0
    graph = await fingerprint(original)
    quoted_all = scratch_dir / "all"
    quoted_all.mkdir()
    for path, rows in pandas_rows():
        out = io.StringIO()
        csv.writer(out, delimiter="\t", quoting=csv.QUOTE_ALL).writerows(rows)
        (quoted_all / path.name).write_text(out.getvalue(), encoding="utf-8")
    assert '\t""\t' in (quoted_all / "title.basics.tsv").read_text()
    floats = scratch_dir / "floats"
    floats.mkdir()
    for path, rows in pandas_rows():
        whole = [i for i, name in enumerate(rows[0]) if name in INTEGER_COLUMNS]
        body = [
            [float(f) if i in whole and f else f for i, f in enumerate(row)] for row in rows[1:]
        ]
        out = io.StringIO()
        csv.writer(out, delimiter="\t", quoting=csv.QUOTE_NONNUMERIC).writerows([rows[0], *body])
        (floats / path.name).write_text(out.getvalue(), encoding="utf-8")
    assert "\t1.0\t" in (floats / "title.akas.tsv").read_text()
    # pandas' to_csv writes the table's index first, under an empty name, unless index=False.
    indexed = scratch_dir / "indexed"
    indexed.mkdir()
    for path in sorted((FIXTURES / "extract-pandas").glob("*.tsv")):
        lines = path.read_text(encoding="utf-8").splitlines()
        numbered = [f"\t{lines[0]}"] + [f"{i}\t{line}" for i, line in enumerate(lines[1:])]
        (indexed / path.name).write_text("\n".join(numbered) + "\n", encoding="utf-8")
    for files in (FIXTURES / "extract-pandas", quoted_all, floats, indexed):
        await imports_as(fresh_dsn, "imdb", files, graph, files.name)


async def test_an_extract_skips_dangling_references_without_spending_the_error_budget(
    empty_dsn: str, scratch_dir: Path
) -> None:
    result = filmgraph_import(empty_dsn, "imdb", EXTRACT)  # --max-errors 0
    assert result.returncode == 0, result.stderr
    assert rejects(result.stderr) == []
    notes = result.stderr.splitlines()
    skipped = result.stdout.splitlines()
    for file, kind, count, examples in DANGLING:
        where = "title.basics" if kind == "title" else "name.basics"
        reason = f"{count} reference(s) to a {kind} in neither {where} nor the graph"
        assert f"filmgraph: {file}: {reason} skipped, e.g. {examples}" in notes
        assert f"skipped {file}: {reason}" in skipped
    assert len([line for line in skipped if line.startswith("skipped ")]) == len(DANGLING)
    # The extract's title.episode.tsv is not a file the importer reads: it says so.
    assert f"filmgraph: {EXTRACT}: not read: title.episode.tsv" in notes
    counts = summary(result.stdout)
    assert counts["credit"] == [EXPECTED["credits"], 0, 0, 0]
    assert counts["rating"] == [EXPECTED["rated"], 0, 0, 0]
    assert counts["film_alternative_title"] == [EXPECTED["alternative_titles"], 0, 0, 0]

    # --max-errors is for malformed lines, which still count against it.
    files = copy(EXTRACT, scratch_dir / "bad")
    with (files / "title.principals.tsv").open("a", encoding="utf-8") as f:
        f.write("tt0000012\tthird\tnm0000024\tactress\t\\N\t\\N\n")
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 1
    assert rejects(result.stderr) == ["title.principals.tsv:16: bad ordering 'third'"]
    assert result.stderr.splitlines()[-1] == (
        "filmgraph: 1 bad row(s), more than --max-errors 0; nothing was imported"
    )


async def test_every_crew_line_of_an_unknown_title_is_counted_and_a_person_named_once(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """A crew line of a title neither file nor graph has, with no directors and no writers,
    staged no credit and went uncounted (a short's line so is counted as left out); a person
    an extract lacks, director and writer of one line, was given twice as an example."""
    files = copy(EXTRACT, scratch_dir / "crew")
    (files / "title.crew.tsv").write_text(
        "tconst\tdirectors\twriters\n"
        "tt0000014\tnm9999925\tnm9999925\n"
        "tt0000012\tnm9999923\tnm0000024\n"
        "tt9999901\t\\N\t\\N\n"
        "tt9999902\tnm0000022\t\\N\n",
        encoding="utf-8",
    )
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 0, result.stderr
    notes = result.stderr.splitlines()
    assert (
        "filmgraph: title.crew.tsv: 2 reference(s) to a title in neither title.basics nor the "
        "graph skipped, e.g. line 4 (tt9999901), line 5 (tt9999902)"
    ) in notes
    assert (
        "filmgraph: title.crew.tsv: 3 reference(s) to a person in neither name.basics nor the "
        "graph skipped, e.g. line 2 (nm9999925), line 3 (nm9999923)"
    ) in notes


async def test_title_crew_keeps_the_credits_of_the_known_people_of_a_line(
    empty_dsn: str,
) -> None:
    """A crew line naming one person the extract does not have keeps the credits of the
    others: `tt0000011  nm0000022,nm9999921  nm0000021,nm0000022,nm9999922`."""
    result = filmgraph_import(empty_dsn, "imdb", EXTRACT)
    assert result.returncode == 0, result.stderr
    assert await _rows(
        empty_dsn,
        """select f.imdb_id, p.imdb_id from credit c join film f on f.id = c.film_id
           join person p on p.id = c.person_id where c.role = 'WRITER' order by 1, 2""",
    ) == [
        ("tt0000011", "nm0000021"),
        ("tt0000011", "nm0000022"),
        ("tt0000012", "nm0000024"),
        ("tt0000013", "nm0000025"),
    ]


async def test_a_file_cut_inside_its_last_line_is_rejected(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """A copy cut short would give 16 votes for 1642, and a genre "Dr" for "Drama"."""
    files = copy(EXTRACT, scratch_dir / "cut")
    basics = (EXTRACT / "title.basics.tsv").read_text(encoding="utf-8")
    (files / "title.basics.tsv").write_text(basics[: basics.index("Drama,History") + 2])
    ratings = (EXTRACT / "title.ratings.tsv").read_text(encoding="utf-8")
    (files / "title.ratings.tsv").write_text(ratings[: ratings.index("1642") + 2])
    result = filmgraph_import(empty_dsn, "imdb", files, "--max-errors", "1")
    assert result.returncode == 1
    assert rejects(result.stderr) == [
        "title.basics.tsv:4: last line has no line end: the file was cut short",
        "title.ratings.tsv:2: last line has no line end: the file was cut short",
    ]
    assert await fingerprint(empty_dsn) == "empty"

    result = filmgraph_import(empty_dsn, "imdb", files, "--max-errors", "2")
    assert result.returncode == 0, result.stderr
    assert await _rows(empty_dsn, "select imdb_id, imdb_votes from film order by 1") == [
        ("tt0000011", None),
        ("tt0000012", None),
    ]
    assert await _rows(empty_dsn, "select name from genre where name like 'D%'") == [("Drama",)]


async def test_binary_data_is_not_called_carriage_returns(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """A file of binary data with a CR among its first bytes was refused as "lines end in a
    carriage return alone (as classic Mac OS saved text)"; its header is refused as it is."""
    files = copy(EXTRACT, scratch_dir / "binary")
    (files / "title.ratings.tsv").write_bytes(b"\x7fELF\x02\x01\x01\x00\r\x00\x03\x00>\n\x00")
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 4
    assert result.stderr.splitlines()[-1] == (
        "filmgraph: title.ratings.tsv:1: header is '\\x7fELF\\x02\\x01\\x01\\x00\\r\\x00\\x03"
        "\\x00>', expected 'tconst|averageRating|numVotes'; nothing was imported"
    )
    assert await fingerprint(empty_dsn) == "empty"


async def test_a_utf16_copy_is_refused_in_one_line(empty_dsn: str, scratch_dir: Path) -> None:
    """Excel's "Unicode Text" is UTF-16: the header was shown as 'ÿþt\\x00c\\x00o\\x00…'."""
    files = copy(EXTRACT, scratch_dir / "utf16")
    ratings = (EXTRACT / "title.ratings.tsv").read_text(encoding="utf-8")
    (files / "title.ratings.tsv").write_bytes(ratings.encode("utf-16"))
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 4
    assert result.stderr.splitlines()[-1] == (
        'filmgraph: title.ratings.tsv: UTF-16 text (as Excel saves "Unicode Text"), expected '
        "UTF-8; nothing was imported"
    )
    # MovieLens' movies.csv likewise (its first line was "NUL byte in line").
    movielens = copy(MOVIELENS, scratch_dir / "movielens")
    movies = (MOVIELENS / "movies.csv").read_text(encoding="utf-8")
    (movielens / "movies.csv").write_bytes(movies.encode("utf-16"))
    result = filmgraph_import(empty_dsn, "movielens", movielens, "--max-errors", "5")
    assert result.returncode == 4
    assert result.stderr.splitlines()[-1] == (
        'filmgraph: movies.csv: UTF-16 text (as Excel saves "Unicode Text"), expected UTF-8; '
        "nothing was imported"
    )
    assert await fingerprint(empty_dsn) == "empty"


async def test_reimport_brings_each_mentioned_films_genre_links_in_line(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """An earlier file gave tt0000012 a genre "Dr"; the whole file no longer does. The link
    goes, and the genre with it (no film has it any more). A genre MovieLens gave the film
    stays: one source dropping a genre says nothing about another's."""
    files = copy(EXTRACT, scratch_dir / "old")
    basics = (EXTRACT / "title.basics.tsv").read_text(encoding="utf-8")
    (files / "title.basics.tsv").write_text(basics.replace("Drama,Thriller", "Dr,Thriller"))
    assert filmgraph_import(empty_dsn, "imdb", files).returncode == 0
    movielens = scratch_dir / "ml"
    movielens.mkdir()
    (movielens / "movies.csv").write_text("movieId,title,genres\n1,Ice (2019),Romance|Thriller\n")
    (movielens / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0000012,\n")
    assert filmgraph_import(empty_dsn, "movielens", movielens).returncode == 0
    genres = """select g.name from film_genre fg join genre g on g.id = fg.genre_id
                join film f on f.id = fg.film_id where f.imdb_id = 'tt0000012' order by 1"""
    assert [r[0] for r in await _rows(empty_dsn, genres)] == ["Dr", "Romance", "Thriller"]

    result = filmgraph_import(empty_dsn, "imdb", EXTRACT)
    assert result.returncode == 0, result.stderr
    assert [r[0] for r in await _rows(empty_dsn, genres)] == ["Drama", "Romance", "Thriller"]
    assert await _rows(empty_dsn, "select 1 from genre where name = 'Dr'") == []
    counts = summary(result.stdout, deleted=True)
    assert counts["film_genre"][0] == 1 and counts["film_genre"][4] == 1
    assert counts["genre"][4] == 1
    # Thriller, which both sources give, stays when MovieLens no longer does.
    (movielens / "movies.csv").write_text("movieId,title,genres\n1,Ice (2019),Romance\n")
    assert filmgraph_import(empty_dsn, "movielens", movielens).returncode == 0
    assert [r[0] for r in await _rows(empty_dsn, genres)] == ["Drama", "Romance", "Thriller"]
    (movielens / "movies.csv").write_text("movieId,title,genres\n1,Ice (2019),Drama\n")
    assert filmgraph_import(empty_dsn, "movielens", movielens).returncode == 0
    assert [r[0] for r in await _rows(empty_dsn, genres)] == ["Drama", "Thriller"]


# tests/fixtures/movielens: 12 movies, all linked; a 13th link names a movieId movies.csv
# does not have; movies 8 and 12 share tmdbId 4912, as 4912 is shared in ml-latest-small.
ML_FILMS = [
    ("tt0053198", 147, "The 400 Blows", 1959),
    ("tt0064418", 14030, "Hello Dolly!", 1969),
    ("tt0082096", 387, "Das Boot", 1981),
    ("tt0100405", 114, "Pretty Woman", 1990),
    ("tt0112682", 902, "The City of Lost Children", 1995),
    ("tt0113828", 12, "Les Misérables", 1995),
    ("tt0114369", 807, "Seven", 1995),
    ("tt0114709", 862, "Toy Story", 1995),
    ("tt0270288", None, "Great Confessions", 2002),
    ("tt0283900", 1555, "L'Auberge espagnole", 2002),
    ("tt0290538", 4912, "Confessions of a Dangerous Mind", 2002),
    ("tt1345836", 49026, "Dark Knight Rises", 2012),
]


async def test_movielens_release_imports_every_film(empty_dsn: str) -> None:
    result = filmgraph_import(empty_dsn, "movielens", MOVIELENS)
    assert result.returncode == 0, result.stderr
    assert rejects(result.stderr) == []
    lines = result.stderr.splitlines()
    assert (
        "filmgraph: warning: links.csv:13: tmdbId 4912 also belongs to tt0290538; kept there, "
        "tt0270288 imported without it"
    ) in lines
    assert f"filmgraph: {MOVIELENS}: not read: ratings.csv" in lines
    assert "skipped links.csv: 1 row(s) naming a movieId movies.csv does not have" in (
        result.stdout.splitlines()
    )
    assert summary(result.stdout)["film"] == [12, 0, 0, 0]
    assert (
        await _rows(empty_dsn, "select imdb_id, tmdb_id, title, year from film order by 1")
        == ML_FILMS
    )
    assert await _rows(
        empty_dsn,
        """select f.imdb_id, a.title from film_alternative_title a join film f on f.id = a.film_id
           order by 1""",
    ) == [
        ("tt0053198", "Les quatre cents coups"),
        ("tt0082096", "The Boat"),
        ("tt0112682", "La Cité des enfants perdus"),
        ("tt0114369", "Se7en"),
    ]
    # IMAX is a format the film was shown in, not a genre.
    assert await _rows(empty_dsn, "select 1 from genre where name = 'IMAX'") == []
    assert await _rows(
        empty_dsn,
        """select g.name from film_genre fg join genre g on g.id = fg.genre_id
           join film f on f.id = fg.film_id where f.imdb_id = 'tt1345836' order by 1""",
    ) == [("Action",), ("Adventure",), ("Crime",)]
    # Again: nothing changes, and the TMDB id stays where it is.
    again = filmgraph_import(empty_dsn, "movielens", MOVIELENS)
    assert again.returncode == 0, again.stderr
    for table, (inserted, updated, _, _) in summary(again.stdout).items():
        assert (inserted, updated) == (0, 0), (table, again.stdout)


async def test_movielens_links_resaved_by_pandas_import_alike(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """pandas reads links.csv's ids as numbers: imdbId loses its leading zeros ("114709"), and
    tmdbId, which has empty cells in real releases, becomes floats ("862.0"), written back so
    by to_csv(index=False). Every row was "bad tmdbId '862.0'". With to_csv's default
    (index=True), a first column of row numbers without a name: "header is ['', 'movieId',
    ...]"."""
    files = copy(MOVIELENS, scratch_dir / "pandas")
    rows = list(csv.reader((MOVIELENS / "links.csv").read_text(encoding="utf-8").splitlines()))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(rows[0])
    writer.writerows([m, str(int(i)), f"{float(t)}" if t else ""] for m, i, t in rows[1:])
    (files / "links.csv").write_text(out.getvalue(), encoding="utf-8")
    assert "\n1,114709,862.0\n" in out.getvalue()
    result = filmgraph_import(empty_dsn, "movielens", files)
    assert result.returncode == 0, result.stderr
    assert rejects(result.stderr) == []
    assert (
        await _rows(empty_dsn, "select imdb_id, tmdb_id, title, year from film order by 1")
        == ML_FILMS
    )
    # to_csv's default writes the index first, under an empty name; then the files MovieLens
    # published: nothing changes.
    indexed = copy(files, scratch_dir / "indexed")
    for name in ("movies.csv", "links.csv"):
        rows = list(csv.reader((files / name).read_text(encoding="utf-8").splitlines()))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(
            [["", *rows[0]], *([str(i), *row] for i, row in enumerate(rows[1:]))]
        )
        (indexed / name).write_text(out.getvalue(), encoding="utf-8")
    for again_files in (indexed, MOVIELENS):
        again = filmgraph_import(empty_dsn, "movielens", again_files)
        assert again.returncode == 0, again.stderr
        for table, (inserted, updated, _, _) in summary(again.stdout).items():
            assert (inserted, updated) == (0, 0), (table, again.stdout)


PROVIDER_LIST = {
    "results": [
        {"display_priority": 3, "logo_path": "/i.jpg", "provider_name": "Apple iTunes",
         "provider_id": 2},
        {"display_priority": 0, "logo_path": "/n.jpg", "provider_name": "Netflix",
         "provider_id": 8},
    ]
}  # fmt: skip


def _answer(film: int, name: str, provider: int = 2) -> dict[str, Any]:
    entry = {"provider_id": provider, "provider_name": name, "logo_path": "/x.jpg",
             "display_priority": 4}  # fmt: skip
    return {"id": film, "results": {"US": {"link": "https://www.themoviedb.org/x",
                                           "rent": [entry]}}}  # fmt: skip


async def _film_with_tmdb_id(dsn: str, tmdb_id: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await conn.execute(
            "insert into film (slug, title, tmdb_id) values ('fight-club', 'Fight Club', $1)",
            tmdb_id,
        )
    finally:
        await conn.close()


async def test_tmdb_answers_of_the_wrong_kind_gzip_and_unknown_films(
    empty_dsn: str, scratch_dir: Path
) -> None:
    await _film_with_tmdb_id(empty_dsn, 550)
    before = await fingerprint(empty_dsn)
    listing = scratch_dir / "watch-providers-movie.json"
    listing.write_text(json.dumps(PROVIDER_LIST))
    # The film's details (/movie/550) were one bad row, "not an object of regions (at results)".
    details = scratch_dir / "550.json"
    details.write_text(json.dumps({"id": 550, "imdb_id": "tt0137523", "title": "Fight Club"}))
    for wrong in (listing, scratch_dir / "genres.json", details):
        if not wrong.exists():
            wrong.write_text(json.dumps({"genres": [{"id": 28, "name": "Action"}]}))
        result = filmgraph_import(empty_dsn, "tmdb-watch", wrong)
        assert result.returncode == 4, result.stderr
        assert result.stderr.splitlines()[-1].startswith(
            f"filmgraph: {wrong.name}: not a TMDB watch/providers answer"
        ), result.stderr
    regions = scratch_dir / "watch-providers-regions.json"
    regions.write_text(json.dumps({"results": [{"iso_3166_1": "US", "english_name": "US"}]}))
    result = filmgraph_import(empty_dsn, "tmdb-providers", regions)
    assert result.returncode == 4, result.stderr
    assert "regions.json: not a TMDB provider list" in result.stderr.splitlines()[-1]
    # A provider list cut short (or not JSON at all) is the whole import: refused, not one
    # bad row that --max-errors could let through as a successful import of nothing.
    cut = scratch_dir / "providers-cut.json"
    cut.write_text(json.dumps(PROVIDER_LIST)[:-20])
    for extra in ((), ("--max-errors", "1")):
        result = filmgraph_import(empty_dsn, "tmdb-providers", cut, *extra)
        assert result.returncode == 4, result.stderr
        assert "providers-cut.json:1: not JSON" in result.stderr.splitlines()[-1], result.stderr
    assert await fingerprint(empty_dsn) == before

    # gzip answers are read; one about a film the graph does not have writes nothing, not
    # even its provider, and is counted.
    known = scratch_dir / "550.json.gz"
    known.write_bytes(gzip.compress(json.dumps(_answer(550, "Apple TV")).encode()))
    unknown = scratch_dir / "551.json"
    unknown.write_text(json.dumps(_answer(551, "Mubi", provider=11)))
    result = filmgraph_import(empty_dsn, "tmdb-watch", known, unknown)
    assert result.returncode == 0, result.stderr
    assert "skipped tmdb-watch: 1 answer(s) about a film not in the graph (by TMDB id)" in (
        result.stdout.splitlines()
    )
    assert summary(result.stdout)["offer"] == [1, 0, 0, 0]
    assert await _rows(empty_dsn, "select tmdb_id, name from provider") == [(2, "Apple TV")]

    # A provider keeps the name the first file gave it.
    result = filmgraph_import(empty_dsn, "tmdb-providers", listing)
    assert result.returncode == 0, result.stderr
    assert await _rows(empty_dsn, "select tmdb_id, name from provider order by 1") == [
        (2, "Apple TV"),
        (8, "Netflix"),
    ]


async def test_a_tmdb_watch_answer_inside_the_films_details_is_read(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """/movie/{id}?append_to_response=watch/providers gives the film's details with its watch
    answer under "watch/providers": it was a bad row ("not an object of regions"), and is read
    as the answer alone is, bad entries reported at their path."""
    await _film_with_tmdb_id(empty_dsn, 550)
    answer = _answer(550, "Apple TV")
    answer["results"]["US"]["buy"] = [5]
    details = {"id": 550, "imdb_id": "tt0137523", "title": "Fight Club", "watch/providers": answer}
    path = scratch_dir / "550.json"
    path.write_text(json.dumps(details))
    result = filmgraph_import(empty_dsn, "tmdb-watch", path, "--max-errors", "1")
    assert result.returncode == 0, result.stderr
    assert rejects(result.stderr) == [
        '550.json:1: not an object (at ["watch/providers"].results.US.buy[0])'
    ]
    assert summary(result.stdout)["offer"] == [1, 0, 0, 1]
    assert await _rows(empty_dsn, "select kind::text, region from offer") == [("RENT", "US")]


async def test_a_films_details_match_a_film_known_only_by_its_imdb_id(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """A film an IMDb import made has no TMDB id, so every answer about it was skipped as
    about a film not in the graph. The film's details give its IMDb id (`imdb_id`): the film
    of that IMDb id gets the TMDB id, and the offers. A bare answer (no IMDb id) is still
    skipped and counted; a film holding another TMDB id keeps it."""
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await conn.execute(
            """insert into film (slug, title, imdb_id, tmdb_id) values
               ('fight-club', 'Fight Club', 'tt0137523', null),
               ('heat', 'Heat', 'tt0113277', null),
               ('se7en', 'Se7en', 'tt0114369', 807)"""
        )
    finally:
        await conn.close()
    details = scratch_dir / "550.json"
    details.write_text(json.dumps({"id": 550, "imdb_id": "tt0137523", "title": "Fight Club",
                                   "watch/providers": _answer(550, "Apple TV")}))  # fmt: skip
    bare = scratch_dir / "949.json"
    bare.write_text(json.dumps(_answer(949, "Apple TV")))
    other = scratch_dir / "808.json"
    other.write_text(json.dumps({"id": 808, "imdb_id": "tt0114369",
                                 "watch/providers": _answer(808, "Apple TV")}))  # fmt: skip
    result = filmgraph_import(empty_dsn, "tmdb-watch", details, bare, other)
    assert result.returncode == 0, result.stderr
    assert "skipped tmdb-watch: 2 answer(s) about a film not in the graph (by TMDB id)" in (
        result.stdout.splitlines()
    )
    assert summary(result.stdout)["film"] == [0, 1, 0, 0]
    assert summary(result.stdout)["offer"] == [1, 0, 0, 0]
    assert await _rows(
        empty_dsn,
        """select f.imdb_id, f.tmdb_id, count(o.*) from film f left join offer o
           on o.film_id = f.id group by 1, 2 order by 1""",
    ) == [("tt0113277", None, 0), ("tt0114369", 807, 0), ("tt0137523", 550, 1)]


async def test_a_tmdb_watch_answer_cut_short_is_one_bad_row_plain_or_gzip(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """Among several answers, one cut short is one bad row whether it was plain or gzip (a
    gzip one refused the whole import, exit 4, whatever --max-errors said)."""
    await _film_with_tmdb_id(empty_dsn, 550)
    whole = json.dumps(_answer(550, "Apple TV")).encode()
    plain = scratch_dir / "551.json"
    plain.write_bytes(whole[:-10])
    packed = scratch_dir / "552.json.gz"
    packed.write_bytes(gzip.compress(whole)[:-12])
    good = scratch_dir / "550.json"
    good.write_bytes(whole)
    result = filmgraph_import(empty_dsn, "tmdb-watch", good, plain, packed, "--max-errors", "1")
    assert result.returncode == 1, result.stderr
    result = filmgraph_import(empty_dsn, "tmdb-watch", good, plain, packed, "--max-errors", "2")
    assert result.returncode == 0, result.stderr
    bad = rejects(result.stderr)
    assert len(bad) == 2, bad
    assert bad[0].startswith("551.json:1: not JSON: "), bad
    assert bad[1] == (
        "552.json.gz:1: corrupt or truncated gzip file: Compressed file ended before the "
        "end-of-stream marker was reached"
    )
    assert summary(result.stdout)["offer"] == [1, 0, 0, 2]


async def test_missing_paths_and_a_database_error_are_one_line(
    empty_dsn: str, scratch_dir: Path
) -> None:
    missing = scratch_dir / "nowhere"
    for source in ("imdb", "movielens", "tmdb-providers", "tmdb-watch"):
        result = filmgraph_import(empty_dsn, source, missing)
        assert result.returncode == 4, result.stderr
        assert result.stderr.splitlines()[-1] == (
            f"filmgraph: {missing}: no such file or directory; nothing was imported"
        )
    # The README promises one line for a database error; PostgreSQL's DETAIL and HINT come
    # on lines of their own in asyncpg's message.
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await conn.execute(
            """create function refuse() returns trigger language plpgsql as $$
               begin
                   raise exception 'films are frozen'
                       using detail = 'a trigger refuses them', hint = 'ask the owner';
               end $$;
               create trigger refuse before insert on film execute function refuse();"""
        )
    finally:
        await conn.close()
    result = filmgraph_import(empty_dsn, "imdb", EXTRACT)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "filmgraph: database error: films are frozen; DETAIL: a trigger refuses them; "
        "HINT: ask the owner"
    )
    assert not [line for line in result.stderr.splitlines() if line.startswith(("DETAIL", "HINT"))]


def _joined(source: Path, target: Path, pattern: str) -> Path:
    """Each file as two copies joined (`cat a.tsv b.tsv > c.tsv`): its lines halved, the header
    at the top of both halves; the second half's header as the second copy wrote it (quoted
    by QUOTE_ALL, with a byte-order mark)."""
    target.mkdir(parents=True)
    for path in sorted(source.glob(pattern)):
        lines = path.read_bytes().splitlines(keepends=True)
        half = 1 + len(lines[1:]) // 2
        (target / path.name).write_bytes(b"".join([*lines[:half], lines[0], *lines[half:]]))
    return target


async def test_copies_joined_with_their_headers_import_as_one(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """Two extracts joined (`cat a.tsv b.tsv`) have the second one's header line inside: it
    was "title.basics.tsv:4: bad tconst 'tconst'", a bad row. It is skipped, said once per file on
    stderr and in the summary, and spends no --max-errors, whether the lines are IMDb's own,
    quoted by QUOTE_ALL (as pandas writes its header too) or with a byte-order mark."""
    original = await fresh_dsn()
    assert filmgraph_import(original, "imdb", EXTRACT).returncode == 0
    graph = await fingerprint(original)
    quoted = resave(EXTRACT, scratch_dir / "all", csv.QUOTE_ALL)
    marked = copy(EXTRACT, scratch_dir / "bom")
    for path in marked.glob("*.tsv"):
        path.write_bytes(BOM + path.read_bytes())
    for name, files in (("plain", EXTRACT), ("all", quoted), ("bom", marked)):
        joined = _joined(files, scratch_dir / f"joined-{name}", "*.tsv")
        result = await imports_as(fresh_dsn, "imdb", joined, graph, name)
        basics = (EXTRACT / "title.basics.tsv").read_text().count("\n")
        line = 1 + (basics - 1) // 2 + 1
        reason = "1 repeated header line(s) of files joined together"
        assert f"filmgraph: title.basics.tsv: {reason} skipped, e.g. line {line}" in (
            result.stderr.splitlines()
        ), name
        skipped = [s for s in result.stdout.splitlines() if "repeated header" in s]
        assert len(skipped) == 6, (name, result.stdout)
        assert f"skipped title.basics.tsv: {reason}" in skipped, name

    ml_original = await fresh_dsn()
    assert filmgraph_import(ml_original, "movielens", MOVIELENS).returncode == 0
    joined = _joined(MOVIELENS, scratch_dir / "joined-ml", "*.csv")
    ml_graph = await fingerprint(ml_original)
    result = await imports_as(fresh_dsn, "movielens", joined, ml_graph, "ml", counts=False)
    assert "skipped movies.csv: 1 repeated header line(s) of files joined together" in (
        result.stdout.splitlines()
    )


async def test_a_file_both_gzipped_and_not_is_refused(empty_dsn: str, scratch_dir: Path) -> None:
    """A user who ran `gunzip -k title.basics.tsv.gz` (or kept an older copy beside a new
    download) has both: the .gz was read, silently. Which one is meant cannot be told (gunzip
    gives the copy the original's time), so the import is refused, naming both."""
    files = copy(EXTRACT, scratch_dir / "both")
    basics = (files / "title.basics.tsv").read_bytes()
    (files / "title.basics.tsv.gz").write_bytes(gzip.compress(basics.replace(b"Drama", b"Dr")))
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 4, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"filmgraph: {files}: both title.basics.tsv.gz and title.basics.tsv: remove or rename "
        "the one not to import; nothing was imported"
    )
    assert await fingerprint(empty_dsn) == "empty"
    (files / "title.basics.tsv").unlink()
    assert filmgraph_import(empty_dsn, "imdb", files).returncode == 0


async def test_nulls_written_as_nan_import_as_nulls(fresh_dsn: Any, scratch_dir: Path) -> None:
    """pandas writes a null as "NaN" when told to_csv(na_rep="NaN"), and "nan" is a null turned
    to text (astype(str) in pandas before 3): every line with a null was rejected ("bad endYear
    'NaN'", "characters is not JSON"), or gave a genre "NaN". Both are nulls, quoted or not,
    in every column but the names and titles, where "NaN" is text: a title "NaN" read with
    keep_default_na=False and written back is "NaN", as in IMDb's own text. A file may hold
    both (an empty string read with keep_default_na=False is written empty): those NaN were
    left as they were once the empty fields had become `\\N`."""
    named = copy(EXTRACT, scratch_dir / "named")
    basics = (named / "title.basics.tsv").read_text(encoding="utf-8")
    (named / "title.basics.tsv").write_text(
        basics.replace("\tLes Misérables\t0", "\tNaN\t0"), encoding="utf-8"
    )
    original = await fresh_dsn()
    assert filmgraph_import(original, "imdb", named).returncode == 0
    assert await _rows(original, "select original_title from film where title <> original_title")
    graph = await fingerprint(original)
    variants: list[tuple[str, Quoting, bool]] = [
        ("NaN", csv.QUOTE_MINIMAL, False),
        ("NaN", csv.QUOTE_ALL, False),
        ("nan", csv.QUOTE_MINIMAL, False),
        ("NaN", csv.QUOTE_MINIMAL, True),  # the first line's nulls left empty
    ]
    for na, quoting, mixed in variants:
        files = scratch_dir / f"{na}-{quoting}-{mixed}"
        files.mkdir()
        for path in sorted((FIXTURES / "extract-pandas").glob("*.tsv")):
            text = path.read_text(encoding="utf-8").replace("\tLes Misérables\t0", "\tNaN\t0")
            rows = list(csv.reader(text.splitlines(), delimiter="\t"))
            body = [
                [f or ("" if mixed and n == 1 else na) for f in row] for n, row in enumerate(rows)
            ]
            body = body[1:]
            out = io.StringIO()
            csv.writer(out, delimiter="\t", quoting=quoting).writerows([rows[0], *body])
            (files / path.name).write_text(out.getvalue(), encoding="utf-8")
        assert f"\t{na}\t" in (files / "title.basics.tsv").read_text().replace('"', "")
        await imports_as(fresh_dsn, "imdb", files, graph, files.name)


async def test_movielens_empty_tmdb_ids_written_as_nan_import_as_empty(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """links.csv's empty tmdbIds, as pandas writes them with to_csv(na_rep="NaN") (or "nan", a
    column turned to text): the row was "bad tmdbId 'NaN'", and its movie was left out."""
    empty = copy(MOVIELENS, scratch_dir / "empty")
    links = (MOVIELENS / "links.csv").read_text(encoding="utf-8")
    assert "\n2,0053198,147\n" in links
    (empty / "links.csv").write_text(links.replace("\n2,0053198,147\n", "\n2,0053198,\n"))
    original = await fresh_dsn()
    assert filmgraph_import(original, "movielens", empty).returncode == 0
    graph = await fingerprint(original)
    for na in ("NaN", "nan", '"NaN"'):
        files = copy(MOVIELENS, scratch_dir / f"na-{na.strip(chr(34))}-{len(na)}")
        (files / "links.csv").write_text(links.replace("\n2,0053198,147\n", f"\n2,0053198,{na}\n"))
        await imports_as(fresh_dsn, "movielens", files, graph, na, counts=False)


async def test_a_movielens_file_both_gzipped_and_not_is_refused(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """As for IMDb's files: movies.csv was read, and movies.csv.gz only named as not read."""
    files = copy(MOVIELENS, scratch_dir / "both")
    (files / "movies.csv.gz").write_bytes(gzip.compress((files / "movies.csv").read_bytes()))
    result = filmgraph_import(empty_dsn, "movielens", files)
    assert result.returncode == 4, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"filmgraph: {files}: both movies.csv and movies.csv.gz: remove or rename the one not "
        "to import; nothing was imported"
    )
    assert await fingerprint(empty_dsn) == "empty"


async def test_a_copy_written_with_quote_none_and_an_escapechar_imports_alike(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """pandas reads IMDb's quotes as text when told quoting=csv.QUOTE_NONE, and to_csv with
    QUOTE_NONE asks for an escapechar: every quote and backslash is then escaped
    (`[\\"Al \\\\\\"The Kid\\\\\\" Yankovic\\",...]`). Such lines were "characters is not JSON",
    and a title `\\"Weird\\" Al: The Movie` was imported with its backslashes."""
    original = await fresh_dsn()
    assert filmgraph_import(original, "imdb", EXTRACT).returncode == 0
    graph = await fingerprint(original)
    files = scratch_dir / "escaped"
    files.mkdir()
    for path, rows in pandas_rows():
        out = io.StringIO()
        csv.writer(out, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\").writerows(rows)
        (files / path.name).write_text(out.getvalue(), encoding="utf-8")
    assert '\t\\"Weird\\" Al: The Movie\t' in (files / "title.basics.tsv").read_text()
    await imports_as(fresh_dsn, "imdb", files, graph, "escaped")


async def test_a_copy_escaped_with_nulls_written_as_imdb_does_imports_alike(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """The same copy told to_csv(na_rep="\\N") as well, to keep IMDb's nulls: the escapechar
    escapes their backslash too (`\\\\N`), and every line with a null was rejected ("bad
    endYear E'\\\\\\\\N'"). A block whose every backslash escapes a quote or a backslash
    is such a copy: IMDb's own text has its nulls `\\N`, a backslash before an N."""
    original = await fresh_dsn()
    assert filmgraph_import(original, "imdb", EXTRACT).returncode == 0
    graph = await fingerprint(original)
    files = scratch_dir / "escaped-nulls"
    files.mkdir()
    for path, rows in pandas_rows():
        rows = [[field or "\\N" for field in row] for row in rows]
        out = io.StringIO()
        csv.writer(out, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\").writerows(rows)
        (files / path.name).write_text(out.getvalue(), encoding="utf-8")
    basics = (files / "title.basics.tsv").read_text()
    assert '\t\\"Weird\\" Al: The Movie\t' in basics and "\t\\\\N\t" in basics
    await imports_as(fresh_dsn, "imdb", files, graph, "escaped-nulls")


def _akas_min_nan(text: str) -> str:
    """title.akas with the Canadian title's language Min Nan Chinese (ISO 639-3 "nan")."""
    before = "\tLes misérables\tCA\tfr\t"
    assert before in text
    return text.replace(before, "\tLes misérables\tCA\tnan\t")


async def test_a_language_nan_is_min_nan_chinese_not_a_null(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """ "nan" is a language code (ISO 639-3, Min Nan Chinese), and IMDb uses it. In a copy
    without IMDb's `\\N` it was taken for pandas' null, and the language was lost. In the
    language column it is a null only where the block writes the nulls of other columns
    "nan" too (a copy turned to text, where the two cannot be told apart); "NaN" is a null."""
    named = copy(EXTRACT, scratch_dir / "named")
    akas = named / "title.akas.tsv"
    akas.write_text(_akas_min_nan(akas.read_text(encoding="utf-8")), encoding="utf-8")
    language = "select language from film_alternative_title where title = 'Les misérables'"
    original = await fresh_dsn()
    assert filmgraph_import(original, "imdb", named).returncode == 0
    assert await _rows(original, language) == [("nan",)]
    graph = await fingerprint(original)
    variants: list[tuple[str, Quoting]] = [
        ("", csv.QUOTE_MINIMAL),
        ("NaN", csv.QUOTE_MINIMAL),
        ("", csv.QUOTE_ALL),
    ]
    for na, quoting in variants:
        files = copy(FIXTURES / "extract-pandas", scratch_dir / f"pandas-{na}-{quoting}")
        for path in sorted(files.glob("*.tsv")):
            text = path.read_text(encoding="utf-8")
            if path.name == "title.akas.tsv":
                text = _akas_min_nan(text)
            rows = [[f or na for f in row] for row in csv.reader(text.splitlines(), delimiter="\t")]
            out = io.StringIO()
            csv.writer(out, delimiter="\t", quoting=quoting).writerows(rows)
            path.write_text(out.getvalue(), encoding="utf-8")
        await imports_as(fresh_dsn, "imdb", files, graph, files.name)
    # Every null written "nan", as astype(str) did before pandas 3: that "nan" is a null too.
    files = copy(FIXTURES / "extract-pandas", scratch_dir / "text")
    akas = files / "title.akas.tsv"
    rows = list(csv.reader(_akas_min_nan(akas.read_text()).splitlines(), delimiter="\t"))
    out = io.StringIO()
    csv.writer(out, delimiter="\t").writerows([[f or "nan" for f in row] for row in rows])
    akas.write_text(out.getvalue(), encoding="utf-8")
    dsn = await fresh_dsn()
    result = filmgraph_import(dsn, "imdb", files)
    assert result.returncode == 0, result.stderr
    assert await _rows(dsn, language) == [(None,)]


def _tailed(source: Path, target: Path, pattern: str) -> Path:
    """Each file as two halves joined by `tail -n +1 a b > c` (or `head`): a banner
    `==> a <==` before each half's lines, the second after an empty line."""
    target.mkdir(parents=True)
    for path in sorted(source.glob(pattern)):
        lines = path.read_bytes().splitlines(keepends=True)
        half = 1 + len(lines[1:]) // 2
        (target / "a").write_bytes(b"".join(lines[:half]))
        (target / "b").write_bytes(b"".join([lines[0], *lines[half:]]))
        joined = subprocess.run(
            ["tail", "-n", "+1", "a", "b"], cwd=target, capture_output=True, check=True
        ).stdout
        assert joined.startswith(b"==> a <==\n") and b"\n\n==> b <==\n" in joined
        (target / path.name).write_bytes(joined)
        (target / "a").unlink()
        (target / "b").unlink()
    return target


async def test_copies_joined_by_tail_with_their_banners_import_as_one(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """`tail -n +1 a.tsv b.tsv > c.tsv` (and `head`) write a banner `==> a.tsv <==` before each
    file: the file was refused ("header is '==> a.tsv <=='", exit status 4), and a banner
    inside was a bad row. Banners are skipped and counted with the repeated headers."""
    original = await fresh_dsn()
    assert filmgraph_import(original, "imdb", EXTRACT).returncode == 0
    graph = await fingerprint(original)
    joined = _tailed(EXTRACT, scratch_dir / "tailed", "*.tsv")
    result = await imports_as(fresh_dsn, "imdb", joined, graph, "tailed")
    basics = (EXTRACT / "title.basics.tsv").read_text().count("\n")
    # a's banner, its header and half of its lines, an empty line, then b's banner.
    second = 1 + 1 + (basics - 1) // 2 + 1 + 1
    reason = "3 repeated header line(s) of files joined together"
    assert (
        f"filmgraph: title.basics.tsv: {reason} skipped, e.g. line 1, line {second}, "
        f"line {second + 1}" in result.stderr.splitlines()
    )
    assert f"skipped title.basics.tsv: {reason}" in result.stdout.splitlines()

    ml_original = await fresh_dsn()
    assert filmgraph_import(ml_original, "movielens", MOVIELENS).returncode == 0
    ml_graph = await fingerprint(ml_original)
    joined = _tailed(MOVIELENS, scratch_dir / "tailed-ml", "*.csv")
    result = await imports_as(fresh_dsn, "movielens", joined, ml_graph, "ml", counts=False)
    assert f"skipped movies.csv: {reason}" in result.stdout.splitlines()


async def test_a_movielens_movie_given_twice_is_warned_of_unless_the_same_row(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """A movieId twice in movies.csv with another title was one film with the later row's
    title, silently: it is warned of, as an IMDb id given twice in links.csv is. The same rows
    again (`cat movies.csv movies.csv`) warned of each links.csv row as "movieId 1 has the IMDb
    id tt0114709 of movieId 1": the same movie is one film, nothing to warn of."""
    original = await fresh_dsn()
    assert filmgraph_import(original, "movielens", MOVIELENS).returncode == 0
    graph = await fingerprint(original)
    doubled = scratch_dir / "doubled"
    doubled.mkdir()
    for name in ("movies.csv", "links.csv"):
        text = (MOVIELENS / name).read_text(encoding="utf-8")
        (doubled / name).write_text(text + text, encoding="utf-8")
    result = await imports_as(fresh_dsn, "movielens", doubled, graph, "doubled", counts=False)
    assert [line for line in result.stderr.splitlines() if "warning" in line] == [
        "filmgraph: warning: links.csv:27: tmdbId 4912 also belongs to tt0290538; kept there, "
        "tt0270288 imported without it"
    ]
    again = copy(MOVIELENS, scratch_dir / "again")
    movies = (MOVIELENS / "movies.csv").read_text(encoding="utf-8")
    (again / "movies.csv").write_text(movies + "3,Lost Children (1995),Drama\n")
    dsn = await fresh_dsn()
    result = filmgraph_import(dsn, "movielens", again)
    assert result.returncode == 0, result.stderr
    assert (
        "filmgraph: warning: movies.csv:4: movieId 3 again on line 14 with another title or "
        "genres: one movie, with line 14's"
    ) in result.stderr.splitlines()
    assert summary(result.stdout)["film"] == [12, 0, 0, 0]
    assert await _rows(dsn, "select title from film where imdb_id = 'tt0112682'") == [
        ("Lost Children",)
    ]


async def test_backslashes_of_a_copy_escaped_without_a_quote_are_read_once(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """A QUOTE_NONE copy escapes each backslash (`One\\\\Two`): a block without a quote was read
    as IMDb's text, and the title kept both backslashes. IMDb's own text, and a copy that
    escapes nothing (QUOTE_MINIMAL), keep theirs: a single backslash escapes nothing there."""
    header = ["tconst", "titleType", "primaryTitle", "originalTitle", "isAdult", "startYear"]
    header += ["endYear", "runtimeMinutes", "genres"]
    rows = [
        ["tt0000011", "movie", "One\\Two", "One\\Two", "0", "2020", "", "95", "Comedy"],
        ["tt0000012", "movie", "Back\\\\slash", "Back\\\\slash", "0", "2020", "", "90", "Drama"],
    ]
    imdb = scratch_dir / "imdb"
    imdb.mkdir()
    (imdb / "title.basics.tsv").write_text(
        "\n".join("\t".join(f or "\\N" for f in row) for row in [header, *rows]) + "\n"
    )
    titles = "select title from film order by imdb_id"
    original = await fresh_dsn()
    assert filmgraph_import(original, "imdb", imdb).returncode == 0
    assert await _rows(original, titles) == [("One\\Two",), ("Back\\\\slash",)]
    graph = await fingerprint(original)
    for name, options in (
        ("escaped", {"quoting": csv.QUOTE_NONE, "escapechar": "\\"}),
        ("minimal", {"quoting": csv.QUOTE_MINIMAL}),
    ):
        files = scratch_dir / name
        files.mkdir()
        for na in ("", "\\N"):
            out = io.StringIO()
            body = [[f or na for f in row] for row in rows]
            csv.writer(out, delimiter="\t", **options).writerows([header, *body])
            (files / "title.basics.tsv").write_text(out.getvalue())
            dsn = await fresh_dsn()
            result = filmgraph_import(dsn, "imdb", files)
            assert result.returncode == 0, (name, na, result.stderr)
            assert await fingerprint(dsn) == graph, (name, na, out.getvalue())


async def test_a_title_or_name_too_long_to_index_is_one_bad_row(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """A 9,000-byte title (a field run together, a damaged copy) failed the whole import with
    "database error: index row requires ... bytes": the graph indexes titles, names and genres
    (a btree entry holds at most about 2,700 bytes). Such a line is a bad row now."""
    long = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000))  # 9,000 bytes
    files = copy(EXTRACT, scratch_dir / "long")
    for name, old, new in (
        ("title.basics.tsv", "\tIce\t", f"\t{long}\t"),
        ("title.basics.tsv", "Drama,History", "Drama," + "History" * 200),
        ("name.basics.tsv", "\tAna Ice\t", f"\t{long}\t"),
    ):
        text = (files / name).read_text(encoding="utf-8")
        assert old in text
        (files / name).write_text(text.replace(old, new))
    result = filmgraph_import(empty_dsn, "imdb", files, "--max-errors", "2")
    assert result.returncode == 1, result.stderr
    assert rejects(result.stderr) == [
        "title.basics.tsv:3: primaryTitle over 1000 bytes",
        "title.basics.tsv:4: genres over 1000 bytes",
        "name.basics.tsv:5: primaryName over 1000 bytes",
    ]
    assert await fingerprint(empty_dsn) == "empty"
    result = filmgraph_import(empty_dsn, "imdb", files, "--max-errors", "3")
    assert result.returncode == 0, result.stderr
    assert summary(result.stdout)["film"] == [2, 0, 0, 2]
    assert await _rows(empty_dsn, "select imdb_id from film order by 1") == [
        ("tt0000011",),
        ("tt0000014",),
    ]


async def test_an_id_given_again_with_other_content_is_counted_not_lost_silently(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """Two extracts of different days joined, or a hand-edited copy, give an id twice with
    different content. The last line wins, as before; the earlier ones were dropped without a
    word. Now they are counted and named, per file; the same line again (copies joined) is
    still merged without one."""
    files = copy(EXTRACT, scratch_dir / "again")
    for name, lines in (
        # line 7: tt0000011 as it is (merged, no note); line 8: tt0000012 retitled.
        ("title.basics.tsv", ["tt0000011\tmovie\t\"Weird\" Al: The Movie\t\"Weird\" Al: The "
                              "Movie\t0\t2020\t\\N\t95\tComedy,Music",
                              "tt0000012\tmovie\tIce Again\tIce Again\t0\t2019\t\\N\t88\tDrama,Thriller"]),
        ("title.ratings.tsv", ["tt0000011\t7.2\t1700", "tt0000013\t8.0\t12000"]),
        ("name.basics.tsv", ["nm0000024\tAna Ice\t1981\t\\N\tactress\ttt0000012"]),
        ("title.akas.tsv", ["tt0000013\t2\tLes Misérables (2019)\tCA\tfr\t\\N\t\\N\t0"]),
    ):  # fmt: skip
        with (files / name).open("a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
    dsn = await fresh_dsn()
    result = filmgraph_import(dsn, "imdb", files)
    assert result.returncode == 0, result.stderr
    assert rejects(result.stderr) == []
    reason = "earlier line(s) of an id given again with other content (the last kept)"
    lost = [
        ("title.basics.tsv", 1, "line 3 (tt0000012, again on line 8)"),
        ("title.ratings.tsv", 1, "line 2 (tt0000011, again on line 8)"),
        ("title.akas.tsv", 1, "line 5 (tt0000013 ordering 2, again on line 7)"),
        ("name.basics.tsv", 1, "line 5 (nm0000024, again on line 9)"),
    ]
    notes = result.stderr.splitlines()
    for file, count, examples in lost:
        assert f"filmgraph: {file}: {count} {reason} skipped, e.g. {examples}" in notes
        assert f"skipped {file}: {count} {reason}" in result.stdout.splitlines()
    # The duplicated person is no row "of people not credited here": the extract has one.
    assert "filmgraph: 1 name.basics row(s) of people not credited here left out" in notes
    assert dict(await _one(dsn, COUNTS)) == EXPECTED
    assert await _rows(
        dsn,
        """select f.title, f.imdb_rating::text, p.birth_year, a.title
           from film f, person p, film_alternative_title a
           where f.imdb_id = 'tt0000012' and p.imdb_id = 'nm0000024'
             and a.film_id = (select id from film where imdb_id = 'tt0000013') and a.ordering = 2
           union all select title, imdb_rating::text, null, null from film
           where imdb_id = 'tt0000011'""",
    ) == [
        ("Ice Again", "6.4", 1981, "Les Misérables (2019)"),
        ('"Weird" Al: The Movie', "7.2", None, None),
    ]


async def test_a_film_given_again_as_another_type_is_named_with_its_earlier_line(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """An id whose last title.basics line is of a type not kept (a film given again as a TV
    episode) is no film, and its earlier line is named as given again: title.basics then
    has more lines of a kept type than films, which is when the import looks for them."""
    files = copy(EXTRACT, scratch_dir / "retyped")
    with (files / "title.basics.tsv").open("a", encoding="utf-8") as f:
        f.write("tt0000014\ttvEpisode\tTab, Comma; Semicolon\tTab, Comma; Semicolon\t0\t2020"
                "\t\\N\t101\tDocumentary\n")  # fmt: skip
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 0, result.stderr
    reason = "earlier line(s) of an id given again with other content (the last kept)"
    assert (
        f"filmgraph: title.basics.tsv: 1 {reason} skipped, e.g. line 5 (tt0000014, again on line 7)"
    ) in result.stderr.splitlines()
    assert await _rows(empty_dsn, "select imdb_id from film order by imdb_id") == [
        ("tt0000011",),
        ("tt0000012",),
        ("tt0000013",),
    ]


AGAIN = "earlier line(s) of an id given again with other content (the last kept)"


async def test_an_id_given_again_is_named_whatever_the_digits_of_the_films_ids(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """The look for ids given again runs when title.basics has more lines of a kept type
    than films. The lines were counted by the reader's reading of ids (up to 9 digits, under
    2**28), the films by the SQL's (up to 10 digits): a film of a 10-digit id given twice,
    or one of a large 9-digit id beside another film given twice, went unnamed, on a first
    load and on a re-import. Found by review."""
    ten = [
        "tt1000000000\tmovie\tFirst\tFirst\t0\t2020\t\\N\t90\tDrama",
        "tt1000000000\tmovie\tSecond\tSecond\t0\t2021\t\\N\t91\tDrama",
    ]
    large = [
        "tt300000000\tmovie\tBig\tBig\t0\t2020\t\\N\t90\tDrama",
        "tt0000011\tmovie\tWeird Again\tWeird Again\t0\t2020\t\\N\t95\tComedy",
    ]
    cases = [
        ("ten", ten, False, "line 7 (tt1000000000, again on line 8)"),
        ("ten-again", ten, True, "line 7 (tt1000000000, again on line 8)"),
        ("large", large, False, "line 2 (tt0000011, again on line 8)"),
    ]
    for name, lines, into_data, example in cases:
        dsn = await fresh_dsn()
        if into_data:
            first = filmgraph_import(dsn, "imdb", EXTRACT)
            assert first.returncode == 0, first.stderr
        files = copy(EXTRACT, scratch_dir / name)
        with (files / "title.basics.tsv").open("a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        result = filmgraph_import(dsn, "imdb", files)
        assert result.returncode == 0, result.stderr
        note = f"filmgraph: title.basics.tsv: 1 {AGAIN} skipped, e.g. {example}"
        assert note in result.stderr.splitlines(), (name, result.stderr)


async def test_lines_of_titles_left_out_are_checked_for_shape_not_values(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """The readers leave out the lines of titles of other types before the checks of values
    (docs/importing.md said every malformed line was rejected): a bad rating of a TV
    episode is left out with them, a line of it with a column missing is still rejected."""
    files = copy(EXTRACT, scratch_dir / "episode")
    ratings = (files / "title.ratings.tsv").read_text(encoding="utf-8")
    (files / "title.ratings.tsv").write_text(
        ratings.replace("tt0000015\t7.7\t", "tt0000015\t7.7X\t")
    )
    with (files / "title.principals.tsv").open("a", encoding="utf-8") as f:
        f.write("tt0000015\tfirst\tnm0000021\tactor\t\\N\t\\N\n")
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 0, result.stderr
    notes = result.stderr.splitlines()
    assert "filmgraph: 1 rating(s) of titles of other types left out" in notes
    assert "filmgraph: 2 credit line(s) of titles of other types left out" in notes
    assert dict(await _one(empty_dsn, COUNTS)) == EXPECTED
    with (files / "title.principals.tsv").open("a", encoding="utf-8") as f:
        f.write("tt0000015\t2\tnm0000021\tactor\t\\N\n")
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 1
    assert rejects(result.stderr) == ["title.principals.tsv:17: 5 columns, expected 6"]


async def test_a_null_genres_with_trailing_whitespace_is_no_genre(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """A copy with whitespace at the end of its lines (an editor, `sed 's/$/ /'`) ends
    title.basics' lines with `\\N ` where a film has no genres: that made a genre named
    "\\N". Genres are trimmed (`Drama ` is Drama), so is the null."""
    files = copy(EXTRACT, scratch_dir / "spaces")
    basics = (files / "title.basics.tsv").read_text(encoding="utf-8").splitlines()
    basics = [line + " " if line.endswith("Documentary") else line for line in basics]
    basics = [line.replace("Documentary ", "\\N ") for line in basics]
    basics = [line.replace("Drama,Thriller", "Drama,Thriller ") for line in basics]
    (files / "title.basics.tsv").write_text("\n".join(basics) + "\n")
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 0, result.stderr
    assert await _rows(empty_dsn, "select name from genre order by 1") == [
        ("Comedy",),
        ("Drama",),
        ("History",),
        ("Music",),
        ("Thriller",),
    ]
    assert await _rows(
        empty_dsn,
        """select f.imdb_id, count(fg.genre_id) from film f
           left join film_genre fg on fg.film_id = f.id group by 1 order by 1""",
    ) == [("tt0000011", 2), ("tt0000012", 2), ("tt0000013", 2), ("tt0000014", 0)]


async def test_a_latin1_copy_is_rejected_line_by_line_naming_the_encoding(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """A copy re-encoded as Latin-1 or Windows-1252 (Excel, an old editor) is never read as
    mojibake: each line with such a byte is a bad row, and the reason says what the byte is
    in those encodings (it said only "invalid UTF-8 at byte 8")."""
    files = copy(EXTRACT, scratch_dir / "latin1")
    for name in ("title.basics.tsv", "title.akas.tsv"):
        text = (files / name).read_text(encoding="utf-8")
        (files / name).write_bytes(text.encode("cp1252"))
    result = filmgraph_import(empty_dsn, "imdb", files, "--max-errors", "1")
    assert result.returncode == 1
    assert rejects(result.stderr) == [
        "title.basics.tsv:4: invalid UTF-8 at byte 26 (0xE9: 'é' in Latin-1/Windows-1252)",
        "title.akas.tsv:4: invalid UTF-8 at byte 20 (0xE9: 'é' in Latin-1/Windows-1252)",
    ]
    assert await fingerprint(empty_dsn) == "empty"


async def test_gzip_by_its_bytes_several_members_and_blank_lines_import_alike(
    fresh_dsn: Any, scratch_dir: Path
) -> None:
    """As docs/importing.md says: a `.tsv.gz` that is plain text and a `.tsv` that is gzip
    are read by their bytes, a `.gz` of two members (`cat a.gz b.gz`, split inside a line) is
    read whole, and blank lines are skipped, line numbers kept."""
    original = await fresh_dsn()
    assert filmgraph_import(original, "imdb", EXTRACT).returncode == 0
    graph = await fingerprint(original)
    files = copy(EXTRACT, scratch_dir / "bytes")
    basics = files / "title.basics.tsv"
    basics.rename(files / "title.basics.tsv.gz")  # plain text
    ratings = files / "title.ratings.tsv"
    ratings.write_bytes(gzip.compress(ratings.read_bytes()))
    akas = files / "title.akas.tsv"
    raw = akas.read_bytes()
    cut = raw.index(b"Les Mis") + 4
    (files / "title.akas.tsv.gz").write_bytes(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]))
    akas.unlink()
    principals = files / "title.principals.tsv"
    lines = principals.read_text(encoding="utf-8").split("\n")
    principals.write_text("\n".join([*lines[:3], "", *lines[3:], ""]))
    result = await imports_as(fresh_dsn, "imdb", files, graph, "bytes")
    # The blank line (4) counts: the dangling references keep their line numbers, plus one.
    assert "line 6 (nm9999911), line 8 (nm9999912), line 11 (nm9999913)" in result.stderr


async def test_a_copy_with_carriage_returns_alone_is_refused_in_one_line(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """Lines ending in CR alone (classic Mac OS) made the whole file one header line, refused
    as "header is 'tconst|averageRating|numVotes\\rtt0000011|7.1|1642\\r…'"."""
    files = copy(EXTRACT, scratch_dir / "cr")
    ratings = (files / "title.ratings.tsv").read_text(encoding="utf-8")
    (files / "title.ratings.tsv").write_bytes(ratings.replace("\n", "\r").encode())
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 4
    assert result.stderr.splitlines()[-1] == (
        "filmgraph: title.ratings.tsv: lines end in a carriage return alone (as classic Mac OS "
        "saved text), expected line feeds (LF or CRLF); nothing was imported"
    )
    assert await fingerprint(empty_dsn) == "empty"
