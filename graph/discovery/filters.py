"""Filters as SQL: a `films`/`people` filter becomes WHERE conditions built from fixed
fragments, every value a client sent a bound parameter; plus the references a filter makes
(which must exist) and the cheapest exact count of what it admits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from graph.discovery.inputs import (
    MAX_LIST_LENGTH,
    MAX_QUERY_LENGTH,
    RUNTIMES,
    YEARS,
    FilmFilter,
    IntRange,
    PersonFilter,
)
from graph.errors import UserInputError
from graph.ids import pk_of


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
