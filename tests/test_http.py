"""The HTTP surface: GraphQL over POST and GET, GraphiQL, health and readiness."""

from __future__ import annotations

import asyncpg
import httpx

from graph.app import create_app
from graph.embedded import free_port
from graph.migrate import migrate
from graph.settings import Settings
from tests.conftest import LiveServer, drop_database, extensions, gql, post, refused

QUERY = '{ film(slug: "refusenik-2007") { title year } }'

# Served by one compiled statement (graph/compiled/), which development says.
COMPILED = {"cost": 1, "execution": "compiled"}


async def test_post_json(client: httpx.AsyncClient) -> None:
    data = await gql(client, QUERY)
    assert data == {"film": {"title": "Refusenik", "year": 2007}}


async def test_post_with_operation_name_and_variables(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": "query A { __typename } query B($s: String!) { film(slug: $s) { year } }",
            "operationName": "B",
            "variables": {"s": "refusenik-2007"},
        },
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"film": {"year": 2007}}, "extensions": COMPILED}


async def test_get_query(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query($s: String!) { film(slug: $s) { title } }",
            "variables": '{"s": "refusenik-2007"}',
        },
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "data": {"film": {"title": "Refusenik"}},
        "extensions": COMPILED,
    }


async def test_get_mutation_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "mutation { __typename }"},
        headers={"accept": "application/json"},
    )
    assert "mutation" in refused(response, 405, "METHOD_NOT_ALLOWED")


async def test_graphiql_for_a_browser(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_other_methods_refused(client: httpx.AsyncClient) -> None:
    response = await client.put("/graphql", json={"query": QUERY})
    assert response.status_code == 405


async def test_a_path_or_method_no_route_takes_gets_a_stable_code(
    client: httpx.AsyncClient,
) -> None:
    # Not Starlette's plain "Not Found": the JSON-LD pages' shape, with a code.
    response = await client.get("/films")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert response.headers["cache-control"] == "no-store"
    response = await client.post("/films/refusenik-2007", json={})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD"}
    # On /graphql, a GraphQL response like every other refusal there.
    response = await client.put("/graphql", json={"query": QUERY})
    assert "PUT" in refused(response, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_malformed_requests_get_clear_errors(client: httpx.AsyncClient) -> None:
    body = await post(client, "{ film(slug: ")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    body = await post(client, "{ film(slug: 1) { nope } }")
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}

    not_json = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert refused(not_json, 400, "BAD_REQUEST") == "Unable to parse request body as JSON"


async def test_hostile_documents_are_refused(client: httpx.AsyncClient) -> None:
    deep = (
        '{ film(slug: "refusenik-2007") { '
        + "directors { filmography { nodes { " * 8
        + "title"
        + " } } }" * 8
        + " } }"
    )
    body = await post(client, deep)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert "depth" in body["errors"][0]["message"]
    assert body.get("data") is None

    aliases = "{ " + " ".join(f"a{i}: __typename" for i in range(100)) + " }"
    body = await post(client, aliases)
    assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_ALIASES"
    assert "aliases" in body["errors"][0]["message"].lower()

    tokens = "{ " + "__typename " * 4_000 + "}"
    body = await post(client, tokens)
    assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_TOKENS"
    assert "token" in body["errors"][0]["message"].lower()


async def test_database_gone(empty_dsn: str, server_dsn: str) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        database = await conn.fetchval("select current_database()")
    finally:
        await conn.close()
    with LiveServer(create_app(Settings(), empty_dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            assert (await client.get("/readyz")).status_code == 200
            await drop_database(server_dsn, database)

            ready = await client.get("/readyz")
            assert ready.status_code == 503
            # Said as it is: the server answers, the database is gone.
            assert ready.json()["database"] == "database does not exist"
            assert (await client.get("/healthz")).status_code == 200

            response = await client.post("/graphql", json={"query": QUERY})
            # Nothing could be served: 503, and when to retry.
            assert response.status_code == 503
            assert response.headers["retry-after"] == "2"
            body = response.json()
            assert body["data"] == {"film": None}
            assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert "Traceback" not in response.text


async def test_bodies_that_are_not_graphql_requests_are_400(client: httpx.AsyncClient) -> None:
    deep = (
        b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    )
    for body in (
        b"null",
        b'"x"',
        b"[1]",
        b"42",
        '{"query": "{ __typename }\xff"}'.encode("latin-1"),
        deep,
    ):
        response = await client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, (body[:40], response.status_code, response.text)
        assert "Traceback" not in response.text
    still_fine = await client.post("/graphql", json={"query": "{ __typename }"})
    assert still_fine.json() == {
        "data": {"__typename": "Query"},
        "extensions": {"cost": 0, "execution": "compiled"},
    }


async def test_server_starts_while_the_database_is_down() -> None:
    dsn = f"postgresql://nobody:x@127.0.0.1:{free_port()}/nothing"
    with LiveServer(create_app(Settings(), dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 503
            response = await client.post("/graphql", json={"query": QUERY})
            assert response.status_code == 503
            assert response.headers["retry-after"] == "2"
            assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"


SPEC = {"accept": "application/graphql-response+json, application/json;q=0.9"}


async def test_graphql_response_json_when_accepted(client: httpx.AsyncClient) -> None:
    ok = await client.post("/graphql", json={"query": QUERY}, headers=SPEC)
    assert ok.status_code == 200
    assert ok.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    assert ok.json()["data"] == {"film": {"title": "Refusenik", "year": 2007}}

    # A request error never reaches execution: 400, and no `data` at all.
    for query, code in (
        ("{ film(slug: ", "GRAPHQL_PARSE_FAILED"),
        ("{ film(slug: 1) { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("query($n: Int!) { films(first: $n) { totalCount } }", "BAD_USER_INPUT"),
        (
            "{ films(first: 100) { nodes { genres { films(first: 100) { nodes { id } } } } } }",
            "QUERY_TOO_COSTLY",
        ),
    ):
        refused = await client.post("/graphql", json={"query": query}, headers=SPEC)
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/graphql-response+json")
        body = refused.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == code
        # Only a document that was costed says what it costs; the others are not valid
        # documents with valid variables, and have no cost.
        costed = code == "QUERY_TOO_COSTLY"
        assert body.get("extensions") == ({"cost": 101_100} if costed else None), body

    # A field error happens during execution: 200, with `data`.
    field_error = await client.post(
        "/graphql", json={"query": "{ films(first: 0) { totalCount } }"}, headers=SPEC
    )
    assert field_error.status_code == 200
    assert field_error.json()["data"] == {"films": None}
    assert field_error.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_application_json_answers_200_for_every_graphql_result(
    client: httpx.AsyncClient,
) -> None:
    for accept in ("application/json", "*/*"):
        response = await client.post(
            "/graphql", json={"query": "{ film(slug: 1) { nope } }"}, headers={"accept": accept}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        # It never reached execution: no `data` at all (the GraphQL spec, "Response").
        assert "data" not in response.json()


async def test_no_cross_origin_access_by_default(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/graphql",
        headers={
            "origin": "https://evil.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = await client.post(
        "/graphql", json={"query": QUERY}, headers={"origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in simple.headers


async def test_requests_without_an_origin_get_what_starlettes_stack_gives(
    client: httpx.AsyncClient,
) -> None:
    """A request without an Origin goes to /graphql past Starlette's middleware (graph/app.py);
    one with an Origin it does not allow goes through them, CORS's included. Both get the same
    answer with the same headers (CORS's `Vary: Origin` among them), for POST and GET."""
    for method, request in [
        ("POST", {"json": {"query": QUERY}}),
        ("GET", {"params": {"query": QUERY}}),
    ]:
        direct = await client.request(method, "/graphql", **request)  # type: ignore[arg-type]
        through = await client.request(
            method,
            "/graphql",
            headers={"origin": "https://elsewhere.example"},
            **request,  # type: ignore[arg-type]
        )
        assert direct.status_code == through.status_code == 200
        assert direct.content == through.content
        assert _headers(direct) == _headers(through), method
        assert "Origin" in direct.headers["vary"].split(", ")


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    # CORS names the headers a page may read (Expose-Headers) on an answer to any request
    # with an Origin, allowed or not: not what a request without one gets. Each request has
    # an id of its own.
    skipped = ("date", "access-control-expose-headers", "x-request-id")
    return sorted((k, v) for k, v in response.headers.multi_items() if k not in skipped)


LOOPBACK_PAGES = ("http://localhost:3000", "http://127.0.0.1:5173", "https://[::1]:8443")
# What Apollo Client, graphql-request, urql and an API-key integration send from a browser.
CLIENT_HEADERS = (
    "content-type, authorization, x-api-key, apollographql-client-name, "
    "apollographql-client-version"
)


def _preflight(origin: str, headers: str = CLIENT_HEADERS) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": headers,
    }


async def test_a_dev_server_page_may_call_outside_production(client: httpx.AsyncClient) -> None:
    for origin in LOOPBACK_PAGES:
        preflight = await client.options("/graphql", headers=_preflight(origin))
        assert preflight.status_code == 200, (origin, preflight.text)
        assert preflight.headers["access-control-allow-origin"] == origin
        allowed = preflight.headers["access-control-allow-headers"].lower()
        for header in CLIENT_HEADERS.split(", "):
            assert header in allowed
        assert preflight.headers["access-control-max-age"] == "7200"
        simple = await client.post("/graphql", json={"query": QUERY}, headers={"origin": origin})
        assert simple.headers["access-control-allow-origin"] == origin
        assert "etag" in simple.headers["access-control-expose-headers"].lower()
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    # Only this machine's names: a page elsewhere, or on a name that merely starts so, is not.
    for origin in ("http://localhost.evil.example", "http://192.168.1.5:3000", "null"):
        preflight = await client.options("/graphql", headers=_preflight(origin))
        assert preflight.status_code == 400, origin
        assert "access-control-allow-origin" not in preflight.headers


async def test_production_allows_only_configured_origins(dsn: str) -> None:
    closed = Settings(environment="production", rate_limit=False)
    opened = Settings(
        environment="production", rate_limit=False, cors_origins=("https://app.example",)
    )
    with LiveServer(create_app(closed, dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            preflight = await client.options("/graphql", headers=_preflight(LOOPBACK_PAGES[0]))
            assert preflight.status_code == 400
            assert preflight.text == "Disallowed CORS origin"
    with LiveServer(create_app(opened, dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            preflight = await client.options("/graphql", headers=_preflight("https://app.example"))
            assert preflight.status_code == 200, preflight.text
            assert preflight.headers["access-control-allow-origin"] == "https://app.example"
            loopback = await client.options("/graphql", headers=_preflight(LOOPBACK_PAGES[0]))
            assert loopback.status_code == 400
            # A header no client of ours sends is still refused.
            odd = await client.options(
                "/graphql", headers=_preflight("https://app.example", "x-debug-sql")
            )
            assert odd.status_code == 400
            assert odd.text == "Disallowed CORS headers"


async def test_configured_origins_may_call(dsn: str) -> None:
    settings = Settings(cors_origins=("https://app.example",))
    with LiveServer(create_app(settings, dsn)) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            preflight = await client.options(
                "/graphql",
                headers={
                    "origin": "https://app.example",
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "content-type, x-api-key",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == "https://app.example"
            simple = await client.post(
                "/graphql", json={"query": QUERY}, headers={"origin": "https://app.example"}
            )
            assert simple.headers["access-control-allow-origin"] == "https://app.example"
            other = await client.post(
                "/graphql", json={"query": QUERY}, headers={"origin": "https://evil.example"}
            )
            assert "access-control-allow-origin" not in other.headers


async def test_every_get_answer_varies_with_accept(client: httpx.AsyncClient) -> None:
    """The same URL gives GraphiQL, application/json or graphql-response+json by Accept: a
    CDN must keep them apart."""
    # The last: a URL over FILMGRAPH_MAX_URL_BYTES, refused (414) before GraphQL sees it, in
    # the media type Accept asks for.
    too_long = {"query": "{ __typename }" + " " * 9_000}
    for accept in ("text/html", "application/json", "application/graphql-response+json"):
        for params in ({}, {"query": "{ __typename }"}, {"query": "{ nope"}, too_long):
            response = await client.get("/graphql", params=params, headers={"accept": accept})
            vary = {v.strip().lower() for v in response.headers.get("vary", "").split(",")}
            assert "accept" in vary, (accept, params, response.headers)


async def test_a_request_that_fails_before_execution_has_no_data(
    client: httpx.AsyncClient,
) -> None:
    for query, variables in (
        ("{ film(slug: ", None),
        ("{ nope }", None),
        ("query($n: Int!) { films(first: $n) { totalCount } }", {"n": "3"}),
        ("query($n: Int!) { films(first: $n) { totalCount } }", None),
    ):
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200
        body = response.json()
        assert "data" not in body, body
        assert body["errors"]


async def test_a_variable_error_names_the_variable_and_quotes_graphql(
    client: httpx.AsyncClient,
) -> None:
    query = (
        "query($region: String!, $order: [FilmOrder!], $slug: String!) "
        "{ film(slug: $slug) { offers(region: $region) { kind } } "
        "films(orderBy: $order) { totalCount } }"
    )
    variables = {
        "region": ["US"],
        "order": [{"field": "TITLE", "direction": None, "extra": True}],
        "slug": None,
    }
    body = await post(client, query, variables)
    assert "data" not in body
    errors = {e["extensions"]["argument"]: e for e in body["errors"]}
    assert set(errors) == {"$region", "$order", "$slug"}
    assert all(e["extensions"]["code"] == "BAD_USER_INPUT" for e in errors.values())
    assert errors["$region"]["message"] == (
        "Variable '$region' has invalid value: String cannot represent a non string value: [\"US\"]"
    )
    order = " ".join(
        e["message"] for e in body["errors"] if e["extensions"]["argument"] == "$order"
    )
    assert '{field: "TITLE", direction: null, extra: true}' in order
    assert "None" not in order and "True" not in order
    assert errors["$slug"]["message"].endswith("not to be null.")


async def test_a_wrong_enum_value_in_a_variable_is_quoted_as_graphql(
    client: httpx.AsyncClient,
) -> None:
    """A string where an enum value is expected, at the top of a variable or deep in an input
    object's list, is quoted as the JSON string it was (`"director"`), not as Python's."""
    body = await post(
        client,
        "query($role: CreditRole, $filter: FilmFilter) "
        '{ person(slug: "x") { filmography(role: $role, first: 1) { totalCount } } '
        "films(filter: $filter) { totalCount } }",
        {"role": "director", "filter": {"availability": {"kinds": ["RENT", "it's"]}}},
    )
    assert "data" not in body
    messages = {e["extensions"]["argument"]: e["message"] for e in body["errors"]}
    assert messages["$role"].startswith(
        "Variable '$role' has invalid value: Value \"director\" does not exist in "
        "'CreditRole' enum."
    )
    assert messages["$filter"] == (
        "Variable '$filter' has invalid value at .availability.kinds[1]: "
        "Value \"it's\" does not exist in 'OfferKind' enum."
    )


async def test_several_lookup_keys_name_the_extra_one(client: httpx.AsyncClient) -> None:
    body = await post(client, '{ film(id: "RmlsbTox", slug: "refusenik-2007") { title } }')
    assert body["data"] == {"film": None}
    (error,) = body["errors"]
    assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": "slug"}
    assert (
        error["message"]
        == "pass exactly one of: id, slug, imdbId, tmdbId, wikidataId (got id and slug)"
    )


async def test_a_bad_root_connection_leaves_the_rest_of_the_page(
    client: httpx.AsyncClient,
) -> None:
    """Root lists are nullable: one bad argument nulls its field, not the whole answer."""
    body = await post(
        client,
        '{ film(slug: "refusenik-2007") { title } films(first: 1000) { totalCount } '
        'genres(first: 0) { totalCount } search(query: "x", first: 99) { __typename } '
        "providers(first: 1) { totalCount } }",
    )
    assert body["data"]["film"] == {"title": "Refusenik"}
    assert body["data"]["films"] is None
    assert body["data"]["genres"] is None
    assert body["data"]["search"] is None
    assert body["data"]["providers"]["totalCount"] > 0
    assert [e["path"] for e in body["errors"]] == [["films"], ["genres"], ["search"]]


async def test_a_bad_id_list_leaves_the_rest_of_the_page(client: httpx.AsyncClient) -> None:
    """`nodes` and `resolveIds` are root lists too: a malformed id, or too many, nulls that
    field alone."""
    body = await post(
        client,
        'query($many: [ID!]!) { film(slug: "refusenik-2007") { title } '
        'nodes(ids: ["not an id"]) { id } resolveIds(ids: ["nope"]) { id } '
        "many: nodes(ids: $many) { id } }",
        {"many": ["RmlsbTox"] * 101},
    )
    assert body["data"] == {
        "film": {"title": "Refusenik"},
        "nodes": None,
        "resolveIds": None,
        "many": None,
    }
    assert [(e["path"], e["extensions"]["argument"]) for e in body["errors"]] == [
        (["nodes"], "ids"),
        (["resolveIds"], "ids"),
        (["many"], "ids"),
    ]
