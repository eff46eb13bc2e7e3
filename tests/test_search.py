"""search(query:) and suggest(prefix:): ranking, typos, accents, prefixes and hostile text."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.migrate import migrate
from graph.settings import Settings
from tests.conftest import LiveServer, gql, gql_error

SEARCH = """
query($q: String!, $first: Int, $types: [SearchType!]) {
  search(query: $q, first: $first, types: $types) {
    __typename
    ... on Film { slug title }
    ... on Person { slug name }
    ... on Genre { slug name }
    ... on Provider { slug name }
  }
}
"""
SUGGEST = """
query($p: String!, $first: Int) {
  suggest(prefix: $p, first: $first) {
    __typename ... on Film { title } ... on Person { name }
  }
}
"""


async def _search(client: httpx.AsyncClient, q: str, **variables: Any) -> list[dict[str, Any]]:
    data = await gql(client, SEARCH, {"q": q, **variables})
    hits: list[dict[str, Any]] = data["search"]
    return hits


@pytest.mark.parametrize(
    ("query", "typename", "slug"),
    [
        ("refusenik", "Film", "refusenik-2007"),
        ("refusnik", "Film", "refusenik-2007"),
        ("REFUSENIK", "Film", "refusenik-2007"),
        ("amelie", "Film", "amelie-2001"),
        ("Amélie", "Film", "amelie-2001"),
        ("laberinto del fauno", "Film", "pan-s-labyrinth-2006"),
        ("laura bialis", "Person", "laura-bialis"),
        ("laura bialys", "Person", "laura-bialis"),
        ("documentray", "Genre", "documentary"),
        ("netflx", "Provider", "netflix"),
        ("teh godfather", "Film", "the-godfather-1972"),
        ("godfather 1972", "Film", "the-godfather-1972"),
        ("fr coppola", "Person", "francis-ford-coppola"),
    ],
)
async def test_finds_despite_case_accents_and_typos(
    client: httpx.AsyncClient, query: str, typename: str, slug: str
) -> None:
    hits = await _search(client, query)
    assert hits, query
    assert (hits[0]["__typename"], hits[0]["slug"]) == (typename, slug), hits[:3]


async def test_types_and_first(client: httpx.AsyncClient) -> None:
    hits = await _search(client, "the", first=5, types=["FILM"])
    assert 0 < len(hits) <= 5
    assert {h["__typename"] for h in hits} == {"Film"}
    people = await _search(client, "coen", types=["PERSON"])
    assert {h["slug"] for h in people} >= {"joel-coen", "ethan-coen"}


async def test_title_weighs_over_original_title_over_synopsis(empty_dsn: str) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await conn.execute(
            """insert into film (slug, title, original_title, synopsis) values
               ('in-synopsis', 'Blue Harbour', null, 'A quiet story about the zephyr wind.'),
               ('in-original', 'West Wind', 'Zephyr', 'A quiet story.'),
               ('in-title', 'Zephyr', null, 'A quiet story.'),
               ('nowhere', 'Calm Seas', null, 'A quiet story.')"""
        )
        with LiveServer(create_app(Settings(), empty_dsn)) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                hits = await _search(client, "zephyr")
    finally:
        await conn.close()
    assert [h["slug"] for h in hits] == ["in-title", "in-original", "in-synopsis"]


async def test_new_and_renamed_titles_and_names_forgive_typos_at_once(empty_dsn: str) -> None:
    """Typos are corrected against dictionaries of title and name words, which the database
    keeps current as rows are written: no refresh step between a write and a search."""
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await conn.execute(
            """insert into film (slug, title) values
               ('quorvathian-nights', 'Quorvathian Nights'), ('calm-seas', 'Calm Seas'),
               ('the-owl', 'The Owl')"""
        )
        # "quorvathian" is a title word already: now it becomes a name word too.
        await conn.execute(
            "insert into person (slug, name) values ('ysolde', 'Ysolde Quorvathian')"
        )
        await conn.execute("update film set title = 'Brindlewick Harbour' where slug = 'calm-seas'")
        with LiveServer(create_app(Settings(), empty_dsn)) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:

                async def films(q: str) -> list[str]:
                    return [h["slug"] for h in await _search(client, q, types=["FILM"])]

                assert await films("quorvatian night") == ["quorvathian-nights"]
                assert await films("brindelwick") == ["calm-seas"]
                assert [
                    h["slug"] for h in await _search(client, "ysolde quorvatian", types=["PERSON"])
                ] == ["ysolde"]
                # Every word must match, as typed or corrected...
                assert await films("quorvathian harbour") == []
                # ...unless it matches nothing anywhere: then it is left out.
                assert await films("quorvathian 1972") == ["quorvathian-nights"]
                # Two neighbouring letters swapped, which trigrams cannot see in short words.
                assert await films("nihgts") == ["quorvathian-nights"]
                assert await films("teh") == ["the-owl"]
    finally:
        await conn.close()


async def test_suggest_completes_prefixes(client: httpx.AsyncClient) -> None:
    data = await gql(client, SUGGEST, {"p": "the go", "first": 5})
    titles = [s["title"] for s in data["suggest"] if s["__typename"] == "Film"]
    assert titles[:2] == ["The Godfather", "The Godfather Part II"]  # most voted first
    data = await gql(client, SUGGEST, {"p": "AMÉ"})
    assert "Amélie" in [s.get("title") for s in data["suggest"]]
    data = await gql(client, SUGGEST, {"p": "laur"})
    assert "Laura Bialis" in [s.get("name") for s in data["suggest"]]
    data = await gql(client, SUGGEST, {"p": "zzzzzz"})
    assert data["suggest"] == []


@pytest.mark.parametrize(
    "text",
    [
        "'",
        '"',
        "%",
        "_",
        "\\",
        "%%__\\\\",
        "'; drop table film; --",
        "a' or '1'='1",
        "!!",
        "&|!()<->:*",
        "\u200b",
        "🎬",
    ],
)
async def test_hostile_text_is_taken_literally(client: httpx.AsyncClient, text: str) -> None:
    hits = await _search(client, text)
    for hit in hits:
        assert hit["__typename"] in {"Film", "Person", "Genre", "Provider"}
    data = await gql(client, SUGGEST, {"p": text})
    if text in ("%", "_", "%%__\\\\", "\\"):
        assert data["suggest"] == [], "LIKE wildcards must not match everything"
    still = await gql(client, '{ film(slug: "refusenik-2007") { title } }')
    assert still["film"]["title"] == "Refusenik"


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"q": "x" * 10_000}, "query"),
        ({"q": "x" * 201}, "query"),
        ({"q": ""}, "query"),
        ({"q": "a\x00b"}, "query"),
        ({"q": "ok", "first": 0}, "first"),
        ({"q": "ok", "first": 51}, "first"),
        ({"q": "ok", "types": []}, "types"),
    ],
)
async def test_rejected_search_input(
    client: httpx.AsyncClient, variables: dict[str, Any], argument: str
) -> None:
    error = await gql_error(client, SEARCH, variables)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == argument


async def test_lone_surrogate_in_search(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=json.dumps({"query": SEARCH, "variables": {"q": "\ud800"}}),
        headers={"content-type": "application/json"},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_suggest_does_not_rank_every_film_without_votes_last(empty_dsn: str) -> None:
    """A film MovieLens or TMDB brought has no IMDb votes: it ranks as the median of the
    matching films with votes, not below the least voted of them."""
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await conn.execute(
            """insert into film (slug, title, imdb_rating, imdb_votes) values
               ('zorn-hit', 'Zorn Hit', 8, 900000), ('zorn-middle', 'Zorn Middle', 7, 5000),
               ('zorn-obscure', 'Zorn Obscure', 6, 3), ('zorn-unrated', 'Zorn Unrated', null, null)"""
        )
        with LiveServer(create_app(Settings(), empty_dsn)) as live:
            async with httpx.AsyncClient(base_url=live.url) as client:
                data = await gql(client, SUGGEST, {"p": "zorn", "first": 4})
    finally:
        await conn.close()
    titles = [s["title"] for s in data["suggest"]]
    assert titles == ["Zorn Hit", "Zorn Middle", "Zorn Unrated", "Zorn Obscure"]
