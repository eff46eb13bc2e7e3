"""`filmgraph import wikidata FILE`: Wikidata ids for films (by IMDb id) and their directors,
from the Wikidata Query Service's SPARQL JSON results (docs/importing.md gives the query).

The results are read as a stream (sparql_json.py: an answer about every film is hundreds of
megabytes) and each binding checked in Python: a bad one is reported as `file:line: reason (at
results.bindings[i])`. The good ones are staged a batch at a time and merged by
sql/queries/import_wikidata.sql: films by IMDb id, their directors where the graph can tell
which person an item is (see `wikidata_directors_merge`). Nothing else is written: an item
whose film is not in the graph is left out, and so is one whose id another film holds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from graph import db
from graph.importers.reader import InputError, Reject
from graph.importers.run import Run
from graph.importers.sparql_json import Results

ENTITY = re.compile(r"https?://www\.wikidata\.org/entity/(Q[1-9][0-9]{0,11})")
IMDB_TITLE = re.compile(r"tt[0-9]{7,10}")
# Conflicts listed one by one before a count says how many more there were.
MAX_LISTED = 10
# Good bindings staged at once.
BATCH = 10_000
COLUMNS = ["binding", "imdb_id", "film_q", "director_q", "director_label"]

StageRow = tuple[int, str, str, str | None, str | None]


def _value(binding: dict[str, Any], name: str) -> Any:
    cell = binding.get(name)
    return cell.get("value") if isinstance(cell, dict) else None


def _item(binding: dict[str, Any], name: str) -> str | None:
    """The Q id of a `uri` cell; None when absent, "" when malformed."""
    if name not in binding:
        return None
    cell = binding[name]
    value = cell.get("value") if isinstance(cell, dict) else None
    match = ENTITY.fullmatch(value) if isinstance(value, str) else None
    if match is None or cell.get("type") != "uri":
        return ""
    return match.group(1)


def _row(binding: Any, index: int) -> StageRow | str:
    """A binding as a staging row, or what is wrong with it."""
    if not isinstance(binding, dict):
        return "not an object"
    film = _item(binding, "item")
    if not film:
        return f"bad item {_value(binding, 'item')!r} (a Wikidata entity URI)"
    imdb = _value(binding, "imdbId")
    if not isinstance(imdb, str) or not IMDB_TITLE.fullmatch(imdb):
        return f"bad imdbId {imdb!r} (an IMDb title id such as tt0068646)"
    director = _item(binding, "director")
    if director == "":
        return f"bad director {_value(binding, 'director')!r} (a Wikidata entity URI)"
    label = _value(binding, "directorLabel")
    return (index, imdb, film, director, label if isinstance(label, str) else None)


def _variables(name: str, variables: list[Any]) -> None:
    """Refuse results whose query does not select what the import needs."""
    missing = [v for v in ("item", "imdbId") if v not in variables]
    if missing:
        raise InputError(
            f"{name}: the query selects no {', '.join('?' + v for v in missing)} "
            "(docs/importing.md gives the query)"
        )


async def import_wikidata(run: Run, path: Path) -> None:
    conn = run.conn
    await conn.execute(db.sql("wikidata_stage_create"))
    results = Results(path, _variables)
    try:
        rows: list[StageRow] = []
        for index, line, binding in results.bindings():
            row = _row(binding, index)
            if isinstance(row, str):
                reason = f"{row} (at {results.at}[{index}])"
                run.reject(Reject(path.name, line, reason), "film")
                continue
            rows.append(row)
            if len(rows) == BATCH:
                await conn.copy_records_to_table("wikidata_stage", records=rows, columns=COLUMNS)
                rows = []
        await conn.copy_records_to_table("wikidata_stage", records=rows, columns=COLUMNS)
    finally:
        results.close()
    await conn.execute("analyze wikidata_stage")
    # Films the file gives several items, and items it gives several films, are left out: the
    # graph holds one of each per film.
    doubtful = await conn.fetch(db.sql("wikidata_file_conflicts"), MAX_LISTED)
    for imdb, items, _ in doubtful:
        named = ", ".join(items)
        run.note(f"{path.name}: {imdb} is ambiguous in the file (items {named}); left out")
    if doubtful and doubtful[0]["total"] > MAX_LISTED:
        more = doubtful[0]["total"] - MAX_LISTED
        run.note(f"{path.name}: {more} more ambiguous film(s) left out")
    conflicts = await conn.fetch(db.sql("wikidata_film_conflicts"))
    for imdb, film_q, holder in conflicts[:MAX_LISTED]:
        run.note(f"{path.name}: {film_q} of {imdb} is the film {holder}'s already; left out")
    if len(conflicts) > MAX_LISTED:
        run.note(f"{path.name}: {len(conflicts) - MAX_LISTED} more such item(s) left out")
    updated, matched, wanted = await conn.fetchrow(db.sql("wikidata_films_merge"))
    run.merged("film", 0, updated, matched)
    if wanted > matched:
        run.note(f"{wanted - matched} film(s) not in the graph (by IMDb id) left out")
    updated, matched, ambiguous = await conn.fetchrow(db.sql("wikidata_directors_merge"))
    run.merged("person", 0, updated, matched)
    if ambiguous:
        run.note(f"{ambiguous} director(s) matched ambiguously left alone")
