"""Genres named by any source: new ones added by slug, then linked to their films, and the
links of the films a file mentions brought in line with it."""

from __future__ import annotations

from graph import db
from graph.importers.run import Run


async def merge_genres(run: Run, source: str, *, new_films: bool = False) -> None:
    """Merge import_genre_stage (IMDb id, genre name or null) from `source` ('imdb' or
    'movielens'): new genres, the films' links, and the links of those films that `source`
    gave and no longer lists (removed; a genre left with no film goes too). With new_films,
    the films are all new (an IMDb first load, film_genre's keys dropped): their links are
    inserted, none looked for or pruned."""
    conn = run.conn
    known = await conn.fetchval(db.sql("import_genres_unchanged"))
    added = await conn.fetchval(db.sql("import_genres_insert"))
    run.merged("genre", added, 0, known + added)
    await conn.execute(db.sql("import_genre_link_stage_create"))
    await conn.execute(db.sql("import_genre_links_stage"))
    links = "import_film_genres_insert_new" if new_films else "import_film_genres_insert"
    inserted, total = await conn.fetchrow(db.sql(links), source)
    run.merged("film_genre", inserted, 0, total)
    if new_films:
        return
    deleted, genres = await conn.fetchrow(db.sql("import_film_genres_prune"), source)
    run.tally("film_genre").deleted += deleted
    if genres:
        run.tally("genre").deleted += await conn.fetchval(db.sql("import_genres_prune"), genres)
