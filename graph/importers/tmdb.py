"""`filmgraph import tmdb-providers FILE` and `filmgraph import tmdb-watch FILE…`.

TMDB answers are JSON documents of a few kilobytes, so each is read whole and checked in
Python. A bad entry is reported as `file:line: reason (at path)`: the line its value starts
on, and its JSON path such as `results[3]` or `results.US.rent[0]`.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph import db
from graph.importers.json_path import JsonPath, Lines, describe
from graph.importers.reader import BOM, InputError, Reject
from graph.importers.run import DANGLING_EXAMPLES, Run

# TMDB's names for the kinds of availability, and the graph's.
KINDS = {
    "flatrate": "SUBSCRIPTION",
    "free": "FREE",
    "ads": "ADS",
    "rent": "RENT",
    "buy": "BUY",
}
_REGION = re.compile(r"^[A-Z]{2}$")
_URL = re.compile(r"^https?://\S+$")
_IMDB_ID = re.compile(r"^tt[0-9]{7,10}$")

ProviderRow = tuple[int, str, str | None, int | None]

UNKNOWN_FILM = "answer(s) about a film not in the graph (by TMDB id)"


@dataclass(frozen=True)
class Document:
    """A JSON file: its name, the lines of its values (for rejects) and the value it holds."""

    name: str
    lines: Lines
    value: Any

    def reject(self, run: Run, where: JsonPath, reason: str, table: str) -> None:
        line = self.lines.line(where)
        run.reject(Reject(self.name, line, f"{reason} (at {describe(where)})"), table)


def _load(
    path: Path, run: Run, table: str, whole: bool = False, name: str | None = None
) -> Document | None:
    """The file's JSON (gzip or not, by its magic bytes), or None (reported as a bad row) when
    it is not JSON, cut short (plain or gzip) or not UTF-8. `whole`: the file is the whole
    import (a provider list, wikidata's results), so such a file is refused (InputError).
    `name`: what to call it (its file name by default)."""
    name = name or path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or directory") from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    if raw.startswith(b"\x1f\x8b"):
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            if whole:
                raise InputError(f"{name}: corrupt or truncated gzip file: {exc}") from None
            # Cut short as a plain answer can be: one bad answer among several, as that is.
            run.reject(Reject(name, 1, f"corrupt or truncated gzip file: {exc}"), table)
            return None
    parsed = _parse(name, raw.removeprefix(BOM))
    if isinstance(parsed, Document):
        return parsed
    if whole:
        raise InputError(str(parsed))
    run.reject(parsed, table)
    return None


def _parse(name: str, raw: bytes) -> Document | Reject:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = exc.start - raw.rfind(b"\n", 0, exc.start)
        return Reject(name, line, f"invalid UTF-8 at byte {byte}")
    try:
        return Document(name, Lines(text), json.loads(text))
    except json.JSONDecodeError as exc:
        return Reject(name, exc.lineno, f"not JSON: {exc.msg}")


# TMDB's answer when it has no such film: an error body, not an answer about a film.
NOT_FOUND = 34
ERROR_ANSWERS = "TMDB error answer(s) that the film was not found (status_code 34)"


def _error(value: Any) -> str | None:
    """TMDB's error body (`{"success": false, "status_code": 34, "status_message": "..."}`)
    described, or None for any other value."""
    if not isinstance(value, dict) or "status_code" not in value or "id" in value:
        return None
    return f"status_code {value.get('status_code')!r}: {value.get('status_message')}"


def _kind(doc: Document) -> str:
    """What another of TMDB's answers is, for a refusal: ": a genre list" or ""."""
    if isinstance(doc.value, dict) and isinstance(doc.value.get("genres"), list):
        return (
            ": a TMDB genre list (/genre/movie/list or /genre/tv/list), which filmgraph does"
            " not import"
        )
    return ""


def _provider(entry: Any) -> ProviderRow | str:
    """A provider entry as a staging row, or what is wrong with it."""
    if not isinstance(entry, dict):
        return "not an object"
    pid, name = entry.get("provider_id"), entry.get("provider_name")
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31:
        return f"bad provider_id {pid!r}"
    if not isinstance(name, str) or not name.strip():
        return f"bad provider_name {name!r}"
    logo = entry.get("logo_path")
    priority = entry.get("display_priority")
    return (
        pid,
        name,
        logo if isinstance(logo, str) else None,
        priority if isinstance(priority, int) and abs(priority) < 2**31 else None,
    )


async def import_providers(run: Run, path: Path) -> None:
    await run.conn.execute(db.sql("tmdb_provider_stage_create"))
    doc = _load(path, run, "provider", whole=True)
    rows: list[ProviderRow] = []
    if doc is not None:
        results = doc.value.get("results") if isinstance(doc.value, dict) else None
        error = _error(doc.value)
        if error is not None:
            raise InputError(f"{path.name}: a TMDB error answer ({error}), not a provider list")
        if not isinstance(results, list):
            raise InputError(
                f'{path.name}: not a TMDB provider list (no "results" list){_kind(doc)}'
            )
        if results and not any(isinstance(e, dict) and "provider_id" in e for e in results):
            # Another of TMDB's lists, such as /watch/providers/regions.
            raise InputError(f"{path.name}: not a TMDB provider list (no entry has a provider_id)")
        named: dict[int, tuple[int, str]] = {}
        again: list[str] = []
        for i, entry in enumerate(results):
            row = _provider(entry)
            if isinstance(row, str):
                doc.reject(run, ("results", i), row, "provider")
                continue
            rows.append(row)
            first = named.setdefault(row[0], (i, row[1]))
            if first[0] != i and first[1] != row[1]:
                again.append(f"results[{i}] {row[1]!r} (kept results[{first[0]}] {first[1]!r})")
        if again:
            # The first name is kept (_stage_providers): say so rather than drop the other.
            shown = ", ".join(again[:3])
            run.note(
                f"warning: {path.name}: {len(again)} provider_id(s) given again under another "
                f"name, e.g. {shown}"
            )
    await _stage_providers(run, rows)
    await _merge_providers(run)


async def _stage_providers(run: Run, rows: list[ProviderRow]) -> None:
    """Stage providers, each once, under the first name given: TMDB's list and its answers
    name some differently ("Apple iTunes", "Apple TV"), and a provider keeps one name."""
    first: dict[int, ProviderRow] = {}
    for row in rows:
        first.setdefault(row[0], row)
    await run.conn.copy_records_to_table(
        "tmdb_provider_stage",
        records=list(first.values()),
        columns=["tmdb_id", "name", "logo_path", "display_priority"],
    )


async def _merge_providers(run: Run) -> None:
    inserted, updated, total = await run.conn.fetchrow(db.sql("tmdb_providers_merge"))
    run.merged("provider", inserted, updated, total)


def _answers(doc: Document) -> list[tuple[str, JsonPath, Any]]:
    """The answers a file holds, each with its name and path: one, or each of a JSON array of
    answers (as `jq -s` joins them), named `file[i]`."""
    value = doc.value
    if isinstance(value, list) and value:
        return [(f"{doc.name}[{i}]", (i,), v) for i, v in enumerate(value)]
    return [(doc.name, (), value)]


def _imdb_id(value: Any) -> str | None:
    """The film's IMDb id that its details give (`imdb_id`), if any."""
    imdb = value.get("imdb_id") if isinstance(value, dict) else None
    return imdb if isinstance(imdb, str) and _IMDB_ID.match(imdb) else None


Unread = tuple[int, str, str | None]


def _offers(
    doc: Document, run: Run, name: str, top: JsonPath, value: Any, unread: list[Unread]
) -> tuple[int | None, list[tuple[object, ...]], list[ProviderRow]]:
    """The film (TMDB id), offer and provider rows of one watch-provider answer (`value`, at
    `top` in the file; `name` names it); bad parts reported, and where they were added to
    `unread` (film, region, kind or None for all): offers there are not pruned. A film of None:
    the answer as a whole is unusable."""
    offers: list[tuple[object, ...]] = []
    providers: list[ProviderRow] = []
    answer = value
    base: JsonPath = top
    if isinstance(value, dict) and "results" not in value and "watch/providers" in value:
        # The film's details with its watch answer inside: /movie/{id}?append_to_response=
        # watch/providers.
        answer = value["watch/providers"]
        base = (*top, "watch/providers")
    # A film's details without it, as another of TMDB's answers, has no "results": the
    # answer is of another kind, not a bad row.
    if (
        not isinstance(value, dict)
        or "id" not in value
        or not isinstance(answer, dict)
        or "results" not in answer
        or isinstance(answer.get("results"), list)
    ):
        raise InputError(
            f"{name}: not a TMDB watch/providers answer (an object with the film's "
            '"id" and "results" by region, as /movie/{id}/watch/providers gives)' + _kind(doc)
        )
    film = value.get("id")
    results = answer.get("results")
    if not isinstance(film, int) or isinstance(film, bool) or not 0 < film < 2**31:
        doc.reject(run, (*top, "id"), f"bad film id {film!r}", "offer")
        return None, [], []
    if not isinstance(results, dict):
        doc.reject(run, (*base, "results"), "not an object of regions", "offer")
        return None, [], []
    for region, block in results.items():
        where: JsonPath = (*base, "results", region)
        if not isinstance(region, str) or not _REGION.match(region):
            doc.reject(run, where, f"bad region {region!r}", "offer")
            continue
        if not isinstance(block, dict):
            doc.reject(run, where, "not an object", "offer")
            unread.append((film, region, None))
            continue
        link = block.get("link")
        link = link if isinstance(link, str) and _URL.match(link) else None
        for key, kind in KINDS.items():
            entries = block.get(key, [])
            if not isinstance(entries, list):
                doc.reject(run, (*where, key), "not a list", "offer")
                unread.append((film, region, kind))
                continue
            for i, entry in enumerate(entries):
                row = _provider(entry)
                if isinstance(row, str):
                    doc.reject(run, (*where, key, i), row, "offer")
                    unread.append((film, region, kind))
                    continue
                providers.append(row)
                offers.append((name, film, region, kind, row[0], link))
    return film, offers, providers


async def import_watch(run: Run, paths: list[Path]) -> None:
    conn = run.conn
    await conn.execute(db.sql("tmdb_provider_stage_create"))
    await conn.execute(db.sql("tmdb_offer_stage_create"))
    await conn.execute(db.sql("tmdb_watch_film_stage_create"))
    answers: dict[str, tuple[list[tuple[object, ...]], list[ProviderRow]]] = {}
    films: list[tuple[str, int, str | None]] = []
    not_found: list[str] = []
    unread: list[Unread] = []
    # Answers are told apart by name: files of one name in several directories (550/watch.json,
    # 551/watch.json) are named by their paths, else one answer's offers replaced another's.
    names = Counter(path.name for path in paths)
    for path in paths:
        doc = _load(path, run, "offer", name=str(path) if names[path.name] > 1 else path.name)
        if doc is None:
            continue
        for name, top, value in _answers(doc):
            error = _error(value)
            if error is not None:
                # TMDB has no such film: counted, like a film the graph does not have. Any
                # other error (a bad API key, the rate limit) is an answer not fetched.
                if value.get("status_code") == NOT_FOUND:
                    not_found.append(name)
                else:
                    doc.reject(run, top, f"a TMDB error answer ({error})", "offer")
                continue
            film, offers, providers = _offers(doc, run, name, top, value, unread)
            if film is not None:
                films.append((name, film, _imdb_id(value)))
                answers[name] = (offers, providers)
    run.skip_dangling("tmdb-watch", ERROR_ANSWERS, len(not_found), not_found[:DANGLING_EXAMPLES])
    await conn.copy_records_to_table(
        "tmdb_watch_film_stage", records=films, columns=["file", "film_tmdb_id", "imdb_id"]
    )
    # A film's details give its IMDb id too: a film known only by that (an IMDb import's) gets
    # the answer's TMDB id.
    adopted = await conn.fetchval(db.sql("tmdb_watch_films_adopt_tmdb_id"))
    if adopted:
        run.merged("film", 0, adopted, adopted)
    # An answer about a film the graph does not have writes nothing, its providers included.
    unknown = await conn.fetch(db.sql("tmdb_watch_unknown_films"))
    examples = [f"{name} (TMDB id {film})" for name, film in unknown[:DANGLING_EXAMPLES]]
    run.skip_dangling("tmdb-watch", UNKNOWN_FILM, len(unknown), examples)
    for name, _ in unknown:
        answers.pop(name, None)
    await _stage_providers(run, [row for _, providers in answers.values() for row in providers])
    await conn.copy_records_to_table(
        "tmdb_offer_stage",
        records=[row for offers, _ in answers.values() for row in offers],
        columns=["file", "film_tmdb_id", "region", "kind", "provider_tmdb_id", "link"],
    )
    await _merge_providers(run)
    inserted, updated, total = await conn.fetchrow(db.sql("tmdb_offers_merge"))
    run.merged("offer", inserted, updated, total)
    await conn.execute(db.sql("tmdb_unread_stage_create"))
    await conn.copy_records_to_table(
        "tmdb_unread_stage", records=unread, columns=["film_tmdb_id", "region", "kind"]
    )
    deleted, kept = await conn.fetchrow(db.sql("tmdb_offers_prune"))
    run.tally("offer").deleted += deleted
    if kept:
        # A bad entry may be one of them: they are not known to be gone.
        run.note(f"{kept} offer(s) where an answer had a bad entry (region and kind) not pruned")
