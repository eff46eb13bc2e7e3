"""Person.collaborators and Query.commonFilms: people by the films they share
(sql/queries/collaborators.sql)."""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from graph import db
from graph.context import Info
from graph.errors import UserInputError
from graph.ids import pk_of
from graph.pagination import Connection, Page, connection, window
from graph.types import Film, Person, build

if TYPE_CHECKING:
    from graph.loaders import Loaders

# People commonFilms takes at once.
MAX_COMMON_PEOPLE = 10
DEFAULT_SHARED_FILMS = 5
MAX_SHARED_FILMS = 20


@strawberry.type(description="Someone a person worked with, and the films they share.")
class Collaborator:
    person_id: strawberry.Private[int]
    other_id: strawberry.Private[int]
    role: strawberry.Private[str | None]
    person: Person = strawberry.field(description="The collaborator.")
    shared_films: int = strawberry.field(
        description="Number of films both are credited on (with `role`: where the "
        "collaborator held it)."
    )

    @strawberry.field(description="The films they share, newest first.")
    async def films(
        self,
        info: Info,
        first: Annotated[
            int,
            strawberry.argument(description=f"At most this many films (1-{MAX_SHARED_FILMS})."),
        ] = DEFAULT_SHARED_FILMS,
    ) -> list[Film]:
        shared_films_count(first)
        loaders = info.context.loaders
        films: list[Film] = await loaders.batched(
            ("shared_films_by_people", first, self.role),
            partial(_shared_films, loaders, first, self.role),
            (self.person_id, self.other_id),
        )
        return films


def shared_films_count(first: int) -> int:
    """Collaborator.films' `first`, checked."""
    if not 1 <= first <= MAX_SHARED_FILMS:
        raise UserInputError(
            f"first must be between 1 and {MAX_SHARED_FILMS}, got {first}", argument="first"
        )
    return first


def collaborators_scope(person_id: int | str, role: str | None) -> str:
    """The scope of Person.collaborators' cursors."""
    return f"Person.collaborators:{person_id}:{role!r}"


def common_people(people: list[strawberry.ID]) -> list[int]:
    """commonFilms' `people`, checked: their primary keys, each once, in order."""
    if not 1 <= len(people) <= MAX_COMMON_PEOPLE:
        raise UserInputError(
            f"people: give 1 to {MAX_COMMON_PEOPLE} ids, got {len(people)}", argument="people"
        )
    return sorted({pk_of(p, "Person", "people") for p in people})


def common_films_scope(ids: list[int]) -> str:
    """The scope of commonFilms' cursors."""
    return f"Query.commonFilms:{ids!r}"


async def _shared_films(
    loaders: Loaders, first: int, role: str | None, pairs: list[tuple[int, int]]
) -> list[list[Any]]:
    grouped: dict[tuple[int, int], list[Any]] = defaultdict(list)
    rows = await loaders.pool.fetch(
        db.sql("shared_films_by_people"),
        [a for a, _ in pairs],
        [b for _, b in pairs],
        first,
        role,
    )
    for row in rows:
        grouped[(row["person_id"], row["other_id"])].append(build("Film", row))
    return [grouped.get(pair, []) for pair in pairs]


async def collaborators(
    info: Info,
    person_id: int,
    role: str | None,
    first: int | None,
    after: str | None,
) -> Connection[Collaborator]:
    scope = collaborators_scope(person_id, role)
    win = window(scope, first, after, None, None)
    rows = await info.context.loaders.pool.fetch(
        db.sql("collaborators_page"), win.after, win.first, person_id, role
    )
    total = rows[0]["page_total"] if rows else 0
    items = [
        (
            row["rn"],
            Collaborator(
                person_id=person_id,
                other_id=row["id"],
                role=role,
                person=build("Person", row),
                shared_films=row["shared"],
            ),
        )
        for row in rows
        if row["rn"] is not None
    ]
    return connection(scope, Page(items=items, total=total), win, lambda node: node)


async def common_films(
    info: Info,
    people: Annotated[
        list[strawberry.ID],
        strawberry.argument(
            description=f"Global ids of 1 to {MAX_COMMON_PEOPLE} people (repeats count once)."
        ),
    ],
    first: Annotated[
        int | None,
        strawberry.argument(description="Return the first n films (1-100; 20 when omitted)."),
    ] = None,
    after: Annotated[
        str | None, strawberry.argument(description="Start after this cursor.")
    ] = None,
) -> Connection[Film]:
    ids = common_people(people)
    scope = common_films_scope(ids)
    win = window(scope, first, after, None, None)
    rows = await info.context.loaders.pool.fetch(
        db.sql("common_films_page"), ids, win.after, win.first
    )
    total = rows[0]["page_total"] if rows else 0
    items = [(row["rn"], build("Film", row)) for row in rows if row["rn"] is not None]
    return connection(scope, Page(items=items, total=total), win, lambda node: node)
