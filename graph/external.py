"""External ids of any kind (IMDb, TMDB, Wikidata): `film(tmdbId:/wikidataId:)`,
`person(...)` and `Query.resolveIds`, which resolves up to 100 mixed ids in one statement
(`nodes_by_external_id` in sql/queries/external.sql)."""

from __future__ import annotations

import re
from typing import Any

from graph import db
from graph.errors import UserInputError
from graph.mapping import QUERY

MAX_IDS = 100
# resolveIds' statement (graph/mapping.py), which the compiler embeds too.
_RESOLVE = QUERY["resolveIds"].embedded
assert _RESOLVE is not None
RESOLVE = _RESOLVE
WIKIDATA = re.compile(r"Q[1-9][0-9]{0,11}")
IMDB = {"Film": re.compile(r"tt[0-9]{7,10}"), "Person": re.compile(r"nm[0-9]{7,10}")}
# TMDB ids are 32-bit positive integers in the graph.
MAX_TMDB = 2**31 - 1

# The forms an id may take in resolveIds, and its kind.
FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (IMDB["Film"], "imdb_title"),
    (IMDB["Person"], "imdb_name"),
    (WIKIDATA, "wikidata"),
    (re.compile(r"tmdb:movie:([1-9][0-9]{0,9})"), "tmdb_movie"),
    (re.compile(r"tmdb:person:([1-9][0-9]{0,9})"), "tmdb_person"),
)
FORMAT_HELP = "tt… or nm… (IMDb), Q… (Wikidata), tmdb:movie:N or tmdb:person:N (TMDB)"


def tmdb_id(value: int | None, argument: str = "tmdbId") -> int | None:
    if value is not None and not 1 <= value <= MAX_TMDB:
        raise UserInputError(
            f"{argument} must be a positive TMDB id, got {value}", argument=argument
        )
    return value


def imdb_id(value: str | None, entity: str, argument: str = "imdbId") -> str | None:
    """An IMDb id of the entity's kind (the form the graph's check constraint holds them in),
    else BAD_USER_INPUT: a malformed id is refused, as a malformed TMDB or Wikidata id is."""
    if value is not None and not IMDB[entity].fullmatch(value):
        example = "tt0068646" if entity == "Film" else "nm0000233"
        raise UserInputError(
            f"{argument} must be an IMDb {entity.lower()} id such as {example}, got {value[:40]!r}",
            argument=argument,
        )
    return value


def wikidata_id(value: str | None, argument: str = "wikidataId") -> str | None:
    if value is not None and not WIKIDATA.fullmatch(value):
        raise UserInputError(
            f"{argument} must be a Wikidata item id such as Q47703, got {value[:40]!r}",
            argument=argument,
        )
    return value


def _kind(value: str) -> tuple[str, int | None] | None:
    """An id's kind and, for TMDB's, its number; None when it has none of the forms."""
    for pattern, kind in FORMS:
        match = pattern.fullmatch(value)
        if match is None:
            continue
        number = int(match.group(1)) if match.groups() else None
        if number is not None and number > MAX_TMDB:
            return None
        return kind, number
    return None


def parse(ids: list[str]) -> tuple[list[str], list[str], list[int | None]]:
    """The kind, text and number of each id; BAD_USER_INPUT naming the first malformed one."""
    if len(ids) > MAX_IDS:
        raise UserInputError(f"ids: at most {MAX_IDS} ids per request", argument="ids")
    kinds: list[str] = []
    numbers: list[int | None] = []
    for index, value in enumerate(ids):
        found = _kind(value)
        if found is None:
            raise UserInputError(
                f"ids[{index}]: {value[:40]!r} is not an external id ({FORMAT_HELP})",
                argument="ids",
            )
        kinds.append(found[0])
        numbers.append(found[1])
    return kinds, list(ids), numbers


async def resolve(pool: Any, ids: list[str]) -> list[tuple[str, int] | None]:
    """(entity, primary key) of each id, in order; None for an id nothing holds."""
    kinds, values, numbers = parse(ids)
    if not ids:
        return []
    rows = await pool.fetch(db.sql(RESOLVE.statement), kinds, values, numbers)
    return [None if row["id"] is None else (row["entity"], row["id"]) for row in rows]
