"""`filmgraph import movielens`: movies.csv and links.csv merged onto films by IMDb id, and
IMDb, MovieLens and TMDB data about one film ending up on one node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg

from graph.importers.movielens import Title, movielens_title
from tests.importing import filmgraph_import, fingerprint, write
from tests.test_import_imdb import dataset, rejects, summary
from tests.test_import_tmdb import FILM_WATCH

MOVIES = """\
\ufeffmovieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
2,"American President, The (1995)",Comedy|Drama|Romance
3,Refusenik (2007),Documentary
4,Unlinked (2000),(no genres listed)
2,"American President, The (1995)",Comedy|Drama|Romance
"""
LINKS = """\
movieId,imdbId,tmdbId
1,0114709,862
2,0112346,9087
3,0000001,100
"""


def movielens(directory: Path, movies: str = MOVIES, links: str = LINKS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write(directory / "movies.csv", movies, crlf=True)
    write(directory / "links.csv", links)
    return directory


async def _rows(dsn: str, query: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


FILMS = """select imdb_id, tmdb_id, slug, title, year,
                  (select string_agg(g.name, ',' order by g.name) from film_genre fg
                   join genre g on g.id = fg.genre_id where fg.film_id = film.id)
           from film order by imdb_id"""


async def test_movielens_merges_onto_imdb_films_and_creates_the_rest(
    empty_dsn: str, scratch_dir: Path
) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "imdb")).returncode == 0
    files = movielens(scratch_dir / "ml")
    result = filmgraph_import(empty_dsn, "movielens", files)
    assert result.returncode == 0, result.stderr
    # Unlinked has no IMDb id to be merged by: left out, named, and counted in the summary.
    assert (
        "filmgraph: movies.csv: 1 movie(s) without a row in links.csv skipped, "
        "e.g. line 5 (movieId 4)"
    ) in result.stderr.splitlines()
    assert "skipped movies.csv: 1 movie(s) without a row in links.csv" in result.stdout
    films = [r for r in await _rows(empty_dsn, FILMS) if r[0] in ("tt0000001", "tt0112346",
                                                                   "tt0114709")]  # fmt: skip
    assert films == [
        ("tt0000001", 100, "refusenik-2007", "Refusenik", 2007, "Documentary"),
        ("tt0112346", 9087, "the-american-president-1995", "The American President", 1995,
         "Comedy,Drama,Romance"),
        ("tt0114709", 862, "toy-story-1995", "Toy Story", 1995,
         "Adventure,Animation,Children,Comedy,Fantasy"),
    ]  # fmt: skip
    assert summary(result.stdout)["film"] == [2, 1, 0, 0]

    before = await fingerprint(empty_dsn)
    again = filmgraph_import(empty_dsn, "movielens", files)
    assert again.returncode == 0, again.stderr
    for table, (inserted, updated, _, _) in summary(again.stdout).items():
        assert (inserted, updated) == (0, 0), (table, again.stdout)
    assert await fingerprint(empty_dsn) == before

    # TMDB availability lands on the same node as the IMDb and MovieLens data.
    watch = scratch_dir / "100.json"
    watch.write_text(json.dumps(FILM_WATCH), encoding="utf-8")
    assert filmgraph_import(empty_dsn, "tmdb-watch", watch).returncode == 0
    assert await _rows(
        empty_dsn,
        """select f.imdb_id, f.tmdb_id, count(o.*) from film f join offer o on o.film_id = f.id
           group by 1, 2""",
    ) == [("tt0000001", 100, 5)]


async def test_two_movies_with_one_imdb_id_are_one_film_with_a_warning(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """The later links.csv row's movie gives the film its title, genres and TMDB id, and a
    warning names the row it replaced (that movie's TMDB id was dropped without a word)."""
    links = LINKS + "5,0114709,10862\n"
    movies = MOVIES + "5,Toy Story (Special Edition) (1995),Animation\n"
    result = filmgraph_import(empty_dsn, "movielens", movielens(scratch_dir, movies, links))
    assert result.returncode == 0, result.stderr
    assert (
        "filmgraph: warning: links.csv:2: movieId 1 has the IMDb id tt0114709 of movieId 5 "
        "(line 5): one film, with line 5's title, genres and tmdbId"
    ) in result.stderr.splitlines()
    assert summary(result.stdout)["film"] == [3, 0, 0, 0]
    films = [r for r in await _rows(empty_dsn, FILMS) if r[0] == "tt0114709"]
    assert films == [("tt0114709", 10862, "toy-story-1995", "Toy Story", 1995, "Animation")]


async def test_movielens_bad_rows(empty_dsn: str, scratch_dir: Path) -> None:
    files = movielens(
        scratch_dir / "ml",
        movies=MOVIES + "x5,Bad Id (2001),Drama\n",
        links=LINKS + "\n9,123,77\n1,0114709,862,extra\n2,tt0112346,9087\n4,0000004,862\n",
    )
    result = filmgraph_import(empty_dsn, "movielens", files)
    assert result.returncode == 1
    assert await fingerprint(empty_dsn) == "empty"
    result = filmgraph_import(empty_dsn, "movielens", files, "--max-errors", "3")
    assert result.returncode == 0, result.stderr
    assert rejects(result.stderr) == [
        "links.csv:7: 4 columns, expected 3",
        "movies.csv:7: bad movieId 'x5'",
        "links.csv:8: bad imdbId 'tt0112346'",
    ]
    # A movieId movies.csv does not have is an extract's reference: counted, not a bad row
    # (or that of a movie rejected: which, a rejected line cannot tell).
    assert (
        "filmgraph: links.csv: 1 row(s) naming a movieId movies.csv does not have or rejected "
        "skipped, e.g. line 6 (movieId 9)"
    ) in result.stderr.splitlines()
    # A TMDB id two films claim stays with the first: the other film is imported without it.
    assert (
        "filmgraph: warning: links.csv:9: tmdbId 862 also belongs to tt0114709; kept there, "
        "tt0000004 imported without it"
    ) in result.stderr.splitlines()
    assert [r[:2] for r in await _rows(empty_dsn, FILMS)] == [
        ("tt0000001", 100),
        ("tt0000004", None),
        ("tt0112346", 9087),
        ("tt0114709", 862),
    ]


async def test_a_header_with_bad_bytes_refuses_the_file(empty_dsn: str, scratch_dir: Path) -> None:
    """A NUL byte in movies.csv's header made it a bad row (exit 1); with --max-errors 1 the
    first movie was then read as the header."""
    files = movielens(
        scratch_dir / "ml", movies="movieId,ti\x00tle,genres\n" + MOVIES.split("\n", 1)[1]
    )
    for budget in ("0", "1"):
        result = filmgraph_import(empty_dsn, "movielens", files, "--max-errors", budget)
        assert result.returncode == 4
        assert result.stderr.splitlines()[-1] == (
            "filmgraph: movies.csv:1: NUL byte in line, expected a header line; nothing was "
            "imported"
        )
    assert await fingerprint(empty_dsn) == "empty"


async def test_imdb_ids_of_eight_digits_are_kept_whole(empty_dsn: str, scratch_dir: Path) -> None:
    """ml-32m's newer films have 8-digit IMDb ids (Oppenheimer, tt15398776): padded to 7
    digits by lpad, they were cut to tt1539877, another film's id, and two films became one."""
    movies = "movieId,title,genres\n1,Oppenheimer (2023),Drama\n2,Spirit of '76 (2009),Comedy\n"
    links = "movieId,imdbId,tmdbId\n1,15398776,872585\n2,1539877,\n"
    result = filmgraph_import(empty_dsn, "movielens", movielens(scratch_dir, movies, links))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert [r[:4] for r in await _rows(empty_dsn, FILMS)] == [
        ("tt1539877", None, "spirit-of-76-2009", "Spirit of '76"),
        ("tt15398776", 872585, "oppenheimer-2023", "Oppenheimer"),
    ]


async def test_older_formats_a_zip_and_the_parent_directory_are_refused_by_name(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """ml-1m and ml-10m give movies.dat ('::'-separated, latin-1), ml-100k u.item: none links a
    movie to an IMDb id, so nothing could be merged. They were refused as "no movies.csv", as
    were the zip as downloaded and the directory it was unzipped in."""
    old = scratch_dir / "ml-1m"
    old.mkdir()
    (old / "movies.dat").write_bytes(
        "73::Misérables, Les (1995)::Drama|Musical\n".encode("latin-1")
    )
    (old / "ratings.dat").write_text("1::1193::5::978300760\n")
    result = filmgraph_import(empty_dsn, "movielens", old)
    assert result.returncode == 4, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"filmgraph: {old}/movies.dat: the MovieLens 1M/10M format ('::'-separated movies.dat), "
        "which gives no IMDb or TMDB id to merge a film by; filmgraph reads the releases with "
        "movies.csv and links.csv (ml-latest, ml-latest-small, ml-20m, ml-25m, ml-32m); "
        "nothing was imported"
    )
    archive = scratch_dir / "ml-latest-small.zip"
    archive.write_bytes(b"PK\x05\x06" + bytes(18))
    result = filmgraph_import(empty_dsn, "movielens", archive)
    assert result.returncode == 4
    assert "a zip archive, not a directory: unzip it" in result.stderr
    movielens(scratch_dir / "ml-latest-small")
    result = filmgraph_import(empty_dsn, "movielens", scratch_dir)
    assert result.returncode == 4
    assert result.stderr.splitlines()[-1] == (
        f"filmgraph: {scratch_dir}: no movies.csv (a MovieLens release has movies.csv and "
        f"links.csv); {scratch_dir}/ml-latest-small holds one: give that directory; nothing was "
        "imported"
    )


def test_a_year_written_twice_is_no_alternative_title() -> None:
    """Some MovieLens titles give the year twice ("Eden (2014) (2014)"): the first was served
    as an alternative title "2014"."""
    assert movielens_title("Eden (2014) (2014)") == Title("Eden", 2014, [])
    assert movielens_title("Babylon 5 (1993-1998) (1994)") == Title("Babylon 5", 1994, [])
    assert movielens_title("1900 (Novecento) (1976)") == Title("1900", 1976, ["Novecento"])
    assert movielens_title("Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) "
                           "(1966)") == Title("The Good, the Bad and the Ugly", 1966,
                                              ["Il Buono, il brutto, il cattivo"])  # fmt: skip


async def test_a_rejected_movies_link_is_not_called_an_extracts(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """movies.csv saved by Excel as "CSV" (Windows-1252): its lines with accents are rejected
    as invalid UTF-8, and their links.csv rows were then reported as naming "a movieId
    movies.csv does not have", which it has."""
    files = movielens(scratch_dir)
    movies = MOVIES.replace("Refusenik (2007)", "Réfusenik (2007)")
    (files / "movies.csv").write_bytes(movies.encode("cp1252", errors="ignore"))
    result = filmgraph_import(empty_dsn, "movielens", files, "--max-errors", "1")
    assert result.returncode == 0, result.stderr
    assert rejects(result.stderr) == [
        "movies.csv:4: invalid UTF-8 at byte 4 (0xE9: 'é' in Latin-1/Windows-1252)"
    ]
    assert (
        "skipped links.csv: 1 row(s) naming a movieId movies.csv does not have or rejected"
        in result.stdout.splitlines()
    ), result.stdout
