"""The inputs of `films(filter:, orderBy:)` and `people(filter:, orderBy:)`: the GraphQL input
types and enums a client writes, and their bounds."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry

from graph.mapping import CreditRole, OfferKind

MAX_QUERY_LENGTH = 200
MAX_LIST_LENGTH = 20
YEARS = (1870, 2100)
RUNTIMES = (1, 6000)


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest first (A to Z, oldest first).")
    DESC = strawberry.enum_value("DESC", description="Largest first (Z to A, newest first).")


@strawberry.enum(description="What to sort films by. Ties are always broken by id.")
class FilmOrderField(Enum):
    TITLE = strawberry.enum_value("TITLE", description="Title, in byte order.")
    YEAR = strawberry.enum_value("YEAR", description="Release year; unknown years sort as 0.")
    RATING = strawberry.enum_value("RATING", description="IMDb rating; unrated sorts as -1.")
    VOTES = strawberry.enum_value("VOTES", description="IMDb vote count; none sorts as -1.")
    RUNTIME = strawberry.enum_value("RUNTIME", description="Runtime; unknown sorts as -1.")
    RELEVANCE = strawberry.enum_value(
        "RELEVANCE", description="How well the film matches `filter.query` (needs one)."
    )


@strawberry.enum(description="What to sort people by. Ties are always broken by id.")
class PersonOrderField(Enum):
    NAME = strawberry.enum_value("NAME", description="Name, in byte order.")
    BIRTH_YEAR = strawberry.enum_value(
        "BIRTH_YEAR", description="Year of birth; unknown sorts as 0."
    )
    RELEVANCE = strawberry.enum_value(
        "RELEVANCE", description="How well the name matches `filter.query` (needs one)."
    )


@strawberry.input(description="One sort key for films.")
class FilmOrder:
    field: FilmOrderField = strawberry.field(description="What to sort by.")
    direction: OrderDirection = strawberry.field(description="Which way.")


@strawberry.input(description="One sort key for people.")
class PersonOrder:
    field: PersonOrderField = strawberry.field(description="What to sort by.")
    direction: OrderDirection = strawberry.field(description="Which way.")


@strawberry.input(description="An inclusive range; either end may be left open.")
class IntRange:
    min: int | None = strawberry.field(default=None, description="Lowest value, inclusive.")
    max: int | None = strawberry.field(default=None, description="Highest value, inclusive.")


@strawberry.input(description="A person who worked on the film, optionally in one role.")
class CreditFilter:
    person: strawberry.ID = strawberry.field(description="Global id of the person.")
    role: CreditRole | None = strawberry.field(
        default=None, description="Only credits in this role; any role when omitted."
    )


@strawberry.input(
    description="Where the film can be watched. The fields combine with AND; each list "
    "matches any of its values."
)
class AvailabilityFilter:
    region: str | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2 country code, e.g. US."
    )
    providers: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Global ids of providers; any of them."
    )
    kinds: list[OfferKind] | None = strawberry.field(
        default=None, description="Offer kinds; any of them."
    )


@strawberry.input(
    description="Which films to return. Every field given must hold (AND); a list inside a "
    "field matches any of its values unless its name says `All`."
)
class FilmFilter:
    query: str | None = strawberry.field(
        default=None,
        description=f"Text to search titles, original titles and synopses for; case, accents "
        f"and small typos are forgiven. At most {MAX_QUERY_LENGTH} characters.",
    )
    genres_any: list[str] | None = strawberry.field(
        default=None, description="Genre slugs; the film has at least one of them."
    )
    genres_all: list[str] | None = strawberry.field(
        default=None, description="Genre slugs; the film has every one of them."
    )
    year: IntRange | None = strawberry.field(default=None, description="Release year range.")
    runtime_minutes: IntRange | None = strawberry.field(
        default=None, description="Runtime range in minutes."
    )
    min_rating: float | None = strawberry.field(
        default=None, description="Lowest IMDb rating, 0-10."
    )
    min_votes: int | None = strawberry.field(
        default=None, description="Lowest number of IMDb votes."
    )
    certifications: list[str] | None = strawberry.field(
        default=None, description="Certifications such as PG-13 or NR; any of them."
    )
    people: list[CreditFilter] | None = strawberry.field(
        default=None, description="People credited on the film; all of them."
    )
    availability: AvailabilityFilter | None = strawberry.field(
        default=None, description="Only films with a matching offer."
    )


@strawberry.input(description="Which people to return. Every field given must hold (AND).")
class PersonFilter:
    query: str | None = strawberry.field(
        default=None,
        description=f"Text to match names against; case, accents and small typos are "
        f"forgiven. At most {MAX_QUERY_LENGTH} characters.",
    )
    roles: list[CreditRole] | None = strawberry.field(
        default=None, description="The person held at least one of these roles on some film."
    )
    worked_with: strawberry.ID | None = strawberry.field(
        default=None, description="Global id of a person this person shares a film with."
    )


FilmFilterArg = Annotated[
    FilmFilter | None, strawberry.argument(description="Which films; all when omitted.")
]
FilmOrderArg = Annotated[
    list[FilmOrder] | None,
    strawberry.argument(
        description="Sort keys in priority order; by title, or by relevance when "
        "filter.query is given, when omitted."
    ),
]
PersonFilterArg = Annotated[
    PersonFilter | None, strawberry.argument(description="Which people; all when omitted.")
]
PersonOrderArg = Annotated[
    list[PersonOrder] | None,
    strawberry.argument(
        description="Sort keys in priority order; by name, or by relevance when "
        "filter.query is given, when omitted."
    ),
]
