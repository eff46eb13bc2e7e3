"""Query.path: the shortest chain of people linked by shared films, by a breadth-first search
from both ends at once in SQL (sql/queries/paths.sql).

Each side keeps the people it has reached, by depth, with the person and film that reached
each one first. A round asks one statement whether some film links the two newest frontiers
(a chain of `depth(A) + depth(B) + 1` films: rounds go up one film at a time, so the first
chain found is a shortest one); if none does, the side whose frontier has fewer credits is
expanded by one more statement. So a search of h films takes at most 2h statements, plus one
for the ends and one for the roles, in one read-only transaction (one snapshot of the graph)
whose statements each stop after PATH_STATEMENT_TIMEOUT_MS (TIMEOUT).

Its cost is bounded too: an expansion reads at most PATH_MAX_LINKS credit pairs. A frontier
that would need more (the collaborators of the most prolific people, past two films from both
ends) is refused with PATH_TOO_COSTLY rather than half-searched: a shorter chain might hide in
what was not read, and a wrong "shortest" is worse than an error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

import asyncpg
import strawberry
from graphql import GraphQLError

from graph import db
from graph.context import Info
from graph.errors import PATH_TOO_COSTLY, UserInputError
from graph.ids import pk_of
from graph.mapping import CreditRole
from graph.types import Film, Person

DEFAULT_MAX_HOPS = 6
MAX_HOPS = 6
# Credit pairs one expansion may read (see the module's docstring).
PATH_MAX_LINKS = 60_000
# Each statement of a search; past it the search answers TIMEOUT.
PATH_STATEMENT_TIMEOUT_MS = 1_000
# Credits counted to weigh a frontier (more only say "a lot").
DEGREE_COUNT_LIMIT = 20_000


@strawberry.type(description="One link of a path: two people credited on the same film.")
class PathHop:
    film: Film = strawberry.field(description="The film they share.")
    from_: Person = strawberry.field(name="from", description="The person the hop starts from.")
    from_roles: list[CreditRole] = strawberry.field(
        description="What the `from` person did on the film."
    )
    to: Person = strawberry.field(description="The person the hop leads to.")
    to_roles: list[CreditRole] = strawberry.field(
        description="What the `to` person did on the film."
    )


@strawberry.type(description="A shortest chain of people linked by films they share.")
class PersonPath:
    length: int = strawberry.field(description="Number of hops (films); 0 from a person to self.")
    hops: list[PathHop] = strawberry.field(
        description="The hops in order, from `from` to `to`; each starts where the last ended."
    )


@dataclass
class _Side:
    """The people one end has reached: for each, (person, film) that reached it first."""

    start: int
    degree: int
    parent: dict[int, tuple[int, int] | None] = field(default_factory=dict)
    frontier: list[int] = field(default_factory=list)
    depth: int = 0

    def __post_init__(self) -> None:
        self.parent[self.start] = None
        self.frontier = [self.start]

    def chain(self, person: int) -> list[tuple[int, int, int]]:
        """(person, film, person) links from this side's start to `person`."""
        links: list[tuple[int, int, int]] = []
        while (step := self.parent[person]) is not None:
            via, film = step
            links.append((via, film, person))
            person = via
        return links[::-1]


def _hops_argument(max_hops: int) -> int:
    if not 1 <= max_hops <= MAX_HOPS:
        raise UserInputError(
            f"maxHops must be between 1 and {MAX_HOPS}, got {max_hops}", argument="maxHops"
        )
    return max_hops


def _too_costly(depth: int, max_links: int) -> GraphQLError:
    return GraphQLError(
        f"The search for a path reached people with too many films in common {depth} films "
        f"from an end: at most {max_links} links are read per step. Ask with a smaller "
        "maxHops.",
        extensions={"code": PATH_TOO_COSTLY, "limit": max_links},
    )


async def _expand(conn: asyncpg.Connection, side: _Side, max_links: int) -> None:
    rows = await conn.fetch(db.sql("path_expansion"), side.frontier, max_links, DEGREE_COUNT_LIMIT)
    if rows and rows[0]["links"] >= max_links:
        raise _too_costly(side.depth + 1, max_links)
    frontier = []
    for row in rows:
        person = row["person_id"]
        if person not in side.parent:
            side.parent[person] = (row["via"], row["film_id"])
            frontier.append(person)
    side.frontier, side.depth = frontier, side.depth + 1
    side.degree = rows[0]["degree"] if rows else 0


async def shortest_links(
    conn: asyncpg.Connection, start: int, end: int, max_hops: int, max_links: int = PATH_MAX_LINKS
) -> list[tuple[int, int, int]] | None:
    """(person, film, person) links of a shortest chain from start to end, [] when they are
    the same person, None when there is none of at most max_hops films (or either is no
    person); PATH_TOO_COSTLY when a step would read max_links links or more."""
    ends = {
        row["id"]: row["degree"]
        for row in await conn.fetch(db.sql("path_people"), start, end, DEGREE_COUNT_LIMIT)
    }
    if start not in ends or end not in ends:
        return None
    if start == end:
        return []
    a, b = _Side(start, ends[start]), _Side(end, ends[end])
    for _ in range(max_hops):
        # Driven from the side with fewer credits: the statement reads its credits.
        near, far = (a, b) if a.degree <= b.degree else (b, a)
        met = await conn.fetchrow(db.sql("path_meeting"), near.frontier, far.frontier)
        if met is not None:
            links = [*near.chain(met["near"]), (met["near"], met["film_id"], met["far"])]
            links += [(q, f, p) for p, f, q in reversed(far.chain(met["far"]))]
            if near is b:
                links = [(q, f, p) for p, f, q in reversed(links)]
            return links
        if a.depth + b.depth + 1 >= max_hops or not a.frontier or not b.frontier:
            return None
        await _expand(conn, near, max_links)
    return None


async def person_path(
    info: Info,
    from_: Annotated[
        strawberry.ID, strawberry.argument(name="from", description="Global id of a person.")
    ],
    to: Annotated[strawberry.ID, strawberry.argument(description="Global id of a person.")],
    max_hops: Annotated[
        int,
        strawberry.argument(description=f"At most this many films in the chain (1-{MAX_HOPS})."),
    ] = DEFAULT_MAX_HOPS,
) -> PersonPath | None:
    start = pk_of(from_, "Person", "from")
    end = pk_of(to, "Person", "to")
    limit = _hops_argument(max_hops)
    pool = info.context.loaders.pool
    # One read-only snapshot for the whole search, each statement bounded in time.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(
            "select set_config('statement_timeout', $1, true)", str(PATH_STATEMENT_TIMEOUT_MS)
        )
        links = await shortest_links(conn, start, end, limit)
        if not links:
            return None if links is None else PersonPath(length=0, hops=[])
        films = [f for _, f, _ in links]
        roles = {
            (row["film_id"], row["person_id"]): row["roles"]
            for row in await conn.fetch(
                db.sql("path_roles"),
                films + films,
                [p for p, _, _ in links] + [q for _, _, q in links],
            )
        }
    loaders = info.context.loaders
    # Gathered, so that the loaders fetch the films and the people in one batch each.
    films_found, people_found = await asyncio.gather(
        asyncio.gather(*(loaders.lookup("Film", "id", f) for _, f, _ in links)),
        asyncio.gather(*(loaders.lookup("Person", "id", p) for p in _people(links))),
    )
    hops = [
        PathHop(
            film=film,
            from_=people_found[i],
            from_roles=[CreditRole(r) for r in roles[(f, p)]],
            to=people_found[i + 1],
            to_roles=[CreditRole(r) for r in roles[(f, q)]],
        )
        for i, (film, (p, f, q)) in enumerate(zip(films_found, links, strict=True))
    ]
    return PersonPath(length=len(hops), hops=hops)


def _people(links: list[tuple[int, int, int]]) -> list[int]:
    return [links[0][0]] + [q for _, _, q in links]
