"""Film.similar: films ranked by the people and genres they share with a film and by how close
their years are, each with the reasons that ranked it (sql/queries/similar.sql).

The score is 3 per shared person, 1 per shared genre and up to 1 for the year (1 - distance /
10, not below 0): people say most about a film, a genre alone little, the era breaks ties.
Candidates are the films of the film's people, except people on LINKING_CREDITS films or more
(on a generated catalogue the busiest person is on a quarter of all films: they would bring
every film in), the PEOPLE_CANDIDATES of those that share the most such people; and films of
the same year that share a genre (at most GENRE_CANDIDATES). So a film ranks among them by
what it shares with the film's less prolific people; the score then counts everyone.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from graph import db
from graph.context import Info
from graph.errors import UserInputError
from graph.mapping import MODEL
from graph.types import Film, Genre, Person, build

if TYPE_CHECKING:
    from graph.loaders import Loaders

DEFAULT_SIMILAR = 10
MAX_SIMILAR = 50
LINKING_CREDITS = 100
GENRE_CANDIDATES = 50
PEOPLE_CANDIDATES = 200
# Its statement (graph/mapping.py), which the compiler embeds too.
SIMILAR = MODEL["Film"].embedded["similar"]


@strawberry.type(description="People credited on both films (3 points each).")
class SharedPeople:
    people: list[Person] = strawberry.field(description="The people, by id.")


@strawberry.type(description="Genres of both films (1 point each).")
class SharedGenres:
    genres: list[Genre] = strawberry.field(description="The genres, by id.")


@strawberry.type(
    description="How many years apart the films came out (up to 1 point: 1 - years / 10)."
)
class YearDistance:
    years: int = strawberry.field(description="Absolute difference of the films' years.")


SimilarityReason = Annotated[
    SharedPeople | SharedGenres | YearDistance,
    strawberry.union("SimilarityReason", description="Why a film ranks as similar."),
]


@strawberry.type(description="A film like another one, with its score and the reasons for it.")
class SimilarFilm:
    film: Film = strawberry.field(description="The similar film.")
    score: float = strawberry.field(
        description="3 per shared person + 1 per shared genre + up to 1 for the year."
    )
    reasons: list[SimilarityReason] = strawberry.field(
        description="What the score is made of: shared people, shared genres and the year "
        "distance, each present only when it adds to the score."
    )


def similar_count(first: int) -> int:
    if not 1 <= first <= MAX_SIMILAR:
        raise UserInputError(
            f"first must be between 1 and {MAX_SIMILAR}, got {first}", argument="first"
        )
    return first


async def _batch(loaders: Loaders, first: int, film_ids: list[int]) -> list[list[Any]]:
    # One statement per film (each is a search of its own), on the request's connection.
    return [
        list(
            await loaders.pool.fetch(
                db.sql(SIMILAR.statement),
                f,
                first,
                LINKING_CREDITS,
                GENRE_CANDIDATES,
                PEOPLE_CANDIDATES,
            )
        )
        for f in film_ids
    ]


async def similar_films(info: Info, film_id: int, first: int) -> list[SimilarFilm]:
    loaders = info.context.loaders
    limit = similar_count(first)
    rows = await loaders.batched(
        (SIMILAR.statement, limit), partial(_batch, loaders, limit), film_id
    )
    films = [build("Film", r) for r in rows]
    # The shared people's and genres' rows come with the statement, as JSON (ids and text).
    people = [[build("Person", p) for p in json.loads(r["people_rows"] or "[]")] for r in rows]
    genres = [[build("Genre", g) for g in json.loads(r["genre_rows"] or "[]")] for r in rows]
    out = []
    for row, film, shared_people, shared_genres in zip(rows, films, people, genres, strict=True):
        reasons: list[SharedPeople | SharedGenres | YearDistance] = []
        if shared_people:
            reasons.append(SharedPeople(people=list(shared_people)))
        if shared_genres:
            reasons.append(SharedGenres(genres=list(shared_genres)))
        distance = row["year_distance"]
        if distance is not None and distance < 10:
            reasons.append(YearDistance(years=distance))
        out.append(SimilarFilm(film=film, score=_score(row["score"]), reasons=reasons))
    return out


def _score(value: Decimal) -> float:
    return round(float(value), 2)
