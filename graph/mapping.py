"""How the GraphQL types map onto tables, columns and relations: the one place that says so.

For every field: the column it reads, or the relation it follows (the rows of one parent, their
order, the predicate of each argument, as SQL fragments), or the named statement that answers
it (an Embedded: the graph questions), or, on Query, how the root reaches its rows. Both paths
read it: the loaders build their batch statements from the relations (graph/batches.py) and
the types build objects from rows with the columns; the compiler (graph/compiled/) correlates
the same fragments, and embeds the same statements, to a parent row. tests/test_mapping.py
checks that it covers every field of schema.graphql.
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
    """A scalar field read straight from a column, with an optional conversion; `sql` is how
    the compiler writes it, `{c}` the column (when its text is not what the resolvers' JSON
    holds)."""

    name: str
    convert: Callable[[Any], Any] | None = None
    sql: str = "{c}"


# A numeric as the JSON of the Python float it converts to: its shortest text, with ".0" when
# whole (PostgreSQL writes 17, Python 17.0). Exact for numerics of up to 15 digits.
FLOAT_TEXT = (
    "(case when {c} = trunc({c}) then trunc({c})::text || '.0' "
    "else trim_scale({c})::text end)::json"
)


@dataclass(frozen=True)
class Relation:
    """A field that leads to other rows: how the loaders batch it, and how its rows are found
    for one parent (what the compiler reads, graph/compiled/).

    shape: "one"  -> the target looked up by the parent's `key` attribute (a foreign key);
           "list" -> every target row of the parent, the statement yielding `parent` per row;
           "page" -> a connection over a paged statement (see sql/queries/films.sql).
    statement: the loaders' named batch statement (sql/queries).
    pinned: argument values the field itself fixes (the role behind `directors`); the loaders
        pass them first, as statement parameters.
    arguments: GraphQL arguments passed on as statement parameters, in order, after `pinned`.
    rows: the target rows of one parent, `FROM ... WHERE ...` with `{t}` the target's alias,
        `{l}` a link table's, `{parent}` the parent's key; `{filters}` is where the
        predicates of the arguments given go (`and ...`; at the end when absent).
    order: the ORDER BY of those rows, the same order as the statement's.
    predicates: for each argument that filters, its predicate, `{value}` its parameter.
    absent: for an argument that filters, the predicate that holds when it is not given
        (without a role, one credit per film).
    count: how the compiled path counts a page's rows when a link table alone can say
        (`select count(...) from ... where ...`, with `{filters}`); otherwise it counts `rows`.
    tally: a maintained count (one row) to read instead of `count` when every argument that
        filters is given, with `{filters}`.
    """

    target: str
    statement: str
    shape: Literal["one", "list", "page"]
    rows: str
    order: str = ""
    key: str = "db_id"
    pinned: tuple[tuple[str, Any], ...] = ()
    arguments: tuple[str, ...] = ()
    predicates: Mapping[str, str] = field(default_factory=dict)
    absent: Mapping[str, str] = field(default_factory=dict)
    count: str = ""
    tally: str = ""

    @property
    def fixed(self) -> tuple[Any, ...]:
        return tuple(value for _, value in self.pinned)


@dataclass(frozen=True)
class Computed:
    """A field computed in SQL from its parent's row: `expression`, with `{t}` the parent's
    alias (only its `id` is read: a compiled page's rows are not whole table rows) and `{base}`
    the public URL (FILMGRAPH_PUBLIC_URL), is what the compiler writes;
    `statement` (sql/queries) runs the same expression for a batch of parent ids on the
    resolver path. Its value is JSON."""

    expression: str
    statement: str


@dataclass(frozen=True)
class Group:
    """An Embedded list made of one `type` object per value of the list argument `argument`
    (as its resolver checks it: in the order given, each once), whose field `key` is that value
    and whose field `rows` lists the statement's rows whose `key` column holds it (as the
    Embedded's `target`), an empty list when none does."""

    type: str
    argument: str
    key: str
    rows: str


@dataclass(frozen=True)
class Embedded:
    """A field whose rows one named statement of sql/queries finds for its parent, with
    arguments of its own: the graph questions (a ranking, offers by region, the best offer,
    external ids). The resolvers run `statement` in `module`; the compiler embeds the same
    statement as a subquery correlated to the parent's row (graph/compiled/embedded.py).

    parameters: what each $n of the statement is, in order, as SQL: `{parent}` the parent's
        key (its row's `id`), `{row}` the parent's row (a column of it: `{row}.parent`), any
        other `{name}` a bound parameter, computed per request from
        the field's arguments by the resolver's own checks, or a constant of `module`
        (graph/compiled/arguments.py, EMBEDDED_PARAMETERS, by statement). A batch statement
        takes one parent as an array: `array[{parent}]`.
    target: the type of each row: an entity of MODEL (its columns are the row's), a type of
        ROWS (made from the row), or an interface (the row's `entity` names the type, its
        `id` the key).
    order: the order of the rows, `{t}` their alias (the statement's own order).
    shape: "list", "one" (at most one row; null when there is none), or "page": a connection
        whose statement answers one page as the paged statements of sql/queries do (each row
        numbered `rn` with the total in `page_total`; one row with a null `rn` when the page
        is empty), its first page only; `scope` (graph/compiled/arguments.py,
        EMBEDDED_SCOPES) seals its cursors as the resolver does.
    """

    target: str
    statement: str
    module: str
    parameters: tuple[str, ...]
    order: str = ""
    shape: Literal["list", "one", "page"] = "list"
    group: Group | None = None


@dataclass(frozen=True)
class Entity:
    """A type of the schema: a table's (`table`), or one made from a row of an Embedded
    statement (ROWS, `table` empty)."""

    table: str
    columns: Mapping[str, Column]
    lookups: Mapping[str, str] = field(default_factory=dict)
    relations: Mapping[str, Relation] = field(default_factory=dict)
    computed: Mapping[str, Computed] = field(default_factory=dict)
    embedded: Mapping[str, Embedded] = field(default_factory=dict)
    # Fields that are the row itself as an entity of MODEL (the statement's row holds all of
    # that entity's columns): field -> entity.
    itself: Mapping[str, str] = field(default_factory=dict)
    # Fields that list members of a union made from the row: field -> (object type, the
    # predicate over the row, `{t}`, that says it holds one), in the list's order.
    variants: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


def _columns(*names: str, **special: Column) -> dict[str, Column]:
    """Attributes named like their columns, plus `db_id` for `id` and any special ones."""
    return {"db_id": Column("id"), **{n: Column(n) for n in names}, **special}


# The SQL type of each argument's parameter ("first" is a LIMIT).
ARGUMENT_TYPES: Mapping[str, str] = {
    "region": "text",
    "roles": "text[]",
    "role": "text",
    "kinds": "text[]",
    "first": "int",
}

# Film.offers' order, which Film.availability keeps (sql/queries/watch.sql).
OFFERS_ORDER = (
    "{t}.region, array_position(array['FREE', 'ADS', 'SUBSCRIPTION', 'RENT', 'BUY'], {t}.kind), "
    "{t}.price nulls first, {t}.provider_id, {t}.quality, {t}.id"
)

# Crew first (director, writer, ...), then the cast in billing order.
CREDITS_ON_FILM = (
    "array_position(array['DIRECTOR', 'WRITER', 'PRODUCER', 'ACTOR', 'COMPOSER', "
    "'CINEMATOGRAPHER', 'EDITOR', 'OTHER'], {t}.role), {t}.billing_order nulls last, {t}.id"
)


def _people_in_role(role: str) -> Relation:
    return Relation(
        "Person",
        "people_by_film_id_and_role",
        "list",
        rows="credit {l} join person {t} on {t}.id = {l}.person_id where {l}.film_id = {parent}",
        order="{l}.billing_order nulls last, {l}.id",
        pinned=(("role", role),),
        predicates={"role": "{l}.role = {value}"},
    )


def _by_key(target: str, table: str, statement: str, key: str) -> Relation:
    return Relation(
        target, statement, "one", rows=f"{table} {{t}} where {{t}}.id = {{parent}}", key=key
    )


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
        lookups={
            "id": "films_by_id",
            "slug": "films_by_slug",
            "imdb_id": "films_by_imdb_id",
            "tmdb_id": "films_by_tmdb_id",
            "wikidata_id": "films_by_wikidata_id",
        },
        # schema.org Movie (sql/migrations/0012_linked.sql).
        computed={
            "json_ld": Computed(
                "(select film_jsonld(r, {base}) from film r where r.id = {t}.id)",
                "film_jsonld_by_id",
            )
        },
        relations={
            "genres": Relation(
                "Genre",
                "genres_by_film_id",
                "list",
                rows="film_genre {l} join genre {t} on {t}.id = {l}.genre_id "
                "where {l}.film_id = {parent}",
                order="{t}.name",
            ),
            "credits": Relation(
                "Credit",
                "credits_by_film_id",
                "list",
                rows="credit {t} where {t}.film_id = {parent}",
                order=CREDITS_ON_FILM,
                arguments=("roles", "first"),
                predicates={"roles": "{t}.role = any({value})"},
            ),
            "cast": Relation(
                "Credit",
                "cast_by_film_id",
                "list",
                rows="credit {t} where {t}.film_id = {parent}",
                order=CREDITS_ON_FILM,
                pinned=(("roles", ("ACTOR",)),),
                arguments=("first",),
                predicates={"roles": "{t}.role = any({value})"},
            ),
            "directors": _people_in_role("DIRECTOR"),
            "writers": _people_in_role("WRITER"),
            "offers": Relation(
                "Offer",
                "offers_by_film_id",
                "list",
                rows="offer {t} where {t}.film_id = {parent}",
                order=OFFERS_ORDER,
                arguments=("region", "kinds"),
                predicates={"region": "{t}.region = {value}", "kinds": "{t}.kind = any({value})"},
            ),
            "providers": Relation(
                "Provider",
                "providers_by_film_id",
                "list",
                rows="provider {t} where exists (select from offer {l} where "
                "{l}.provider_id = {t}.id and {l}.film_id = {parent}{filters})",
                order="{t}.name, {t}.id",
                arguments=("region",),
                predicates={"region": "{l}.region = {value}"},
            ),
            "alternative_titles": Relation(
                "AlternativeTitle",
                "alternative_titles_by_film_id",
                "list",
                rows="film_alternative_title {t} where {t}.film_id = {parent}",
                order="{t}.ordering",
                arguments=("region",),
                predicates={"region": "{t}.region = {value}"},
            ),
        },
        # The graph questions (issue 13): statements of their own (sql/queries/similar.sql,
        # watch.sql), embedded by the compiler.
        embedded={
            "similar": Embedded(
                "SimilarFilm",
                "similar_films_by_film_id",
                "graph/similar.py",
                parameters=(
                    "{parent}",
                    "{first}",
                    "{linking_credits}",
                    "{genre_candidates}",
                    "{people_candidates}",
                ),
                order="{t}.score desc, {t}.film_id",
            ),
            "availability": Embedded(
                "Offer",
                "offers_by_film_id_and_regions",
                "graph/watch.py",
                parameters=("array[{parent}]", "{regions}"),
                order=OFFERS_ORDER,
                group=Group("RegionAvailability", "regions", "region", "offers"),
            ),
            "best_offer": Embedded(
                "BestOffer",
                "best_offers_by_film_id",
                "graph/watch.py",
                parameters=("array[{parent}]", "{region}", "{subscriptions}"),
                shape="one",
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
        lookups={
            "id": "people_by_id",
            "slug": "people_by_slug",
            "imdb_id": "people_by_imdb_id",
            "tmdb_id": "people_by_tmdb_id",
            "wikidata_id": "people_by_wikidata_id",
        },
        # schema.org Person (sql/migrations/0012_linked.sql).
        computed={
            "json_ld": Computed(
                "(select person_jsonld(r, {base}) from person r where r.id = {t}.id)",
                "person_jsonld_by_id",
            )
        },
        relations={
            "credits": Relation(
                "Credit",
                "credits_page_by_person_id",
                "page",
                rows="credit {t} join film {l} on {l}.id = {t}.film_id "
                "where {t}.person_id = {parent}",
                order="{l}.year desc nulls last, {l}.title, {l}.id, {t}.role, {t}.id",
                arguments=("roles",),
                predicates={"roles": "{t}.role = any({value})"},
                count="select count(*) from credit {t} where {t}.person_id = {parent}",
            ),
            # The films' order, year desc nulls last, release_date desc nulls last, title,
            # id, read from the copies of it on credit (migration 0009), whose index walks a
            # person's films of one role in that order: a page costs its size, not the
            # person's filmography.
            "filmography": Relation(
                "Film",
                "filmography_page_by_person_id",
                "page",
                rows="credit {l} join film {t} on {t}.id = {l}.film_id "
                "where {l}.person_id = {parent}{filters}",
                order="{l}.film_year desc nulls last, {l}.film_release_date desc nulls last, "
                "{l}.film_title, {l}.film_id",
                arguments=("role",),
                predicates={"role": "{l}.role = {value}"},
                # A person holds each role on a film once; without a role, a film with several
                # of their roles comes once (by its first role's credit) and counts once.
                absent={
                    "role": "not exists (select from credit {l}_other "
                    "where {l}_other.film_id = {l}.film_id "
                    "and {l}_other.person_id = {l}.person_id and {l}_other.role < {l}.role)"
                },
                count="select count(distinct {l}.film_id) from credit {l} "
                "where {l}.person_id = {parent}",
                tally="select coalesce((select {l}.films from credit_tally {l} "
                "where {l}.person_id = {parent}{filters}), 0)",
            ),
        },
        # Issue 13 (sql/queries/collaborators.sql): a page of the people they share films
        # with, each row a Collaborator.
        embedded={
            "collaborators": Embedded(
                "Collaborator",
                "collaborators_page",
                "graph/collaborators.py",
                parameters=("0", "{first}", "{parent}", "{role}"),
                shape="page",
            )
        },
    ),
    "Genre": Entity(
        table="genre",
        columns=_columns("slug", "name"),
        lookups={"id": "genres_by_id", "slug": "genres_by_slug"},
        relations={
            "films": Relation(
                "Film",
                "films_page_by_genre_id",
                "page",
                rows="film {t} where exists (select from film_genre {l} where "
                "{l}.film_id = {t}.id and {l}.genre_id = {parent})",
                order="{t}.year desc nulls last, {t}.title, {t}.id",
                count="select count(*) from film_genre {l} where {l}.genre_id = {parent}",
            )
        },
    ),
    "Provider": Entity(
        table="provider",
        columns=_columns("slug", "name", "logo_url", "homepage", "tmdb_id"),
        lookups={"id": "providers_by_id", "slug": "providers_by_slug"},
        relations={
            "offers": Relation(
                "Offer",
                "offers_page_by_provider_id",
                "page",
                rows="offer {t} join film {l} on {l}.id = {t}.film_id "
                "where {t}.provider_id = {parent}",
                order="{l}.title, {t}.film_id, {t}.region, {t}.kind, {t}.quality, {t}.id",
                arguments=("region",),
                predicates={"region": "{t}.region = {value}"},
                count="select count(*) from offer {t} where {t}.provider_id = {parent}",
            ),
            "films": Relation(
                "Film",
                "films_page_by_provider_id",
                "page",
                rows="film {t} where exists (select from offer {l} where "
                "{l}.film_id = {t}.id and {l}.provider_id = {parent}{filters})",
                order="{t}.title, {t}.id",
                arguments=("region",),
                predicates={"region": "{l}.region = {value}"},
                count="select count(distinct {l}.film_id) from offer {l} "
                "where {l}.provider_id = {parent}",
            ),
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
            "film": _by_key("Film", "film", "films_by_id", "film_id"),
            "person": _by_key("Person", "person", "people_by_id", "person_id"),
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
            "film": _by_key("Film", "film", "films_by_id", "film_id"),
            "provider": _by_key("Provider", "provider", "providers_by_id", "provider_id"),
        },
    ),
}

# Types made from a row of an Embedded statement (graph/similar.py, graph/watch.py): their
# fields are the row's columns, the row itself as an entity, lists of entities by an array of
# keys the row holds, or union members made from the row. RegionAvailability is a Group.
ROWS: Mapping[str, Entity] = {
    # A row of similar_films_by_film_id: the film's columns, the shared people's and genres'
    # ids, the year distance and the score.
    "SimilarFilm": Entity(
        table="",
        # The score has tenths only (3 a person, 1 a genre, (10 - years) / 10 for the era).
        columns={"score": Column("score", sql=FLOAT_TEXT)},
        itself={"film": "Film"},
        variants={
            "reasons": (
                ("SharedPeople", "cardinality({t}.people) > 0"),
                ("SharedGenres", "cardinality({t}.genres) > 0"),
                ("YearDistance", "{t}.year_distance < 10"),
            )
        },
    ),
    "SharedPeople": Entity(
        table="",
        # The shared people's ids (not a field: the key of `people`).
        columns={"person_ids": Column("people")},
        relations={
            "people": Relation(
                "Person",
                "people_by_id",
                "list",
                rows="person {t} where {t}.id = any({parent})",
                order="{t}.id",
                key="person_ids",
            )
        },
    ),
    "SharedGenres": Entity(
        table="",
        columns={"genre_ids": Column("genres")},
        relations={
            "genres": Relation(
                "Genre",
                "genres_by_id",
                "list",
                rows="genre {t} where {t}.id = any({parent})",
                order="{t}.id",
                key="genre_ids",
            )
        },
    ),
    "YearDistance": Entity(table="", columns={"years": Column("year_distance")}),
    # A row of collaborators_page: the collaborator's columns (the person), how many films
    # they share, whose collaborator (`parent`) and the role asked; `films` the films both
    # are on, newest first.
    "Collaborator": Entity(
        table="",
        columns={"db_id": Column("id"), "shared_films": Column("shared")},
        itself={"person": "Person"},
        embedded={
            "films": Embedded(
                "Film",
                "shared_films_by_people",
                "graph/collaborators.py",
                parameters=(
                    "array[{row}.parent]",
                    "array[{parent}]",
                    "{first}",
                    "{row}.asked_role",
                ),
                order="{t}.year desc nulls last, {t}.title, {t}.id",
            )
        },
    ),
    # A row of best_offers_by_film_id: the offer's columns, the reason and the cost.
    "BestOffer": Entity(
        table="",
        columns={"reason": Column("reason"), "cost": Column("cost")},
        itself={"offer": "Offer"},
    ),
}

# Root connections paged by position: every row of a small node type, in its natural order.
# (films and people are keyset connections with filters: graph/discovery/.)
ROOT_PAGES: Mapping[str, Relation] = {
    "Genre": Relation("Genre", "genres_page", "page", rows="genre {t}", order="{t}.name, {t}.id"),
    "Provider": Relation(
        "Provider", "providers_page", "page", rows="provider {t}", order="{t}.name, {t}.id"
    ),
}


@dataclass(frozen=True)
class Root:
    """How a field of Query reaches its rows: `lookup` by a key (the entity's `lookups`),
    `node` by global id (graph/ids.py), `page` over every row (ROOT_PAGES), `keyset` by a
    filter and order built in graph/discovery/, `search` in graph/search.py, `embedded` by
    its Embedded statement; `resolver`: only its resolver reaches its rows, in the module
    RESOLVER_ONLY names (the compiler leaves the operation to the resolvers)."""

    kind: Literal["lookup", "node", "page", "keyset", "search", "embedded", "resolver"]
    entity: str | None = None
    embedded: Embedded | None = None


QUERY: Mapping[str, Root] = {
    "film": Root("lookup", "Film"),
    "person": Root("lookup", "Person"),
    "genre": Root("lookup", "Genre"),
    "provider": Root("lookup", "Provider"),
    "node": Root("node"),
    "nodes": Root("node"),
    "films": Root("keyset", "Film"),
    "people": Root("keyset", "Person"),
    "genres": Root("page", "Genre"),
    "providers": Root("page", "Provider"),
    "search": Root("search"),
    "suggest": Root("search"),
    # External ids of any kind, one statement (sql/queries/external.sql).
    "resolveIds": Root(
        "embedded",
        embedded=Embedded(
            "Node",
            "nodes_by_external_id",
            "graph/external.py",
            parameters=("{kinds}", "{values}", "{numbers}"),
            order="{t}.ord",
        ),
    ),
    "path": Root("resolver"),
    # The films people share (sql/queries/collaborators.sql), a connection.
    "commonFilms": Root(
        "embedded",
        embedded=Embedded(
            "Film",
            "common_films_page",
            "graph/collaborators.py",
            parameters=("{people}", "0", "{first}"),
            shape="page",
        ),
    ),
}

# Fields and whole types served only by their resolvers, each with the module that holds them
# and names its statements (sql/queries/<module>.sql): an operation that selects one runs on
# the resolvers (graph/compiled/). `path` is a search of several statements, each step
# bounded in time and in links, that one statement cannot reproduce (docs/architecture.md).
RESOLVER_ONLY: Mapping[str, Mapping[str, str]] = {
    "Query": {"path": "graph/paths.py"},
    # Types whose every field is its resolver's: "*".
    "PersonPath": {"*": "graph/paths.py"},
    "PathHop": {"*": "graph/paths.py"},
}


def values(entity: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments for `entity`'s type from one row."""
    out: dict[str, Any] = {}
    for attr, col in MODEL[entity].columns.items():
        value = row[col.name]
        out[attr] = col.convert(value) if col.convert is not None and value is not None else value
    return out
