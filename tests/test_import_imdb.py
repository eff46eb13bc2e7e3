"""`filmgraph import imdb`: the dataset files as published, quirks included, imported whole or
not at all."""

from __future__ import annotations

import asyncio
import gzip
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx

from graph.app import create_app
from graph.migrate import migrate
from graph.settings import Settings
from tests.conftest import LiveServer
from tests.importing import (
    Importer,
    env,
    filmgraph_import,
    fingerprint,
    import_backends,
    wait_until,
    write,
)

BASICS = """\
tconst	titleType	primaryTitle	originalTitle	isAdult	startYear	endYear	runtimeMinutes	genres
tt0000001	movie	Refusenik	Refusenik	0	2007	\\N	120	Documentary
tt0000002	movie	Amélie	Le Fabuleux Destin d'Amélie Poulain	0	2001	\\N	122	Comedy,Romance
tt0000003	tvEpisode	Pilot	Pilot	0	2010	\\N	45	Drama
"tt0000004"	"movie"	"Tab ""Quoted""	Title"	"Tab Title"	"0"	"1999"	"\\N"	"\\N"	"\\N"
tt0000002	movie	Amélie	Le Fabuleux Destin d'Amélie Poulain	0	2001	\\N	122	Comedy,Romance
tt0000005	tvMovie	Amélie	Amélie	0	2001	\\N	90	Drama
"""
RATINGS = """\
tconst	averageRating	numVotes
tt0000001	7.7	1200
tt0000002	8.3	800000
tt0000003	9.0	10
"""
NAMES = """\
nconst	primaryName	birthYear	deathYear	primaryProfession	knownForTitles
nm0000001	Laura Bialis	1970	\\N	director,writer	tt0000001
nm0000002	Audrey Tautou	1976	\\N	actress	tt0000002
nm0000003	Jean-Pierre Jeunet	1953	\\N	director	tt0000002
nm0000004	Wolfgang Amadeus Mozart	1756	1791	composer	\\N
nm0000005	Never Credited	1900	1980	actor	\\N
"""
PRINCIPALS = """\
tconst	ordering	nconst	category	job	characters
tt0000001	1	nm0000001	director	\\N	\\N
tt0000002	1	nm0000002	actress	\\N	["Amélie Poulain","Narrator"]
tt0000002	2	nm0000003	director	\\N	\\N
tt0000002	3	nm0000004	composer	\\N	\\N
tt0000002	1	nm0000002	actress	\\N	["Amélie Poulain","Narrator"]
tt0000003	1	nm0000099	actor	\\N	["Someone"]
"""
CREW = """\
tconst	directors	writers
tt0000001	nm0000001	nm0000001
tt0000002	nm0000003	nm0000003,nm0000002
tt0000003	nm0000099	\\N
"""
AKAS = """\
titleId	ordering	title	region	language	types	attributes	isOriginalTitle
tt0000002	1	Le Fabuleux Destin d'Amélie Poulain	FR	fr	imdbDisplay	\\N	0
tt0000002	2	Amelie	US	\\N	\\N	\\N	0
tt0000002	3	Le Fabuleux Destin d'Amélie Poulain	\\N	\\N	original	\\N	1
tt0000003	1	Pilote	FR	\\N	\\N	\\N	0
"""


def dataset(directory: Path, **changes: str) -> Path:
    """The six files, each with a quirk seen in real copies: CRLF line ends, gzip, quoted
    fields, duplicate rows, references to titles and people that are not in the files (of a
    title type not imported). (A missing final newline is a file cut short: rejected.)"""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    files = {"basics": BASICS, "ratings": RATINGS, "names": NAMES} | {
        "principals": PRINCIPALS,
        "crew": CREW,
        "akas": AKAS,
    }
    files.update(changes)
    write(directory / "title.basics.tsv", files["basics"], crlf=True)
    write(directory / "title.ratings.tsv.gz", files["ratings"])
    write(directory / "name.basics.tsv.gz", files["names"], crlf=True)
    write(directory / "title.principals.tsv", files["principals"])
    write(directory / "title.crew.tsv", files["crew"])
    write(directory / "title.akas.tsv", files["akas"])
    return directory


async def _fetch(dsn: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(query)
        return rows
    finally:
        await conn.close()


def rejects(stderr: str) -> list[str]:
    """The `file:line: reason` lines."""
    return [line for line in stderr.splitlines() if re.match(r"^[\w.]+:[^ ]+: ", line)]


def summary(stdout: str, *, deleted: bool = False) -> dict[str, list[int]]:
    """The closing summary: table -> [inserted, updated, unchanged, rejected(, deleted)]."""
    out = {}
    for line in stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) == 6 and all(p.isdigit() for p in parts[1:]):
            out[parts[0]] = [int(p) for p in parts[1 : 6 if deleted else 5]]
    return out


async def test_import_maps_every_file_onto_the_graph(empty_dsn: str, scratch_dir: Path) -> None:
    result = filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "imdb"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    films = await _fetch(
        empty_dsn,
        """select imdb_id, slug, title, original_title, year, runtime_minutes,
                  imdb_rating::text as rating, imdb_votes,
                  (select string_agg(g.name, ',' order by g.name) from film_genre fg
                   join genre g on g.id = fg.genre_id where fg.film_id = film.id) as genres
           from film order by imdb_id""",
    )
    assert [tuple(r) for r in films] == [
        ("tt0000001", "refusenik-2007", "Refusenik", "Refusenik", 2007, 120, "7.7", 1200,
         "Documentary"),
        ("tt0000002", "amelie-2001", "Amélie", "Le Fabuleux Destin d'Amélie Poulain", 2001, 122,
         "8.3", 800000, "Comedy,Romance"),
        ("tt0000004", "tab-quoted-title-1999", 'Tab "Quoted"\tTitle', "Tab Title", 1999, None,
         None, None, None),
        ("tt0000005", "amelie-2001-tt0000005", "Amélie", "Amélie", 2001, 90, None, None,
         "Drama"),
    ]  # fmt: skip
    people = await _fetch(
        empty_dsn, "select imdb_id, slug, name, birth_year, death_year from person order by 1"
    )
    assert [tuple(r) for r in people] == [
        ("nm0000001", "laura-bialis", "Laura Bialis", 1970, None),
        ("nm0000002", "audrey-tautou", "Audrey Tautou", 1976, None),
        ("nm0000003", "jean-pierre-jeunet", "Jean-Pierre Jeunet", 1953, None),
        # Years before 1800 are more than the graph holds: unknown, not wrong.
        ("nm0000004", "wolfgang-amadeus-mozart", "Wolfgang Amadeus Mozart", None, None),
    ]
    credits = await _fetch(
        empty_dsn,
        """select f.imdb_id, c.role, p.imdb_id as person, c.character_name, c.billing_order
           from credit c join film f on f.id = c.film_id join person p on p.id = c.person_id
           order by 1, 2, 3""",
    )
    assert [tuple(r) for r in credits] == [
        ("tt0000001", "DIRECTOR", "nm0000001", None, 1),
        ("tt0000001", "WRITER", "nm0000001", None, None),
        ("tt0000002", "ACTOR", "nm0000002", "Amélie Poulain / Narrator", 1),
        ("tt0000002", "COMPOSER", "nm0000004", None, 3),
        ("tt0000002", "DIRECTOR", "nm0000003", None, 2),
        ("tt0000002", "WRITER", "nm0000002", None, None),
        ("tt0000002", "WRITER", "nm0000003", None, None),
    ]
    akas = await _fetch(
        empty_dsn,
        """select ordering, title, region, language, types, is_original
           from film_alternative_title order by ordering""",
    )
    assert [tuple(r) for r in akas] == [
        (1, "Le Fabuleux Destin d'Amélie Poulain", "FR", "fr", ["imdbDisplay"], False),
        (2, "Amelie", "US", None, [], False),
        (3, "Le Fabuleux Destin d'Amélie Poulain", None, None, ["original"], True),
    ]
    counts = summary(result.stdout)
    assert counts["film"] == [4, 0, 0, 0]
    assert counts["person"] == [4, 0, 0, 0]
    assert counts["credit"] == [7, 0, 0, 0]
    assert counts["film_alternative_title"] == [3, 0, 0, 0]
    # What a CDN in front should purge (docs/caching.md).
    assert "\ncache tags: film genre person\n" in result.stdout
    assert "done in" in result.stdout


async def test_importing_the_same_files_again_changes_nothing(
    empty_dsn: str, scratch_dir: Path
) -> None:
    files = dataset(scratch_dir / "imdb")
    assert filmgraph_import(empty_dsn, "imdb", files).returncode == 0
    before = await fingerprint(empty_dsn)
    again = filmgraph_import(empty_dsn, "imdb", files)
    assert again.returncode == 0, again.stderr
    assert await fingerprint(empty_dsn) == before
    assert "\ncache tags: none\n" in again.stdout
    counts = summary(again.stdout)
    assert counts, again.stdout
    for table, (inserted, updated, _, _) in counts.items():
        assert (inserted, updated) == (0, 0), (table, again.stdout)
    assert counts["film"][2] == 4
    assert counts["credit"][2] == 7


async def test_a_newer_file_changes_exactly_what_changed(empty_dsn: str, scratch_dir: Path) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "imdb")).returncode == 0
    before = {r["imdb_id"]: tuple(r) for r in await _fetch(empty_dsn, "select * from film")}
    newer = dataset(
        scratch_dir / "imdb",
        ratings=RATINGS.replace("8.3\t800000", "8.4\t800123"),
        basics=BASICS.replace("Refusenik\tRefusenik", "Refusenik!\tRefusenik"),
        # IMDb dropped the composer credit, and the narrator from Audrey Tautou's characters.
        principals=PRINCIPALS.replace("tt0000002\t3\tnm0000004\tcomposer\t\\N\t\\N\n", "").replace(
            '["Amélie Poulain","Narrator"]', '["Amélie Poulain"]'
        ),
    )
    result = filmgraph_import(empty_dsn, "imdb", newer)
    assert result.returncode == 0, result.stderr
    counts = summary(result.stdout, deleted=True)
    assert counts["film"] == [0, 2, 2, 0, 0]
    assert counts["credit"] == [0, 1, 5, 0, 1]
    composer = await _fetch(empty_dsn, "select count(*) from credit where role = 'COMPOSER'")
    assert composer[0][0] == 0
    actor = await _fetch(empty_dsn, "select character_name from credit where role = 'ACTOR'")
    assert [r[0] for r in actor] == ["Amélie Poulain"]
    after = {r["imdb_id"]: tuple(r) for r in await _fetch(empty_dsn, "select * from film")}
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"tt0000001", "tt0000002"}
    rows = await _fetch(
        empty_dsn, "select title, slug from film where imdb_id = 'tt0000001' union all "
        "select imdb_rating::text || '/' || imdb_votes, '' from film where imdb_id = 'tt0000002'"
    )  # fmt: skip
    # A new title keeps the old slug: links to the film page stay valid.
    assert [tuple(r) for r in rows] == [("Refusenik!", "refusenik-2007"), ("8.4/800123", "")]
    # The import folded the facet tallies it appended to: one row per value, and exact.
    folded = await _fetch(
        empty_dsn, "select count(*) = count(distinct (facet, value)) from film_tally"
    )
    assert folded[0][0]
    rated = await _fetch(
        empty_dsn,
        "select (select sum(films) from film_tally where facet = 'rating' and value = 8.4),"
        " (select count(*) from film where imdb_rating = 8.4)",
    )
    assert tuple(rated[0]) == (1, 1)


def _newer_dataset(directory: Path) -> Path:
    """IMDb's next release: the tvMovie and the composer are gone (and with him his credit),
    Refusenik lost its rating, and one alternative title of Amélie was withdrawn."""
    return dataset(
        directory,
        basics=BASICS.replace("tt0000005\ttvMovie\tAmélie\tAmélie\t0\t2001\t\\N\t90\tDrama\n", ""),
        names=NAMES.replace("nm0000004\tWolfgang Amadeus Mozart\t1756\t1791\tcomposer\t\\N\n", ""),
        ratings=RATINGS.replace("tt0000001\t7.7\t1200\n", ""),
        principals=PRINCIPALS.replace("tt0000002\t3\tnm0000004\tcomposer\t\\N\t\\N\n", ""),
        akas=AKAS.replace("tt0000002\t2\tAmelie\tUS\t\\N\t\\N\t\\N\t0\n", ""),
    )


STATE = """select (select string_agg(imdb_id, ',' order by imdb_id) from film) as films,
    (select string_agg(imdb_id, ',' order by imdb_id) from person) as people,
    (select count(*) from credit) as credits,
    (select string_agg(ordering::text, ',' order by ordering) from film_alternative_title) as akas,
    (select imdb_rating::text || '/' || imdb_votes from film where imdb_id = 'tt0000001') as rating
"""


async def test_prune_removes_what_a_newer_dataset_no_longer_lists(
    empty_dsn: str, scratch_dir: Path
) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "imdb")).returncode == 0
    first = tuple((await _fetch(empty_dsn, STATE))[0])
    assert first == (
        "tt0000001,tt0000002,tt0000004,tt0000005",
        "nm0000001,nm0000002,nm0000003,nm0000004",
        7,
        "1,2,3",
        "7.7/1200",
    )
    # A credit on an IMDb film that the credit files do not mention at all.
    await _fetch(
        empty_dsn,
        """insert into credit (film_id, person_id, role)
           select f.id, p.id, 'WRITER' from film f, person p
           where f.imdb_id = 'tt0000004' and p.imdb_id = 'nm0000001' returning 1""",
    )
    newer = _newer_dataset(scratch_dir / "imdb")

    # By default files may be extracts: films, people and ratings they leave out stay; a film's
    # credits and alternative titles, which the files list whole per film, are brought in line.
    result = filmgraph_import(empty_dsn, "imdb", newer)
    assert result.returncode == 0, result.stderr
    counts = summary(result.stdout, deleted=True)
    assert counts["credit"][4] == 1
    assert counts["film_alternative_title"][4] == 1
    assert "film" not in counts or counts["film"][4] == 0
    assert tuple((await _fetch(empty_dsn, STATE))[0]) == (
        "tt0000001,tt0000002,tt0000004,tt0000005",
        "nm0000001,nm0000002,nm0000003,nm0000004",
        7,
        "1,3",
        "7.7/1200",
    )

    # --prune: the files are the whole dataset, so what they no longer list goes.
    result = filmgraph_import(empty_dsn, "imdb", newer, "--prune")
    assert result.returncode == 0, result.stderr
    counts = summary(result.stdout, deleted=True)
    assert counts["credit"][4] == 1  # the one on the film the credit files do not mention
    assert counts["film"][4] == 1
    assert counts["film"][:2] == [0, 1]  # Refusenik, its rating forgotten
    assert counts["film"][2] == 2  # Amélie and the quoted title, merged unchanged
    assert counts["person"][4] == 1
    assert tuple((await _fetch(empty_dsn, STATE))[0]) == (
        "tt0000001,tt0000002,tt0000004",
        "nm0000001,nm0000002,nm0000003",
        6,
        "1,3",
        None,
    )
    # And the same files once more change nothing, pruned or not.
    before = await fingerprint(empty_dsn)
    again = filmgraph_import(empty_dsn, "imdb", newer, "--prune")
    assert again.returncode == 0, again.stderr
    assert await fingerprint(empty_dsn) == before
    for table, row in summary(again.stdout, deleted=True).items():
        assert (row[0], row[1], row[4]) == (0, 0, 0), (table, again.stdout)


async def test_prune_counts_the_genre_links_and_offers_that_go_with_a_film(
    empty_dsn: str, scratch_dir: Path
) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "imdb")).returncode == 0
    # The tvMovie that the newer dataset drops has a genre link (Drama) and, from TMDB, an offer.
    await _fetch(
        empty_dsn,
        """with p as (insert into provider (slug, name, tmdb_id) values ('kanopy', 'Kanopy', 191)
                     returning id)
           insert into offer (film_id, provider_id, region, kind)
           select f.id, p.id, 'US', 'FREE' from film f, p where f.imdb_id = 'tt0000005'
           returning 1""",
    )
    result = filmgraph_import(empty_dsn, "imdb", _newer_dataset(scratch_dir / "imdb"), "--prune")
    assert result.returncode == 0, result.stderr
    counts = summary(result.stdout, deleted=True)
    assert counts["film"][4] == 1
    assert counts["film_genre"][4] == 1
    assert counts["offer"][4] == 1
    left = await _fetch(empty_dsn, "select (select count(*) from offer), (select count(*) from "
                        "film_genre fg join film f on f.id = fg.film_id where f.imdb_id = 'tt0000005')")  # fmt: skip
    assert tuple(left[0]) == (0, 0)


async def test_prune_counts_a_film_whose_title_and_rating_changed_once(
    empty_dsn: str, scratch_dir: Path
) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "imdb")).returncode == 0
    newer = dataset(
        scratch_dir / "imdb",
        basics=BASICS.replace("Refusenik\tRefusenik", "Refusenik!\tRefusenik"),
        ratings=RATINGS.replace("tt0000001\t7.7\t1200\n", ""),
    )
    result = filmgraph_import(empty_dsn, "imdb", newer, "--prune")
    assert result.returncode == 0, result.stderr
    # Refusenik changed (a new title, its rating gone); the three other films did not.
    assert summary(result.stdout, deleted=True)["film"] == [0, 1, 3, 0, 0]
    rows = await _fetch(empty_dsn, "select title, imdb_rating, imdb_votes from film "
                        "where imdb_id = 'tt0000001'")  # fmt: skip
    assert tuple(rows[0]) == ("Refusenik!", None, None)


async def test_prune_keeps_a_film_that_title_basics_lists_under_another_type(
    empty_dsn: str, scratch_dir: Path
) -> None:
    # MovieLens created the film (with its TMDB id) from its IMDb id, which IMDb files under a
    # title type this import leaves out: IMDb still lists it, so it is not gone.
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "imdb")).returncode == 0
    await _fetch(
        empty_dsn,
        "insert into film (slug, title, year, imdb_id, tmdb_id) "
        "values ('pilot-2010', 'Pilot', 2010, 'tt0000003', 550) returning 1",
    )
    files = dataset(
        scratch_dir / "imdb",
        principals=PRINCIPALS.replace('tt0000003\t1\tnm0000099\tactor\t\\N\t["Someone"]\n', ""),
        crew=CREW.replace("tt0000003\tnm0000099\t\\N\n", ""),
    )
    result = filmgraph_import(empty_dsn, "imdb", files, "--prune")
    assert result.returncode == 0, result.stderr
    counts = summary(result.stdout, deleted=True)
    assert counts["film"][4] == 0
    left = await _fetch(empty_dsn, "select tmdb_id from film where imdb_id = 'tt0000003'")
    assert [r[0] for r in left] == [550]


async def test_prune_removes_nothing_when_a_line_was_rejected(
    empty_dsn: str, scratch_dir: Path
) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "imdb")).returncode == 0
    before = await fingerprint(empty_dsn)
    # The tvMovie's line is damaged rather than gone: pruning would wrongly remove it.
    damaged = dataset(
        scratch_dir / "imdb",
        basics=BASICS.replace("tt0000005\ttvMovie", "tt000000X\ttvMovie"),
    )
    result = filmgraph_import(empty_dsn, "imdb", damaged, "--prune", "--max-errors", "1")
    assert result.returncode == 0, result.stderr
    assert "--prune: nothing removed" in result.stderr
    assert rejects(result.stderr) == ["title.basics.tsv:7: bad tconst 'tt000000X'"]
    assert await fingerprint(empty_dsn) == before


async def test_the_last_row_of_a_duplicated_title_wins_even_over_its_type(
    empty_dsn: str, scratch_dir: Path
) -> None:
    # IMDb re-typed the title: the later row says it is an episode, so it is not a film.
    retyped = (
        BASICS + "tt0000001\ttvEpisode\tRefusenik\tRefusenik\t0\t2007\t\\N\t120\tDocumentary\n"
    )
    result = filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "imdb", basics=retyped))
    assert result.returncode == 0, result.stderr
    films = await _fetch(empty_dsn, "select imdb_id from film order by imdb_id")
    assert [r[0] for r in films] == ["tt0000002", "tt0000004", "tt0000005"]
    # Its credits and rating are those of a title of another type: left out, not rejected.
    assert rejects(result.stderr) == []


# Characters lists as title.principals may hold them, each with the reject reason it must get
# (None: kept) on every supported PostgreSQL. Most take the fast path of jsonb_ok() (migration
# 0007); the rest are parsed, and must be judged as pg_input_is_valid(text, 'jsonb') judges
# them from PostgreSQL 16 on.
CHARACTERS = [
    ('["Plain","List"]', None),
    ("[]", None),
    ('["Esc\\"aped \\u00e9"]', None),  # escapes: parsed
    ('[ "Spaced" ]', None),  # whitespace: parsed
    ('["\U0001f3ac \\ud83c\\udfac"]', None),  # a surrogate pair
    ('["Cut', "characters is not JSON"),
    ('["Trailing"]x', "characters is not JSON"),
    ('["Nul \\u0000"]', "characters is not JSON"),  # valid JSON, but not for jsonb
    ('["Lone \\ud800"]', "characters is not JSON"),
    ('["Control \x01"]', "characters is not JSON"),
    ('["Bad escape \\x"]', "characters is not JSON"),
    ('{"role": "Self"}', "characters is not a JSON array"),
    ('"Self"', "characters is not a JSON array"),
]


async def test_characters_that_are_not_a_json_array_are_rejected_alike_on_every_version(
    empty_dsn: str, scratch_dir: Path
) -> None:
    names = NAMES + "".join(
        f"nm00001{i:02}\tActor {i}\t\\N\t\\N\tactor\t\\N\n" for i in range(len(CHARACTERS))
    )
    principals = PRINCIPALS + "".join(
        f"tt0000001\t{i + 2}\tnm00001{i:02}\tactor\t\\N\t{characters}\n"
        for i, (characters, _) in enumerate(CHARACTERS)
    )
    files = dataset(scratch_dir / "imdb", names=names, principals=principals)
    result = filmgraph_import(empty_dsn, "imdb", files, "--max-errors", "20")
    assert result.returncode == 0, result.stderr
    first = PRINCIPALS.count("\n") + 1  # the line of CHARACTERS[0]
    assert rejects(result.stderr) == [
        f"title.principals.tsv:{first + i}: {reason}"
        for i, (_, reason) in enumerate(CHARACTERS)
        if reason
    ]
    wrong = sum(1 for _, reason in CHARACTERS if reason)
    assert summary(result.stdout)["credit"][3] == wrong
    kept = await _fetch(
        empty_dsn,
        """select p.name, c.character_name from credit c
           join person p on p.id = c.person_id join film f on f.id = c.film_id
           where f.imdb_id = 'tt0000001' and c.role = 'ACTOR' order by p.name""",
    )
    assert [tuple(r) for r in kept] == [
        ("Actor 0", "Plain / List"),
        ("Actor 1", None),
        ("Actor 2", 'Esc"aped é'),
        ("Actor 3", "Spaced"),
        ("Actor 4", "\U0001f3ac \U0001f3ac"),
    ]


async def test_jsonb_ok_agrees_with_the_parser(empty_dsn: str) -> None:
    """jsonb_ok() on the characters above and on more shapes: true exactly when the text
    parses as jsonb; from PostgreSQL 16 on, exactly when pg_input_is_valid says so."""
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        texts = [c for c, _ in CHARACTERS] + [
            "",
            "[",
            "]",
            "[,]",
            '[""]',
            '["a",]',
            '["a" "b"]',
            '["a"],["b"]',
            '[["nested"]]',
            '["a\\\\"]',
            '["\x7f"]',
            '["\\t"]',
            "[1, true, null]",
            "null",
            "[" * 10 + "]" * 10,
            '["' + "x" * 100_000 + '"]',
        ]
        expected = [c is None or c.endswith("not a JSON array") for _, c in CHARACTERS] + [
            False, False, False, False, True, False, False, False, True,
            True, True, True, True, True, True, True,
        ]  # fmt: skip
        found = [await conn.fetchval("select jsonb_ok($1)", t) for t in texts]
        assert found == expected
        if conn.get_server_version().major >= 16:
            valid = [await conn.fetchval("select pg_input_is_valid($1, 'jsonb')", t) for t in texts]
            assert found == valid
    finally:
        await conn.close()


BAD_LINES = {
    "basics": BASICS + "tt0000006\tmovie\tToo Few Columns\t0\t2000\t\\N\t90\tDrama\n",
    "ratings": RATINGS + "tt0000001\tseven\t12\n",
    "principals": PRINCIPALS + "\ntt0000001\tsecond\tnm0000002\tactor\t\\N\t\\N\n",
}


def _bad_dataset(directory: Path) -> Path:
    dataset(directory, **BAD_LINES)
    names = NAMES.replace("\n", "\r\n") + "nm0000008\tBad \xff Byte\t1950\t\\N\t\\N\t\\N\r\n"
    raw = names.encode("utf-8").replace("\xff".encode(), b"\xff")
    (directory / "name.basics.tsv.gz").write_bytes(gzip.compress(raw))
    return directory


EXPECTED_REJECTS = [
    "title.basics.tsv:8: 8 columns, expected 9",
    "title.ratings.tsv.gz:5: bad averageRating 'seven'",
    "name.basics.tsv.gz:7: invalid UTF-8 at byte 15 (0xFF: 'ÿ' in Latin-1/Windows-1252)",
    "title.principals.tsv:9: bad ordering 'second'",
]


async def test_bad_rows_are_reported_and_abort_the_import_by_default(
    empty_dsn: str, scratch_dir: Path
) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "v1")).returncode == 0
    before = await fingerprint(empty_dsn)
    bad = _bad_dataset(scratch_dir / "bad")

    result = filmgraph_import(empty_dsn, "imdb", bad)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    # Streaming stops at the first bad row past the budget of 0.
    assert result.stderr.splitlines()[-2:] == [
        EXPECTED_REJECTS[0],
        "filmgraph: 1 bad row(s), more than --max-errors 0; nothing was imported",
    ]
    assert await fingerprint(empty_dsn) == before

    result = filmgraph_import(empty_dsn, "imdb", bad, "--max-errors", "3")
    assert result.returncode == 1
    # Lines are checked as they stream in, values and references once all files are in.
    assert rejects(result.stderr) == [
        EXPECTED_REJECTS[0],
        EXPECTED_REJECTS[2],
        EXPECTED_REJECTS[1],
        EXPECTED_REJECTS[3],
    ]
    assert result.stderr.splitlines()[-1] == (
        "filmgraph: 4 bad row(s), more than --max-errors 3; nothing was imported"
    )
    assert await fingerprint(empty_dsn) == before


async def test_bad_rows_within_the_budget_are_skipped_and_counted(
    empty_dsn: str, scratch_dir: Path
) -> None:
    result = filmgraph_import(empty_dsn, "imdb", _bad_dataset(scratch_dir / "bad"),
                              "--max-errors", "4")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(rejects(result.stderr)) == sorted(EXPECTED_REJECTS)
    counts = summary(result.stdout)
    assert counts["film"] == [4, 0, 0, 2]  # the short line and the bad rating
    assert counts["person"][3] == 1
    assert counts["credit"][3] == 1
    films = await _fetch(empty_dsn, "select imdb_id from film order by 1")
    assert [r[0] for r in films] == ["tt0000001", "tt0000002", "tt0000004", "tt0000005"]


async def test_unreadable_input_is_a_one_line_error(empty_dsn: str, scratch_dir: Path) -> None:
    files = dataset(scratch_dir / "imdb")
    assert filmgraph_import(empty_dsn, "imdb", files).returncode == 0
    before = await fingerprint(empty_dsn)
    # A download cut short: the gzip stream ends early.
    whole = (files / "name.basics.tsv.gz").read_bytes()
    (files / "name.basics.tsv.gz").write_bytes(whole[: len(whole) // 2])
    cases = [
        ((files,), "name.basics.tsv.gz: corrupt or truncated file"),
        ((scratch_dir / "missing",), "missing: no such file or directory"),
        ((files / "title.crew.tsv",), "title.crew.tsv: not a directory"),
        ((scratch_dir,), "none of the IMDb dataset files"),
        ((files, "--title-types", "movie,film"), "--title-types: unknown type(s) film"),
    ]
    for args, message in cases:
        result = filmgraph_import(empty_dsn, "imdb", *args)
        assert result.returncode == 4, result.stderr
        last = result.stderr.splitlines()[-1]
        assert last.startswith("filmgraph: "), result.stderr
        assert message in last, result.stderr
        assert "Traceback" not in result.stderr
    (files / "name.basics.tsv.gz").unlink()
    write(files / "title.crew.tsv", "tconst\tdirectors\n")
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 4
    assert "title.crew.tsv:1: header is 'tconst|directors'" in result.stderr
    assert await fingerprint(empty_dsn) == before


class RowLock:
    """Holds a film row locked, so that an import updating it waits mid-transaction (after it
    has staged every file and written other rows) until released."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def __aenter__(self) -> RowLock:
        self.conn = await asyncpg.connect(self.dsn)
        self.tx = self.conn.transaction()
        await self.tx.start()
        await self.conn.execute("select 1 from film where imdb_id = 'tt0000002' for update")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.tx.rollback()
        await self.conn.close()


async def _blocked_import(dsn: str, files: Path) -> Importer:
    """An import of files that now waits on the row lock inside its transaction."""
    importer = Importer(dsn, "imdb", files)
    conn = await asyncpg.connect(dsn)
    try:
        await wait_until(lambda: _waiting(conn), "the import to wait on the row lock")
    finally:
        await conn.close()
    return importer


async def _waiting(conn: asyncpg.Connection) -> bool:
    return await import_backends(conn, waiting=True) == 1


def _newer(directory: Path) -> Path:
    return dataset(
        directory,
        basics=BASICS.replace("Amélie\tLe Fabuleux", "Amélie (2001)\tLe Fabuleux")
        + "tt0000009\tmovie\tNew One\tNew One\t0\t2020\t\\N\t100\tDrama\n",
    )


async def test_killing_the_importer_midway_leaves_the_graph_unchanged(
    empty_dsn: str, scratch_dir: Path
) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "v1")).returncode == 0
    before = await fingerprint(empty_dsn)
    newer = _newer(scratch_dir / "v2")
    async with RowLock(empty_dsn):
        importer = await _blocked_import(empty_dsn, newer)
        importer.proc.kill()
        importer.proc.wait(timeout=30)
    assert await fingerprint(empty_dsn) == before

    conn = await asyncpg.connect(empty_dsn)
    try:
        # The server notices the vanished client and ends its transaction: no idle
        # transaction, no lock left behind.
        async def gone() -> bool:
            return await import_backends(conn) == 0

        await wait_until(gone, "the killed import's server process to end")
        idle = await conn.fetchval(
            "select count(*) from pg_stat_activity where state like 'idle in transaction%'"
        )
        assert idle == 0
        assert await conn.fetchval("select count(*) from pg_locks where locktype = 'advisory'") == 0
    finally:
        await conn.close()
    # The next import takes the lock and completes.
    result = filmgraph_import(empty_dsn, "imdb", newer)
    assert result.returncode == 0, result.stderr
    assert summary(result.stdout)["film"][:2] == [1, 1]


async def test_a_second_import_fails_fast_while_one_runs(empty_dsn: str, scratch_dir: Path) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "v1")).returncode == 0
    newer = _newer(scratch_dir / "v2")
    async with RowLock(empty_dsn):
        first = await _blocked_import(empty_dsn, newer)
        second = await asyncio.to_thread(filmgraph_import, empty_dsn, "imdb", newer)
        assert second.returncode == 3
        assert second.stderr.splitlines()[-1].startswith(
            "filmgraph: another import is running (server pid "
        )
    code, out, err = first.finish()
    assert code == 0, err
    assert summary(out)["film"][:2] == [1, 1]


async def test_the_api_keeps_serving_reads_during_an_import(
    empty_dsn: str, scratch_dir: Path
) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "v1")).returncode == 0
    query = '{ film(imdbId: "tt0000002") { title directors { name } } }'
    expected = {"film": {"title": "Amélie", "directors": [{"name": "Jean-Pierre Jeunet"}]}}
    with LiveServer(create_app(Settings(), empty_dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
            async with RowLock(empty_dsn):
                importer = await _blocked_import(empty_dsn, _newer(scratch_dir / "v2"))
                # Mid-import (its transaction open, rows written): reads see the old graph.
                response = await client.post("/graphql", json={"query": query})
                assert response.json()["data"] == expected
            code, _, err = importer.finish()
            assert code == 0, err
            response = await client.post("/graphql", json={"query": query})
            assert response.json()["data"]["film"]["title"] == "Amélie (2001)"


def test_progress_is_a_bar_on_a_terminal_and_log_lines_otherwise(
    empty_dsn: str, scratch_dir: Path
) -> None:
    files = dataset(scratch_dir / "imdb")
    plain = filmgraph_import(empty_dsn, "imdb", files)
    assert plain.returncode == 0, plain.stderr
    assert "read file=title.principals.tsv rows=" in plain.stderr
    assert "\r" not in plain.stderr

    # stderr on a pseudo-terminal: a bar per file, redrawn in place.
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "import", "imdb", str(files)],
        env=env(empty_dsn),
        stdout=subprocess.PIPE,
        stderr=child,
    )
    os.close(child)
    screen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal's other end closed: the import has exited
            break
        if not chunk:
            break
        screen += chunk
    os.close(main)
    assert proc.wait(timeout=60) == 0
    text = screen.decode()
    for name in ("title.basics.tsv", "name.basics.tsv.gz", "title.principals.tsv"):
        bar = re.search(rf"\r{re.escape(name)} +\[#+\] +100% +\d+ rows +[\d,]+ rows/s ETA", text)
        assert bar, text


async def test_alternative_titles_are_served(empty_dsn: str, scratch_dir: Path) -> None:
    assert filmgraph_import(empty_dsn, "imdb", dataset(scratch_dir / "imdb")).returncode == 0
    query = """{ film(imdbId: "tt0000002") {
        all: alternativeTitles { title region language types attributes isOriginal }
        us: alternativeTitles(region: "US") { title }
    } }"""
    with LiveServer(create_app(Settings(), empty_dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
            response = await client.post("/graphql", json={"query": query})
    assert {"data": response.json()["data"]} == {
        "data": {
            "film": {
                "all": [
                    {"title": "Le Fabuleux Destin d'Amélie Poulain", "region": "FR",
                     "language": "fr", "types": ["imdbDisplay"], "attributes": [],
                     "isOriginal": False},
                    {"title": "Amelie", "region": "US", "language": None, "types": [],
                     "attributes": [], "isOriginal": False},
                    {"title": "Le Fabuleux Destin d'Amélie Poulain", "region": None,
                     "language": None, "types": ["original"], "attributes": [],
                     "isOriginal": True},
                ],
                "us": [{"title": "Amelie"}],
            }
        }
    }  # fmt: skip


async def test_title_types_a_byte_order_mark_and_nul_bytes(
    empty_dsn: str, scratch_dir: Path
) -> None:
    files = dataset(scratch_dir / "imdb", basics="\ufeff" + BASICS)
    (files / "title.principals.tsv").unlink()
    write(
        files / "title.principals.tsv.gz",
        PRINCIPALS + "tt0000001\t2\tnm00\x000001\tactor\t\\N\t\\N\n",
    )
    result = filmgraph_import(
        empty_dsn, "imdb", files, "--title-types", "movie,tvEpisode", "--max-errors", "3"
    )
    assert result.returncode == 0, result.stderr
    assert rejects(result.stderr) == ["title.principals.tsv.gz:8: NUL byte in line"]
    # Episodes are imported on request; the episode's people are not in name.basics: an
    # extract's references, left out and counted, not bad lines.
    lines = result.stderr.splitlines()
    for file, line in (("title.crew.tsv", 4), ("title.principals.tsv.gz", 7)):
        assert (
            f"filmgraph: {file}: 1 reference(s) to a person in neither name.basics nor the graph"
            f" skipped, e.g. line {line} (nm0000099)"
        ) in lines
        assert (
            f"skipped {file}: 1 reference(s) to a person in neither name.basics nor the graph"
        ) in result.stdout.splitlines()
    films = await _fetch(empty_dsn, "select imdb_id, title from film order by 1")
    # tvMovie is not asked for this time.
    assert [tuple(r) for r in films] == [
        ("tt0000001", "Refusenik"),
        ("tt0000002", "Amélie"),
        ("tt0000003", "Pilot"),
        ("tt0000004", 'Tab "Quoted"\tTitle'),
    ]
    akas = await _fetch(empty_dsn, "select title from film_alternative_title where region = 'FR'")
    assert sorted(r[0] for r in akas) == ["Le Fabuleux Destin d'Amélie Poulain", "Pilote"]


FILMOGRAPHY = """{ person(slug: "laura-bialis") {
  filmography(role: DIRECTOR, first: 10) { totalCount nodes { title year } } } }"""


async def _filmographies(dsn: str) -> list[dict[str, object]]:
    """Laura Bialis's films as directed, from each path."""
    answers = []
    for execution in ("compiled", "resolvers"):
        with LiveServer(create_app(Settings(execution=execution), dsn)) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                response = await client.post("/graphql", json={"query": FILMOGRAPHY})
        body = response.json()
        assert "errors" not in body, body
        answers.append(body["data"]["person"]["filmography"])
    return answers


async def test_a_newer_year_or_title_reorders_the_filmography(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """Credits carry their film's year, date and title for the filmography's order (migration
    0009): a re-import that changes them reorders it, on both paths, with the count exact."""
    crew = CREW.replace("tt0000002\tnm0000003\t", "tt0000002\tnm0000003,nm0000001\t")
    first = dataset(scratch_dir / "imdb", crew=crew)
    assert filmgraph_import(empty_dsn, "imdb", first).returncode == 0
    both = {"totalCount": 2, "nodes": [("Refusenik", 2007), ("Amélie", 2001)]}
    assert [_plain(a) for a in await _filmographies(empty_dsn)] == [both, both]
    newer = dataset(
        scratch_dir / "imdb",
        crew=crew,
        basics=BASICS.replace("Refusenik\tRefusenik\t0\t2007", "Refusenik II\tRefusenik\t0\t1999"),
    )
    result = filmgraph_import(empty_dsn, "imdb", newer)
    assert result.returncode == 0, result.stderr
    moved = {"totalCount": 2, "nodes": [("Amélie", 2001), ("Refusenik II", 1999)]}
    assert [_plain(a) for a in await _filmographies(empty_dsn)] == [moved, moved]


def _plain(page: dict[str, object]) -> dict[str, object]:
    nodes = page["nodes"]
    assert isinstance(nodes, list)
    return {"totalCount": page["totalCount"], "nodes": [(n["title"], n["year"]) for n in nodes]}


async def test_a_malformed_line_of_a_title_of_another_type_is_rejected_not_left_out(
    empty_dsn: str, scratch_dir: Path
) -> None:
    """The readers leave out the lines of titles of other types before they are checked
    (graph/importers/kept.py), but only well-formed ones: a malformed line spends the error
    budget whatever its title."""
    files = scratch_dir / "imdb"
    files.mkdir()
    write(files / "title.basics.tsv", BASICS)
    write(
        files / "title.principals.tsv",
        PRINCIPALS + "tt0000003\t2\tnm0000099\tactor\t\\N\t\\N\n" + "tt0000003\t3\tnm0000099\n",
    )
    result = filmgraph_import(empty_dsn, "imdb", files)
    assert result.returncode == 1, result.stderr
    assert "title.principals.tsv:9: 3 columns, expected 6" in result.stderr
    assert "1 bad row(s), more than --max-errors 0" in result.stderr
    result = filmgraph_import(empty_dsn, "imdb", files, "--max-errors", "1")
    assert result.returncode == 0, result.stderr
    # tt0000003 is a tvEpisode: its two well-formed lines are left out, the third rejected.
    assert "filmgraph: 2 credit line(s) of titles of other types left out" in result.stderr
    assert re.search(r"^credit\s+\d+\s+0\s+0\s+1\s+0$", result.stdout, re.M), result.stdout
