"""Argument values for the differential tests' documents (tests/documents.py) and for the
variables of written ones (tests/differential.py): what means something in the database under
test (slugs, ids and IMDb ids read through the API, cursors seen in earlier answers), what
does not (unknown and malformed ones), regions, enum values, page sizes in and out of range,
filters and orders; chosen by a `Chooser`, hypothesis's draws or a seeded random.Random.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    get_named_type,
    get_nullable_type,
)
from hypothesis import strategies as st

from graph.ids import to_global_id

T = TypeVar("T")

NODE_TYPES = ("Film", "Person", "Genre", "Provider")
# Page sizes: mostly small (pages stay cheap and under the cost limit), some at the edges of
# 1..100, a few outside it.
PAGE_SIZES = (1, 1, 2, 2, 3, 3, 5, 5, 10, 20, 50, 100)
BAD_PAGE_SIZES = (0, -1, 101, 1000)
REGIONS = ("US", "US", "GB", "DE", "FR", "XX", "us", "")
CONNECTION_PLUMBING = ("edges", "nodes", "pageInfo", "node")
CURSOR_KEYS = ("cursor", "startCursor", "endCursor")


class Chooser(Protocol):
    """Where the random choices come from: hypothesis (shrinkable) or a seeded Random."""

    def pick(self, options: Sequence[T]) -> T: ...

    def integer(self, low: int, high: int) -> int: ...

    def chance(self, p: float) -> bool: ...


@functools.cache
def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    # One strategy object per range: building one per draw doubled the time a document took.
    return st.integers(low, high)


class DrawChooser:
    """Choices drawn by hypothesis: a failing document shrinks toward fewer features (a rare
    `chance` shrinks to False, every `pick` to the first option)."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def pick(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def integer(self, low: int, high: int) -> int:
        value: int = self.draw(_integers(low, high))
        return value

    def chance(self, p: float) -> bool:
        # True on a band inside the range: hypothesis favours the ends (0, 999) and shrinks
        # to 0, so a band at either end would fire far more or far less often than p.
        if p > 0.5:
            return not self.chance(1 - p)
        return 400 <= self.integer(0, 999) < 400 + round(1000 * p)


class RandomChooser:
    """Choices from a seeded random.Random (for variables of documents written by hand)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p


@dataclass
class Values:
    """Argument values that mean something in the database under test, read through the API,
    and the cursors seen in responses so far (by the field they came from)."""

    slugs: dict[str, list[str]] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)
    imdb_ids: dict[str, list[str]] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)
    certifications: list[str] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    cursors: dict[str, list[str]] = field(default_factory=dict)
    # External ids held in the database, of every form resolveIds takes (graph/external.py).
    external_ids: list[str] = field(default_factory=list)

    def harvest(self, data: Any, key: str = "") -> None:
        """Keep the cursors of a response's data, under the field name they belong to."""
        if isinstance(data, dict):
            for name, value in data.items():
                if name in CURSOR_KEYS and isinstance(value, str):
                    kept = self.cursors.setdefault(key, [])
                    if value not in kept and len(kept) < 200:
                        kept.append(value)
                else:
                    self.harvest(value, key if name in CONNECTION_PLUMBING else name)
        elif isinstance(data, list):
            for item in data:
                self.harvest(item, key)


# A query that reads the values above through the API (the ids are the API's own).
VALUES_QUERY = """
query Values {
  films(first: 100, orderBy: [{field: VOTES, direction: DESC}]) {
    nodes { id slug imdbId tmdbId wikidataId title year certification }
    pageInfo { endCursor }
  }
  people(first: 100) {
    nodes { id slug imdbId tmdbId wikidataId name } pageInfo { endCursor }
  }
  genres(first: 100) { nodes { id slug name } }
  providers(first: 100) { nodes { id slug name } }
}
"""


def values_from(data: dict[str, Any]) -> Values:
    """The pool of values from VALUES_QUERY's answer."""
    values = Values()
    for field_name, type_name in (
        ("films", "Film"),
        ("people", "Person"),
        ("genres", "Genre"),
        ("providers", "Provider"),
    ):
        nodes = data[field_name]["nodes"]
        values.ids[type_name] = [n["id"] for n in nodes]
        values.slugs[type_name] = [n["slug"] for n in nodes]
        if type_name in ("Film", "Person"):
            values.imdb_ids[type_name] = [n["imdbId"] for n in nodes if n["imdbId"]]
            tmdb = "tmdb:movie:" if type_name == "Film" else "tmdb:person:"
            for n in nodes:
                values.external_ids += [n["imdbId"]] if n["imdbId"] else []
                values.external_ids += [f"{tmdb}{n['tmdbId']}"] if n["tmdbId"] else []
                values.external_ids += [n["wikidataId"]] if n["wikidataId"] else []
        for n in nodes:
            text = n.get("title") or n.get("name") or ""
            values.words += [w for w in text.split() if len(w) > 2][:2]
    films = data["films"]["nodes"]
    values.certifications = sorted({f["certification"] for f in films if f["certification"]})
    values.years = sorted({f["year"] for f in films if f["year"]})
    values.harvest(data)
    return values


class Arguments:
    """Argument values for a field, by what the argument means (its field and name), with a
    fallback by type for an argument this table does not know."""

    def __init__(self, schema: GraphQLSchema, values: Values, choose: Chooser) -> None:
        self.schema = schema
        self.values = values
        self.choose = choose
        # Full pages wherever a page size is given: nested, they pass the cost limit.
        self.big_pages = False

    # -- values of one meaning ------------------------------------------------------------
    def page_size(self) -> int:
        if self.big_pages and not self.choose.chance(0.2):
            return 100
        if self.choose.chance(0.1):
            return self.choose.pick(BAD_PAGE_SIZES)
        return self.choose.pick(PAGE_SIZES)

    def cursor(self, field_name: str) -> str:
        """A cursor seen earlier on a field of this name, or on any, or a malformed one. The
        cursors seen grow during a run: the choices drawn do not depend on how many there
        are, or hypothesis would find its replays drawing differently."""
        c = self.choose
        own = self.values.cursors.get(field_name, [])
        every = [x for kept in self.values.cursors.values() for x in kept]
        use_own, use_any = not c.chance(0.15), not c.chance(0.3)
        index = c.integer(0, 4095)
        malformed = c.pick(("not-a-cursor", "", "AAAA", "x" * 300))
        if own and use_own:
            return own[index % len(own)]
        if every and use_any:
            return every[index % len(every)]
        return malformed

    def node_id(self, type_name: str | None) -> str:
        c = self.choose
        if c.chance(0.15):
            return c.pick(
                (
                    "not-an-id",
                    "",
                    to_global_id(c.pick(NODE_TYPES), 99_999_999),
                    to_global_id("Credit", 1),
                    "RmlsbTox",  # Film:1 without its padding
                    "RmlsbTowMQ==",  # Film:01
                )
            )
        if type_name is None or c.chance(0.1):
            type_name = c.pick(NODE_TYPES)
        return c.pick(self.values.ids.get(type_name) or ["not-an-id"])

    def slug(self, type_name: str) -> str:
        c = self.choose
        if c.chance(0.1):
            return c.pick(("no-such-slug", "", "Refusenik 2007", "x" * 300))
        if c.chance(0.05):
            type_name = c.pick(NODE_TYPES)
        return c.pick(self.values.slugs.get(type_name) or ["no-such-slug"])

    def imdb_id(self, type_name: str) -> str:
        c = self.choose
        if c.chance(0.15):
            return c.pick(("tt0000000", "nm0000000", "tt", "not-an-imdb-id", ""))
        return c.pick(self.values.imdb_ids.get(type_name) or ["tt0000000"])

    def external_ids(self) -> list[str]:
        """resolveIds' ids: mostly ones the database holds, some that nothing holds, now and
        then a malformed one (refused), rarely more than 100 (refused)."""
        c = self.choose
        if c.chance(0.02):
            return ["tt0068646"] * 101
        out = []
        for _ in range(c.integer(0, 5)):
            if c.chance(0.2):
                out.append(c.pick(("tt9999999", "nm9999999", "Q1", "tmdb:movie:2147483647")))
            elif c.chance(0.05):
                out.append(c.pick(("imdb:tt1", "", "tmdb:movie:0", "q42", "tt12")))
            else:
                out.append(c.pick(self.values.external_ids or ["tt0068646"]))
        return out

    def regions(self) -> list[str]:
        """availability's regions: 1 to 4 (repeats and lower case among them), now and then
        none or more than 20 (refused)."""
        c = self.choose
        if c.chance(0.03):
            return ["US"] * 21
        return [self.region() for _ in range(self.count(4))]

    def text(self) -> str:
        c = self.choose
        if c.chance(0.15):
            return c.pick(("", "  ", "é", "the", "%", "_", "a'b", "x" * 201, "Ünïcödé", "🎬"))
        word = c.pick(self.values.words or ["film"])
        if c.chance(0.3):
            word = word.lower()
        if c.chance(0.2):
            word = word[: max(1, len(word) - 1)] + "x"  # a small typo
        return word

    def prefix(self) -> str:
        c = self.choose
        word = c.pick(self.values.words or ["film"])
        return word[: c.integer(1, max(1, len(word)))] if not c.chance(0.1) else ""

    def region(self) -> str:
        return self.choose.pick(REGIONS)

    def enum_values(self, type_name: str) -> list[str]:
        enum = self.schema.get_type(type_name)
        assert isinstance(enum, GraphQLEnumType), type_name
        return list(enum.values)

    def count(self, most: int) -> int:
        """How many items a list argument gets: 1..most, now and then none (refused)."""
        return 0 if self.choose.chance(0.03) else self.choose.integer(1, most)

    def enum_list(self, type_name: str) -> list[str]:
        options = self.enum_values(type_name)
        return [self.choose.pick(options) for _ in range(self.count(3))]

    def int_range(self, low: int, high: int) -> dict[str, Any]:
        c = self.choose
        out: dict[str, Any] = {}
        if c.chance(0.7):
            out["min"] = c.integer(low, high)
        if c.chance(0.5):
            out["max"] = c.integer(low, high)
        return out

    def film_filter(self) -> dict[str, Any]:
        c = self.choose
        genres = self.values.slugs.get("Genre") or ["drama"]
        out: dict[str, Any] = {}
        for _ in range(c.integer(0, 3)):
            key = c.pick(
                (
                    "query",
                    "genresAny",
                    "genresAll",
                    "year",
                    "runtimeMinutes",
                    "minRating",
                    "minVotes",
                    "certifications",
                    "people",
                    "availability",
                )
            )
            if key == "query":
                out[key] = self.text()
            elif key in ("genresAny", "genresAll"):
                out[key] = [
                    "no-such-genre" if c.chance(0.15) else c.pick(genres)
                    for _ in range(self.count(3))
                ]
            elif key == "year":
                years = self.values.years or [2000]
                out[key] = self.int_range(min(years) - 5, max(years) + 5)
            elif key == "runtimeMinutes":
                out[key] = self.int_range(-10, 240)
            elif key == "minRating":
                out[key] = c.pick((0.0, 5.5, 7, 8.2, 10.0, 11.0, -1.0))
            elif key == "minVotes":
                out[key] = c.pick((0, 10, 1000, 100_000, -5))
            elif key == "certifications":
                out[key] = [
                    c.pick([*self.values.certifications, "NR", "XYZ"]) for _ in range(self.count(2))
                ]
            elif key == "people":
                out[key] = [self.credit_filter() for _ in range(self.count(2))]
            else:
                out[key] = self.availability()
        return out

    def credit_filter(self) -> dict[str, Any]:
        out: dict[str, Any] = {"person": self.node_id("Person")}
        if self.choose.chance(0.5):
            out["role"] = self.choose.pick(self.enum_values("CreditRole"))
        return out

    def availability(self) -> dict[str, Any]:
        c = self.choose
        out: dict[str, Any] = {}
        if c.chance(0.7):
            out["region"] = self.region()
        if c.chance(0.4):
            out["providers"] = [self.node_id("Provider") for _ in range(self.count(2))]
        if c.chance(0.4):
            out["kinds"] = self.enum_list("OfferKind")
        return out

    def person_filter(self) -> dict[str, Any]:
        c = self.choose
        out: dict[str, Any] = {}
        if c.chance(0.5):
            out["query"] = self.text()
        if c.chance(0.4):
            out["roles"] = self.enum_list("CreditRole")
        if c.chance(0.3):
            out["workedWith"] = self.node_id("Person")
        return out

    def order(self, type_name: str) -> list[dict[str, str]]:
        fields = self.enum_values(type_name)
        if not self.choose.chance(0.2):
            fields = [f for f in fields if f != "RELEVANCE"]  # (refused without a query)
        return [
            {
                "field": self.choose.pick(fields),
                "direction": self.choose.pick(("ASC", "DESC")),
            }
            for _ in range(self.count(3))
        ]

    # -- by argument ----------------------------------------------------------------------
    def value(self, parent: str, field_name: str, name: str, type_: GraphQLInputType) -> Any:
        """A value for argument (or input field) `name` of `parent.field_name`."""
        c = self.choose
        named = get_named_type(type_)
        node_type = {"film": "Film", "person": "Person", "genre": "Genre", "provider": "Provider"}
        if name == "first" and field_name == "similar":
            # 1-50 (similar's own bound), now and then outside it (refused).
            return c.pick((1, 2, 3, 10, 50)) if not c.chance(0.1) else c.pick((0, 51))
        if name in ("first", "last"):
            return self.page_size()
        if name in ("after", "before"):
            return self.cursor(field_name)
        if name == "id" or name == "workedWith" or name == "person":
            return self.node_id(node_type.get(field_name))
        if name == "ids" and field_name == "resolveIds":
            return self.external_ids()
        if name == "ids":
            return [self.node_id(None) for _ in range(c.integer(0, 5))]
        if name == "people":
            # commonFilms: people, now and then one of them twice (whose films are then the
            # answer), now and then more than the 10 it takes.
            people = [self.node_id("Person") for _ in range(c.pick((0, 1, 1, 2, 2, 3, 5, 11)))]
            return people + people[:1] if people and c.chance(0.3) else people
        if name == "regions":
            return self.regions()
        if name == "subscriptions":
            return [self.node_id("Provider") for _ in range(c.integer(0, 3))]
        if name == "slug":
            return self.slug(node_type.get(field_name, "Film"))
        if name == "imdbId":
            return self.imdb_id(node_type.get(field_name, "Film"))
        if name == "query":
            return self.text()
        if name == "prefix":
            return self.prefix()
        if name == "region":
            return self.region()
        if name == "filter" and named.name == "FilmFilter":
            return self.film_filter()
        if name == "filter" and named.name == "PersonFilter":
            return self.person_filter()
        if name == "orderBy":
            order = self.schema.get_type(named.name)
            assert isinstance(order, GraphQLInputObjectType)
            return self.order(get_named_type(order.fields["field"].type).name)
        return self.by_type(parent, field_name, name, type_)

    def by_type(self, parent: str, field_name: str, name: str, type_: GraphQLInputType) -> Any:
        c = self.choose
        nullable = get_nullable_type(type_)
        if isinstance(nullable, GraphQLList):
            of = nullable.of_type
            return [self.by_type(parent, field_name, name, of) for _ in range(self.count(3))]
        if isinstance(nullable, GraphQLEnumType):
            return c.pick(list(nullable.values))
        if isinstance(nullable, GraphQLInputObjectType):
            out: dict[str, Any] = {}
            for key, input_field in nullable.fields.items():
                if isinstance(input_field.type, GraphQLNonNull) or c.chance(0.5):
                    out[key] = self.value(nullable.name, field_name, key, input_field.type)
            return out
        assert isinstance(nullable, GraphQLScalarType), nullable
        if nullable.name == "Int":
            return c.pick((0, 1, 5, 20, 100, -1))
        if nullable.name == "Float":
            return c.pick((0.0, 1.5, 7.0, -1.0))
        if nullable.name == "Boolean":
            return c.chance(0.5)
        return self.text()
