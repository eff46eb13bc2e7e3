"""Load the demo data (demo.json beside this file) in one transaction."""

from __future__ import annotations

import datetime
import json
import logging
from decimal import Decimal
from importlib import resources
from typing import Any

import asyncpg

from graph import db
from graph.slugs import film_slug, slugify, unique_slug

log = logging.getLogger(__name__)


def read_demo() -> dict[str, Any]:
    text = resources.files("graph.demo").joinpath("demo.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _date(value: str | None) -> datetime.date | None:
    return None if value is None else datetime.date.fromisoformat(value)


def _price(value: float | str | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def load_demo(conn: asyncpg.Connection) -> int:
    """Insert whatever of the demo data is missing; return the number of demo films."""
    data = read_demo()
    person_slugs: dict[str, str] = {}
    for p in data["people"]:
        person_slugs[p["key"]] = unique_slug(slugify(p["name"]), person_slugs.values())
    provider_slugs = {p["key"]: slugify(p["name"]) for p in data["providers"]}
    genres = sorted({g for f in data["films"] for g in f["genres"]})

    async with conn.transaction():
        await conn.executemany(db.sql("insert_genre"), [(slugify(g), g) for g in genres])
        await conn.executemany(
            db.sql("insert_person"),
            [
                (
                    person_slugs[p["key"]],
                    p["name"],
                    p.get("birthYear"),
                    p.get("deathYear"),
                    p.get("biography"),
                    p.get("photoUrl"),
                    p.get("imdbId"),
                )
                for p in data["people"]
            ],
        )
        await conn.executemany(
            db.sql("insert_film"),
            [
                (
                    film_slug(f["title"], f["year"]),
                    f["title"],
                    f.get("originalTitle"),
                    f["year"],
                    _date(f.get("releaseDate")),
                    f.get("runtimeMinutes"),
                    f.get("certification"),
                    f.get("certificationCountry"),
                    f.get("synopsis"),
                    _price(f.get("imdbRating")),
                    f.get("imdbVotes"),
                    f.get("posterUrl"),
                    f.get("imdbId"),
                    f.get("tmdbId"),
                    f.get("wikidataId"),
                )
                for f in data["films"]
            ],
        )
        await conn.executemany(
            db.sql("insert_provider"),
            [
                (
                    provider_slugs[p["key"]],
                    p["name"],
                    p.get("logoUrl"),
                    p.get("homepage"),
                    p.get("tmdbId"),
                )
                for p in data["providers"]
            ],
        )
        ids = {(r["kind"], r["slug"]): r["id"] for r in await conn.fetch(db.sql("ids_by_slug"))}
        # A demo provider with a TMDB id is whichever provider holds that id, slug or not.
        tmdb_ids = [p["tmdbId"] for p in data["providers"] if p.get("tmdbId") is not None]
        by_tmdb_id = {
            r["tmdb_id"]: r["id"]
            for r in await conn.fetch(db.sql("provider_ids_by_tmdb_id"), tmdb_ids)
        }
        for p in data["providers"]:
            if p.get("tmdbId") in by_tmdb_id:
                ids["provider", provider_slugs[p["key"]]] = by_tmdb_id[p["tmdbId"]]
        film_genres, credits = [], []
        for f in data["films"]:
            film_id = ids["film", film_slug(f["title"], f["year"])]
            film_genres += [(film_id, ids["genre", slugify(g)]) for g in f["genres"]]
            credits += [
                (
                    film_id,
                    ids["person", person_slugs[c["person"]]],
                    c["role"],
                    c.get("character"),
                    c.get("order"),
                )
                for c in f["credits"]
            ]
        await conn.executemany(db.sql("insert_film_genre"), film_genres)
        await conn.executemany(db.sql("insert_credit"), credits)
        await conn.executemany(
            db.sql("insert_offer"),
            [
                (
                    ids["film", o["film"]],
                    ids["provider", provider_slugs[o["provider"]]],
                    o["region"],
                    o["kind"],
                    _price(o.get("price")),
                    o.get("currency"),
                    o.get("quality"),
                    o.get("url"),
                )
                for o in data["offers"]
            ],
        )
    await conn.fetchval(db.sql("compact_film_tally"))
    log.info("demo data loaded films=%d offers=%d", len(data["films"]), len(data["offers"]))
    return len(data["films"])
