"""Genres named by any source: new ones added by slug, then linked to their films, and the
links of the films a file mentions brought in line with it."""

from __future__ import annotations

from graph import db
from graph.importers.run import Run


async def merge_genres(run: Run, source: str, *, prune: bool = True) -> None:
    """Merge import_genre_stage (IMDb id, genre name or null) from `source` ('imdb' or
    'movielens'): new genres, the films' links, and the links of those films that `source`
    gave and no longer lists (removed; a genre left with no film goes too). Without prune,
    the last is left out: an IMDb first load's films are all new, and have no links yet."""
    conn = run.conn
    known = await conn.fetchval(db.sql("import_genres_unchanged"))
    added = await conn.fetchval(db.sql("import_genres_insert"))
    run.merged("genre", added, 0, known + added)
    inserted, total = await conn.fetchrow(db.sql("import_film_genres_insert"), source)
    run.merged("film_genre", inserted, 0, total)
    if not prune:
        return
    deleted, genres = await conn.fetchrow(db.sql("import_film_genres_prune"), source)
    run.tally("film_genre").deleted += deleted
    if genres:
        run.tally("genre").deleted += await conn.fetchval(db.sql("import_genres_prune"), genres)
