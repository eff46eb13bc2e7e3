"""How the GraphQL types map onto tables, columns and relations: the one place that says so.

The loaders read this to know which named statement fetches a field and with which parameters;
the types read it to build objects from rows. A later step that compiles whole documents into
single SQL statements reads it too, so it stays data, not code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

import strawberry


@strawberry.enum(description="What a person did on a film.")
class CreditRole(Enum):
    DIRECTOR = strawberry.enum_value("DIRECTOR", description="Directed the film.")
    WRITER = strawberry.enum_value("WRITER", description="Wrote the screenplay or story.")
    ACTOR = strawberry.enum_value("ACTOR", description="Played a part (see `character`).")
    PRODUCER = strawberry.enum_value("PRODUCER", description="Produced the film.")
    COMPOSER = strawberry.enum_value("COMPOSER", description="Wrote the original music.")
    CINEMATOGRAPHER = strawberry.enum_value(
        "CINEMATOGRAPHER", description="Director of photography."
    )
    EDITOR = strawberry.enum_value("EDITOR", description="Edited the film.")
    OTHER = strawberry.enum_value("OTHER", description="Any other credited work.")


@strawberry.enum(description="How an offer lets you watch a film.")
class OfferKind(Enum):
    SUBSCRIPTION = strawberry.enum_value(
        "SUBSCRIPTION", description="Included in a paid subscription (flat rate)."
    )
    FREE = strawberry.enum_value("FREE", description="Free to watch, no ads, no account fee.")
    ADS = strawberry.enum_value("ADS", description="Free to watch with advertising.")
    RENT = strawberry.enum_value("RENT", description="Pay once to watch for a limited time.")
    BUY = strawberry.enum_value("BUY", description="Pay once to keep.")


@strawberry.enum(description="Best picture quality an offer comes in.")
class VideoQuality(Enum):
    SD = strawberry.enum_value("SD", description="Standard definition.")
    HD = strawberry.enum_value("HD", description="High definition (720p/1080p).")
    UHD = strawberry.enum_value("UHD", description="Ultra HD (4K).")


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Column:
    """A scalar field read straight from a column, with an optional conversion."""

    name: str
    convert: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Relation:
    """A field that leads to other rows, fetched for a whole batch of parents at once.

    shape: "one"  -> the target looked up by the parent's `key` attribute (a foreign key);
           "list" -> every target row of the parent, the statement yielding `parent` per row;
           "page" -> a connection over a paged statement (see sql/queries/films.sql).
    fixed: statement parameters the field itself pins (the role behind `directors`).
    arguments: GraphQL arguments passed on as statement parameters, in order, after `fixed`.
    """

    target: str
    statement: str
    shape: Literal["one", "list", "page"]
    key: str = "db_id"
    fixed: tuple[Any, ...] = ()
    arguments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    table: str
    columns: Mapping[str, Column]
    lookups: Mapping[str, str] = field(default_factory=dict)
    relations: Mapping[str, Relation] = field(default_factory=dict)


def _columns(*names: str, **special: Column) -> dict[str, Column]:
    """Attributes named like their columns, plus `db_id` for `id` and any special ones."""
    return {"db_id": Column("id"), **{n: Column(n) for n in names}, **special}


MODEL: Mapping[str, Entity] = {
    "Film": Entity(
        table="film",
        columns=_columns(
            "slug",
            "title",
            "original_title",
            "year",
            "release_date",
            "runtime_minutes",
            "certification",
            "certification_country",
            "synopsis",
            "imdb_votes",
            "poster_url",
            "imdb_id",
            "tmdb_id",
            "wikidata_id",
            imdb_rating=Column("imdb_rating", _float),
        ),
        lookups={"id": "films_by_id", "slug": "films_by_slug", "imdb_id": "films_by_imdb_id"},
        relations={
            "genres": Relation("Genre", "genres_by_film_id", "list"),
            "credits": Relation(
                "Credit", "credits_by_film_id", "list", arguments=("roles", "first")
            ),
            "cast": Relation(
                "Credit", "credits_by_film_id", "list", fixed=(("ACTOR",),), arguments=("first",)
            ),
            "directors": Relation(
                "Person", "people_by_film_id_and_role", "list", fixed=("DIRECTOR",)
            ),
            "writers": Relation("Person", "people_by_film_id_and_role", "list", fixed=("WRITER",)),
            "offers": Relation("Offer", "offers_by_film_id", "list", arguments=("region", "kinds")),
            "providers": Relation(
                "Provider", "providers_by_film_id", "list", arguments=("region",)
            ),
            "alternative_titles": Relation(
                "AlternativeTitle",
                "alternative_titles_by_film_id",
                "list",
                arguments=("region",),
            ),
        },
    ),
    "AlternativeTitle": Entity(
        table="film_alternative_title",
        # No id of its own: a title is known by its film and IMDb's ordering.
        columns={
            n: Column(n)
            for n in ("film_id", "ordering", "title", "region", "language", "types", "attributes")
        }
        | {"is_original": Column("is_original")},
    ),
    "Person": Entity(
        table="person",
        columns=_columns(
            "slug",
            "name",
            "birth_year",
            "death_year",
            "biography",
            "photo_url",
            "imdb_id",
            "tmdb_id",
            "wikidata_id",
        ),
        lookups={"id": "people_by_id", "slug": "people_by_slug", "imdb_id": "people_by_imdb_id"},
        relations={
            "credits": Relation(
                "Credit", "credits_page_by_person_id", "page", arguments=("roles",)
            ),
            "filmography": Relation(
                "Film", "filmography_page_by_person_id", "page", arguments=("role",)
            ),
        },
    ),
    "Genre": Entity(
        table="genre",
        columns=_columns("slug", "name"),
        lookups={"id": "genres_by_id", "slug": "genres_by_slug"},
        relations={"films": Relation("Film", "films_page_by_genre_id", "page")},
    ),
    "Provider": Entity(
        table="provider",
        columns=_columns("slug", "name", "logo_url", "homepage", "tmdb_id"),
        lookups={"id": "providers_by_id", "slug": "providers_by_slug"},
        relations={
            "offers": Relation(
                "Offer", "offers_page_by_provider_id", "page", arguments=("region",)
            ),
            "films": Relation("Film", "films_page_by_provider_id", "page", arguments=("region",)),
        },
    ),
    "Credit": Entity(
        table="credit",
        columns=_columns(
            "film_id",
            "person_id",
            "billing_order",
            role=Column("role", CreditRole),
            character=Column("character_name"),
        ),
        relations={
            "film": Relation("Film", "films_by_id", "one", key="film_id"),
            "person": Relation("Person", "people_by_id", "one", key="person_id"),
        },
    ),
    "Offer": Entity(
        table="offer",
        columns=_columns(
            "film_id",
            "provider_id",
            "region",
            "price",
            "currency",
            "url",
            "available_from",
            "available_until",
            kind=Column("kind", OfferKind),
            quality=Column("quality", lambda q: None if q is None else VideoQuality(q)),
        ),
        relations={
            "film": Relation("Film", "films_by_id", "one", key="film_id"),
            "provider": Relation("Provider", "providers_by_id", "one", key="provider_id"),
        },
    ),
}

# Root connections paged by position: every row of a small node type, in its natural order.
# (films and people are keyset connections with filters: graph/discovery/.)
ROOT_PAGES: Mapping[str, str] = {
    "Genre": "genres_page",
    "Provider": "providers_page",
}


def values(entity: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments for `entity`'s type from one row."""
    out: dict[str, Any] = {}
    for attr, col in MODEL[entity].columns.items():
        value = row[col.name]
        out[attr] = col.convert(value) if col.convert is not None and value is not None else value
    return out
