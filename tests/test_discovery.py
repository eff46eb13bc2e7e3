"""films(filter:, orderBy:) and people(filter:, orderBy:): each filter, each order, keyset
paging, and bad values, checked against the database itself."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from graph.app import create_app
from graph.db import create_pool
from graph.demo.load import load_demo
from graph.discovery.inputs import FilmFilter
from graph.discovery.keyset import film_query
from graph.discovery.pages import keyset_page
from graph.migrate import migrate
from graph.settings import Settings
from tests.conftest import GraphQLErrors, LiveServer, extensions, gql, gql_error

FILMS = """
query($filter: FilmFilter, $orderBy: [FilmOrder!], $first: Int, $after: String,
      $last: Int, $before: String) {
  films(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last,
        before: $before) {
    totalCount
    nodes { slug }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    yield conn
    await conn.close()


async def _films(client: httpx.AsyncClient, **variables: Any) -> dict[str, Any]:
    data = await gql(client, FILMS, variables)
    films: dict[str, Any] = data["films"]
    return films


async def _all(client: httpx.AsyncClient, **variables: Any) -> list[str]:
    """Every slug, paging forward 7 at a time."""
    slugs: list[str] = []
    after = None
    while True:
        page = await _films(client, first=7, after=after, **variables)
        slugs += [n["slug"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return slugs
        after = page["pageInfo"]["endCursor"]


async def _all_backward(client: httpx.AsyncClient, **variables: Any) -> list[str]:
    slugs: list[str] = []
    before = None
    while True:
        page = await _films(client, last=6, before=before, **variables)
        slugs = [n["slug"] for n in page["nodes"]] + slugs
        if not page["pageInfo"]["hasPreviousPage"]:
            return slugs
        before = page["pageInfo"]["startCursor"]


async def _slugs(db: asyncpg.Connection, where: str, *args: Any) -> set[str]:
    return {r["slug"] for r in await db.fetch(f"select f.slug from film f where {where}", *args)}


async def _person_id(client: httpx.AsyncClient, slug: str) -> str:
    data = await gql(client, "query($s: String!) { person(slug: $s) { id } }", {"s": slug})
    person_id: str = data["person"]["id"]
    return person_id


FILTERS: list[tuple[dict[str, Any], str]] = [
    (
        {"genresAny": ["documentary", "documentary"]},
        "exists (select 1 from film_genre fg join genre g on g.id = fg.genre_id"
        " where fg.film_id = f.id and g.slug = 'documentary')",
    ),
    (
        {"genresAny": ["documentary", "music"]},
        "exists (select 1 from film_genre fg join genre g on g.id = fg.genre_id"
        " where fg.film_id = f.id and g.slug in ('documentary', 'music'))",
    ),
    (
        {"genresAll": ["documentary", "music"]},
        "2 = (select count(*) from film_genre fg join genre g on g.id = fg.genre_id"
        " where fg.film_id = f.id and g.slug in ('documentary', 'music'))",
    ),
    ({"year": {"min": 2000, "max": 2009}}, "f.year between 2000 and 2009"),
    ({"year": {"max": 1979}}, "f.year <= 1979"),
    ({"runtimeMinutes": {"min": 100, "max": 130}}, "f.runtime_minutes between 100 and 130"),
    ({"minRating": 8.5}, "f.imdb_rating >= 8.5"),
    ({"minVotes": 1000000}, "f.imdb_votes >= 1000000"),
    ({"certifications": ["PG-13", "G"]}, "f.certification in ('PG-13', 'G')"),
    (
        {"availability": {"region": "us", "kinds": ["SUBSCRIPTION"]}},
        "exists (select 1 from offer o where o.film_id = f.id and o.region = 'US'"
        " and o.kind = 'SUBSCRIPTION')",
    ),
    (
        {"availability": {"kinds": ["FREE", "ADS"]}},
        "exists (select 1 from offer o where o.film_id = f.id and o.kind in ('FREE', 'ADS'))",
    ),
    (
        {
            "genresAny": ["documentary"],
            "year": {"min": 2000, "max": 2009},
            "minRating": 7.5,
            "availability": {"region": "US", "kinds": ["SUBSCRIPTION"]},
        },
        "f.year between 2000 and 2009 and f.imdb_rating >= 7.5"
        " and exists (select 1 from film_genre fg join genre g on g.id = fg.genre_id"
        " where fg.film_id = f.id and g.slug = 'documentary')"
        " and exists (select 1 from offer o where o.film_id = f.id and o.region = 'US'"
        " and o.kind = 'SUBSCRIPTION')",
    ),
]


@pytest.mark.parametrize(("flt", "where"), FILTERS)
async def test_each_filter(
    client: httpx.AsyncClient, db: asyncpg.Connection, flt: dict[str, Any], where: str
) -> None:
    expected = await _slugs(db, where)
    assert expected, "the demo data should have matches for every filter tested"
    assert len(expected) < await db.fetchval("select count(*) from film")
    page = await _films(client, filter=flt, first=100)
    assert page["totalCount"] == len(expected)
    assert {n["slug"] for n in page["nodes"]} == expected


async def test_people_and_provider_filters(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    laura = await _person_id(client, "laura-bialis")
    directed = await _films(client, filter={"people": [{"person": laura, "role": "DIRECTOR"}]})
    assert {n["slug"] for n in directed["nodes"]} == await _slugs(
        db,
        "exists (select 1 from credit c join person p on p.id = c.person_id"
        " where c.film_id = f.id and p.slug = 'laura-bialis' and c.role = 'DIRECTOR')",
    )
    assert directed["totalCount"] == 3
    wrote = await _films(client, filter={"people": [{"person": laura, "role": "WRITER"}]})
    assert {n["slug"] for n in wrote["nodes"]} < {n["slug"] for n in directed["nodes"]}

    pair = await db.fetchrow(
        """select a.slug as a, b.slug as b, count(*) as n from credit ca
           join credit cb on cb.film_id = ca.film_id and cb.person_id <> ca.person_id
           join person a on a.id = ca.person_id join person b on b.id = cb.person_id
           where ca.role = 'ACTOR' and cb.role = 'ACTOR'
           group by a.slug, b.slug having count(*) >= 2 order by count(*) desc, a.slug, b.slug limit 1"""
    )
    assert pair is not None, "the demo data has actors who share several films"
    both = await _films(
        client,
        filter={
            "people": [
                {"person": await _person_id(client, pair["a"])},
                {"person": await _person_id(client, pair["b"])},
            ]
        },
    )
    assert both["totalCount"] == pair["n"]

    provider = await db.fetchrow(
        "select p.slug, count(distinct o.film_id) as n from provider p join offer o"
        " on o.provider_id = p.id where o.region = 'GB' group by p.slug order by 2 desc, 1 limit 1"
    )
    assert provider is not None
    pid = (await gql(client, f'{{ provider(slug: "{provider["slug"]}") {{ id }} }}'))["provider"][
        "id"
    ]
    on_it = await _films(client, filter={"availability": {"region": "GB", "providers": [pid]}})
    assert on_it["totalCount"] == provider["n"]


ORDERS = [
    ([{"field": "TITLE", "direction": "ASC"}], "f.title, f.id"),
    ([{"field": "TITLE", "direction": "DESC"}], "f.title desc, f.id desc"),
    ([{"field": "YEAR", "direction": "DESC"}], "coalesce(f.year, 0) desc, f.id desc"),
    ([{"field": "RATING", "direction": "DESC"}], "coalesce(f.imdb_rating, -1) desc, f.id desc"),
    ([{"field": "VOTES", "direction": "ASC"}], "coalesce(f.imdb_votes, -1), f.id"),
    (
        [{"field": "RUNTIME", "direction": "DESC"}],
        "coalesce(f.runtime_minutes, -1) desc, f.id desc",
    ),
    (
        [{"field": "YEAR", "direction": "DESC"}, {"field": "TITLE", "direction": "ASC"}],
        "coalesce(f.year, 0) desc, f.title, f.id",
    ),
    (
        [{"field": "RATING", "direction": "ASC"}, {"field": "VOTES", "direction": "DESC"}],
        "coalesce(f.imdb_rating, -1), coalesce(f.imdb_votes, -1) desc, f.id desc",
    ),
]


@pytest.mark.parametrize(("order", "sql_order"), ORDERS)
async def test_each_order_pages_completely_both_ways(
    client: httpx.AsyncClient, db: asyncpg.Connection, order: list[dict[str, str]], sql_order: str
) -> None:
    expected = [
        r["slug"] for r in await db.fetch(f"select f.slug from film f order by {sql_order}")
    ]
    assert await _all(client, orderBy=order) == expected
    assert await _all_backward(client, orderBy=order) == expected


@pytest.mark.parametrize(
    ("flt", "where", "order", "sql_order"),
    [
        (
            {"year": {"min": 1990}},
            "f.year >= 1990",
            [{"field": "RATING", "direction": "DESC"}],
            "coalesce(f.imdb_rating, -1) desc, f.id desc",
        ),
        (
            {"genresAny": ["drama"], "minRating": 7.0},
            "f.imdb_rating >= 7.0 and exists (select 1 from film_genre fg join genre g"
            " on g.id = fg.genre_id where fg.film_id = f.id and g.slug = 'drama')",
            [{"field": "YEAR", "direction": "DESC"}, {"field": "TITLE", "direction": "ASC"}],
            "coalesce(f.year, 0) desc, f.title, f.id",
        ),
    ],
)
async def test_filtered_paging_is_complete(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    flt: dict[str, Any],
    where: str,
    order: list[dict[str, str]],
    sql_order: str,
) -> None:
    expected = [
        r["slug"]
        for r in await db.fetch(f"select slug from film f where {where} order by {sql_order}")
    ]
    assert len(expected) > 7, "several pages"
    assert await _all(client, filter=flt, orderBy=order) == expected
    assert await _all_backward(client, filter=flt, orderBy=order) == expected


async def test_relevance_order_with_a_query(client: httpx.AsyncClient) -> None:
    page = await _films(client, filter={"query": "godfather"})
    slugs = [n["slug"] for n in page["nodes"]]
    assert slugs[:2] == ["the-godfather-1972", "the-godfather-part-ii-1974"]
    assert page["totalCount"] == len(slugs)
    assert await _all(client, filter={"query": "godfather"}) == slugs


@contextlib.asynccontextmanager
async def _own_demo(dsn: str) -> AsyncIterator[tuple[asyncpg.Connection, httpx.AsyncClient]]:
    """The demo graph in a database of the test's own, which it may write to, served for
    real."""
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await load_demo(conn)
        with LiveServer(create_app(Settings(), dsn)) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                yield conn, client
    finally:
        await conn.close()


async def test_paging_is_stable_while_rows_are_added(empty_dsn: str) -> None:
    async with _own_demo(empty_dsn) as (conn, client):
        expected = [r["slug"] for r in await conn.fetch("select slug from film order by title, id")]
        seen: list[str] = []
        after = None
        n = 0
        while True:
            page = await _films(client, first=5, after=after)
            seen += [node["slug"] for node in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            # Unrelated rows land on both sides of the cursor between pages.
            n += 1
            await conn.execute(
                "insert into film (slug, title) values ($1, $2), ($3, $4)",
                f"aaa-{n}",
                f"AAA new {n}",
                f"zzz-{n}",
                f"~ new {n}",
            )
    old = [s for s in seen if not s.startswith(("aaa-", "zzz-"))]
    assert old == expected, "every original row exactly once, in order"
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    ("flt", "argument"),
    [
        ({"year": {"min": 20000}}, "filter.year.min"),
        ({"year": {"min": 2010, "max": 2000}}, "filter.year"),
        ({"minRating": 11}, "filter.minRating"),
        ({"minVotes": -1}, "filter.minVotes"),
        ({"runtimeMinutes": {"max": 0}}, "filter.runtimeMinutes.max"),
        ({"availability": {"region": "USA"}}, "filter.availability.region"),
        ({"availability": {"kinds": []}}, "filter.availability.kinds"),
        ({"genresAny": []}, "filter.genresAny"),
        ({"genresAll": ["x"] * 21}, "filter.genresAll"),
        ({"certifications": []}, "filter.certifications"),
        ({"people": [{"person": "bm9wZQ=="}]}, "filter.people[0].person"),
        ({"query": "   "}, "filter.query"),
        ({"query": "x" * 10_000}, "filter.query"),
        ({"query": "a\x00b"}, "filter.query"),
    ],
)
async def test_invalid_filter_values_name_the_field(
    client: httpx.AsyncClient, flt: dict[str, Any], argument: str
) -> None:
    error = await gql_error(client, FILMS, {"filter": flt})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == argument
    assert argument in error["message"]


async def test_cursors_belong_to_their_order_and_filter(client: httpx.AsyncClient) -> None:
    by_year = [{"field": "YEAR", "direction": "DESC"}]
    page = await _films(client, orderBy=by_year, first=3)
    cursor = page["pageInfo"]["endCursor"]
    for other in (
        {"orderBy": [{"field": "YEAR", "direction": "ASC"}]},
        {"orderBy": by_year, "filter": {"minRating": 8}},
        {},
    ):
        error = await gql_error(client, FILMS, {"after": cursor, **other})
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    for forged in ("eyJ4IjoxfQ", "WyJhYmMiLFsxXSwxXQ", "not a cursor", "W10"):
        error = await gql_error(client, FILMS, {"after": forged, "orderBy": by_year})
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_order_errors(client: httpx.AsyncClient) -> None:
    for order in (
        [],
        [{"field": "RELEVANCE", "direction": "DESC"}],
        [{"field": "YEAR", "direction": "ASC"}, {"field": "YEAR", "direction": "DESC"}],
    ):
        error = await gql_error(client, FILMS, {"orderBy": order})
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


PEOPLE = """
query($filter: PersonFilter, $orderBy: [PersonOrder!], $first: Int) {
  people(filter: $filter, orderBy: $orderBy, first: $first) { totalCount nodes { slug name } }
}
"""


async def test_people_filters_and_orders(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    directors = await gql(client, PEOPLE, {"filter": {"roles": ["DIRECTOR"]}, "first": 100})
    expected = {
        r["slug"]
        for r in await db.fetch(
            "select distinct p.slug from person p join credit c on c.person_id = p.id"
            " where c.role = 'DIRECTOR'"
        )
    }
    assert {n["slug"] for n in directors["people"]["nodes"]} == expected
    assert directors["people"]["totalCount"] == len(expected)

    laura = await _person_id(client, "laura-bialis")
    colleagues = await gql(client, PEOPLE, {"filter": {"workedWith": laura}})
    assert colleagues["people"]["totalCount"] == await db.fetchval(
        """select count(distinct other.person_id) from credit mine
           join credit other on other.film_id = mine.film_id and other.person_id <> mine.person_id
           join person p on p.id = mine.person_id where p.slug = 'laura-bialis'"""
    )

    typo = await gql(client, PEOPLE, {"filter": {"query": "laura bialys"}})
    assert typo["people"]["nodes"][0]["name"] == "Laura Bialis"

    by_birth = await gql(
        client, PEOPLE, {"orderBy": [{"field": "BIRTH_YEAR", "direction": "DESC"}], "first": 100}
    )
    expected_order = [
        r["slug"]
        for r in await db.fetch(
            "select slug from person p order by coalesce(p.birth_year, 0) desc, p.id desc limit 100"
        )
    ]
    assert [n["slug"] for n in by_birth["people"]["nodes"]] == expected_order


async def test_altered_cursors_are_refused(client: httpx.AsyncClient) -> None:
    import base64
    import json

    by_year = [{"field": "YEAR", "direction": "DESC"}]
    page = await _films(client, orderBy=by_year, first=3)
    cursor = page["pageInfo"]["endCursor"]
    values, pk, mac = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for altered in ([[values[0] - 10], pk, mac], [values, pk + 1, mac], [values, pk, "0" * 24]):
        forged = base64.urlsafe_b64encode(json.dumps(altered).encode()).decode().rstrip("=")
        error = await gql_error(client, FILMS, {"after": forged, "orderBy": by_year})
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "altered" in error["message"]
    ok = await _films(client, orderBy=by_year, first=3, after=cursor)
    assert len(ok["nodes"]) == 3


async def test_cursors_travel_between_instances_that_share_the_secret(dsn: str) -> None:
    async def first_cursor(settings: Settings) -> str:
        with LiveServer(create_app(settings, dsn)) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                cursor: str = (await _films(client, first=2))["pageInfo"]["endCursor"]
                return cursor

    async def next_page(settings: Settings, cursor: str) -> dict[str, Any]:
        with LiveServer(create_app(settings, dsn)) as live:
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                return await gql(client, FILMS, {"first": 2, "after": cursor})

    # Longer than blake2s's 32-byte key, as `openssl rand -hex 32` makes them.
    secret = "5ec7e7" * 11
    cursor = await first_cursor(Settings(cursor_secret=secret))
    assert (await next_page(Settings(cursor_secret=secret), cursor))["films"]["nodes"]
    with pytest.raises(GraphQLErrors) as refused:
        await next_page(Settings(cursor_secret="other"), cursor)
    (error,) = refused.value.errors
    assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": "after"}
    # What a client that kept a cursor across a deployment needs to hear.
    assert "from before a server restart or from another deployment" in error["message"]


async def test_filtered_pages_leave_pooled_connections_as_they_found_them(dsn: str) -> None:
    """Filtered statements are planned per execution (see discovery.fetch); the setting must
    not outlive the request on the pooled connection, or every later statement would pay for
    planning too."""
    pool = await create_pool(Settings(pool_min_size=1, pool_max_size=1), dsn)
    try:
        query, p = film_query(FilmFilter(genres_any=["documentary"]), None, b"k")
        page = await keyset_page(pool, query, p, lambda r: r["slug"], 5, None, None, None)
        assert len(page.nodes) == 5
        assert await page.total() > 5
        assert await pool.fetchval("show plan_cache_mode") == "auto"
    finally:
        await pool.close()


ONE_FACET: list[tuple[dict[str, Any], str]] = [
    ({"year": {"min": 1990, "max": 2005}}, "f.year between 1990 and 2005"),
    ({"runtimeMinutes": {"min": 95}}, "f.runtime_minutes >= 95"),
    ({"minRating": 7.9}, "f.imdb_rating >= 7.9"),
    (
        {"genresAny": ["drama"]},
        "exists (select 1 from film_genre fg join genre g on g.id = fg.genre_id"
        " where fg.film_id = f.id and g.slug = 'drama')",
    ),
    (
        {"genresAll": ["documentary"]},
        "exists (select 1 from film_genre fg join genre g on g.id = fg.genre_id"
        " where fg.film_id = f.id and g.slug = 'documentary')",
    ),
]


async def test_one_facet_counts_stay_exact_through_every_kind_of_write(empty_dsn: str) -> None:
    """One-facet counts come from tallies that triggers keep (migration 0003): they must agree
    with counting the films after inserts, COPY, updates, deletes, cascades and TRUNCATE."""

    async def check(client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
        for flt, where in ONE_FACET:
            expected = await conn.fetchval(f"select count(*) from film f where {where}")
            page = await _films(client, filter=flt, first=1)
            assert page["totalCount"] == expected, flt

    async with _own_demo(empty_dsn) as (conn, client):
        await check(client, conn)
        await conn.copy_records_to_table(
            "film",
            records=[(f"copied-{i}", f"Copied {i}", 1990 + i, 90 + i) for i in range(20)],
            columns=["slug", "title", "year", "runtime_minutes"],
        )
        await conn.execute(
            """insert into film_genre (film_id, genre_id)
               select f.id, g.id from film f, genre g
               where f.slug like 'copied-%' and g.slug = 'drama'"""
        )
        await conn.execute(
            "update film set year = year + 3, runtime_minutes = runtime_minutes - 10"
            " where year between 1985 and 2000"
        )
        await conn.execute("update film set imdb_rating = imdb_rating - 0.5 where imdb_rating >= 8")
        await conn.execute(
            "update film_genre set genre_id = (select id from genre where slug = "
            "'documentary') where film_id in (select id from film where slug like "
            "'copied-1%')"
        )
        await check(client, conn)
        # Deleting films cascades to their genre links.
        await conn.execute("delete from film where year > 2000 or slug = 'copied-3'")
        await check(client, conn)
        # A writer whose search_path does not name our schema (as a restore script's) still
        # keeps the tallies.
        await conn.execute("set search_path = ''")
        await conn.execute(
            "insert into public.film (slug, title, year) values ('bare', 'Bare', 1999)"
        )
        await conn.execute("reset search_path")
        await check(client, conn)
        # Folding the ledger keeps every count and leaves one row per value.
        folded = await conn.fetchval("select compact_film_tally()")
        assert folded > 0
        assert await conn.fetchval(
            "select count(*) = count(distinct (facet, value)) from film_tally"
        )
        await check(client, conn)
        await conn.execute("truncate film_genre")
        await check(client, conn)
        await conn.execute("truncate film cascade")
        await check(client, conn)


async def test_concurrent_film_writers_neither_wait_for_each_other_nor_deadlock(
    empty_dsn: str,
) -> None:
    """Tallies and the search dictionary are written by triggers in every writing transaction.
    Two open transactions that write films with the same years, genres and title words, in
    opposite orders, must not block each other: each statement here would fail after 2 s
    waiting for a lock, and a deadlock would abort one of them."""
    setup = await asyncpg.connect(empty_dsn)
    try:
        await migrate(setup)
        await setup.execute(
            "insert into genre (slug, name) values ('drama', 'Drama');"
            "insert into film (slug, title, year) values ('the-zebra', 'The Zebra', 1931)"
        )
        a = await asyncpg.connect(empty_dsn, server_settings={"lock_timeout": "2s"})
        b = await asyncpg.connect(empty_dsn, server_settings={"lock_timeout": "2s"})
        try:
            insert = (
                "with f as (insert into film (slug, title, year) values ($1, $2, $3) returning id)"
                " insert into film_genre (film_id, genre_id)"
                " select f.id, g.id from f, genre g where g.slug = 'drama'"
            )
            ta, tb = a.transaction(), b.transaction()
            await ta.start()
            await tb.start()
            await a.execute(insert, "a-1931", "The Apple", 1931)
            await b.execute(insert, "b-1932", "The Bear", 1932)
            await a.execute(insert, "a-1932", "An Apple Story", 1932)
            await b.execute(insert, "b-1931", "The Zebra Returns", 1931)
            await a.execute("update film set synopsis = 'x' where slug = 'the-zebra'")
            await b.execute(insert, "b-1933", "The Zebra Again", 1933)
            await ta.commit()
            await tb.commit()
        finally:
            await a.close()
            await b.close()
        assert await setup.fetchval(
            "select coalesce(sum(films), 0) from film_tally where facet = 'year' and value = 1931"
        ) == await setup.fetchval("select count(*) from film where year = 1931")
    finally:
        await setup.close()


async def test_a_filter_naming_nothing_is_not_found(client: httpx.AsyncClient) -> None:
    """A filter's genre, person or provider must exist: a typo or a stale id is NOT_FOUND,
    not an empty page that reads as "no such films"."""
    person = base64.b64encode(b"Person:999999").decode()
    provider = base64.b64encode(b"Provider:999999").decode()
    for query, argument, given in (
        (
            '{ films(filter: {genresAny: ["documentary", "dokumentary"]}) { totalCount } }',
            "filter.genresAny[1]",
            "'dokumentary'",
        ),
        ('{ films(filter: {genresAll: ["nope"]}) { totalCount } }', "filter.genresAll[0]", None),
        (
            f'{{ films(filter: {{people: [{{person: "{person}"}}]}}) {{ totalCount }} }}',
            "filter.people[0].person",
            repr(person),
        ),
        (
            f'{{ films(filter: {{availability: {{providers: ["{provider}"]}}}}) '
            "{ totalCount } }",
            "filter.availability.providers[0]",
            None,
        ),
        (
            f'{{ people(filter: {{workedWith: "{person}"}}) {{ totalCount }} }}',
            "filter.workedWith",
            None,
        ),
    ):
        error = await gql_error(client, query)
        assert extensions(error) == {"code": "NOT_FOUND", "argument": argument}, error
        if given:
            assert error["message"].endswith(given), error
    # Known keys that match nothing together are an empty page, not an error.
    data = await gql(
        client, '{ films(filter: {genresAll: ["documentary", "horror"]}) { totalCount } }'
    )
    assert data["films"]["totalCount"] == 0
    # A lookup by key still answers null for an unknown key.
    assert await gql(
        client, '{ film(slug: "no-such-film") { title } genre(slug: "nope") { name } }'
    ) == {
        "film": None,
        "genre": None,
    }
