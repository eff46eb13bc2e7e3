"""The graph questions (issue 13) on the demo data, with answers checked by hand against the
demo's credits and offers (graph/demo/demo.json): paths, collaborators, common films,
similar films, availability and the best offer, and the errors of each argument."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import GraphQLError

from graph.paths import shortest_links
from tests.conftest import extensions, gql, gql_error

HOP = "film { slug } from { slug } fromRoles to { slug } toRoles"
PATH = f"""query($a: ID!, $b: ID!, $hops: Int! = 6) {{
  path(from: $a, to: $b, maxHops: $hops) {{ length hops {{ {HOP} }} }}
}}"""


async def person_id(client: httpx.AsyncClient, slug: str) -> str:
    data = await gql(client, "query($s: String!) { person(slug: $s) { id } }", {"s": slug})
    found: str = data["person"]["id"]
    return found


async def provider_id(client: httpx.AsyncClient, slug: str) -> str:
    data = await gql(client, "query($s: String!) { provider(slug: $s) { id } }", {"s": slug})
    found: str = data["provider"]["id"]
    return found


async def path(client: httpx.AsyncClient, a: str, b: str, hops: int = 6) -> Any:
    variables = {"a": await person_id(client, a), "b": await person_id(client, b), "hops": hops}
    return (await gql(client, PATH, variables))["path"]


def hop(film: str, a: str, a_roles: list[str], b: str, b_roles: list[str]) -> dict[str, Any]:
    return {
        "film": {"slug": film},
        "from": {"slug": a},
        "fromRoles": a_roles,
        "to": {"slug": b},
        "toRoles": b_roles,
    }


async def test_a_path_of_two_films_through_a_director(client: httpx.AsyncClient) -> None:
    # Keir Dullea's one film is 2001; of its people only Kubrick is in a Jack Nicholson film.
    assert await path(client, "keir-dullea", "jack-nicholson") == {
        "length": 2,
        "hops": [
            hop("2001-a-space-odyssey-1968", "keir-dullea", ["ACTOR"], "stanley-kubrick", ["DIRECTOR", "WRITER"]),
            hop("the-shining-1980", "stanley-kubrick", ["DIRECTOR", "WRITER"], "jack-nicholson", ["ACTOR"]),
        ],
    }  # fmt: skip


async def test_the_only_shortest_path_of_five_films(client: httpx.AsyncClient) -> None:
    # The demo's one chain of five (no chain of four or fewer exists: a breadth-first count
    # over the demo's credits gives exactly one shortest chain).
    expected: dict[str, Any] = {
        "length": 5,
        "hops": [
            hop("se7en-1995", "morgan-freeman", ["ACTOR"], "brad-pitt", ["ACTOR"]),
            hop("once-upon-a-time-in-hollywood-2019", "brad-pitt", ["ACTOR"], "leonardo-dicaprio", ["ACTOR"]),
            hop("the-departed-2006", "leonardo-dicaprio", ["ACTOR"], "jack-nicholson", ["ACTOR"]),
            hop("the-shining-1980", "jack-nicholson", ["ACTOR"], "stanley-kubrick", ["DIRECTOR", "WRITER"]),
            hop("dr-strangelove-or-how-i-learned-to-stop-worrying-and-love-the-bomb-1964", "stanley-kubrick", ["DIRECTOR", "WRITER"], "slim-pickens", ["ACTOR"]),
        ],
    }  # fmt: skip
    assert await path(client, "morgan-freeman", "slim-pickens") == expected
    assert await path(client, "morgan-freeman", "slim-pickens", hops=5) == expected
    # The same chain read backwards, whichever side the search walked.
    backwards = await path(client, "slim-pickens", "morgan-freeman")
    assert [h["film"]["slug"] for h in backwards["hops"]] == [
        h["film"]["slug"] for h in reversed(expected["hops"])
    ]
    assert await path(client, "morgan-freeman", "slim-pickens", hops=4) is None


async def test_no_path_between_unlinked_people_and_none_to_oneself(
    client: httpx.AsyncClient,
) -> None:
    # Laura Bialis is the only person on her three films.
    assert await path(client, "laura-bialis", "christopher-nolan") is None
    assert await path(client, "laura-bialis", "laura-bialis") == {"length": 0, "hops": []}
    # One film apart: the Coens share all of theirs; the one found is a film of both.
    one = await path(client, "joel-coen", "ethan-coen")
    assert one["length"] == 1 and one["hops"][0]["from"] == {"slug": "joel-coen"}


async def test_a_person_id_that_names_no_one_has_no_path(client: httpx.AsyncClient) -> None:
    variables = {"a": "UGVyc29uOjk5OTk5OTk=", "b": await person_id(client, "laura-bialis")}
    assert (await gql(client, PATH, variables))["path"] is None  # Person:9999999


async def test_a_search_past_its_links_is_refused_not_cut_short(dsn: str) -> None:
    # The cap the API uses is 60,000 links a step; the demo's frontiers are far smaller, so
    # the search runs here with a cap of 30. Its first steps read under 30 (Morgan Freeman's
    # reads 6: the other people of Se7en; Slim Pickens's, the 8 credits of Dr. Strangelove
    # but his own); a later one, from a frontier of people with several films each, more.
    conn = await asyncpg.connect(dsn)
    try:
        ids = {
            r["slug"]: r["id"]
            for r in await conn.fetch(
                "select slug, id from person where slug in ('morgan-freeman', 'slim-pickens')"
            )
        }
        found = await shortest_links(conn, ids["morgan-freeman"], ids["slim-pickens"], 6)
        assert found is not None and len(found) == 5
        with pytest.raises(GraphQLError) as refused:
            await shortest_links(conn, ids["morgan-freeman"], ids["slim-pickens"], 6, 30)
        assert refused.value.extensions == {"code": "PATH_TOO_COSTLY", "limit": 30}
        # With fewer hops the search ends before its frontiers grow past the cap.
        assert await shortest_links(conn, ids["morgan-freeman"], ids["slim-pickens"], 2, 30) is None
    finally:
        await conn.close()


def probes_by_film(node: dict[str, Any]) -> list[str]:
    """The index conditions of a JSON plan's scans of credit that look up one film's credits."""
    found = []
    condition = node.get("Index Cond", "")
    on_credit = node.get("Relation Name") == "credit" or node.get("Index Name", "").startswith(
        "credit_"
    )  # a bitmap index scan names only its index
    if on_credit and "film_id = " in condition:
        found.append(condition)
    for child in node.get("Plans", []):
        found += probes_by_film(child)
    return found


async def plan_of(conn: asyncpg.Connection, name: str, *params: Any) -> dict[str, Any]:
    from graph import db

    plan = await conn.fetchval(f"explain (format json) {db.sql(name)}", *params)
    return json.loads(plan)[0]["Plan"]  # type: ignore[no-any-return]


async def test_films_are_probed_by_their_own_credits(dsn: str) -> None:
    # A path's meeting test and similar's shared people look at each film's people. As an
    # index condition on credit (person_id = any(...) and film_id = ...), the test made
    # PostgreSQL walk every listed person's credits for each film: at 1M films, 394,088
    # buffers (past the path's 1 s) for a far frontier of 1,004 people with the busiest in
    # it, and 914,843 for one similar(first: 10). The people are tested in an aggregate's
    # filter, so each film's credits are read by film alone, whatever the planner estimates.
    # The demo's tables are small enough to read whole; priced out, they are read by index as
    # at scale.
    conn = await asyncpg.connect(dsn, server_settings={"enable_seqscan": "off"})
    try:
        kubrick = await conn.fetchval("select id from person where slug = 'stanley-kubrick'")
        everyone = [r["id"] for r in await conn.fetch("select id from person")]
        fargo = await conn.fetchval("select id from film where slug = 'fargo-1996'")
        for plan in (
            await plan_of(conn, "path_meeting", [kubrick], everyone),
            await plan_of(conn, "similar_films_by_film_id", fargo, 10, 100, 50, 200),
        ):
            probes = probes_by_film(plan)
            assert probes and all("person_id" not in p for p in probes), probes
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("a", "b", "hops", "argument"),
    [
        ("not an id", None, 6, "from"),
        ("RmlsbTox", None, 6, "from"),  # Film:1, not a person
        (None, "RmlsbTox", 6, "to"),
        (None, None, 0, "maxHops"),
        (None, None, 7, "maxHops"),
    ],
)
async def test_path_refuses_bad_arguments(
    client: httpx.AsyncClient, a: str | None, b: str | None, hops: int, argument: str
) -> None:
    laura = await person_id(client, "laura-bialis")
    error = await gql_error(client, PATH, {"a": a or laura, "b": b or laura, "hops": hops})
    assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": argument}


async def test_collaborators_most_shared_films_first(client: httpx.AsyncClient) -> None:
    data = await gql(
        client,
        """{ person(slug: "roger-deakins") {
          collaborators(first: 4) { totalCount pageInfo { hasNextPage }
            nodes { person { slug } sharedFilms films(first: 2) { slug } } }
          directors: collaborators(role: DIRECTOR) { totalCount
            nodes { person { slug } sharedFilms films { slug } } } } }""",
    )
    # Deakins shot Fargo, The Big Lebowski, No Country for Old Men and True Grit (the Coens,
    # with Carter Burwell's music), Sicario and Blade Runner 2049 (Villeneuve; Josh Brolin in
    # Sicario, No Country and True Grit): 32 other people in all. Ties go by name.
    coens = ["true-grit-2010", "no-country-for-old-men-2007"]
    person = data["person"]
    assert person["collaborators"] == {
        "totalCount": 32,
        "pageInfo": {"hasNextPage": True},
        "nodes": [
            {"person": {"slug": "carter-burwell"}, "sharedFilms": 4, "films": [{"slug": s} for s in coens]},
            {"person": {"slug": "ethan-coen"}, "sharedFilms": 4, "films": [{"slug": s} for s in coens]},
            {"person": {"slug": "joel-coen"}, "sharedFilms": 4, "films": [{"slug": s} for s in coens]},
            {"person": {"slug": "josh-brolin"}, "sharedFilms": 3, "films": [{"slug": "sicario-2015"}, {"slug": "true-grit-2010"}]},
        ],
    }  # fmt: skip
    four = [{"slug": s} for s in (*coens, "the-big-lebowski-1998", "fargo-1996")]
    villeneuve = [{"slug": "blade-runner-2049-2017"}, {"slug": "sicario-2015"}]
    assert person["directors"] == {
        "totalCount": 3,
        "nodes": [
            {"person": {"slug": "ethan-coen"}, "sharedFilms": 4, "films": four},
            {"person": {"slug": "joel-coen"}, "sharedFilms": 4, "films": four},
            {"person": {"slug": "denis-villeneuve"}, "sharedFilms": 2, "films": villeneuve},
        ],
    }


async def test_collaborators_page_on_with_a_cursor(client: httpx.AsyncClient) -> None:
    query = """query($after: String) { person(slug: "roger-deakins") {
      collaborators(first: 3, after: $after) { nodes { person { slug } } pageInfo { endCursor } } } }"""
    first = (await gql(client, query))["person"]["collaborators"]
    after = first["pageInfo"]["endCursor"]
    second = (await gql(client, query, {"after": after}))["person"]["collaborators"]
    # After the three with four films: Josh Brolin (3), then the two-film ones by name
    # (Denis Villeneuve, Jeff Bridges, Steve Buscemi).
    assert [n["person"]["slug"] for n in second["nodes"]] == [
        "josh-brolin", "denis-villeneuve", "jeff-bridges"
    ]  # fmt: skip


async def test_common_films_of_several_people(client: httpx.AsyncClient) -> None:
    query = "query($p: [ID!]!) { commonFilms(people: $p) { totalCount nodes { slug } } }"
    ids = [await person_id(client, s) for s in ("joel-coen", "roger-deakins", "ethan-coen")]
    assert (await gql(client, query, {"p": ids}))["commonFilms"] == {
        "totalCount": 4,
        "nodes": [
            {"slug": "true-grit-2010"},
            {"slug": "no-country-for-old-men-2007"},
            {"slug": "the-big-lebowski-1998"},
            {"slug": "fargo-1996"},
        ],
    }
    # With Steve Buscemi only Fargo and The Big Lebowski remain; with Laura Bialis none.
    buscemi = await person_id(client, "steve-buscemi")
    assert (await gql(client, query, {"p": [*ids, buscemi, ids[0]]}))["commonFilms"] == {
        "totalCount": 2,
        "nodes": [{"slug": "the-big-lebowski-1998"}, {"slug": "fargo-1996"}],
    }
    laura = await person_id(client, "laura-bialis")
    assert (await gql(client, query, {"p": [ids[0], laura]}))["commonFilms"] == {
        "totalCount": 0,
        "nodes": [],
    }
    for people in ([], [ids[0]] * 11, ["RmlsbTox"]):
        error = await gql_error(client, query, {"p": people})
        assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": "people"}


async def test_common_films_either_way_they_are_found(empty_dsn: str) -> None:
    # commonFilms narrows the rarest person's films one person at a time (migration 0022):
    # by reading the next person's credits, or, when the films left are under a fortieth of
    # that person's credits, by looking for them among each film's credits. Either way the
    # films every person is on, newest first, and the same pages.
    from graph import db
    from graph.demo.load import load_demo
    from graph.migrate import migrate

    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await load_demo(conn)
        # The demo's first person on 120 more films: 40 times a person of 3 credits.
        await conn.execute(
            """insert into film (slug, title, year)
               select 'more-' || i, 'More ' || i, 1950 + i % 70 from generate_series(1, 120) i;
               insert into credit (film_id, person_id, role)
               select f.id, 1, 'PRODUCER' from film f where f.slug like 'more-%'"""
        )
        credits = await conn.fetch("select person_id, film_id from credit")
        films = {
            r["id"]: (r["year"], r["title"])
            for r in await conn.fetch("select id, year, title from film")
        }
        on: dict[int, set[int]] = {}
        counts: dict[int, int] = {}
        for r in credits:
            on.setdefault(r["person_id"], set()).add(r["film_id"])
            counts[r["person_id"]] = counts.get(r["person_id"], 0) + 1
        busiest = sorted(on, key=lambda p: (-len(on[p]), p))[:10]
        rarest = min(on, key=lambda p: (counts[p], p))
        sets = [
            busiest[:3],
            busiest,
            [rarest, *busiest[:9]],
            [busiest[0], busiest[0]],
            [busiest[0]],
            [busiest[4], busiest[2], rarest],
            [busiest[0], *(p for p in on if counts[p] == 3)],
        ]
        ways = set()
        for people in sets:
            ids = sorted(set(people), key=lambda p: (counts[p], p))
            left = [f for r in credits if r["person_id"] == ids[0] for f in [r["film_id"]]]
            for other in ids[1:]:
                if not left:
                    break
                ways.add("probed" if len(left) * 40 < counts[other] else "read")
                left = [f for f in dict.fromkeys(left) if f in on[other]]
            common = set.intersection(*(on[p] for p in ids))
            newest = sorted(
                common, key=lambda f: (films[f][0] is None, -(films[f][0] or 0), films[f][1], f)
            )
            for (after, first), expected in (((0, 20), newest[:20]), ((1, 2), newest[1:3])):
                rows = await conn.fetch(db.sql("common_films_page"), people, after, first)
                assert rows[0]["page_total"] == len(common)
                assert [r["id"] for r in rows if r["rn"] is not None] == expected
        assert ways == {"probed", "read"}  # both ways were taken
    finally:
        await conn.close()


async def test_similar_films_with_their_reasons(client: httpx.AsyncClient) -> None:
    data = await gql(
        client,
        """{ film(slug: "fargo-1996") { similar(first: 4) { score film { slug } reasons {
          __typename ... on SharedPeople { people { slug } } ... on SharedGenres { genres { slug } }
          ... on YearDistance { years } } } } }""",
    )

    def people(*slugs: str) -> dict[str, Any]:
        return {"__typename": "SharedPeople", "people": [{"slug": s} for s in slugs]}

    def genres(*slugs: str) -> dict[str, Any]:
        return {"__typename": "SharedGenres", "genres": [{"slug": s} for s in slugs]}

    coens = ("joel-coen", "ethan-coen", "carter-burwell", "roger-deakins")
    # 3 a person, 1 a genre, 1 - years / 10 for the era: The Big Lebowski 5 x 3 + 1 + 0.8.
    assert data["film"]["similar"] == [
        {"score": 16.8, "film": {"slug": "the-big-lebowski-1998"}, "reasons": [people("steve-buscemi", *coens), genres("crime"), {"__typename": "YearDistance", "years": 2}]},
        {"score": 15.0, "film": {"slug": "no-country-for-old-men-2007"}, "reasons": [people(*coens), genres("crime", "drama", "thriller")]},
        {"score": 13.0, "film": {"slug": "true-grit-2010"}, "reasons": [people(*coens), genres("drama")]},
        {"score": 5.6, "film": {"slug": "reservoir-dogs-1992"}, "reasons": [people("steve-buscemi"), genres("crime", "thriller"), {"__typename": "YearDistance", "years": 4}]},
    ]  # fmt: skip
    for first in (0, 51):
        error = await gql_error(
            client, f'{{ film(slug: "fargo-1996") {{ similar(first: {first}) {{ score }} }} }}'
        )
        assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": "first"}


async def test_availability_side_by_side(client: httpx.AsyncClient) -> None:
    data = await gql(
        client,
        """{ film(slug: "refusenik-2007") { availability(regions: ["gb", "US", "ZZ", "GB"]) {
          region offers { kind price provider { slug } } } } }""",
    )

    def offer(kind: str, price: str | None, provider: str) -> dict[str, Any]:
        return {"kind": kind, "price": price, "provider": {"slug": provider}}

    assert data["film"]["availability"] == [
        {"region": "GB", "offers": [offer("BUY", "7.99", "amazon-video")]},
        {
            "region": "US",
            "offers": [
                offer("FREE", None, "kanopy"),
                offer("ADS", None, "tubi"),
                offer("SUBSCRIPTION", None, "amazon-prime-video"),
                offer("RENT", "2.99", "amazon-video"),
                offer("RENT", "3.99", "apple-tv"),
                offer("BUY", "9.99", "amazon-video"),
                offer("BUY", "9.99", "apple-tv"),
            ],
        },
        {"region": "ZZ", "offers": []},
    ]
    for regions in ("[]", '["USA"]'):
        error = await gql_error(
            client,
            f'{{ film(slug: "refusenik-2007") {{ availability(regions: {regions}) {{ region }} }} }}',
        )
        assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": "regions"}


async def test_best_offer_counts_the_subscriptions_held(client: httpx.AsyncClient) -> None:
    query = """query($slug: String!, $region: String!, $subs: [ID!]) { film(slug: $slug) {
      bestOffer(region: $region, subscriptions: $subs) {
        reason cost offer { kind price quality provider { slug } } } } }"""

    async def best(slug: str, region: str, *subs: str) -> Any:
        ids = [await provider_id(client, s) for s in subs]
        variables = {"slug": slug, "region": region, "subs": ids}
        return (await gql(client, query, variables))["film"]["bestOffer"]

    # The Godfather Part II in the US: Paramount Plus (subscription), rent 3.99 on Apple TV or
    # 2.99 on Amazon Video, buy 9.99 on Apple TV.
    godfather = "the-godfather-part-ii-1974"
    assert await best(godfather, "US") == {
        "reason": "RENT",
        "cost": "2.99",
        "offer": {"kind": "RENT", "price": "2.99", "quality": "SD", "provider": {"slug": "amazon-video"}},
    }  # fmt: skip
    assert await best(godfather, "US", "hulu") == await best(godfather, "US")
    assert await best(godfather, "us", "hulu", "paramount-plus") == {
        "reason": "SUBSCRIBED",
        "cost": "0",
        "offer": {"kind": "SUBSCRIPTION", "price": None, "quality": "UHD", "provider": {"slug": "paramount-plus"}},
    }  # fmt: skip
    # Refusenik is free on Kanopy: free beats a subscription not held, and one held.
    assert (await best("refusenik-2007", "US"))["offer"]["provider"] == {"slug": "kanopy"}
    assert (await best("refusenik-2007", "US", "amazon-prime-video"))["reason"] == "SUBSCRIBED"
    assert await best("refusenik-2007", "ZZ") is None
    for variables, argument in (
        ({"slug": godfather, "region": "USA"}, "region"),
        ({"slug": godfather, "region": "US", "subs": ["RmlsbTox"]}, "subscriptions"),
    ):
        error = await gql_error(client, query, variables)
        assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": argument}
