"""`filmgraph import tmdb-providers` and `tmdb-watch`: TMDB's provider list and per-film
watch-provider answers, merged by TMDB id."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import asyncpg

from graph.demo.load import load_demo
from graph.migrate import migrate
from tests.importing import filmgraph_import, fingerprint
from tests.test_import_imdb import rejects, summary

PROVIDERS = {
    "results": [
        {"display_priority": 0, "logo_path": "/n.jpg", "provider_name": "Netflix",
         "provider_id": 8},
        {"display_priority": 1, "logo_path": "/a.jpg", "provider_name": "Amazon Prime Video",
         "provider_id": 9},
        {"display_priority": 1, "logo_path": "/a.jpg", "provider_name": "Amazon Prime Video",
         "provider_id": 119},
        {"display_priority": 2, "logo_path": None, "provider_name": "Kanopy",
         "provider_id": 191},
    ]
}  # fmt: skip


def _provider(pid: int, name: str) -> dict[str, Any]:
    return {"provider_id": pid, "provider_name": name, "logo_path": f"/{pid}.jpg",
            "display_priority": 5}  # fmt: skip


def watch(film: int, **regions: dict[str, Any]) -> dict[str, Any]:
    return {"id": film, "results": regions}


FILM_WATCH = watch(
    100,
    US={
        "link": "https://www.themoviedb.org/movie/100-refusenik/watch?locale=US",
        "flatrate": [_provider(8, "Netflix")],
        "rent": [_provider(2, "Apple TV")],
        "buy": [_provider(2, "Apple TV")],
        "ads": [_provider(73, "Tubi TV")],
    },
    GB={"link": "https://www.themoviedb.org/movie/100-refusenik/watch?locale=GB",
        "free": [_provider(191, "Kanopy")]},
)  # fmt: skip


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


async def _graph_with_a_film(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await conn.execute(
            "insert into film (slug, title, year, tmdb_id) values ('refusenik-2007', 'Refusenik',"
            " 2007, 100)"
        )
    finally:
        await conn.close()


async def _rows(dsn: str, query: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


async def test_provider_list_merges_by_tmdb_id(empty_dsn: str, scratch_dir: Path) -> None:
    path = _write(scratch_dir / "providers.json", PROVIDERS)
    result = filmgraph_import(empty_dsn, "tmdb-providers", path)
    assert result.returncode == 0, result.stderr
    assert summary(result.stdout)["provider"] == [4, 0, 0, 0]
    assert await _rows(empty_dsn, "select tmdb_id, slug, name, logo_url from provider order by 1") == [
        (8, "netflix", "Netflix", "https://image.tmdb.org/t/p/original/n.jpg"),
        (9, "amazon-prime-video", "Amazon Prime Video", "https://image.tmdb.org/t/p/original/a.jpg"),
        (119, "amazon-prime-video-119", "Amazon Prime Video",
         "https://image.tmdb.org/t/p/original/a.jpg"),
        (191, "kanopy", "Kanopy", None),
    ]  # fmt: skip
    before = await fingerprint(empty_dsn)
    again = filmgraph_import(empty_dsn, "tmdb-providers", path)
    assert summary(again.stdout)["provider"] == [0, 0, 4, 0]
    assert await fingerprint(empty_dsn) == before

    renamed = json.loads(json.dumps(PROVIDERS))
    renamed["results"][0]["provider_name"] = "Netflix Standard"
    renamed["results"].append({"provider_id": "x", "provider_name": "Bad"})
    path = _write(scratch_dir / "providers.json", renamed)
    result = filmgraph_import(empty_dsn, "tmdb-providers", path)
    assert result.returncode == 1
    # json.dumps(indent=2) gives each provider six lines: the fifth starts on line 27.
    assert rejects(result.stderr) == ["providers.json:27: bad provider_id 'x' (at results[4])"]
    assert await fingerprint(empty_dsn) == before
    result = filmgraph_import(empty_dsn, "tmdb-providers", path, "--max-errors", "1")
    assert result.returncode == 0, result.stderr
    assert summary(result.stdout)["provider"] == [0, 0, 4, 1]
    # A provider keeps the name the first file gave it (TMDB's list and its answers name some
    # differently), and its slug, its address.
    assert await _rows(empty_dsn, "select slug, name from provider where tmdb_id = 8") == [
        ("netflix", "Netflix")
    ]


async def test_watch_providers_become_offers(empty_dsn: str, scratch_dir: Path) -> None:
    await _graph_with_a_film(empty_dsn)
    film = _write(scratch_dir / "100.json", FILM_WATCH)
    unknown = _write(scratch_dir / "999.json", watch(999, US={"flatrate": [_provider(8, "N")]}))
    result = filmgraph_import(empty_dsn, "tmdb-watch", film, unknown)
    assert result.returncode == 0, result.stderr
    assert (
        "filmgraph: tmdb-watch: 1 answer(s) about a film not in the graph (by TMDB id) skipped,"
        " e.g. 999.json (TMDB id 999)"
    ) in result.stderr.splitlines()
    assert (
        "skipped tmdb-watch: 1 answer(s) about a film not in the graph (by TMDB id)"
        in result.stdout.splitlines()
    )
    offers = await _rows(
        empty_dsn,
        """select o.region, o.kind, p.tmdb_id, o.price, o.currency, o.url
           from offer o join provider p on p.id = o.provider_id order by 1, 2, 3""",
    )
    us = "https://www.themoviedb.org/movie/100-refusenik/watch?locale=US"
    gb = "https://www.themoviedb.org/movie/100-refusenik/watch?locale=GB"
    assert offers == [
        ("GB", "FREE", 191, None, None, gb),
        ("US", "ADS", 73, None, None, us),
        ("US", "BUY", 2, None, None, us),
        ("US", "RENT", 2, None, None, us),
        ("US", "SUBSCRIPTION", 8, None, None, us),
    ]
    counts = summary(result.stdout)
    assert counts["offer"] == [5, 0, 0, 0]
    assert counts["provider"] == [4, 0, 0, 0]

    # An offer from another source (it names a quality): TMDB answers never remove it.
    conn = await asyncpg.connect(empty_dsn)
    try:
        await conn.execute(
            """insert into offer (film_id, provider_id, region, kind, quality, url)
               select f.id, p.id, 'US', 'SUBSCRIPTION', 'HD', 'https://example.com/r'
               from film f, provider p where f.tmdb_id = 100 and p.tmdb_id = 8"""
        )
    finally:
        await conn.close()
    before = await fingerprint(empty_dsn)
    again = filmgraph_import(empty_dsn, "tmdb-watch", film, unknown)
    assert summary(again.stdout)["offer"] == [0, 0, 5, 0]
    assert await fingerprint(empty_dsn) == before

    newer = json.loads(json.dumps(FILM_WATCH))
    newer["results"]["GB"]["link"] = "https://www.themoviedb.org/movie/100/watch?locale=GB"
    newer["results"]["USA"] = {"flatrate": []}
    del newer["results"]["US"]["ads"]  # the film left Tubi
    _write(film, newer)
    broken = scratch_dir / "101.json"
    broken.write_text('{"id": 101, "results": {', encoding="utf-8")
    result = filmgraph_import(empty_dsn, "tmdb-watch", film, broken)
    assert result.returncode == 1
    assert rejects(result.stderr) == ["100.json:42: bad region 'USA' (at results.USA)"]
    assert await fingerprint(empty_dsn) == before
    result = filmgraph_import(empty_dsn, "tmdb-watch", film, broken, "--max-errors", "2")
    assert result.returncode == 0, result.stderr
    assert sorted(rejects(result.stderr)) == [
        "100.json:42: bad region 'USA' (at results.USA)",
        "101.json:1: not JSON: Expecting property name enclosed in double quotes",
    ]
    assert summary(result.stdout, deleted=True)["offer"] == [0, 1, 3, 2, 1]
    offers = await _rows(
        empty_dsn,
        """select o.region, o.kind, p.tmdb_id, o.quality, o.url
           from offer o join provider p on p.id = o.provider_id order by 1, 2, 3, 4""",
    )
    assert offers == [
        ("GB", "FREE", 191, None, "https://www.themoviedb.org/movie/100/watch?locale=GB"),
        ("US", "BUY", 2, None, us),
        ("US", "RENT", 2, None, us),
        ("US", "SUBSCRIPTION", 8, "HD", "https://example.com/r"),
        ("US", "SUBSCRIPTION", 8, None, us),
    ]


# A watch-provider answer as a pretty-printer lays it out, with a bad entry of each kind; the
# line each is reported on is the line its value starts on here.
WATCH_WITH_BAD_ENTRIES = """{
  "id": 100,
  "results": {
    "US": {
      "link": "https://www.themoviedb.org/movie/100-refusenik/watch?locale=US",
      "flatrate": [
        {"provider_id": 8, "provider_name": "Netflix", "logo_path": "/8.jpg"},
        {
          "provider_id": -3,
          "provider_name": "Minus"
        },
        {"provider_id": 9, "provider_name": "Amazon Prime Video"}
      ],
      "rent": {"provider_id": 2},
      "buy": [
        {"provider_id": 2, "provider_name": "  "}
      ]
    },
    "u\\u0073": {"flatrate": []},
    "GB": [],
    "FR": {
      "free": [
        {"provider_id": 191, "provider_name": "Kanopy"}, {"provider_id": true, "provider_name": "B"}
      ]
    }
  }
}
"""


async def test_bad_entries_are_reported_by_the_line_their_value_starts_on(
    empty_dsn: str, scratch_dir: Path
) -> None:
    await _graph_with_a_film(empty_dsn)
    # As a Windows editor saves it: a byte-order mark and CRLF line ends.
    answer = scratch_dir / "100.json"
    answer.write_bytes(b"\xef\xbb\xbf" + WATCH_WITH_BAD_ENTRIES.replace("\n", "\r\n").encode())
    garbled = scratch_dir / "101.json"
    garbled.write_bytes(b'{\n  "id": 101,\n  "results": {"US": {"link": "\xff"}}\n}\n')
    result = filmgraph_import(empty_dsn, "tmdb-watch", answer, garbled, "--max-errors", "7")
    assert result.returncode == 0, result.stderr
    assert rejects(result.stderr) == [
        "100.json:8: bad provider_id -3 (at results.US.flatrate[1])",
        "100.json:14: not a list (at results.US.rent)",
        "100.json:16: bad provider_name '  ' (at results.US.buy[0])",
        "100.json:19: bad region 'us' (at results.us)",
        "100.json:20: not an object (at results.GB)",
        "100.json:23: bad provider_id True (at results.FR.free[1])",
        "101.json:3: invalid UTF-8 at byte 31",
    ]
    assert summary(result.stdout)["offer"] == [3, 0, 0, 7]
    offers = await _rows(
        empty_dsn,
        """select o.region, o.kind, p.tmdb_id
           from offer o join provider p on p.id = o.provider_id order by 1, 2, 3""",
    )
    assert offers == [("FR", "FREE", 191), ("US", "SUBSCRIPTION", 8), ("US", "SUBSCRIPTION", 9)]


async def test_a_reject_per_entry_is_found_without_walking_the_file_per_reject(
    empty_dsn: str, scratch_dir: Path
) -> None:
    # 20,000 bad entries in 1.3 MB: walking the text from the top for each reject took about
    # 75 s for 8,000 of them (quadratic), and minutes for these; each level is walked once now.
    n = 20_000
    bad = {"results": [{"provider_id": "x", "provider_name": "P"} for _ in range(n)]}
    path = _write(scratch_dir / "providers.json", bad)
    start = time.monotonic()
    result = filmgraph_import(empty_dsn, "tmdb-providers", path, "--max-errors", str(n))
    assert result.returncode == 0, result.stderr[-2000:]
    assert time.monotonic() - start < 60
    found = rejects(result.stderr)
    assert len(found) == n
    # indent=2: the document's "{", '"results": [', then four lines per entry.
    assert (
        found[-1] == f"providers.json:{3 + 4 * (n - 1)}: bad provider_id 'x' (at results[{n - 1}])"
    )


async def test_the_demo_loads_beside_an_imported_provider_list(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """TMDB's provider 2 is "Apple iTunes"; the demo's "Apple TV" has TMDB id 2 too. With the
    list imported first, loading the demo failed on provider_tmdb_id_key, and with it every
    start of `filmgraph serve` on the embedded graph (which loads the demo while it has no
    films). A demo provider whose TMDB id is taken now uses the provider holding it."""
    listed = {
        "results": [
            *PROVIDERS["results"],
            {"display_priority": 3, "logo_path": None, "provider_name": "Apple iTunes",
             "provider_id": 2},
        ]
    }  # fmt: skip
    result = filmgraph_import(
        empty_dsn, "tmdb-providers", _write(scratch_dir / "providers.json", listed)
    )
    assert result.returncode == 0, result.stderr
    conn = await asyncpg.connect(empty_dsn)
    try:
        assert await load_demo(conn) == 51
        offers_by_provider = """
            select p.slug, p.tmdb_id, count(o.id) from provider p
            left join offer o on o.provider_id = p.id
            where p.tmdb_id in (2, 8) or p.slug = 'apple-tv' group by 1, 2 order by 1"""
        # The demo's 190 Apple TV offers and 52 Netflix offers, on the imported providers.
        assert await _rows(empty_dsn, offers_by_provider) == [
            ("apple-itunes", 2, 190),
            ("netflix", 8, 52),
        ]
        before = await fingerprint(empty_dsn)
        await load_demo(conn)
        assert await fingerprint(empty_dsn) == before
    finally:
        await conn.close()


NOT_FOUND = {"success": False, "status_code": 34,
             "status_message": "The resource you requested could not be found."}  # fmt: skip
BAD_KEY = {"status_code": 7, "status_message": "Invalid API key: You must be granted a valid key.",
           "success": False}  # fmt: skip


async def test_an_array_of_answers_and_tmdbs_error_answers(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """Answers fetched by a script come joined in one array (`jq -s`), with TMDB's error body
    where a film was not found: both refused the whole import (exit 4, "not a TMDB
    watch/providers answer"). Each answer of an array is read; "not found" (status_code 34) is
    counted as a film not in the graph is; another error (a bad API key) is a bad row: that
    answer was not fetched."""
    await _graph_with_a_film(empty_dsn)
    unknown = watch(999, US={"flatrate": [_provider(8, "Netflix")]})
    joined = scratch_dir / "answers.json"
    joined.write_text(json.dumps([NOT_FOUND, FILM_WATCH, unknown], indent=2), encoding="utf-8")
    bad_key = _write(scratch_dir / "101.json", BAD_KEY)
    result = filmgraph_import(empty_dsn, "tmdb-watch", joined, bad_key)
    assert result.returncode == 1, result.stderr
    assert rejects(result.stderr) == [
        "101.json:1: a TMDB error answer (status_code 7: Invalid API key: You must be granted a "
        "valid key.) (at the document)"
    ]
    assert await _rows(empty_dsn, "select count(*) from offer") == [(0,)]
    result = filmgraph_import(empty_dsn, "tmdb-watch", joined, bad_key, "--max-errors", "1")
    assert result.returncode == 0, result.stderr
    stderr = result.stderr.splitlines()
    assert (
        "filmgraph: tmdb-watch: 1 TMDB error answer(s) that the film was not found "
        "(status_code 34) skipped, e.g. answers.json[0]"
    ) in stderr
    assert (
        "filmgraph: tmdb-watch: 1 answer(s) about a film not in the graph (by TMDB id) skipped,"
        " e.g. answers.json[2] (TMDB id 999)"
    ) in stderr
    assert summary(result.stdout)["offer"] == [5, 0, 0, 1]
    assert await _rows(empty_dsn, "select count(*) from offer") == [(5,)]
    # A provider list that is TMDB's error body says so.
    result = filmgraph_import(empty_dsn, "tmdb-providers", bad_key)
    assert result.returncode == 4
    assert result.stderr.splitlines()[-1] == (
        "filmgraph: 101.json: a TMDB error answer (status_code 7: Invalid API key: You must be "
        "granted a valid key.), not a provider list; nothing was imported"
    )


async def test_a_provider_id_given_twice_and_a_genre_list_are_named(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """A provider list giving one provider_id two names kept the first without a word; a genre
    list (/genre/movie/list, as TMDB's samples come beside the provider list) was refused as
    having no "results" list, not named."""
    twice = json.loads(json.dumps(PROVIDERS))
    twice["results"].append({"provider_id": 8, "provider_name": "Netflix basic with Ads",
                             "logo_path": "/b.jpg", "display_priority": 7})  # fmt: skip
    twice["results"].append(PROVIDERS["results"][0])  # the same entry again: one provider
    result = filmgraph_import(empty_dsn, "tmdb-providers", _write(scratch_dir / "p.json", twice))
    assert result.returncode == 0, result.stderr
    assert (
        "filmgraph: warning: p.json: 1 provider_id(s) given again under another name, e.g. "
        "results[4] 'Netflix basic with Ads' (kept results[0] 'Netflix')"
    ) in result.stderr.splitlines()
    assert summary(result.stdout)["provider"] == [4, 0, 0, 0]
    genres = _write(
        scratch_dir / "genre-movie-list.json", {"genres": [{"id": 28, "name": "Action"}]}
    )
    for source in ("tmdb-providers", "tmdb-watch"):
        result = filmgraph_import(empty_dsn, source, genres)
        assert result.returncode == 4
        assert result.stderr.splitlines()[-1].endswith(
            ": a TMDB genre list (/genre/movie/list or /genre/tv/list), which filmgraph does "
            "not import; nothing was imported"
        ), result.stderr


async def test_answers_of_one_file_name_in_several_directories_are_all_read(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """Answers saved as 100/watch.json, 200/watch.json: answers were told apart by file name,
    so the second replaced the first's offers (and the first film's offers were pruned as no
    longer listed). Each is read; they are named by their paths."""
    await _graph_with_a_film(empty_dsn)
    conn = await asyncpg.connect(empty_dsn)
    try:
        await conn.execute(
            "insert into film (slug, title, year, tmdb_id) values ('other-2001', 'Other', 2001,"
            " 200)"
        )
    finally:
        await conn.close()
    first = scratch_dir / "100" / "watch.json"
    second = scratch_dir / "200" / "watch.json"
    first.parent.mkdir()
    second.parent.mkdir()
    _write(first, FILM_WATCH)
    other = watch(200, US={"flatrate": [_provider(8, "Netflix")], "buy": [{"provider_id": "x"}]})
    _write(second, other)
    result = filmgraph_import(empty_dsn, "tmdb-watch", first, second, "--max-errors", "1")
    assert result.returncode == 0, result.stderr
    assert await _rows(
        empty_dsn,
        """select f.tmdb_id, count(*) from offer o join film f on f.id = o.film_id
           group by 1 order by 1""",
    ) == [(100, 5), (200, 1)]
    assert f"{second}:14: bad provider_id 'x' (at results.US.buy[0])" in result.stderr.splitlines()


async def test_offers_where_an_answer_had_a_bad_entry_are_not_pruned(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """A bad entry let through by --max-errors may be one of the film's offers (here Apple
    TV's rent offer, its provider_id written as text): it was deleted as no longer listed.
    Offers in the region and kind of a bad entry stay, and a note counts them; the answer's
    other offers are brought in line as before."""
    await _graph_with_a_film(empty_dsn)
    path = _write(scratch_dir / "100.json", FILM_WATCH)
    assert filmgraph_import(empty_dsn, "tmdb-watch", path).returncode == 0
    damaged = watch(100, US={"flatrate": [_provider(8, "Netflix")],
                             "rent": [{"provider_id": "2", "provider_name": "Apple TV"}]})  # fmt: skip
    _write(path, damaged)
    result = filmgraph_import(empty_dsn, "tmdb-watch", path, "--max-errors", "1")
    assert result.returncode == 0, result.stderr
    # Netflix's offer loses its link; the buy, ads and GB offers go; the rent offer stays.
    assert summary(result.stdout, deleted=True)["offer"] == [0, 1, 0, 1, 3]
    assert await _rows(empty_dsn, "select region, kind::text from offer order by 1, 2") == [
        ("US", "RENT"),
        ("US", "SUBSCRIPTION"),
    ]
    assert (
        "filmgraph: 1 offer(s) where an answer had a bad entry (region and kind) not pruned"
        in result.stderr.splitlines()
    )
