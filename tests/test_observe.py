"""Observability (issue 14): /metrics, the request id, JSON request logs and OpenTelemetry
spans, seen from outside, on a live server."""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from graph.app import create_app
from graph.embedded import free_port
from graph.metrics import MAX_OPERATIONS, OTHER
from graph.settings import Settings
from tests.conftest import LiveServer
from tests.importing import filmgraph_import
from tests.test_import_imdb import summary
from tests.test_import_movielens import movielens
from tests.test_serve_schema import Serve

FILM_PAGE = 'query FilmPage { film(slug: "refusenik-2007") { title directors { name } } }'
FILTERED = '{ films(filter: {genresAny: ["documentary"]}, first: 2) { totalCount } }'
UNKNOWN_FIELD = 'query Broken { film(slug: "refusenik-2007") { budget } }'


def scrape(
    client: httpx.Client, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and labels."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_as_requests_are_made(dsn: str) -> None:
    with LiveServer(create_app(Settings(), dsn)) as live, httpx.Client(base_url=live.url) as c:
        before = scrape(c)
        for _ in range(2):
            body = c.post("/graphql", json={"query": FILM_PAGE}).json()
            assert body["data"]["film"]["title"] == "Refusenik", body
        assert c.post("/graphql", json={"query": UNKNOWN_FIELD}).json()["errors"]
        # A GET twice: answered once by the view, once from the response cache.
        for _ in range(2):
            got = c.get("/graphql", params={"query": "{ genres(first: 1) { totalCount } }"})
            assert got.status_code == 200, got.text
            # The hit too, answered before the middleware (graph/app.py App).
            assert len(got.headers["x-request-id"]) >= 16, got.headers
        after = scrape(c)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("filmgraph_requests_total", operation="FilmPage", code="OK") == 2
    assert (
        moved("filmgraph_requests_total", operation="Broken", code="GRAPHQL_VALIDATION_FAILED") == 1
    )
    assert moved("filmgraph_requests_total", operation="anonymous", code="OK") == 2
    assert moved("filmgraph_request_duration_seconds_count", operation="FilmPage") == 2
    assert moved("filmgraph_request_duration_seconds_sum", operation="FilmPage") > 0
    assert moved("filmgraph_request_duration_seconds_bucket", operation="FilmPage", le="+Inf") == 2
    # Every request that ran its operation ran SQL (the cache hit and the invalid one ran none).
    assert moved("filmgraph_request_sql_statements_count") == 4
    assert moved("filmgraph_request_sql_statements_sum") >= 3
    assert moved("filmgraph_request_sql_duration_seconds_sum") > 0
    # The film page parsed and validated once, then found in the cache.
    assert moved("filmgraph_cache_lookups_total", cache="parse", result="hit") >= 1
    assert moved("filmgraph_cache_lookups_total", cache="validation", result="miss") >= 2
    assert moved("filmgraph_cache_lookups_total", cache="response", result="miss") == 1
    assert moved("filmgraph_cache_lookups_total", cache="response", result="hit") == 1
    assert ("filmgraph_pool_connections", (("state", "idle"),)) in after
    assert value(after, "filmgraph_pool_connections", state="in_use") == 0
    assert ("filmgraph_pool_waits_total", ()) in after
    assert ("filmgraph_rate_limited_requests_total", ()) in after


def test_rate_limit_refusals_are_counted(dsn: str) -> None:
    settings = Settings(rate_limit=True, rate_limit_points=3)
    app = create_app(settings, dsn)
    with LiveServer(app, settings) as live, httpx.Client(base_url=live.url) as c:
        codes = [c.post("/graphql", json={"query": FILM_PAGE}).status_code for _ in range(3)]
        assert 429 in codes, codes
        samples = scrape(c)
    refused = codes.count(429)
    assert value(samples, "filmgraph_rate_limited_requests_total") == refused
    assert (
        value(samples, "filmgraph_requests_total", operation="anonymous", code="RATE_LIMITED")
        + value(samples, "filmgraph_requests_total", operation="FilmPage", code="RATE_LIMITED")
        == refused
    )


def test_metrics_behind_a_token(dsn: str) -> None:
    settings = Settings(metrics_token="s3cret")
    with (
        LiveServer(create_app(settings, dsn), settings) as live,
        httpx.Client(base_url=live.url) as c,
    ):
        refused = c.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert scrape(c, authorization="Bearer s3cret")  # 200, and figures
    off = Settings(metrics=False)
    with LiveServer(create_app(off, dsn), off) as live, httpx.Client(base_url=live.url) as c:
        assert c.get("/metrics").status_code == 404


def test_metrics_on_a_port_of_their_own(dsn: str) -> None:
    settings = Settings(metrics_port=free_port(), metrics_token="s3cret")
    own = f"http://127.0.0.1:{settings.metrics_port}"
    with (
        LiveServer(create_app(settings, dsn), settings) as live,
        httpx.Client(base_url=live.url) as api,
        httpx.Client(base_url=own) as scraper,
    ):
        assert api.get("/metrics").status_code == 404  # not on the API's port
        assert scraper.get("/metrics").status_code == 401
        assert scraper.get("/graphql").status_code == 404
        before = scrape(scraper, authorization="Bearer s3cret")
        assert api.post("/graphql", json={"query": FILM_PAGE}).status_code == 200
        after = scrape(scraper, authorization="Bearer s3cret")
    key = ("filmgraph_requests_total", (("code", "OK"), ("operation", "FilmPage")))
    assert after[key] - before.get(key, 0) == 1


def test_import_rows_by_table_and_outcome(empty_dsn: str, scratch_dir: Path) -> None:
    files = movielens(scratch_dir / "ml")
    runs = [filmgraph_import(empty_dsn, "movielens", files) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr
    with (
        LiveServer(create_app(Settings(), empty_dsn)) as live,
        httpx.Client(base_url=live.url) as c,
    ):
        samples = scrape(c)
    # What both imports said they wrote, added up: the films inserted by the first, found
    # unchanged by the second.
    tallies = [summary(r.stdout, deleted=True) for r in runs]
    outcomes = ("inserted", "updated", "unchanged", "rejected", "deleted")
    for table in {*tallies[0], *tallies[1]}:
        for i, outcome in enumerate(outcomes):
            written = sum(t.get(table, [0] * 5)[i] for t in tallies)
            got = value(samples, "filmgraph_import_rows_total", table=table, outcome=outcome)
            assert got == written, (table, outcome)
    film = value(samples, "filmgraph_import_rows_total", table="film", outcome="inserted")
    assert film == value(samples, "filmgraph_import_rows_total", table="film", outcome="unchanged")
    assert film > 0


def test_request_id_comes_back_and_is_on_every_error(dsn: str) -> None:
    with LiveServer(create_app(Settings(), dsn)) as live, httpx.Client(base_url=live.url) as c:
        ok = c.post("/graphql", json={"query": FILM_PAGE})
        assert len(ok.headers["x-request-id"]) == 16
        given = c.post(
            "/graphql", json={"query": UNKNOWN_FIELD}, headers={"x-request-id": "lb-7f3a.42"}
        )
        assert given.headers["x-request-id"] == "lb-7f3a.42"
        assert [e["extensions"]["requestId"] for e in given.json()["errors"]] == ["lb-7f3a.42"]
        # One made up by a client is replaced, not logged as sent.
        odd = c.post("/graphql", json={"query": "{"}, headers={"x-request-id": 'a b"<>'})
        rid = odd.headers["x-request-id"]
        assert rid != 'a b"<>' and len(rid) == 16
        assert odd.json()["errors"][0]["extensions"] == {
            "code": "GRAPHQL_PARSE_FAILED",
            "requestId": rid,
        }
        # Refused before GraphQL saw it: the id is there too.
        bad = c.post("/graphql", content=b"[1", headers={"content-type": "application/json"})
        assert bad.status_code == 400
        assert bad.json()["errors"][0]["extensions"]["requestId"] == bad.headers["x-request-id"]


def test_spans_of_a_request(dsn: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(Settings(), dsn, tracer_provider=provider)
    with LiveServer(app) as live, httpx.Client(base_url=live.url) as c:
        first = c.post("/graphql", json={"query": FILM_PAGE})  # parsed, validated, compiled
        assert first.json()["data"]["film"]["title"] == "Refusenik"
        traced = exporter.get_finished_spans()
        exporter.clear()
        again = c.post("/graphql", json={"query": FILM_PAGE})  # the fast path
        assert again.json()["data"]["film"]["title"] == "Refusenik"
        fast = exporter.get_finished_spans()
        exporter.clear()
        # A filtered page runs a statement prepared for its values, outside asyncpg's log.
        filtered = c.post("/graphql", json={"query": FILTERED})
        assert filtered.json()["data"]["films"]["totalCount"] >= 1, filtered.text
        planned = exporter.get_finished_spans()
    for spans, response in ((traced, first), (fast, again)):
        (root,) = [s for s in spans if s.parent is None]
        assert root.name == "query FilmPage"
        assert root.kind == SpanKind.SERVER
        attributes = dict(root.attributes or {})
        assert attributes["graphql.operation.name"] == "FilmPage"
        assert attributes["graphql.operation.type"] == "query"
        assert attributes["http.request.method"] == "POST"
        assert attributes["http.response.status_code"] == 200
        assert attributes["url.path"] == "/graphql"
        assert attributes["client.address"] == "127.0.0.1"
        assert attributes["filmgraph.request_id"] == response.headers["x-request-id"]
        assert {s.context.trace_id for s in spans} == {root.context.trace_id}
        sql = [s for s in spans if s.kind == SpanKind.CLIENT]
        assert sql, [s.name for s in spans]
        for statement in sql:
            a = dict(statement.attributes or {})
            assert a["db.system"] == "postgresql"
            assert str(a["db.query.text"]).lower().startswith(("select", "with"))
            execute = _parent(spans, statement)
            assert execute.name == "graphql.execute"
            assert _parent(spans, execute) is root
    statements = [dict(s.attributes or {}) for s in planned if s.kind == SpanKind.CLIENT]
    assert len(statements) == 1, statements  # compiled: one statement
    assert all(a["db.system"] == "postgresql" for a in statements)
    names = [s.name for s in traced if s.parent is not None and s.kind != SpanKind.CLIENT]
    assert {"graphql.parse", "graphql.validate", "graphql.execute"} <= set(names)
    assert {s.name for s in fast if s.kind == SpanKind.INTERNAL} == {"graphql.execute"}


def _parent(spans: tuple[ReadableSpan, ...], span: ReadableSpan) -> ReadableSpan:
    assert span.parent is not None
    (parent,) = [s for s in spans if s.context.span_id == span.parent.span_id]
    return parent


def test_two_workers_report_the_whole_server_and_log_json(dsn: str) -> None:
    serve = Serve(dsn, "--workers", "2", FILMGRAPH_LOG_FORMAT="json")
    served: dict[int, int] = {}
    scrapes: dict[int, float] = {}
    try:
        serve.wait_for("(2 workers)")
        deadline = time.monotonic() + 60
        # A connection of its own each time: the kernel gives it to either worker, and
        # /healthz says which.
        while len(served) < 2 or min(served.values()) < 2:
            assert time.monotonic() < deadline, served
            with httpx.Client(base_url=serve.http.base_url, trust_env=False) as c:
                pid = c.get("/healthz").json()["worker"]
                body = c.post("/graphql", json={"query": FILM_PAGE}).json()
                assert body["data"]["film"]["title"] == "Refusenik", body
                served[pid] = served.get(pid, 0) + 1
        total = sum(served.values())
        while len(scrapes) < 2:
            assert time.monotonic() < deadline, scrapes
            with httpx.Client(base_url=serve.http.base_url, trust_env=False) as c:
                pid = c.get("/healthz").json()["worker"]
                scrapes[pid] = value(
                    scrape(c), "filmgraph_requests_total", operation="FilmPage", code="OK"
                )
    finally:
        code = serve.stop()
    assert code == 0, "".join(serve.seen)
    # Whichever worker answers, it reports every request of the server.
    assert set(scrapes) == set(served)
    assert list(scrapes.values()) == [total, total]
    lines = [json.loads(line) for line in serve.seen if line.startswith('{"event":"request"')]
    assert len(lines) == total, serve.seen
    ids = set()
    for line in lines:
        assert line["operationName"] == "FilmPage"
        assert line["operationType"] == "query"
        assert line["code"] == "OK" and line["status"] == 200
        assert line["client"] == "127.0.0.1"
        assert line["cost"] > 0
        assert line["sqlStatements"] >= 1 and line["sqlMs"] > 0
        assert line["durationMs"] >= line["sqlMs"]
        assert len(line["documentHash"]) == 64
        ids.add(line["requestId"])
    assert len(ids) == total
    # Every line of the log is JSON, uvicorn's too, but the announcement for a terminal.
    for line in serve.seen:
        if line.strip() and not line.startswith("filmgraph: "):
            json.loads(line)


def test_operation_names_are_bounded(dsn: str) -> None:
    """Operation names are the clients': past MAX_OPERATIONS of them, the rest count as OTHER."""
    with LiveServer(create_app(Settings(), dsn)) as live, httpx.Client(base_url=live.url) as c:
        for i in range(MAX_OPERATIONS + 5):
            body = c.post("/graphql", json={"query": f"query Op{i} {{ __typename }}"}).json()
            assert body["data"] == {"__typename": "Query"}
        long = "L" * 300
        assert (
            c.post("/graphql", json={"query": f"query {long} {{ __typename }}"}).status_code == 200
        )
        samples = scrape(c)
    named = {
        dict(labels)["operation"]
        for (name, labels) in samples
        if name == "filmgraph_requests_total"
    }
    assert len(named) == MAX_OPERATIONS + 1  # and OTHER
    assert value(samples, "filmgraph_requests_total", operation=OTHER, code="OK") == 6


def test_operation_names_the_document_does_not_define_take_no_label(dsn: str) -> None:
    """An operationName the document does not define (refused 400) is the client's alone: it
    counts as OTHER, so that junk names cannot use up the labels of real operations."""
    with LiveServer(create_app(Settings(), dsn)) as live, httpx.Client(base_url=live.url) as c:
        for i in range(MAX_OPERATIONS + 5):
            junk = {"query": "{ __typename }", "operationName": f"junk\n{i}"}
            assert c.post("/graphql", json=junk).status_code == 400
        real = c.post("/graphql", json={"query": "query Real { __typename }"})
        assert real.json()["data"] == {"__typename": "Query"}
        samples = scrape(c)
    named = {
        dict(labels)["operation"]
        for (name, labels) in samples
        if name == "filmgraph_requests_total"
    }
    assert named == {"Real", OTHER}
    assert value(samples, "filmgraph_requests_total", operation="Real", code="OK") == 1
    assert (
        value(samples, "filmgraph_requests_total", operation=OTHER, code="BAD_REQUEST")
        == MAX_OPERATIONS + 5
    )


def test_a_long_operation_name_is_cut_in_the_log_line(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A client's operation name, 40 KB long, is not repeated whole in the request's JSON log
    line: log collectors split lines past 16 KB (Docker's), and the line is no longer JSON."""
    name = "N" * 40_000
    settings = Settings(log_format="json")
    caplog.set_level(logging.INFO, logger="graph.observe")
    with (
        LiveServer(create_app(settings, dsn), settings) as live,
        httpx.Client(base_url=live.url) as c,
    ):
        for body in (
            {"query": f"query {name} {{ __typename }}"},
            {"query": "{ __typename }", "operationName": name},
        ):
            assert c.post("/graphql", json=body).status_code in (200, 400)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "graph.observe"]
    assert len(lines) == 2, lines
    for line in lines:
        assert line["operationName"].startswith("NNN")
        assert len(json.dumps(line)) < 2_000, len(json.dumps(line))


def test_a_scraper_that_resets_its_connection_logs_no_error(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """On the metrics port, a connection reset before the head is read, or before the answer
    is written, is the scraper's business: no error with a traceback in the server's log
    (anyone who reaches the port could fill the log with them)."""
    settings = Settings(metrics_port=free_port(), metrics_token="s3cret")
    own = f"http://127.0.0.1:{settings.metrics_port}"
    with LiveServer(create_app(settings, dsn), settings) as live, httpx.Client(base_url=own) as c:
        assert httpx.get(f"{live.url}/healthz").status_code == 200  # started, port open
        for head in (
            b"GET /metrics HTTP/1.1\r\n",
            b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n",
        ):
            sock = socket.create_connection(("127.0.0.1", settings.metrics_port))
            sock.sendall(head)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # a reset
        # The scrapes after them are answered, and so the resets have been handled by then.
        for _ in range(3):
            assert scrape(c, authorization="Bearer s3cret")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_named_operation_answered_from_the_cache_keeps_its_name(dsn: str) -> None:
    """A GET answered from the response cache counts under its operation's name, as its miss
    did, not as `anonymous`."""
    named = {"query": "query CachedGenres { genres(first: 1) { totalCount } }"}
    with LiveServer(create_app(Settings(), dsn)) as live, httpx.Client(base_url=live.url) as c:
        for _ in range(3):
            assert c.get("/graphql", params=named).status_code == 200
        samples = scrape(c)
    assert value(samples, "filmgraph_requests_total", operation="CachedGenres", code="OK") == 3
    assert value(samples, "filmgraph_requests_total", operation="anonymous", code="OK") == 0


def test_production_warns_of_public_metrics(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="graph.app")

    def warned(settings: Settings) -> bool:
        caplog.clear()
        create_app(settings, dsn)
        return any("metrics public" in r.getMessage() for r in caplog.records)

    assert warned(Settings(environment="production"))
    assert not warned(Settings(environment="production", metrics_token="s3cret"))
    assert not warned(Settings(environment="production", metrics_port=9464))
    assert not warned(Settings(environment="production", metrics=False))
    assert not warned(Settings())  # development: on localhost, for the developer
