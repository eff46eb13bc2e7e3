"""Every traversal the schema offers, checked against the database itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import gql, gql_error


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    yield conn
    await conn.close()


async def _busiest_director(db: asyncpg.Connection) -> asyncpg.Record:
    row = await db.fetchrow(
        """select p.slug, p.name, count(*) as n from credit c join person p on p.id = c.person_id
           where c.role = 'DIRECTOR' group by p.id order by count(*) desc, p.slug limit 1"""
    )
    assert row is not None and row["n"] >= 3, "demo data has directors with 3+ films"
    return row


async def test_film_genres_credits_directors_writers(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    slug = await db.fetchval(
        """select f.slug from film f where (select count(*) from credit c
           where c.film_id = f.id and c.role = 'ACTOR') >= 3 order by f.slug limit 1"""
    )
    data = await gql(
        client,
        """query($slug: String!) { film(slug: $slug) {
             genres { name }
             credits { role person { slug } }
             crew: credits(roles: [DIRECTOR, WRITER]) { role person { slug } }
             directors { slug } writers { slug }
             cast(first: 2) { role character billingOrder person { name } film { slug } }
             allCast: cast { billingOrder }
        } }""",
        {"slug": slug},
    )
    film = data["film"]
    expected_genres = [
        r["name"]
        for r in await db.fetch(
            """select g.name from genre g join film_genre fg on fg.genre_id = g.id
               join film f on f.id = fg.film_id where f.slug = $1 order by g.name""",
            slug,
        )
    ]
    assert [g["name"] for g in film["genres"]] == expected_genres

    credits = await db.fetch(
        """select c.role, p.slug from credit c join person p on p.id = c.person_id
           join film f on f.id = c.film_id where f.slug = $1""",
        slug,
    )
    got = sorted((c["role"], c["person"]["slug"]) for c in film["credits"])
    assert got == sorted((r["role"], r["slug"]) for r in credits)
    assert film["credits"][0]["role"] == "DIRECTOR"
    assert {c["role"] for c in film["crew"]} <= {"DIRECTOR", "WRITER"}
    assert sorted(d["slug"] for d in film["directors"]) == sorted(
        r["slug"] for r in credits if r["role"] == "DIRECTOR"
    )
    assert sorted(w["slug"] for w in film["writers"]) == sorted(
        r["slug"] for r in credits if r["role"] == "WRITER"
    )

    assert len(film["cast"]) == 2
    assert all(c["role"] == "ACTOR" and c["film"]["slug"] == slug for c in film["cast"])
    orders = [c["billingOrder"] for c in film["allCast"]]
    assert orders == sorted(orders)
    assert len(orders) == sum(1 for r in credits if r["role"] == "ACTOR")
    assert film["cast"][0]["billingOrder"] == orders[0]


async def test_offers_and_providers_by_region_and_kind(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    rows = await db.fetch(
        """select o.region, o.kind, p.slug as provider from offer o
           join film f on f.id = o.film_id join provider p on p.id = o.provider_id
           where f.slug = 'refusenik-2007'"""
    )
    data = await gql(
        client,
        """{ film(slug: "refusenik-2007") {
              all: offers { region kind provider { slug } film { slug } }
              us: offers(region: "us") { region kind price currency }
              paid: offers(region: "US", kinds: [RENT, BUY]) { kind price currency }
              providers { slug } usProviders: providers(region: "US") { slug } } }""",
    )
    film = data["film"]
    assert len(film["all"]) == len(rows)
    assert {o["film"]["slug"] for o in film["all"]} == {"refusenik-2007"}
    assert all(o["region"] == "US" for o in film["us"])
    assert len(film["us"]) == sum(1 for r in rows if r["region"] == "US")
    assert all(o["kind"] in ("RENT", "BUY") for o in film["paid"])
    assert all(o["price"] is not None and o["currency"] for o in film["paid"])
    assert len(film["paid"]) == sum(
        1 for r in rows if r["region"] == "US" and r["kind"] in ("RENT", "BUY")
    )
    assert sorted(p["slug"] for p in film["providers"]) == sorted({r["provider"] for r in rows})
    assert sorted(p["slug"] for p in film["usProviders"]) == sorted(
        {r["provider"] for r in rows if r["region"] == "US"}
    )


async def test_bad_region_and_empty_kinds(client: httpx.AsyncClient) -> None:
    for args in ('region: "USA"', 'region: "1"', "kinds: []"):
        error = await gql_error(
            client, f'{{ film(slug: "refusenik-2007") {{ offers({args}) {{ kind }} }} }}'
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    error = await gql_error(client, '{ film(slug: "refusenik-2007") { cast(first: 0) { role } } }')
    assert error["extensions"]["argument"] == "first"


async def test_person_credits_and_filmography(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    director = await _busiest_director(db)
    data = await gql(
        client,
        """query($slug: String!) { person(slug: $slug) {
              name
              credits(first: 100) { totalCount nodes { role film { year } person { slug } } }
              directed: filmography(role: DIRECTOR, first: 100) { totalCount nodes { year slug } }
              all: filmography(first: 100) { totalCount }
              page: filmography(role: DIRECTOR, first: 2) { pageInfo { endCursor hasNextPage } }
        } }""",
        {"slug": director["slug"]},
    )
    person = data["person"]
    assert person["name"] == director["name"]
    directed = person["directed"]
    assert directed["totalCount"] == director["n"]
    years = [n["year"] for n in directed["nodes"]]
    assert years == sorted(years, reverse=True)
    expected_total = await db.fetchval(
        """select count(*) from credit c join person p on p.id = c.person_id where p.slug = $1""",
        director["slug"],
    )
    assert person["credits"]["totalCount"] == expected_total
    assert {c["person"]["slug"] for c in person["credits"]["nodes"]} == {director["slug"]}
    distinct_films = await db.fetchval(
        """select count(distinct c.film_id) from credit c join person p on p.id = c.person_id
           where p.slug = $1""",
        director["slug"],
    )
    assert person["all"]["totalCount"] == distinct_films

    rest = await gql(
        client,
        """query($slug: String!, $after: String!) { person(slug: $slug) {
              filmography(role: DIRECTOR, first: 100, after: $after) { nodes { slug } } } }""",
        {"slug": director["slug"], "after": person["page"]["pageInfo"]["endCursor"]},
    )
    assert [n["slug"] for n in rest["person"]["filmography"]["nodes"]] == [
        n["slug"] for n in directed["nodes"][2:]
    ]


async def test_one_person_several_roles_on_one_film(client: httpx.AsyncClient) -> None:
    data = await gql(
        client,
        """{ person(slug: "laura-bialis") {
              credits(first: 100) { nodes { role film { slug } } }
              filmography(first: 100) { nodes { slug } } } }""",
    )
    on_refusenik = sorted(
        c["role"]
        for c in data["person"]["credits"]["nodes"]
        if c["film"]["slug"] == "refusenik-2007"
    )
    assert on_refusenik == ["DIRECTOR", "WRITER"]
    slugs = [n["slug"] for n in data["person"]["filmography"]["nodes"]]
    assert slugs.count("refusenik-2007") == 1


async def test_genre_films_and_provider_offers_and_films(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    provider = await db.fetchrow(
        """select p.slug, count(*) as offers, count(distinct o.film_id) as films
           from provider p join offer o on o.provider_id = p.id
           where o.region = 'US' group by p.id order by count(*) desc, p.slug limit 1"""
    )
    assert provider is not None
    data = await gql(
        client,
        """query($slug: String!) {
             provider(slug: $slug) {
               offers(region: "US", first: 100) { totalCount nodes { region provider { slug } } }
               films(region: "US", first: 100) { totalCount nodes { slug } }
               everywhere: offers(first: 1) { totalCount } }
             genre(slug: "documentary") { films(first: 100) { totalCount nodes { genres { slug } } } }
           }""",
        {"slug": provider["slug"]},
    )
    got = data["provider"]
    assert got["offers"]["totalCount"] == provider["offers"]
    assert {o["region"] for o in got["offers"]["nodes"]} == {"US"}
    assert {o["provider"]["slug"] for o in got["offers"]["nodes"]} == {provider["slug"]}
    assert got["films"]["totalCount"] == provider["films"]
    assert len({n["slug"] for n in got["films"]["nodes"]}) == provider["films"]
    assert got["everywhere"]["totalCount"] >= provider["offers"]

    docs = data["genre"]["films"]
    assert docs["totalCount"] >= 2
    for film in docs["nodes"]:
        assert "documentary" in [g["slug"] for g in film["genres"]]


async def test_director_to_films_to_cast(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    director = await _busiest_director(db)
    data: dict[str, Any] = await gql(
        client,
        """query($slug: String!) { person(slug: $slug) {
              filmography(role: DIRECTOR, first: 10) { nodes {
                 title directors { slug } cast(first: 3) { person { name filmography(first: 3) { totalCount } } } } } } }""",
        {"slug": director["slug"]},
    )
    films = data["person"]["filmography"]["nodes"]
    assert len(films) == min(10, director["n"])
    for film in films:
        assert director["slug"] in [d["slug"] for d in film["directors"]]
        for member in film["cast"]:
            assert member["person"]["filmography"]["totalCount"] >= 1


async def test_region_must_be_exactly_two_letters(client: httpx.AsyncClient) -> None:
    for region in ("US\n", " US", "U", "U1"):
        error = await gql_error(
            client,
            'query($r: String!) { film(slug: "refusenik-2007") { offers(region: $r) { kind } } }',
            {"r": region},
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
