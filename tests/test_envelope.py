"""The HTTP envelope: bounded URL and body, and JSON that is a GraphQL request, or a 4xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx

from tests.conftest import LiveServer, extensions, gql, post, refused

# Served by one compiled statement (graph/compiled/), which development says.
OK = {"data": {"__typename": "Query"}, "extensions": {"cost": 0, "execution": "compiled"}}


async def send(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post("/graphql", content=body, headers={"content-type": "application/json"})


async def test_body_size(client: httpx.AsyncClient) -> None:
    head = b'{"query": "{ __typename }", "pad": "'
    fits = head + b"x" * (1_000_000 - len(head) - 2) + b'"}'
    assert len(fits) == 1_000_000
    assert (await send(client, fits)).json() == OK

    response = await send(client, fits + b" ")
    message = refused(response, 413, "REQUEST_TOO_LARGE")
    assert message == "Request body larger than 1000000 bytes"


async def test_body_size_without_content_length(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "pad": "'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}'

    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers  # sent chunked
    message = refused(response, 413, "REQUEST_TOO_LARGE")
    assert message == "Request body larger than 1000000 bytes"
    assert (await client.post("/graphql", json={"query": "{ __typename }"})).json() == OK


async def test_url_length(client: httpx.AsyncClient) -> None:
    query = "{ __typename }" + " " * 7_900
    fits = await client.get(
        "/graphql", params={"query": query}, headers={"accept": "application/json"}
    )
    assert fits.json() == OK
    too_long = await client.get(
        "/graphql", params={"query": query + " " * 300}, headers={"accept": "application/json"}
    )
    assert refused(too_long, 414, "URI_TOO_LONG") == "URL longer than 8192 bytes"


async def test_header_size(live: LiveServer, client: httpx.AsyncClient) -> None:
    query = {"query": "{ __typename }"}
    fits = await client.post("/graphql", json=query, headers={"x-pad": "x" * 30_000})
    assert fits.json() == OK
    # Headers past the URL limit and 32 KB more, still unfinished: the server stops reading
    # and answers, where it would otherwise hold whatever a client sends before the app runs.
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    writer.write(b"GET /graphql HTTP/1.1\r\nhost: x\r\nx-pad: " + b"x" * 100_000)
    await writer.drain()
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"connection: close" in head.lower()
    assert (await client.post("/graphql", json=query)).json() == OK


async def test_envelopes_that_are_not_objects(client: httpx.AsyncClient) -> None:
    for body in (b"null", b"42", b'"{ __typename }"', b"true", b"[]", b'[{"query": "{ a }"}]'):
        message = refused(await send(client, body), 400, "BAD_REQUEST")
        assert len(message) < 100


async def test_query_and_operation_name_must_be_strings(client: httpx.AsyncClient) -> None:
    for envelope in (
        {"query": 42},
        {"query": ["{ __typename }"]},
        {"query": {"a": 1}},
        {"query": "{ __typename }", "operationName": {"x": 1}},
        {"query": "{ __typename }", "operationName": 7},
        {"query": "{ __typename }", "variables": [1]},
        {"query": "{ __typename }", "variables": "x"},
    ):
        response = await client.post("/graphql", json=envelope)
        assert "Traceback" not in refused(response, 400, "BAD_REQUEST"), envelope


async def test_deeply_nested_variables(client: httpx.AsyncClient) -> None:
    for depth in (33, 900, 100_000):
        value = "[" * depth + "]" * depth
        body = '{"query": "{ __typename }", "variables": {"a": ' + value + "}}"
        message = refused(await send(client, body.encode()), 400, "BAD_REQUEST")
        # Past what json can parse (100,000), the body is refused as not JSON at all.
        assert message.startswith("Malformed request: "), depth
    fine = {"query": "{ __typename }", "variables": {"a": json.loads("[" * 30 + "]" * 30)}}
    assert (await client.post("/graphql", json=fine)).json() == OK


async def test_numbers_with_thousands_of_digits(client: httpx.AsyncClient) -> None:
    query = "query($n: Int) { films(first: $n) { totalCount } }"
    for number in ("1" * 101, "1" * 4_000, "1" * 5_000, "-" + "9" * 200):
        body = '{"query": "' + query + '", "variables": {"n": ' + number + "}}"
        message = refused(await send(client, body.encode()), 400, "BAD_REQUEST")
        assert message == "Malformed request: a number has more than 100 digits"
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = '{"query": "' + query + '", "variables": {"n": ' + constant + "}}"
        refused(await send(client, body.encode()), 400, "BAD_REQUEST")


async def test_huge_literals_are_request_errors(client: httpx.AsyncClient) -> None:
    for literal in ("1" * 5_000, "1" * 4_000, "1e99999", "-" + "1" * 20):
        body = await post(client, f"{{ films(first: {literal}) {{ totalCount }} }}")
        assert "data" not in body
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
        assert len(error["message"]) <= 301


async def test_variables_of_the_wrong_type_are_bad_user_input(client: httpx.AsyncClient) -> None:
    body = await post(client, "query($n: Int) { films(first: $n) { totalCount } }", {"n": 2**40})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["message"].startswith("Variable '$n' has invalid value")
    body = await post(client, "query($n: Int!) { films(first: $n) { totalCount } }")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # Past 50 errors graphql-core stops coercing with one more error, without a location.
    query = 'query($r: [CreditRole!]) { film(slug: "x") { credits(roles: $r) { role } } }'
    body = await post(client, query, {"r": ["nope"] * 60})
    assert len(body["errors"]) == 51
    assert body["errors"][-1]["message"].startswith("Too many errors processing variables")
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
    assert await gql(client, "{ __typename }")


async def test_refusals_honour_graphql_response_json(client: httpx.AsyncClient) -> None:
    accept = {"content-type": "application/json", "accept": "application/graphql-response+json"}
    for response, status, code in (
        (await client.post("/graphql", content=b"42", headers=accept), 400, "BAD_REQUEST"),
        (
            await client.post("/graphql", content=b" " * 1_000_001, headers=accept),
            413,
            "REQUEST_TOO_LARGE",
        ),
        (
            await client.get("/graphql", params={"query": " " * 9_000}, headers=accept),
            414,
            "URI_TOO_LONG",
        ),
        (
            await client.get("/graphql", params={"query": "mutation { a }"}, headers=accept),
            405,
            "METHOD_NOT_ALLOWED",
        ),
    ):
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/graphql-response+json")
        assert extensions(response.json()["errors"][0]) == {"code": code}
        assert "data" not in response.json()


async def test_several_operations_need_an_operation_name(client: httpx.AsyncClient) -> None:
    # GraphQL's GetOperation: without operationName, a document must hold one operation.
    document = "query A { a: __typename } query B { b: __typename }"
    response = await client.post("/graphql", json={"query": document})
    assert "operationName" in refused(response, 400, "BAD_REQUEST")
    response = await client.get(
        "/graphql", params={"query": document}, headers={"accept": "application/json"}
    )
    assert "operationName" in refused(response, 400, "BAD_REQUEST")
    named = await client.post("/graphql", json={"query": document, "operationName": "B"})
    assert named.json() == {"data": {"b": "Query"}, "extensions": OK["extensions"]}
    one = await client.post("/graphql", json={"query": "query A { a: __typename }"})
    assert one.json() == {"data": {"a": "Query"}, "extensions": OK["extensions"]}


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def test_every_405_says_which_methods_are_allowed(client: httpx.AsyncClient) -> None:
    # RFC 9110: a 405 carries Allow. Every route, with every method it refuses; and each
    # method Allow lists is in fact accepted.
    for path in ("/graphql", "/healthz", "/readyz"):
        refused_with = {}
        for method in METHODS:
            response = await client.request(method, path, params={"query": "{ __typename }"})
            if response.status_code == 405:
                refused_with[method] = response.headers.get("allow")
        assert refused_with, path
        for method, allow in refused_with.items():
            assert allow, (path, method)
            listed = {m.strip() for m in allow.split(",")}
            assert method not in listed, (path, method, allow)
            for other in listed:
                accepted = await client.request(other, path, params={"query": "{ __typename }"})
                assert accepted.status_code != 405, (path, other)
    # A mutation sent with GET: GraphQL over HTTP answers 405; POST is the method for it.
    response = await client.get(
        "/graphql", params={"query": "mutation { a }"}, headers={"accept": "application/json"}
    )
    refused(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"
