"""The four pages: filmgraph's document (bench/pages), the floor's statement (floor/), the
PostGraphile document (postgraphile/), the keys a request picks from, and how PostGraphile's
answer maps onto filmgraph's shape for the check."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

HERE = Path(__file__).resolve().parent
PAGES_DIR = HERE.parent / "pages"

Data = dict[str, Any]


def gid(kind: str, pk: str | int) -> str:
    return base64.b64encode(f"{kind}:{pk}".encode()).decode("ascii")


def _rating(value: str | None) -> float | None:
    return None if value is None else float(Decimal(value))


def _genres(film: Data) -> list[Data]:
    names = [n["genreByGenreId"]["name"] for n in film["filmGenresByFilmId"]["nodes"]]
    return [{"name": n} for n in sorted(names)]


def _people(credits: Data) -> list[Data]:
    return [{"name": n["personByPersonId"]["name"]} for n in credits["nodes"]]


def _film_page(d: Data) -> Data:
    f = d["filmBySlug"]
    if f is None:
        return {"film": None}
    directors = []
    for n in f["directors"]["nodes"]:
        p = n["personByPersonId"]
        nodes = [c["filmByFilmId"] for c in p["filmography"]["nodes"]]
        directors.append(
            {
                "id": gid("Person", p["rowId"]),
                "name": p["name"],
                "filmography": {
                    "totalCount": p["filmography"]["totalCount"],
                    "nodes": [
                        {"id": gid("Film", x["rowId"]), "title": x["title"], "year": x["year"]}
                        for x in nodes
                    ],
                },
            }
        )
    offers = [
        {
            "kind": o["kind"],
            "price": o["price"],
            "currency": o["currency"],
            "quality": o["quality"],
            "url": o["url"],
            "provider": {
                "id": gid("Provider", o["providerByProviderId"]["rowId"]),
                "name": o["providerByProviderId"]["name"],
                "logoUrl": o["providerByProviderId"]["logoUrl"],
            },
        }
        for o in f["offersByFilmId"]["nodes"]
    ]
    return {
        "film": {
            "id": gid("Film", f["rowId"]),
            "title": f["title"],
            "year": f["year"],
            "certification": f["certification"],
            "runtimeMinutes": f["runtimeMinutes"],
            "synopsis": f["synopsis"],
            "imdbRating": _rating(f["imdbRating"]),
            "posterUrl": f["posterUrl"],
            "genres": [
                {"id": gid("Genre", g["rowId"]), "name": g["name"]}
                for g in sorted(
                    (n["genreByGenreId"] for n in f["filmGenresByFilmId"]["nodes"]),
                    key=lambda g: g["name"],
                )
            ],
            "directors": directors,
            "writers": [
                {
                    "id": gid("Person", n["personByPersonId"]["rowId"]),
                    "name": n["personByPersonId"]["name"],
                }
                for n in f["writers"]["nodes"]
            ],
            "offers": offers,
        }
    }


def _filmography(d: Data) -> Data:
    p = d["personBySlug"]
    if p is None:
        return {"person": None}
    nodes = []
    for c in p["creditsByPersonId"]["nodes"]:
        f = c["filmByFilmId"]
        offers = [
            {
                "kind": o["kind"],
                "price": o["price"],
                "currency": o["currency"],
                "provider": {"name": o["providerByProviderId"]["name"]},
            }
            for o in f["offersByFilmId"]["nodes"]
        ]
        nodes.append(
            {
                "id": gid("Film", f["rowId"]),
                "title": f["title"],
                "year": f["year"],
                "genres": _genres(f),
                "offers": offers,
            }
        )
    return {
        "person": {
            "id": gid("Person", p["rowId"]),
            "name": p["name"],
            "filmography": {"totalCount": p["creditsByPersonId"]["totalCount"], "nodes": nodes},
        }
    }


def _list(d: Data) -> Data:
    films = d["allFilms"]
    return {
        "films": {
            "totalCount": films["totalCount"],
            "nodes": [
                {
                    "id": gid("Film", f["rowId"]),
                    "title": f["title"],
                    "year": f["year"],
                    "imdbRating": _rating(f["imdbRating"]),
                    "directors": _people(f["creditsByFilmId"]),
                    "genres": _genres(f),
                }
                for f in films["nodes"]
            ],
        }
    }


def _offers_sorted(offers: list[Data]) -> list[Data]:
    return sorted(offers, key=lambda o: repr(sorted(o.items())))


def loose(page: str, data: Data) -> Data:
    """filmgraph's data with what PostGraphile cannot order as filmgraph does made order-free:
    offers (PostGraphile lists them by id), a director's filmography (by credit id; on the
    film page only its count of nodes is comparable, since its 10 are other films)."""
    if page == "film-page" and data.get("film"):
        film = dict(data["film"])
        film["offers"] = _offers_sorted(film["offers"])
        film["directors"] = [
            {
                "id": d["id"],
                "name": d["name"],
                "filmography": {
                    "totalCount": d["filmography"]["totalCount"],
                    "nodes": len(d["filmography"]["nodes"]),
                },
            }
            for d in film["directors"]
        ]
        return {"film": film}
    if page == "filmography" and data.get("person"):
        person = dict(data["person"])
        nodes = [
            dict(n, offers=_offers_sorted(n["offers"])) for n in person["filmography"]["nodes"]
        ]
        nodes.sort(key=lambda n: n["id"])
        person["filmography"] = dict(person["filmography"], nodes=nodes)
        return {"person": person}
    return data


@dataclass(frozen=True)
class Page:
    name: str
    variables: Callable[[str | None], Data]
    # PostGraphile's answer in filmgraph's shape; None: PostGraphile has no such page
    postgraphile: Callable[[Data], Data] | None
    why_no_postgraphile: str = ""

    @property
    def document(self) -> str:
        return (PAGES_DIR / f"{self.name}.graphql").read_text()

    @property
    def operation(self) -> str:
        for line in self.document.splitlines():
            if line.startswith("query "):
                return line.split()[1].split("(")[0]
        raise ValueError(self.name)

    @property
    def floor_sql(self) -> str:
        return (HERE / "floor" / f"{self.name}.sql").read_text()

    @property
    def postgraphile_document(self) -> str:
        return (HERE / "postgraphile" / f"{self.name}.graphql").read_text()


PAGES = {
    p.name: p
    for p in (
        Page("film-page", lambda k: {"slug": k, "region": "US"}, _film_page),
        Page("filmography", lambda k: {"slug": k}, _filmography),
        Page("list", lambda k: {}, _list),
        Page(
            "search",
            lambda k: {"q": k},
            None,
            "PostGraphile has no text search over these tables without a SQL function added for it",
        ),
    )
}


async def keys(conn: asyncpg.Connection, page: str, count: int) -> list[str | None]:
    """The keys a page's requests pick from at random, drawn with a fixed seed."""
    rng = random.Random(1)
    if page == "list":
        return [None]
    if page == "film-page":
        top = await conn.fetchval("select max(id) from film")
        ids = rng.sample(range(1, top + 1), min(count, top))
        rows = await conn.fetch("select slug from film where id = any($1::bigint[])", ids)
        return sorted(r["slug"] for r in rows)
    if page == "filmography":
        # Directors of 30 to 50 films: many films, and `first: 50` returns all of them on every
        # system (PostGraphile cannot pick the newest 50 of a longer filmography).
        rows = await conn.fetch(
            "select p.slug from person p join (select person_id, count(*) as n from credit "
            "where role = 'DIRECTOR' group by person_id) d on d.person_id = p.id "
            "where d.n between 30 and 50 order by p.slug"
        )
        return [r["slug"] for r in rows][:count]
    if page == "search":
        # A word of a random film's title: sometimes common, sometimes one film's.
        top = await conn.fetchval("select max(id) from film")
        ids = rng.sample(range(1, top + 1), min(count * 2, top))
        rows = await conn.fetch(
            "select title from film where id = any($1::bigint[]) order by id", ids
        )
        words = []
        for r in rows:
            candidates = [w for w in r["title"].split() if len(w) >= 4 and w.isalpha()]
            if candidates:
                words.append(rng.choice(candidates))
        return sorted(set(words))[:count]
    raise ValueError(page)
