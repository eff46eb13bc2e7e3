"""Discovery on the root connections: filters, orders and keyset pagination.

`films(filter:, orderBy:)` and `people(filter:, orderBy:)` are built here from fixed SQL
fragments; every value a client sends travels as a bound parameter. Pages are keyset pages: a
cursor carries the row's sort key and id, sealed with a keyed MAC over them and the order and
filter it belongs to: paging stays exact while rows are added elsewhere, costs the same on
page 1000 as on page 1, and a cursor that was altered, or made for another order or filter,
is refused.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import asyncpg
import strawberry

from graph.db import CONNECTION_ERRORS, Database
from graph.errors import UserInputError
from graph.ids import pk_of
from graph.mapping import CreditRole, OfferKind
from graph.pagination import DEFAULT_PAGE_SIZE, Connection, Edge, PageInfo, page_size

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


class Params:
    """Bound parameters of one statement: adding a value returns its placeholder."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


def search_text(value: str, argument: str) -> str:
    # NUL and lone surrogates were refused before any resolver ran (graph.textinput).
    text = value.strip()
    if not text:
        raise UserInputError(f"{argument}: must not be blank", argument=argument)
    if len(text) > MAX_QUERY_LENGTH:
        raise UserInputError(
            f"{argument}: at most {MAX_QUERY_LENGTH} characters, got {len(text)}",
            argument=argument,
        )
    return text


def _list(values: Sequence[Any] | None, argument: str) -> Sequence[Any] | None:
    if values is None:
        return None
    if not values:
        raise UserInputError(f"{argument}: must not be empty; omit it instead", argument=argument)
    if len(values) > MAX_LIST_LENGTH:
        raise UserInputError(
            f"{argument}: at most {MAX_LIST_LENGTH} values, got {len(values)}", argument=argument
        )
    return values


def _range(r: IntRange | None, bounds: tuple[int, int], argument: str) -> IntRange | None:
    if r is None:
        return None
    for end, value in (("min", r.min), ("max", r.max)):
        if value is not None and not bounds[0] <= value <= bounds[1]:
            raise UserInputError(
                f"{argument}.{end}: must be between {bounds[0]} and {bounds[1]}, got {value}",
                argument=f"{argument}.{end}",
            )
    if r.min is not None and r.max is not None and r.min > r.max:
        raise UserInputError(f"{argument}: min {r.min} is above max {r.max}", argument=argument)
    return r


def _region(value: str, argument: str) -> str:
    if len(value) != 2 or not value.isascii() or not value.isalpha():
        raise UserInputError(
            f"{argument}: must be an ISO 3166-1 alpha-2 code such as US, got {value[:20]!r}",
            argument=argument,
        )
    return value.upper()


# Match and relevance of a film against search text, as in sql/queries/search.sql. The
# typo-forgiving query is computed once per statement (an InitPlan), not once per row.
FILM_MATCH = "f.search_vector @@ (select typo_query({q}, false))"
FILM_RELEVANCE = (
    "(ts_rank('{{0.1, 0.3, 0.6, 1.0}}', f.search_vector, (select typo_query({q}, false))) "
    "+ similarity(fold(f.title), fold({q})))::float8"
)
PERSON_MATCH = "to_tsvector('simple', fold(p.name)) @@ (select typo_query({q}, true))"
PERSON_RELEVANCE = "name_match(p.name, fold({q}))"


@dataclass(frozen=True)
class FilmIds:
    """A filter condition that only follows links (genres, credits, offers), as the set of film
    ids it admits: `select x.film_id from ...`. `distinct` says whether it names each film
    once. When every condition of a filter is such a set, the filter's count is taken from the
    link tables alone, without visiting a single film row."""

    sql: str
    distinct: bool


@dataclass
class FilmConditions:
    """A film filter as SQL: its WHERE conditions, the search text's placeholder if any, the
    conditions that are film id sets (see FilmIds), and, for each one-facet condition, the
    count of its films from the facet tallies (film_tally, migration 0003)."""

    where: list[str] = field(default_factory=list)
    q: str | None = None
    links: list[FilmIds] = field(default_factory=list)
    tallies: dict[int, str] = field(default_factory=dict)  # index in where -> count SQL

    def count_sql(self) -> str | None:
        """The cheapest exact count that needs no scan of film, if there is one."""
        if len(self.where) == 1 and 0 in self.tallies:
            return self.tallies[0]
        if self.links and len(self.links) == len(self.where):
            return film_count_sql(self.links)
        return None


def _tally(facet: str, condition: str) -> str:
    return (
        "select coalesce(sum(films), 0)::bigint from film_tally "
        f"where facet = '{facet}' and {condition}"
    )


def film_conditions(flt: FilmFilter | None, p: Params) -> FilmConditions:
    """A film filter as SQL; every value a client sent is a bound parameter."""
    c = FilmConditions()
    if flt is None:
        return c
    where, links = c.where, c.links
    if flt.query is not None:
        c.q = p(search_text(flt.query, "filter.query"), "text")
        where.append(FILM_MATCH.format(q=c.q))

    def facet(condition: str, name: str, tally: str) -> None:
        c.tallies[len(where)] = _tally(name, tally)
        where.append(condition)

    def link(table: str, conditions: str, distinct: bool) -> None:
        where.append(f"exists (select 1 from {table} where {conditions} and x.film_id = f.id)")
        links.append(FilmIds(f"select x.film_id from {table} where {conditions}", distinct))

    # Slugs become genre ids once per statement (InitPlans), so that testing a film is one
    # probe of film_genre's primary key. A film has each genre once, so one genre's links
    # name each film once.
    def one_genre(slug: str) -> None:
        genre_id = f"(select id from genre where slug = {p(slug, 'text')})"
        c.tallies[len(where)] = _tally("genre", f"value = {genre_id}")
        link("film_genre x", f"x.genre_id = {genre_id}", True)

    if (slugs := _list(flt.genres_any, "filter.genresAny")) is not None:
        unique = list(dict.fromkeys(slugs))
        if len(unique) == 1:
            one_genre(unique[0])
        else:
            genre_ids = f"array(select id from genre where slug = any({p(unique, 'text[]')}))"
            link("film_genre x", f"x.genre_id = any({genre_ids})", False)
    if (slugs := _list(flt.genres_all, "filter.genresAll")) is not None:
        for slug in dict.fromkeys(slugs):
            one_genre(slug)
    # Ranges are written on the same never-null expressions the sort keys use, so that one
    # index serves filter, order and count alike; the lower bound (at least the smallest
    # valid value) keeps the unknowns, which sort as 0 or -1, out.
    if (years := _range(flt.year, YEARS, "filter.year")) is not None:
        low, high = p(years.min or YEARS[0], "int"), p(years.max or YEARS[1], "int")
        facet(
            f"coalesce(f.year, 0) between {low} and {high}",
            "year",
            f"value between {low} and {high}",
        )
    if (runtimes := _range(flt.runtime_minutes, RUNTIMES, "filter.runtimeMinutes")) is not None:
        low, high = p(runtimes.min or RUNTIMES[0], "int"), p(runtimes.max or RUNTIMES[1], "int")
        facet(
            f"coalesce(f.runtime_minutes, -1) between {low} and {high}",
            "runtime",
            f"value between {low} and {high}",
        )
    if flt.min_rating is not None:
        if not 0 <= flt.min_rating <= 10:
            raise UserInputError(
                f"filter.minRating: must be between 0 and 10, got {flt.min_rating}",
                argument="filter.minRating",
            )
        rating = p(Decimal(str(flt.min_rating)), "numeric")
        facet(f"coalesce(f.imdb_rating, -1) >= {rating}", "rating", f"value >= {rating}")
    if flt.min_votes is not None:
        if flt.min_votes < 0:
            raise UserInputError(
                f"filter.minVotes: must not be negative, got {flt.min_votes}",
                argument="filter.minVotes",
            )
        where.append(f"coalesce(f.imdb_votes, -1) >= {p(flt.min_votes, 'int')}")
    if (certs := _list(flt.certifications, "filter.certifications")) is not None:
        where.append(f"f.certification = any({p(list(certs), 'text[]')})")
    for i, credit in enumerate(_list(flt.people, "filter.people") or ()):
        person = pk_of(credit.person, "Person", f"filter.people[{i}].person")
        # A person holds each role on a film once (unique (film_id, role, person_id)).
        role = "" if credit.role is None else f" and x.role = {p(credit.role.name, 'text')}"
        link("credit x", f"x.person_id = {p(person, 'bigint')}{role}", credit.role is not None)
    if (avail := flt.availability) is not None:
        offer = []
        if avail.region is not None:
            offer.append(
                f"x.region = {p(_region(avail.region, 'filter.availability.region'), 'text')}"
            )
        if (kinds := _list(avail.kinds, "filter.availability.kinds")) is not None:
            offer.append(f"x.kind = any({p([k.name for k in kinds], 'text[]')})")
        if (providers := _list(avail.providers, "filter.availability.providers")) is not None:
            ids = [pk_of(i, "Provider", "filter.availability.providers") for i in providers]
            offer.append(f"x.provider_id = any({p(ids, 'bigint[]')})")
        link("offer x", " and ".join(offer) or "true", False)
    return c


@dataclass(frozen=True)
class Reference:
    """Something a filter names by key, which must exist (NOT_FOUND otherwise)."""

    entity: str
    by: str
    value: Any
    argument: str
    given: str


def film_references(flt: FilmFilter | None) -> list[Reference]:
    """The genres, people and providers `flt` names; call after film_query checked it."""
    if flt is None:
        return []
    refs = []
    for name, slugs in (("genresAny", flt.genres_any), ("genresAll", flt.genres_all)):
        for i, slug in enumerate(slugs or ()):
            refs.append(Reference("Genre", "slug", slug, f"filter.{name}[{i}]", slug))
    for i, credit in enumerate(flt.people or ()):
        argument = f"filter.people[{i}].person"
        pk = pk_of(credit.person, "Person", argument)
        refs.append(Reference("Person", "id", pk, argument, credit.person))
    for i, provider in enumerate((flt.availability and flt.availability.providers) or ()):
        argument = f"filter.availability.providers[{i}]"
        pk = pk_of(provider, "Provider", argument)
        refs.append(Reference("Provider", "id", pk, argument, provider))
    return refs


def person_references(flt: PersonFilter | None) -> list[Reference]:
    """The people `flt` names; call after person_query checked it."""
    if flt is None or flt.worked_with is None:
        return []
    pk = pk_of(flt.worked_with, "Person", "filter.workedWith")
    return [Reference("Person", "id", pk, "filter.workedWith", flt.worked_with)]


def film_count_sql(links: list[FilmIds]) -> str:
    """Count the films in every one of the sets: from the link tables' indexes alone."""
    if len(links) == 1:
        one = links[0]
        return f"select count({'*' if one.distinct else 'distinct film_id'}) from ({one.sql}) s"
    return f"select count(*) from ({' intersect '.join(link.sql for link in links)}) s"


def person_conditions(flt: PersonFilter | None, p: Params) -> tuple[list[str], str | None]:
    if flt is None:
        return [], None
    where: list[str] = []
    q = None
    if flt.query is not None:
        q = p(search_text(flt.query, "filter.query"), "text")
        where.append(PERSON_MATCH.format(q=q))
    if (roles := _list(flt.roles, "filter.roles")) is not None:
        where.append(
            "exists (select 1 from credit c where c.person_id = p.id "
            f"and c.role = any({p([r.name for r in roles], 'text[]')}))"
        )
    if flt.worked_with is not None:
        other = pk_of(flt.worked_with, "Person", "filter.workedWith")
        where.append(
            "exists (select 1 from credit mine join credit theirs on theirs.film_id = "
            f"mine.film_id where mine.person_id = p.id and theirs.person_id = "
            f"{p(other, 'bigint')} and mine.person_id <> theirs.person_id)"
        )
    return where, q


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY expression: never null, so that keyset comparisons are plain."""

    name: str
    sql: str
    cast: str


FILM_KEYS = {
    FilmOrderField.TITLE: SortKey("TITLE", "f.title", "text"),
    FilmOrderField.YEAR: SortKey("YEAR", "coalesce(f.year, 0)", "int"),
    FilmOrderField.RATING: SortKey("RATING", "coalesce(f.imdb_rating, -1)", "numeric"),
    FilmOrderField.VOTES: SortKey("VOTES", "coalesce(f.imdb_votes, -1)", "int"),
    FilmOrderField.RUNTIME: SortKey("RUNTIME", "coalesce(f.runtime_minutes, -1)", "int"),
    FilmOrderField.RELEVANCE: SortKey("RELEVANCE", FILM_RELEVANCE, "float8"),
}
PERSON_KEYS = {
    PersonOrderField.NAME: SortKey("NAME", "p.name", "text"),
    PersonOrderField.BIRTH_YEAR: SortKey("BIRTH_YEAR", "coalesce(p.birth_year, 0)", "int"),
    PersonOrderField.RELEVANCE: SortKey("RELEVANCE", PERSON_RELEVANCE, "float8"),
}


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _typed(value: Any, cast: str) -> Any:
    """A cursor value back in the type its placeholder is cast to; ValueError when not."""
    if cast == "text" and isinstance(value, str):
        return value
    if (
        cast == "int"
        and isinstance(value, int)
        and not isinstance(value, bool)
        and -(2**31) <= value < 2**31
    ):
        return value
    if cast == "numeric" and isinstance(value, str):
        return Decimal(value)
    if cast == "float8" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(value)


@dataclass(frozen=True)
class KeysetQuery:
    """One root connection's query: table, filter conditions, order."""

    table: str
    alias: str
    where: list[str]
    keys: list[tuple[SortKey, bool]]  # (key, descending)
    scope: str  # what a cursor must have been made for
    key: bytes  # the server's cursor key (Settings.cursor_secret)
    count_sql: str | None = None  # a cheaper statement for the count than filtering the table
    deferred: bool = False  # choose the page's ids first, then read their rows; see page_sql

    def seal(self, values: list[Any], pk: int) -> str:
        """MAC over the scope and the position, so a cursor cannot be altered or moved."""
        payload = json.dumps([self.scope, values, pk], separators=(",", ":"))
        return hashlib.blake2s(payload.encode(), key=self.key, digest_size=12).hexdigest()

    def encode(self, row: asyncpg.Record) -> str:
        values = [_json_value(row[f"sort_{i}"]) for i in range(len(self.keys))]
        raw = json.dumps([values, row["id"], self.seal(values, row["id"])], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")

    def decode(self, cursor: str, argument: str) -> tuple[list[Any], int]:
        try:
            raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
            values, pk, mac = json.loads(raw)
            if not isinstance(values, list) or len(values) != len(self.keys):
                raise ValueError(values)
            if not isinstance(mac, str):
                raise ValueError(mac)
            typed = [_typed(v, key.cast) for v, (key, _) in zip(values, self.keys, strict=True)]
            if not isinstance(pk, int) or not 0 < pk < 2**63:
                raise ValueError(pk)
        except (ValueError, TypeError, UnicodeError, binascii.Error, ArithmeticError):
            raise UserInputError(f"{argument}: not a valid cursor", argument=argument) from None
        if not hmac.compare_digest(mac, self.seal(values, pk)):
            raise UserInputError(
                f"{argument}: this cursor belongs to another connection, order or filter, "
                "or was altered, or comes from before a server restart or from another "
                "deployment; start from the first page again",
                argument=argument,
            )
        return typed, pk


def order_keys(
    order_by: Sequence[Any] | None,
    keys: dict[Any, SortKey],
    default: Any,
    relevance: Any,
    has_query: bool,
) -> list[tuple[SortKey, bool]]:
    if order_by is not None and not order_by:
        raise UserInputError("orderBy: must not be empty; omit it instead", argument="orderBy")
    if not order_by:
        if has_query:
            return [(keys[relevance], True)]
        return [(keys[default], False)]
    seen = set()
    out = []
    for i, o in enumerate(order_by):
        if o.field == relevance and not has_query:
            raise UserInputError(
                f"orderBy[{i}]: RELEVANCE needs filter.query", argument=f"orderBy[{i}]"
            )
        if o.field in seen:
            raise UserInputError(
                f"orderBy[{i}]: {o.field.name} given twice", argument=f"orderBy[{i}]"
            )
        seen.add(o.field)
        out.append((keys[o.field], o.direction == OrderDirection.DESC))
    return out


def _after(
    keys: list[tuple[SortKey, bool]], alias: str, values: list[Any], pk: int, p: Params
) -> str:
    """The rows strictly after (values, pk) in the order of keys (id last, in the direction
    of the last key)."""
    terms = [(key.sql, desc, p(v, key.cast)) for (key, desc), v in zip(keys, values, strict=True)]
    terms.append((f"{alias}.id", keys[-1][1], p(pk, "bigint")))
    if len({desc for _, desc, _ in terms}) == 1:
        # One direction: a row comparison, which an index on (key, id) answers directly.
        op = "<" if terms[0][1] else ">"
        left = ", ".join(t[0] for t in terms)
        right = ", ".join(t[2] for t in terms)
        return f"({left}) {op} ({right})"
    ors = []
    for i, (expr, desc, ref) in enumerate(terms):
        equal = [f"{e} = {r}" for e, _, r in terms[:i]]
        ors.append("(" + " and ".join([*equal, f"{expr} {'<' if desc else '>'} {ref}"]) + ")")
    return "(" + " or ".join(ors) + ")"


@dataclass(frozen=True)
class PageSql:
    """One keyset page as SQL: the page itself (size + 1 rows, to see if more follow) and the
    count of the whole filtered list."""

    sql: str
    params: list[Any]
    count_sql: str
    count_params: list[Any]
    size: int
    backward: bool
    # A filter's best plan depends on its values (a director of 3 films or of 3,000), so
    # filtered statements are planned for each execution; see fetch().
    custom_plan: bool


def page_sql(
    query: KeysetQuery,
    p: Params,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> PageSql:
    first, last = page_size(first, "first"), page_size(last, "last")
    if first is not None and last is not None:
        raise UserInputError("pass either first or last, not both", argument="last")
    backward = last is not None
    size: int = last if last is not None else (first or DEFAULT_PAGE_SIZE)
    count_params = list(p.values)
    keys = query.keys
    where = list(query.where)
    if after is not None:
        values, pk = query.decode(after, "after")
        where.append(_after(keys, query.alias, values, pk, p))
    if before is not None:
        values, pk = query.decode(before, "before")
        flipped = [(k, not d) for k, d in keys]
        where.append(_after(flipped, query.alias, values, pk, p))
    walk = [(k, d != backward) for k, d in keys]  # backward: walk the order in reverse
    id_desc = walk[-1][1]
    a = query.alias

    def order_by(sort: str, pk: str) -> str:
        return ", ".join(
            [f"{sort}{i} {'desc' if d else 'asc'}" for i, (_, d) in enumerate(walk)]
            + [f"{pk} {'desc' if id_desc else 'asc'}"]
        )

    order = order_by("sort_", f"{a}.id")
    select = ", ".join(f"{k.sql} as sort_{i}" for i, (k, _) in enumerate(keys))
    where_sql = f"where {' and '.join(where)}" if where else ""
    limit = p(size + 1, "int")
    if query.deferred:
        # A filter that rejects most rows in the order's walk would read every rejected row
        # from the table. The order indexes carry the filterable columns (migration 0003), so
        # the page's ids are chosen by an index-only walk, and only the page's rows are read.
        outer = order_by("s.sort_", "s.id")
        sql = (
            f"select {a}.*, {', '.join(f's.sort_{i}' for i in range(len(keys)))} "
            f"from (select {a}.id, {select} from {query.table} {a} {where_sql} "
            f"order by {order} limit {limit}) s join {query.table} {a} on {a}.id = s.id "
            f"order by {outer}"
        )
    else:
        sql = (
            f"select {a}.*, {select} from {query.table} {a} {where_sql} "
            f"order by {order} limit {limit}"
        )
    count_where = f"where {' and '.join(query.where)}" if query.where else ""
    count_sql = query.count_sql or f"select count(*) from {query.table} {query.alias} {count_where}"
    return PageSql(
        sql=sql,
        params=list(p.values),
        count_sql=count_sql,
        count_params=count_params,
        size=size,
        backward=backward,
        custom_plan=bool(query.where),
    )


# PostgreSQL plans a prepared statement generically after five runs when the generic plan
# looks no dearer than the custom ones, and asyncpg prepares every statement. For a filter the
# generic plan assumes an average value: the average person has a few credits, so a generic
# plan for "films this person directed" collects their films and sorts them, which takes
# 100 ms for a director of 26,000 films where walking the title index takes 4. The setting is
# made for the statement's transaction only (SET LOCAL; BEGIN and it in one round trip), so it
# never outlives the statement: pooled connections are not reset on release (graph/db.py).
CUSTOM_PLANS = "begin; set local plan_cache_mode = force_custom_plan"


async def fetch(
    conn: asyncpg.Connection, sql: str, params: list[Any], custom_plan: bool
) -> list[asyncpg.Record]:
    """Run one statement; with custom_plan, planned for its parameters every time."""
    if not custom_plan:
        return list(await conn.fetch(sql, *params))
    await conn.execute(CUSTOM_PLANS)
    try:
        rows = list(await conn.fetch(sql, *params))
    except BaseException:
        # Cancelled too: asyncpg waits for the cancellation before it runs the rollback. The
        # request's next statement on this connection must not find an aborted transaction.
        with contextlib.suppress(*CONNECTION_ERRORS):
            await conn.execute("rollback")
        raise
    await conn.execute("commit")
    return rows


async def keyset_page(
    pool: Database,
    query: KeysetQuery,
    p: Params,
    build: Callable[[asyncpg.Record], Any],
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Any]:
    page = page_sql(query, p, first, after, last, before)
    async with pool.acquire() as conn:
        rows = await fetch(conn, page.sql, page.params, page.custom_plan)
    more = len(rows) > page.size
    rows = rows[: page.size]
    if page.backward:
        rows.reverse()
    edges = [Edge(cursor=query.encode(r), node=build(r)) for r in rows]

    async def total() -> int:
        async with pool.acquire() as conn:
            rows = await fetch(conn, page.count_sql, page.count_params, page.custom_plan)
        count: int = rows[0][0]
        return count

    return Connection(
        edges=edges,
        nodes=[e.node for e in edges],
        page_info=PageInfo(
            has_next_page=before is not None if page.backward else more,
            has_previous_page=more if page.backward else after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total=total,
    )


def _scope(table: str, keys: list[tuple[SortKey, bool]], where: list[str], p: Params) -> str:
    order = ",".join(f"{k.name}:{'desc' if d else 'asc'}" for k, d in keys)
    return f"{table}|{order}|{' and '.join(where)}|{p.values!r}"


def film_query(
    flt: FilmFilter | None, order_by: Sequence[FilmOrder] | None, key: bytes
) -> tuple[KeysetQuery, Params]:
    p = Params()
    c = film_conditions(flt, p)
    keys = order_keys(
        order_by, FILM_KEYS, FilmOrderField.TITLE, FilmOrderField.RELEVANCE, c.q is not None
    )
    return _keyset_query("film", "f", c.where, c.q, keys, p, key, c.count_sql())


def person_query(
    flt: PersonFilter | None, order_by: Sequence[PersonOrder] | None, key: bytes
) -> tuple[KeysetQuery, Params]:
    p = Params()
    where, q = person_conditions(flt, p)
    keys = order_keys(
        order_by, PERSON_KEYS, PersonOrderField.NAME, PersonOrderField.RELEVANCE, q is not None
    )
    return _keyset_query("person", "p", where, q, keys, p, key)


def _keyset_query(
    table: str,
    alias: str,
    where: list[str],
    q: str | None,
    keys: list[tuple[SortKey, bool]],
    p: Params,
    key: bytes,
    count_sql: str | None = None,
) -> tuple[KeysetQuery, Params]:
    # The relevance key refers to the search text's placeholder.
    keys = [(SortKey(k.name, k.sql.format(q=q), k.cast), d) for k, d in keys]
    scope = _scope(table, keys, where, p)
    # Text search needs the search vector, which no order index carries.
    deferred = bool(where) and q is None and table == "film"
    return KeysetQuery(table, alias, where, keys, scope, key, count_sql, deferred), p


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
