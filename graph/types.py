"""The Strawberry types. Field resolvers are one-liners over the request's loaders."""

from __future__ import annotations

import datetime
import re
from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from graph.context import Info
from graph.errors import UserInputError
from graph.ids import to_global_id
from graph.mapping import MODEL, CreditRole, OfferKind, VideoQuality, values
from graph.pagination import Connection, connection, window

if TYPE_CHECKING:
    from graph.collaborators import Collaborator
    from graph.similar import SimilarFilm
    from graph.watch import BestOffer, RegionAvailability

_REGION = re.compile(r"[A-Za-z]{2}")

FirstArg = Annotated[
    int | None,
    strawberry.argument(
        description="Return the first n items (1-100; 20 when neither first nor last is given)."
    ),
]
AfterArg = Annotated[
    str | None,
    strawberry.argument(
        description="Start after this cursor (from `edges.cursor` or `pageInfo.endCursor`)."
    ),
]
LastArg = Annotated[int | None, strawberry.argument(description="Return the last n items (1-100).")]
BeforeArg = Annotated[
    str | None,
    strawberry.argument(
        description="End before this cursor (from `edges.cursor` or `pageInfo.startCursor`)."
    ),
]
RegionArg = Annotated[
    str | None,
    strawberry.argument(
        description="ISO 3166-1 alpha-2 country code, e.g. US or GB; all regions when omitted."
    ),
]


def region_code(region: str | None) -> str | None:
    """Normalise a region argument; BAD_USER_INPUT when it is not a two-letter code."""
    if region is None:
        return None
    if not _REGION.fullmatch(region):
        raise UserInputError(
            f"region must be an ISO 3166-1 alpha-2 code such as US, got {region[:20]!r}",
            argument="region",
        )
    return region.upper()


async def _page(
    info: Info,
    entity: str,
    field: str,
    parent_key: int,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    *args: Hashable,
) -> Connection[Any]:
    """A connection field: validate the window, load the parent's page, wrap it."""
    rel = MODEL[entity].relations[field]
    scope = f"{entity}.{field}:{parent_key}:{args!r}"
    win = window(scope, first, after, last, before)
    page = await info.context.loaders.page(rel, parent_key, win, *args)
    return connection(scope, page, win, lambda node: node)


def _rel(entity: str, field: str) -> Any:
    return MODEL[entity].relations[field]


async def _json_ld(info: Info, entity: str, key: int) -> JSON:
    base: str = info.schema.public_url  # type: ignore[attr-defined]
    document: JSON = await info.context.loaders.computed(
        MODEL[entity].computed["json_ld"], key, base
    )
    return document


@strawberry.interface(description="An object with a global id, which `node(id:)` fetches again.")
class Node:
    @strawberry.field(description="Opaque global id, stable across requests.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id(type(self).__name__, self.db_id))  # type: ignore[attr-defined]


@strawberry.type(description="A genre such as Documentary or Drama.")
class Genre(Node):
    db_id: strawberry.Private[int]
    slug: str = strawberry.field(description="URL-safe name, e.g. `science-fiction`.")
    name: str = strawberry.field(description="Display name.")

    @strawberry.field(description="Films in this genre, newest first.")
    async def films(
        self,
        info: Info,
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> Connection[Film]:
        return await _page(info, "Genre", "films", self.db_id, first, after, last, before)


@strawberry.type(description="A streaming service, store or channel where films can be watched.")
class Provider(Node):
    db_id: strawberry.Private[int]
    slug: str = strawberry.field(description="URL-safe name, e.g. `netflix`.")
    name: str = strawberry.field(description="Display name.")
    logo_url: str | None = strawberry.field(description="Logo image URL.")
    homepage: str | None = strawberry.field(description="The provider's home page.")
    tmdb_id: int | None = strawberry.field(description="TMDB watch-provider id.")

    @strawberry.field(description="Offers from this provider, by film title.")
    async def offers(
        self,
        info: Info,
        region: RegionArg = None,
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> Connection[Offer]:
        return await _page(
            info, "Provider", "offers", self.db_id, first, after, last, before, region_code(region)
        )

    @strawberry.field(description="Films this provider offers (in `region` if given), by title.")
    async def films(
        self,
        info: Info,
        region: RegionArg = None,
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> Connection[Film]:
        return await _page(
            info, "Provider", "films", self.db_id, first, after, last, before, region_code(region)
        )


@strawberry.type(description="A person who worked on films: director, writer, actor, ...")
class Person(Node):
    db_id: strawberry.Private[int]
    slug: str = strawberry.field(description="URL-safe name, unique, e.g. `laura-bialis`.")
    name: str = strawberry.field(description="Name as credited.")
    birth_year: int | None = strawberry.field(description="Year of birth.")
    death_year: int | None = strawberry.field(description="Year of death.")
    biography: str | None = strawberry.field(description="A short biography.")
    photo_url: str | None = strawberry.field(description="Portrait image URL.")
    imdb_id: str | None = strawberry.field(description="IMDb name id, e.g. `nm0000233`.")
    tmdb_id: int | None = strawberry.field(description="TMDB person id.")
    wikidata_id: str | None = strawberry.field(description="Wikidata item id, e.g. `Q25191`.")

    @strawberry.field(
        description="The person as schema.org `Person` JSON-LD, the document GET "
        "/people/{slug} serves (docs/linked-data.md)."
    )
    async def json_ld(self, info: Info) -> JSON:
        return await _json_ld(info, "Person", self.db_id)

    @strawberry.field(description="This person's credits, newest film first.")
    async def credits(
        self,
        info: Info,
        roles: Annotated[
            list[CreditRole] | None,
            strawberry.argument(description="Only credits in these roles; all when omitted."),
        ] = None,
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> Connection[Credit]:
        return await _page(
            info, "Person", "credits", self.db_id, first, after, last, before, _roles(roles)
        )

    @strawberry.field(
        description="Films this person worked on, newest first; each film once, whatever "
        "their roles on it. With `role`, only films where they held that role."
    )
    async def filmography(
        self,
        info: Info,
        role: Annotated[
            CreditRole | None,
            strawberry.argument(description="Only films where the person held this role."),
        ] = None,
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> Connection[Film]:
        return await _page(
            info,
            "Person",
            "filmography",
            self.db_id,
            first,
            after,
            last,
            before,
            None if role is None else role.name,
        )

    @strawberry.field(
        description="People this person shares films with, most shared films first, then by "
        "name: each with the number of films they share and those films."
    )
    async def collaborators(
        self,
        info: Info,
        role: Annotated[
            CreditRole | None,
            strawberry.argument(
                description="Only collaborators who held this role on a shared film; only "
                "those films count."
            ),
        ] = None,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> Connection[Annotated[Collaborator, strawberry.lazy("graph.collaborators")]]:
        from graph.collaborators import collaborators

        return await collaborators(
            info, self.db_id, None if role is None else role.name, first, after
        )


def _roles(roles: list[CreditRole] | None) -> tuple[str, ...] | None:
    if roles is None:
        return None
    if not roles:
        raise UserInputError("roles must not be empty; omit it for every role", argument="roles")
    # Member names are the stored codes (see graph/mapping.py).
    return tuple(sorted({r.name for r in roles}))


@strawberry.type(
    description="A film: the facts about it and the links to its people, genres and offers."
)
class Film(Node):
    db_id: strawberry.Private[int]
    slug: str = strawberry.field(
        description="URL-safe `<title>-<year>`, lower-case ASCII, e.g. `refusenik-2007`."
    )
    title: str = strawberry.field(description="Title as released in English-speaking markets.")
    original_title: str | None = strawberry.field(description="Title in its original language.")
    year: int | None = strawberry.field(description="Year of first release.")
    release_date: datetime.date | None = strawberry.field(description="Date of first release.")
    runtime_minutes: int | None = strawberry.field(description="Running time in minutes.")
    certification: str | None = strawberry.field(
        description="Age rating, e.g. `PG-13`, or `NR` when not rated."
    )
    certification_country: str | None = strawberry.field(
        description="Country (ISO 3166-1 alpha-2) whose rating `certification` is."
    )
    synopsis: str | None = strawberry.field(description="A short summary of the film.")
    imdb_rating: float | None = strawberry.field(description="IMDb user rating, 0-10.")
    imdb_votes: int | None = strawberry.field(description="Number of IMDb votes behind the rating.")
    poster_url: str | None = strawberry.field(description="Poster image URL.")
    imdb_id: str | None = strawberry.field(description="IMDb title id, e.g. `tt0068646`.")
    tmdb_id: int | None = strawberry.field(description="TMDB movie id.")
    wikidata_id: str | None = strawberry.field(description="Wikidata item id, e.g. `Q47703`.")

    @strawberry.field(
        description="The film as schema.org `Movie` JSON-LD, with its people, genres, rating, "
        "external ids (`sameAs`) and every offer as a `WatchAction`: the document GET "
        "/films/{slug} serves (docs/linked-data.md)."
    )
    async def json_ld(self, info: Info) -> JSON:
        return await _json_ld(info, "Film", self.db_id)

    @strawberry.field(description="The film's genres, by name.")
    async def genres(self, info: Info) -> list[Genre]:
        return await info.context.loaders.many(_rel("Film", "genres"), self)

    @strawberry.field(
        description="Everyone credited on the film: crew first (directors, writers, ...), then "
        "the cast in billing order."
    )
    async def credits(
        self,
        info: Info,
        roles: Annotated[
            list[CreditRole] | None,
            strawberry.argument(description="Only credits in these roles; all when omitted."),
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(description="At most this many credits (1-100); all when omitted."),
        ] = None,
    ) -> list[Credit]:
        return await info.context.loaders.many(
            _rel("Film", "credits"), self, _roles(roles), _limit(first)
        )

    @strawberry.field(description="The film's directors.")
    async def directors(self, info: Info) -> list[Person]:
        return await info.context.loaders.many(_rel("Film", "directors"), self)

    @strawberry.field(description="The film's writers.")
    async def writers(self, info: Info) -> list[Person]:
        return await info.context.loaders.many(_rel("Film", "writers"), self)

    @strawberry.field(description="The cast in billing order, with the characters they play.")
    async def cast(
        self,
        info: Info,
        first: Annotated[
            int, strawberry.argument(description="At most this many cast members (1-100).")
        ] = 20,
    ) -> list[Credit]:
        return await info.context.loaders.many(_rel("Film", "cast"), self, _limit(first))

    @strawberry.field(
        description="Where to watch the film: offers by region, free and ad-supported first, "
        "then subscriptions, then rentals and purchases, cheapest first."
    )
    async def offers(
        self,
        info: Info,
        region: RegionArg = None,
        kinds: Annotated[
            list[OfferKind] | None,
            strawberry.argument(description="Only offers of these kinds; all when omitted."),
        ] = None,
    ) -> list[Offer]:
        return await info.context.loaders.many(
            _rel("Film", "offers"), self, region_code(region), _kinds(kinds)
        )

    @strawberry.field(description="Providers that offer the film (in `region` if given), by name.")
    async def providers(self, info: Info, region: RegionArg = None) -> list[Provider]:
        return await info.context.loaders.many(_rel("Film", "providers"), self, region_code(region))

    @strawberry.field(
        description="Other titles of the film: by country, language, or as first released "
        "(IMDb's alternative titles), in IMDb's order."
    )
    async def alternative_titles(
        self, info: Info, region: RegionArg = None
    ) -> list[AlternativeTitle]:
        return await info.context.loaders.many(
            _rel("Film", "alternative_titles"), self, region_code(region)
        )

    @strawberry.field(
        description="Films like this one, best first: ranked by the people and genres they "
        "share and how close their years are, each with the reasons (docs/queries.md)."
    )
    async def similar(
        self,
        info: Info,
        first: Annotated[
            int, strawberry.argument(description="At most this many films (1-50).")
        ] = 10,
    ) -> list[Annotated[SimilarFilm, strawberry.lazy("graph.similar")]]:
        from graph.similar import similar_films

        return await similar_films(info, self.db_id, first)

    @strawberry.field(
        description="The film's offers in each of `regions`, side by side, in the order given."
    )
    async def availability(
        self,
        info: Info,
        regions: Annotated[
            list[str],
            strawberry.argument(
                description="ISO 3166-1 alpha-2 country codes, 1 to 20 (repeats count once)."
            ),
        ],
    ) -> list[Annotated[RegionAvailability, strawberry.lazy("graph.watch")]]:
        from graph.watch import availability

        return await availability(info, self.db_id, regions)

    @strawberry.field(
        description="The cheapest way to watch the film in `region` now for someone who pays "
        "for the `subscriptions` given; null when there is none (docs/queries.md#best-offer)."
    )
    async def best_offer(
        self,
        info: Info,
        region: Annotated[
            str, strawberry.argument(description="ISO 3166-1 alpha-2 country code, e.g. US.")
        ],
        subscriptions: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(
                description="Global ids of the providers the user subscribes to (at most 50)."
            ),
        ] = None,
    ) -> Annotated[BestOffer, strawberry.lazy("graph.watch")] | None:
        from graph.watch import best_offer

        return await best_offer(info, self.db_id, region, subscriptions)


@strawberry.type(description="Another title a film is known by.")
class AlternativeTitle:
    film_id: strawberry.Private[int]
    ordering: strawberry.Private[int]
    title: str = strawberry.field(description="The title.")
    region: str | None = strawberry.field(
        description="Where it is used: an ISO 3166-1 alpha-2 code, or one of IMDb's own "
        "(XWW for worldwide)."
    )
    language: str | None = strawberry.field(description="Language of the title (ISO 639).")
    types: list[str] = strawberry.field(
        description="IMDb's kinds of title, e.g. `imdbDisplay`, `original`, `working`."
    )
    attributes: list[str] = strawberry.field(
        description="IMDb's notes on the title, e.g. `literal English title`."
    )
    is_original: bool = strawberry.field(description="Whether this is the original title.")


def _limit(first: int | None) -> int | None:
    if first is not None and not 1 <= first <= 100:
        raise UserInputError(f"first must be between 1 and 100, got {first}", argument="first")
    return first


def _kinds(kinds: list[OfferKind] | None) -> tuple[str, ...] | None:
    if kinds is None:
        return None
    if not kinds:
        raise UserInputError("kinds must not be empty; omit it for every kind", argument="kinds")
    return tuple(sorted({k.name for k in kinds}))


@strawberry.type(description="One person's part in one film.")
class Credit:
    db_id: strawberry.Private[int]
    film_id: strawberry.Private[int]
    person_id: strawberry.Private[int]
    role: CreditRole = strawberry.field(description="What the person did.")
    character: str | None = strawberry.field(description="Character played, for ACTOR credits.")
    billing_order: int | None = strawberry.field(
        description="Position in the credits (1 = top billed), when known."
    )

    @strawberry.field(description="The film.")
    async def film(self, info: Info) -> Film:
        film: Film = await info.context.loaders.one(_rel("Credit", "film"), self)
        return film

    @strawberry.field(description="The person.")
    async def person(self, info: Info) -> Person:
        person: Person = await info.context.loaders.one(_rel("Credit", "person"), self)
        return person


@strawberry.type(description="A way to watch one film from one provider in one region.")
class Offer:
    db_id: strawberry.Private[int]
    film_id: strawberry.Private[int]
    provider_id: strawberry.Private[int]
    kind: OfferKind = strawberry.field(description="Subscription, free, ads, rent or buy.")
    region: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    price: Decimal | None = strawberry.field(
        description=(
            "Price for RENT and BUY offers, as a decimal string; null for other kinds, and when"
            " unknown (offers imported from TMDB)."
        )
    )
    currency: str | None = strawberry.field(description="ISO 4217 code of `price`, e.g. USD.")
    quality: VideoQuality | None = strawberry.field(description="Best quality offered.")
    url: str | None = strawberry.field(description="Deep link to the film on the provider.")
    available_from: datetime.datetime | None = strawberry.field(
        description="When the offer starts, if announced."
    )
    available_until: datetime.datetime | None = strawberry.field(
        description="When the offer ends, if announced."
    )

    @strawberry.field(description="The film on offer.")
    async def film(self, info: Info) -> Film:
        film: Film = await info.context.loaders.one(_rel("Offer", "film"), self)
        return film

    @strawberry.field(description="The provider making the offer.")
    async def provider(self, info: Info) -> Provider:
        provider: Provider = await info.context.loaders.one(_rel("Offer", "provider"), self)
        return provider


CLASSES: Mapping[str, type] = {
    "Film": Film,
    "Person": Person,
    "Genre": Genre,
    "Provider": Provider,
    "Credit": Credit,
    "Offer": Offer,
    "AlternativeTitle": AlternativeTitle,
}


def build(entity: str, row: Mapping[str, Any]) -> Any:
    """An object of `entity`'s type from one row, per the mapping."""
    return CLASSES[entity](**values(entity, row))
