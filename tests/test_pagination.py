"""Connections: pages, cursors, edges of the list, and bad arguments."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import extensions, gql, gql_error, post

FILMS = """
query Films($first: Int, $after: String, $last: Int, $before: String) {
  films(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { title } }
    nodes { slug }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def _all_slugs_by_title(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["slug"] for r in await conn.fetch("select slug from film order by title, id")]
    finally:
        await conn.close()


async def _films(client: httpx.AsyncClient, **args: Any) -> dict[str, Any]:
    data = await gql(client, FILMS, args)
    films: dict[str, Any] = data["films"]
    return films


async def test_first_page_then_forward_to_the_end(client: httpx.AsyncClient, dsn: str) -> None:
    expected = await _all_slugs_by_title(dsn)
    assert len(expected) > 20

    first = await _films(client, first=7)
    assert first["totalCount"] == len(expected)
    assert [n["slug"] for n in first["nodes"]] == expected[:7]
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"]
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]

    seen, page = [], first
    while True:
        seen += [n["slug"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        page = await _films(client, first=7, after=page["pageInfo"]["endCursor"])
        assert page["pageInfo"]["hasPreviousPage"] is True
    assert seen == expected

    past_the_end = await _films(client, first=7, after=page["pageInfo"]["endCursor"])
    assert past_the_end["nodes"] == []
    assert past_the_end["totalCount"] == len(expected)
    assert past_the_end["pageInfo"]["hasNextPage"] is False
    assert past_the_end["pageInfo"]["hasPreviousPage"] is True
    assert past_the_end["pageInfo"]["startCursor"] is None


async def test_last_page_then_backward_to_the_start(client: httpx.AsyncClient, dsn: str) -> None:
    expected = await _all_slugs_by_title(dsn)

    last = await _films(client, last=5)
    assert [n["slug"] for n in last["nodes"]] == expected[-5:]
    assert last["pageInfo"]["hasNextPage"] is False
    assert last["pageInfo"]["hasPreviousPage"] is True

    backward: list[str] = []
    page = last
    while True:
        backward = [n["slug"] for n in page["nodes"]] + backward
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        page = await _films(client, last=5, before=page["pageInfo"]["startCursor"])
        assert page["pageInfo"]["hasNextPage"] is True
    assert backward == expected


async def test_default_page_size_is_twenty(client: httpx.AsyncClient) -> None:
    page = await _films(client)
    assert len(page["nodes"]) == 20


async def test_cursors_from_the_middle(client: httpx.AsyncClient, dsn: str) -> None:
    expected = await _all_slugs_by_title(dsn)
    page = await _films(client, first=10)
    cursors = [e["cursor"] for e in page["edges"]]
    between = await _films(client, first=100, after=cursors[2], before=cursors[7])
    assert [n["slug"] for n in between["nodes"]] == expected[3:7]
    tail = await _films(client, last=2, after=cursors[2], before=cursors[7])
    assert [n["slug"] for n in tail["nodes"]] == expected[5:7]


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"last": 0}, "last"),
        ({"last": 1000}, "last"),
        ({"first": 5, "last": 5}, "last"),
        ({"after": "bm90LWEtY3Vyc29y"}, "after"),
        ({"before": "%%%"}, "before"),
    ],
)
async def test_bad_connection_arguments(
    client: httpx.AsyncClient, args: dict[str, Any], argument: str
) -> None:
    error = await gql_error(client, FILMS, args)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == argument
    assert argument in error["message"]


async def test_a_cursor_from_another_connection_is_refused(client: httpx.AsyncClient) -> None:
    people = await gql(client, "{ people(first: 2) { pageInfo { endCursor } } }")
    cursor = people["people"]["pageInfo"]["endCursor"]
    error = await gql_error(client, FILMS, {"after": cursor})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "another connection" in error["message"]

    by_role = """
    query($slug: String!, $role: CreditRole, $after: String) {
      person(slug: $slug) { filmography(role: $role, first: 1, after: $after) {
        pageInfo { endCursor } } }
    }"""
    directed = await gql(client, by_role, {"slug": "laura-bialis", "role": "DIRECTOR"})
    cursor = directed["person"]["filmography"]["pageInfo"]["endCursor"]
    error = await gql_error(
        client, by_role, {"slug": "laura-bialis", "role": "WRITER", "after": cursor}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_nested_connections_page_per_parent(client: httpx.AsyncClient, dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """select g.slug, count(*) as n from genre g join film_genre fg on fg.genre_id = g.id
               group by g.slug order by g.slug"""
        )
    finally:
        await conn.close()
    counts = {r["slug"]: r["n"] for r in rows}
    data = await gql(
        client,
        """{ genres(first: 100) { nodes { slug films(first: 2) {
              totalCount nodes { year } pageInfo { hasNextPage } } } } }""",
    )
    for genre in data["genres"]["nodes"]:
        films = genre["films"]
        assert films["totalCount"] == counts.get(genre["slug"], 0)
        assert len(films["nodes"]) == min(2, films["totalCount"])
        assert films["pageInfo"]["hasNextPage"] == (films["totalCount"] > 2)


async def test_a_cursor_at_the_far_end_of_the_int_range(client: httpx.AsyncClient) -> None:
    from graph.pagination import encode_cursor

    genres = "query($after: String, $before: String, $first: Int, $last: Int) { genres(first: $first, after: $after, last: $last, before: $before) { totalCount nodes { slug } pageInfo { hasNextPage } } }"
    far = encode_cursor("Query.Genre", 2**31 - 1)
    page = (await gql(client, genres, {"first": 100, "after": far}))["genres"]
    assert page["nodes"] == []
    assert page["pageInfo"]["hasNextPage"] is False
    back = (await gql(client, genres, {"last": 100, "before": far}))["genres"]
    assert len(back["nodes"]) == back["totalCount"] > 0


async def test_errors_are_listed_in_document_order(client: httpx.AsyncClient) -> None:
    # The genres' cursors are refused only once the genres are read; the bad id at once.
    # The errors still come as the document reads them, and alike every time.
    genres = await gql(client, "{ genres(first: 3) { edges { node { id } } } }")
    ids = [edge["node"]["id"] for edge in genres["genres"]["edges"]]
    query = """query ($ids: [ID!]!) {
      nodes(ids: $ids) { ... on Genre { films(after: "not a cursor") { edges { cursor } } } }
      node(id: "not an id") { id }
    }"""
    bodies = [await post(client, query, {"ids": ids}) for _ in range(3)]
    for body in bodies:
        for error in body["errors"]:
            error["extensions"] = extensions(error)  # less its request id, new each time
    assert bodies[0] == bodies[1] == bodies[2]
    paths = [e["path"] for e in bodies[0]["errors"]]
    assert paths == [["nodes", 0, "films"], ["nodes", 1, "films"], ["nodes", 2, "films"], ["node"]]
