"""search(query:) and suggest(prefix:): one box for films, people, genres and providers.

Matching happens in PostgreSQL (sql/queries/search.sql): accents and case folded, typos
forgiven by trigram similarity, words matched by full-text search. Each type's statement
returns ids with a score; the best ids over all types are then loaded through the request's
loaders, a batch per type.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Annotated, Any

import strawberry

from graph import db
from graph.context import Info
from graph.discovery.filters import search_text
from graph.errors import UserInputError
from graph.types import Film, Genre, Person, Provider

DEFAULT_HITS = 10
MAX_HITS = 50

SearchResult = Annotated[
    Film | Person | Genre | Provider,
    strawberry.union("SearchResult", description="Anything search can find."),
]


@strawberry.enum(description="The kinds of things search looks through.")
class SearchType(Enum):
    FILM = strawberry.enum_value("FILM", description="Films, by title, original title, synopsis.")
    PERSON = strawberry.enum_value("PERSON", description="People, by name.")
    GENRE = strawberry.enum_value("GENRE", description="Genres, by name.")
    PROVIDER = strawberry.enum_value("PROVIDER", description="Providers, by name.")


# (statement, entity) per type, in the order ties are broken.
SEARCHES = {
    SearchType.FILM: ("film_ids_by_search", "Film"),
    SearchType.PERSON: ("person_ids_by_search", "Person"),
    SearchType.GENRE: ("genre_ids_by_search", "Genre"),
    SearchType.PROVIDER: ("provider_ids_by_search", "Provider"),
}
SUGGESTIONS = (("film_ids_by_prefix", "Film"), ("person_ids_by_prefix", "Person"))


def _hits(first: int) -> int:
    if not 1 <= first <= MAX_HITS:
        raise UserInputError(
            f"first must be between 1 and {MAX_HITS}, got {first}", argument="first"
        )
    return first


async def _load(info: Info, found: list[tuple[str, int]]) -> list[Any]:
    loaders = info.context.loaders
    nodes = await asyncio.gather(*(loaders.lookup(entity, "id", pk) for entity, pk in found))
    return [n for n in nodes if n is not None]


async def search(
    info: Info,
    query: Annotated[
        str, strawberry.argument(description="What to look for; at most 200 characters.")
    ],
    first: Annotated[
        int, strawberry.argument(description=f"At most this many results (1-{MAX_HITS}).")
    ] = DEFAULT_HITS,
    types: Annotated[
        list[SearchType] | None,
        strawberry.argument(description="Only these kinds of results; all when omitted."),
    ] = None,
) -> list[SearchResult]:
    text = search_text(query, "query")
    limit = _hits(first)
    if types is not None and not types:
        raise UserInputError("types must not be empty; omit it for every type", argument="types")
    wanted = [t for t in SEARCHES if types is None or t in types]
    pool = info.context.loaders.pool
    scored: list[tuple[float, int, str, int]] = []
    for rank, kind in enumerate(wanted):
        statement, entity = SEARCHES[kind]
        for row in await pool.fetch(db.sql(statement), text, limit):
            scored.append((-row["score"], rank, entity, row["id"]))
    scored.sort()
    return await _load(info, [(entity, pk) for _, _, entity, pk in scored[:limit]])


async def suggest(
    info: Info,
    prefix: Annotated[
        str, strawberry.argument(description="The start of a title or name, as typed.")
    ],
    first: Annotated[
        int, strawberry.argument(description=f"At most this many suggestions (1-{MAX_HITS}).")
    ] = 8,
) -> list[SearchResult]:
    text = search_text(prefix, "prefix")
    limit = _hits(first)
    pool = info.context.loaders.pool
    films, people = [
        [(entity, row["id"]) for row in await pool.fetch(db.sql(statement), text, limit)]
        for statement, entity in SUGGESTIONS
    ]
    # Alternate films and people, so that neither crowds the other out of a short list.
    merged = [hit for pair in zip(films, people, strict=False) for hit in pair]
    merged += films[len(people) :] + people[len(films) :]
    return await _load(info, merged[:limit])
