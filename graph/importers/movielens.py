"""`filmgraph import movielens DIR`: movies.csv and links.csv of a MovieLens release ("latest-
small" layout). Genres and TMDB ids are merged onto films matched by IMDb id; films the graph
does not know yet are created from the MovieLens title and year."""

from __future__ import annotations

from pathlib import Path

from graph import db
from graph.importers.genres import merge_genres
from graph.importers.reader import InputError
from graph.importers.run import Run

MOVIES = ["movieId", "title", "genres"]
LINKS = ["movieId", "imdbId", "tmdbId"]


def _file(directory: Path, name: str) -> Path:
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory")
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise InputError(f"{directory}: no {name} (a MovieLens release has movies.csv and links.csv)")


async def import_movielens(run: Run, directory: Path) -> None:
    movies, links = _file(directory, "movies.csv"), _file(directory, "links.csv")
    conn = run.conn
    for stage in ("movielens_movie_stage", "movielens_link_stage", "movielens_film_stage"):
        await conn.execute(db.sql(f"{stage}_create"))
    await conn.execute(db.sql("import_genre_stage_create"))
    movies_name, _ = await run.stage_csv("movielens_movie_stage", movies, MOVIES, "film")
    links_name, _ = await run.stage_csv("movielens_link_stage", links, LINKS, "film")
    await run.reject_rows("movielens_movies_check", "movielens_movie_stage", movies_name, "film")
    await run.reject_rows("movielens_links_check", "movielens_link_stage", links_name, "film")
    unlinked, total = await conn.fetchrow(db.sql("movielens_films_stage"))
    if unlinked:
        run.note(f"{unlinked} movie(s) without a row in {links_name} left out")
    await conn.execute("analyze movielens_film_stage")
    before = run.tally("film").rejected
    await run.check("movielens_tmdb_check", links_name, "film")
    rejected = run.tally("film").rejected - before
    updated = await conn.fetchval(db.sql("movielens_films_update"))
    inserted = await conn.fetchval(db.sql("movielens_films_insert"))
    run.merged("film", inserted, updated, total - rejected)
    await conn.execute(db.sql("movielens_film_genres_stage"))
    await merge_genres(run)
