"""Genres named by any source: new ones added by slug, then linked to their films."""

from __future__ import annotations

from graph import db
from graph.importers.run import Run


async def merge_genres(run: Run) -> None:
    """Merge import_genre_stage (IMDb id, genre name): new genres, then the films' links."""
    conn = run.conn
    known = await conn.fetchval(db.sql("import_genres_unchanged"))
    added = await conn.fetchval(db.sql("import_genres_insert"))
    run.merged("genre", added, 0, known + added)
    inserted, total = await conn.fetchrow(db.sql("import_film_genres_insert"))
    run.merged("film_genre", inserted, 0, total)
