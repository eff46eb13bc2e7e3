"""Global ids, node(id), nodes(ids) and the root lookups."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.conftest import extensions, gql, gql_error

LOOKUPS = """
{
  film(slug: "refusenik-2007") { id title }
  person(slug: "laura-bialis") { id name }
  genre(slug: "documentary") { id name }
  providers(first: 1) { nodes { id name slug } }
}
"""


async def test_node_fetches_every_type_back(client: httpx.AsyncClient) -> None:
    data = await gql(client, LOOKUPS)
    provider = data["providers"]["nodes"][0]
    cases = [
        (data["film"]["id"], "Film", "title", "Refusenik"),
        (data["person"]["id"], "Person", "name", "Laura Bialis"),
        (data["genre"]["id"], "Genre", "name", "Documentary"),
        (provider["id"], "Provider", "name", provider["name"]),
    ]
    for node_id, typename, field, value in cases:
        got = await gql(
            client,
            f"query($id: ID!) {{ node(id: $id) {{ __typename id ... on {typename} {{ {field} }} }} }}",
            {"id": node_id},
        )
        assert got["node"] == {"__typename": typename, "id": node_id, field: value}

    same = await gql(client, f'{{ provider(slug: "{provider["slug"]}") {{ id }} }}')
    assert same["provider"]["id"] == provider["id"]


async def test_nodes_keeps_order_and_nulls_unknown(client: httpx.AsyncClient) -> None:
    data = await gql(client, LOOKUPS)
    unknown = base64.b64encode(b"Film:999999999").decode()
    ids = [data["person"]["id"], unknown, data["film"]["id"]]
    got = await gql(client, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert got["nodes"] == [{"id": ids[0]}, None, {"id": ids[2]}]


async def test_lookups_by_each_key(client: httpx.AsyncClient) -> None:
    data = await gql(client, LOOKUPS)
    by_id = await gql(
        client, "query($id: ID!) { film(id: $id) { slug } }", {"id": data["film"]["id"]}
    )
    assert by_id["film"]["slug"] == "refusenik-2007"
    imdb = await gql(client, "{ films(first: 100) { nodes { imdbId slug } } }")
    with_imdb = [n for n in imdb["films"]["nodes"] if n["imdbId"]]
    assert with_imdb, "the demo data has films with IMDb ids"
    got = await gql(
        client,
        "query($i: String!) { film(imdbId: $i) { slug } }",
        {"i": with_imdb[0]["imdbId"]},
    )
    assert got["film"]["slug"] == with_imdb[0]["slug"]


async def test_unknown_keys_are_null(client: httpx.AsyncClient) -> None:
    unknown = base64.b64encode(b"Person:999999999").decode()
    data = await gql(
        client,
        f"""{{ film(slug: "nope-1900") {{ id }} person(id: "{unknown}") {{ id }}
              genre(slug: "nope") {{ id }} provider(slug: "nope") {{ id }}
              node(id: "{unknown}") {{ id }} byImdb: film(imdbId: "tt0000000") {{ id }} }}""",
    )
    assert data == {
        "film": None,
        "person": None,
        "genre": None,
        "provider": None,
        "node": None,
        "byImdb": None,
    }


@pytest.mark.parametrize(
    "bad_id",
    [
        "not base64!",
        base64.b64encode(b"Film:abc").decode(),
        base64.b64encode(b"Film:-1").decode(),
        base64.b64encode(b"Film:99999999999999999999999").decode(),
        base64.b64encode(b"Spaceship:1").decode(),
        base64.b64encode(b"\xff\xfe").decode(),
        "",
    ],
)
async def test_malformed_ids_are_bad_user_input(client: httpx.AsyncClient, bad_id: str) -> None:
    for query in (
        "query($id: ID!) { node(id: $id) { id } }",
        "query($id: ID!) { film(id: $id) { id } }",
    ):
        error = await gql_error(client, query, {"id": bad_id})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error


async def test_id_of_another_type_is_bad_user_input(client: httpx.AsyncClient) -> None:
    data = await gql(client, LOOKUPS)
    error = await gql_error(
        client, "query($id: ID!) { film(id: $id) { id } }", {"id": data["person"]["id"]}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Film" in error["message"] and "Person" in error["message"]


@pytest.mark.parametrize(
    "query",
    [
        "{ film { id } }",
        '{ film(slug: "refusenik-2007", imdbId: "tt0068646") { id } }',
        "{ person { id } }",
        "{ genre { id } }",
    ],
)
async def test_lookup_needs_exactly_one_key(client: httpx.AsyncClient, query: str) -> None:
    error = await gql_error(client, query)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "exactly one" in error["message"]


async def test_too_many_nodes(client: httpx.AsyncClient) -> None:
    ids = [base64.b64encode(f"Film:{i}".encode()).decode() for i in range(1, 102)]
    error = await gql_error(client, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_hostile_lookup_keys(client: httpx.AsyncClient) -> None:
    error = await gql_error(client, "query($s: String!) { film(slug: $s) { id } }", {"s": "a\x00b"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    for key in ("x" * 10_000, "'; drop table film; --", "%", "_", "\\"):
        data = await gql(client, "query($s: String!) { film(slug: $s) { id } }", {"s": key})
        assert data == {"film": None}
        # No IMDb id has that form: refused, as a malformed TMDB or Wikidata id is.
        error = await gql_error(
            client, "query($s: String!) { person(imdbId: $s) { id } }", {"s": key}
        )
        assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": "imdbId"}
    still_there = await gql(client, '{ film(slug: "refusenik-2007") { title } }')
    assert still_there["film"]["title"] == "Refusenik"


@pytest.mark.parametrize("key", ["\ud800", "ok\udfffok"])
async def test_lone_surrogates_are_bad_user_input_and_spare_the_batch(
    client: httpx.AsyncClient, key: str
) -> None:
    query = 'query($s: String!) { a: film(slug: "refusenik-2007") { title } b: film(slug: $s) { title } }'
    # json.dumps escapes the surrogate as \\udXXX, as a JavaScript client would send it.
    response = await client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": {"s": key}}),
        headers={"content-type": "application/json"},
    )
    body = response.json()
    assert body["data"] == {"a": {"title": "Refusenik"}, "b": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
