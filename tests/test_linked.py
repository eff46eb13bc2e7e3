"""Linked data (issue 13): schema.org JSON-LD out (`Film.jsonLd`, `Person.jsonLd`, GET
/films/{slug} and /people/{slug}, `filmgraph export jsonld`) and any external id in (`film`
and `person` by TMDB and Wikidata id, `resolveIds`, `filmgraph import wikidata`).

The documents are checked as linked data, not as text: each is expanded to RDF by a JSON-LD
processor (pyld) and the test reads its triples. The processor gets the schema.org context
from tests/fixtures/schema.org-context.jsonld (the vocabulary and the terms these documents
use that the real context types as IRIs), never from the network.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import httpx
import pytest
from pyld import jsonld

from graph.app import create_app
from graph.settings import Settings
from tests.conftest import LiveServer, extensions, gql, gql_error, post, version_known
from tests.importing import env, filmgraph_import, fingerprint
from tests.test_import_imdb import rejects, summary

FIXTURES = Path(__file__).parent / "fixtures"
CONTEXT = json.loads((FIXTURES / "schema.org-context.jsonld").read_text())
SCHEMA = "http://schema.org/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"
BASE = Settings().public_url


def _schema_org(url: str, options: Any = None) -> dict[str, Any]:
    if url.rstrip("/") not in ("https://schema.org", "http://schema.org"):
        raise AssertionError(f"the documents name no context but schema.org's, got {url}")
    return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url,
            "document": CONTEXT}  # fmt: skip


class Literal(NamedTuple):
    value: str
    datatype: str


Term = str | Literal


class Triples:
    """A JSON-LD document as RDF: IRIs and blank nodes as strings, literals as Literal."""

    def __init__(self, document: Any) -> None:
        dataset = jsonld.to_rdf(document, {"documentLoader": _schema_org})
        self.triples = [
            (_term(t["subject"]), t["predicate"]["value"], _term(t["object"]))
            for t in dataset["@default"]
        ]
        assert self.triples, "the document expands to nothing"

    def objects(self, subject: str, prop: str) -> list[Term]:
        predicate = prop if prop.startswith("http") else SCHEMA + prop
        return [o for s, p, o in self.triples if s == subject and p == predicate]

    def one(self, subject: str, prop: str) -> Term:
        found = self.objects(subject, prop)
        assert len(found) == 1, (subject, prop, found)
        return found[0]

    def node(self, subject: str, prop: str) -> str:
        value = self.one(subject, prop)
        assert isinstance(value, str), (subject, prop, value)
        return value

    def text(self, subject: str, prop: str) -> str:
        value = self.one(subject, prop)
        assert isinstance(value, Literal), (subject, prop, value)
        return value.value

    def texts(self, subject: str, prop: str) -> set[str]:
        return {o.value for o in self.objects(subject, prop) if isinstance(o, Literal)}

    def type(self, subject: str) -> str:
        return self.node(subject, RDF_TYPE).removeprefix(SCHEMA)


def _term(t: dict[str, str]) -> Term:
    if t["type"] == "literal":
        return Literal(t["value"], t.get("datatype", XSD + "string"))
    return t["value"]


FILM_FACTS = """
query Facts($slug: String!) {
  film(slug: $slug) {
    jsonLd title year releaseDate runtimeMinutes certification imdbRating imdbVotes
    imdbId tmdbId wikidataId
    genres { name }
    directors { slug name } writers { slug name }
    cast(first: 100) { person { slug name } }
    offers { kind region price currency url availableFrom availableUntil provider { name } }
  }
}
"""


def _offer_rows(graph: Triples, film: str) -> set[tuple[Any, ...]]:
    """Each WatchAction of the film, as what a client reads from it."""
    rows = set()
    for action in graph.objects(film, "potentialAction"):
        assert isinstance(action, str)
        assert graph.type(action) == "WatchAction"
        target = graph.node(action, "target")
        access = graph.node(action, "actionAccessibilityRequirement")
        assert graph.type(access) == "ActionAccessSpecification"
        region = graph.node(access, "eligibleRegion")
        assert graph.type(region) == "Country"
        offer = graph.node(access, "expectsAcceptanceOf")
        assert graph.type(offer) == "Offer"
        seller = graph.node(offer, "offeredBy")
        assert graph.type(seller) == "Organization"
        price = graph.objects(offer, "price")
        rows.add(
            (
                graph.text(access, "category"),
                graph.text(region, "name"),
                price[0].value if price and isinstance(price[0], Literal) else None,
                next(iter(graph.texts(offer, "priceCurrency")), None),
                next(iter(graph.texts(target, "urlTemplate")), None),
                next(iter(graph.texts(access, "availabilityStarts")), None),
                next(iter(graph.texts(access, "availabilityEnds")), None),
                graph.text(seller, "name"),
            )
        )
    return rows


def _instant(value: str | None) -> str | None:
    return None if value is None else value.replace("+00:00", "Z")


def check_movie(film: dict[str, Any], base: str = BASE) -> Triples:
    """The film's jsonLd says, as RDF, what its GraphQL fields say."""
    graph = Triples(film["jsonLd"])
    slug = film["jsonLd"]["@id"].rsplit("/", 1)[1]
    iri = f"{base}/films/{slug}"
    assert graph.type(iri) == "Movie"
    assert graph.objects(iri, "url") == [iri]
    assert graph.text(iri, "name") == film["title"]
    assert graph.text(iri, "datePublished") == (film["releaseDate"] or str(film["year"]))
    assert graph.text(iri, "duration") == f"PT{film['runtimeMinutes']}M"
    assert graph.text(iri, "contentRating") == film["certification"]
    assert graph.texts(iri, "genre") == {g["name"] for g in film["genres"]}
    for prop, people in (
        ("director", film["directors"]),
        ("author", film["writers"]),
        ("actor", [c["person"] for c in film["cast"]]),
    ):
        nodes = set(graph.objects(iri, prop))
        assert nodes == {f"{base}/people/{p['slug']}" for p in people}, prop
        for p in people:
            node = f"{base}/people/{p['slug']}"
            assert graph.type(node) == "Person"
            assert graph.text(node, "name") == p["name"]
    rating = graph.node(iri, "aggregateRating")
    assert graph.type(rating) == "AggregateRating"
    assert float(graph.text(rating, "ratingValue")) == film["imdbRating"]
    assert int(graph.text(rating, "ratingCount")) == film["imdbVotes"]
    same_as = {
        f"https://www.imdb.com/title/{film['imdbId']}/" if film["imdbId"] else None,
        f"https://www.themoviedb.org/movie/{film['tmdbId']}" if film["tmdbId"] else None,
        f"https://www.wikidata.org/wiki/{film['wikidataId']}" if film["wikidataId"] else None,
    } - {None}
    assert set(graph.objects(iri, "sameAs")) == same_as  # IRIs, not strings
    expected = {
        (
            o["kind"].lower(),
            o["region"],
            o["price"],
            o["currency"],
            o["url"],
            _instant(o["availableFrom"]),
            _instant(o["availableUntil"]),
            o["provider"]["name"],
        )
        for o in film["offers"]
    }
    assert _offer_rows(graph, iri) == expected
    assert len(graph.objects(iri, "potentialAction")) == len(film["offers"])
    return graph


async def test_film_json_ld_is_the_film_as_schema_org_movie(client: httpx.AsyncClient) -> None:
    film = (await gql(client, FILM_FACTS, {"slug": "the-godfather-1972"}))["film"]
    assert film["jsonLd"]["@context"] == "https://schema.org"
    graph = check_movie(film)
    iri = f"{BASE}/films/the-godfather-1972"
    # Every external id the graph holds, and each kind of offer the demo has for it.
    assert len(graph.objects(iri, "sameAs")) == 3
    assert {row[0] for row in _offer_rows(graph, iri)} >= {"subscription", "rent", "buy"}
    rent = [row for row in _offer_rows(graph, iri) if row[0] == "rent" and row[2] is not None]
    assert rent and all(row[3] for row in rent)  # a price comes with its currency


async def test_person_json_ld(client: httpx.AsyncClient) -> None:
    query = """{ person(slug: "francis-ford-coppola") {
        jsonLd name birthYear deathYear biography imdbId } }"""
    person = (await gql(client, query))["person"]
    graph = Triples(person["jsonLd"])
    iri = f"{BASE}/people/francis-ford-coppola"
    assert graph.type(iri) == "Person"
    assert graph.text(iri, "name") == person["name"]
    assert graph.text(iri, "birthDate") == str(person["birthYear"])
    assert graph.objects(iri, "deathDate") == []
    assert graph.text(iri, "description") == person["biography"]
    assert graph.objects(iri, "sameAs") == [f"https://www.imdb.com/name/{person['imdbId']}/"]


@pytest.fixture(scope="module")
def resolvers(dsn: str) -> Iterator[LiveServer]:
    with LiveServer(create_app(Settings(execution="resolvers"), dsn)) as server:
        yield server


async def test_compiled_resolvers_and_pages_serve_one_document(
    client: httpx.AsyncClient, resolvers: LiveServer
) -> None:
    query = """{ film(imdbId: "tt0068646") { jsonLd directors { jsonLd } }
                 person(slug: "al-pacino") { jsonLd } }"""
    compiled = await post(client, query)
    assert compiled["extensions"]["execution"] == "compiled"
    async with httpx.AsyncClient(base_url=resolvers.url, timeout=30) as other:
        by_resolvers = await post(other, query)
    assert by_resolvers["extensions"]["execution"] == "resolvers"
    assert compiled["data"] == by_resolvers["data"]
    page = await client.get("/films/the-godfather-1972", headers={"accept": "application/ld+json"})
    assert page.json() == compiled["data"]["film"]["jsonLd"]
    page = await client.get("/people/al-pacino")
    assert page.json() == compiled["data"]["person"]["jsonLd"]


async def test_pages_negotiate_cache_and_refuse_unknown_slugs(client: httpx.AsyncClient) -> None:
    await version_known(client)
    path = "/films/refusenik-2007"
    response = await client.get(path, headers={"accept": "application/ld+json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    assert response.headers["cache-control"].startswith("public, max-age=")
    assert "accept" in response.headers["vary"]
    document = response.json()
    Triples(document)
    again = await client.get(
        path,
        headers={"accept": "application/ld+json", "if-none-match": response.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""

    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    html = await client.get(path, headers={"accept": browser})
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["etag"] != response.headers["etag"]
    embedded = re.search(r'<script type="application/ld\+json">(.*?)</script>', html.text, re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1)) == document
    assert "<h1>Refusenik</h1>" in html.text

    for missing, kind in (("/films/no-such-film", "film"), ("/people/no-such-person", "person")):
        gone = await client.get(missing)
        assert gone.status_code == 404
        assert gone.json() == {
            "error": {
                "code": "NOT_FOUND",
                "message": f"no {kind} has the slug {missing.rsplit('/', 1)[1]!r}",
            }
        }
    assert (await client.get("/films/" + "x" * 400)).status_code == 404


async def test_pages_weigh_accept_by_quality_and_match_star_only_when_found(
    client: httpx.AsyncClient,
) -> None:
    await version_known(client)
    path = "/films/refusenik-2007"
    for accept, served in (
        ("text/html;q=0.1, application/ld+json", "application/ld+json"),
        ("application/ld+json;q=0, text/html", "text/html"),
        ("application/json, text/html", "application/ld+json"),
        ("text/html, application/json", "text/html"),
        ("text/*;q=0.9, application/*;q=0.5", "text/html"),
        ("*/*", "application/ld+json"),
    ):
        response = await client.get(path, headers={"accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] == served, accept
    # "*" is any current representation: none for a slug nothing has.
    found = await client.get(path, headers={"if-none-match": "*"})
    assert found.status_code == 304
    for missing in ("/films/no-such-film", "/people/no-such-person"):
        gone = await client.get(missing, headers={"if-none-match": "*"})
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"


async def test_another_public_url_is_another_etag(dsn: str) -> None:
    """The documents' @ids come from FILMGRAPH_PUBLIC_URL: a server given another one (the
    same data, the same cursor secret) must not confirm with 304 what a cache holds from the
    first."""
    graphql = {"query": '{ film(slug: "refusenik-2007") { jsonLd } }'}
    asked = [("/films/refusenik-2007", None), ("/graphql", graphql)]
    seen: list[list[httpx.Response]] = []
    for url in ("http://127.0.0.1:8000", "https://films.example.org"):
        settings = replace(Settings(), public_url=url, cursor_secret="s" * 32)
        with LiveServer(create_app(settings, dsn), settings) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                await version_known(client)
                headers = (
                    [{"if-none-match": r.headers["etag"]} for r in seen[0]] if seen else [{}, {}]
                )
                seen.append(
                    [
                        await client.get(path, params=params, headers=h)
                        for (path, params), h in zip(asked, headers, strict=True)
                    ]
                )
    for response in seen[1]:
        assert response.status_code == 200, response.url
        assert "https://films.example.org/films/refusenik-2007" in response.text


async def test_pages_are_charged_to_the_clients_rate_limit(dsn: str) -> None:
    """A page is the document `{ film(slug:) { jsonLd } }` answers, and costs what it costs
    (1 point up front and 31 for the document), from the same bucket as /graphql: with rate
    limiting on, the pages are not a way round it."""
    settings = Settings(rate_limit=True, rate_limit_points=100)
    query = {"query": '{ film(slug: "refusenik-2007") { jsonLd } }'}
    with LiveServer(create_app(settings, dsn), settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            spent = [(await client.post("/graphql", json=query)).json() for _ in range(2)]
            served = await client.get("/films/refusenik-2007")
            refused = await client.get("/people/laura-bialis")
    assert [body["extensions"]["cost"] for body in spent] == [32, 32]  # and 1 up front each
    assert served.status_code == 200  # 98 points of 100
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "RATE_LIMITED"


async def test_offer_window_and_public_url(writable_dsn: str) -> None:
    conn = await asyncpg.connect(writable_dsn)
    try:
        await conn.execute(
            """update offer set available_from = '2026-01-01 00:00:00+00',
                   available_until = '2026-03-31 23:59:59+00'
               where film_id = (select id from film where slug = 'refusenik-2007')
                 and kind = 'RENT'"""
        )
        # A synopsis that would end the page's script element if written as it is.
        await conn.execute(
            "update film set synopsis = $1 where slug = 'refusenik-2007'",
            "A film.</script><script>alert('x')</script> <b>&amp;</b>",
        )
    finally:
        await conn.close()
    settings = replace(Settings(), public_url="https://films.example.org")
    with LiveServer(create_app(settings, writable_dsn), settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            film = (await gql(client, FILM_FACTS, {"slug": "refusenik-2007"}))["film"]
            html = await client.get("/films/refusenik-2007", headers={"accept": "text/html"})
    assert "<script>alert" not in html.text
    (embedded,) = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html.text, re.S)
    assert json.loads(embedded) == film["jsonLd"]
    assert film["jsonLd"]["description"].startswith("A film.</script>")
    graph = check_movie(film, "https://films.example.org")
    rows = _offer_rows(graph, "https://films.example.org/films/refusenik-2007")
    windows = {(row[0], row[5], row[6]) for row in rows if row[5]}
    assert windows == {("rent", "2026-01-01T00:00:00Z", "2026-03-31T23:59:59Z")}


async def test_film_and_person_by_tmdb_and_wikidata_id(client: httpx.AsyncClient) -> None:
    data = await gql(
        client,
        """{ a: film(tmdbId: 238) { title } b: film(wikidataId: "Q25188") { title }
             c: film(tmdbId: 99999999) { title } d: person(wikidataId: "Q1") { name }
             e: person(tmdbId: 1) { name } f: film(imdbId: "tt0000001") { title } }""",
    )
    assert data == {
        "a": {"title": "The Godfather"},
        "b": {"title": "Inception"},
        "c": None,
        "d": None,
        "e": None,
        "f": None,
    }
    for query, argument in (
        ('{ film(wikidataId: "47703") { title } }', "wikidataId"),
        ("{ film(tmdbId: 0) { title } }", "tmdbId"),
        ('{ person(wikidataId: "Q0") { name } }', "wikidataId"),
        ('{ film(imdbId: "garbage") { title } }', "imdbId"),
        ('{ person(imdbId: "tt0068646") { name } }', "imdbId"),
        ('{ film(imdbId: "nm0000233") { title } }', "imdbId"),
    ):
        error = await gql_error(client, query)
        assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": argument}
    error = await gql_error(client, '{ film(tmdbId: 238, slug: "x") { title } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


RESOLVE = """query Resolve($ids: [String!]!) {
  resolveIds(ids: $ids) { __typename ... on Film { title } ... on Person { name } }
}"""


async def test_resolve_ids(client: httpx.AsyncClient) -> None:
    ids = ["tt0068646", "nm0000338", "Q25188", "tmdb:movie:680", "tt9999999",
           "tmdb:person:1", "Q47703"]  # fmt: skip
    data = await gql(client, RESOLVE, {"ids": ids})
    assert data["resolveIds"] == [
        {"__typename": "Film", "title": "The Godfather"},
        {"__typename": "Person", "name": "Francis Ford Coppola"},
        {"__typename": "Film", "title": "Inception"},
        {"__typename": "Film", "title": "Pulp Fiction"},
        None,
        None,
        {"__typename": "Film", "title": "The Godfather"},
    ]
    assert (await gql(client, RESOLVE, {"ids": []}))["resolveIds"] == []
    for bad in (["tt0068646", "imdb:tt0068646"], ["tmdb:movie:0"], ["tmdb:movie:99999999999"],
                ["tt1"] * 101):  # fmt: skip
        error = await gql_error(client, RESOLVE, {"ids": bad})
        assert extensions(error) == {"code": "BAD_USER_INPUT", "argument": "ids"}, bad


def export(dsn: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "graph.cli", "export", "jsonld", *args],
        env=env(dsn),
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
async def films(client: httpx.AsyncClient) -> dict[str, Any]:
    """Every demo film's jsonLd, by @id."""
    data = await gql(client, "{ films(first: 100) { totalCount nodes { jsonLd } } }")
    assert data["films"]["totalCount"] == len(data["films"]["nodes"])
    return {n["jsonLd"]["@id"]: n["jsonLd"] for n in data["films"]["nodes"]}


async def test_export_streams_every_film(dsn: str, films: dict[str, Any]) -> None:
    done = export(dsn)
    assert done.returncode == 0, done.stderr
    documents = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert documents == [films[d["@id"]] for d in documents]  # Film.jsonLd's, each
    assert sorted(d["@id"] for d in documents) == sorted(films)
    assert f"exported {len(films)} film(s)".encode() in done.stderr

    # The region fewest films are offered in: its feed leaves the others out.
    (region, offered), *_ = await _rows(
        dsn, "select region, count(distinct film_id) from offer group by 1 order by 2, 1"
    )
    assert offered < len(films)
    feed = export(dsn, "--region", region.lower())
    assert feed.returncode == 0, feed.stderr
    documents = [json.loads(line) for line in feed.stdout.decode().splitlines()]
    assert len(documents) == offered
    for document in documents:
        graph = Triples(document)
        actions = graph.objects(document["@id"], "potentialAction")
        assert actions
        for action in actions:
            assert isinstance(action, str)
            access = graph.node(action, "actionAccessibilityRequirement")
            assert graph.text(graph.node(access, "eligibleRegion"), "name") == region

    whole = export(dsn, "--format", "jsonld")
    assert whole.returncode == 0, whole.stderr
    graph = Triples(json.loads(whole.stdout))
    movies = [s for s, p, o in graph.triples if p == RDF_TYPE and o == SCHEMA + "Movie"]
    assert sorted(movies) == sorted(films)

    bad = export(dsn, "--region", "USA")
    assert bad.returncode == 2
    assert b"not an ISO 3166-1 alpha-2 code" in bad.stderr


WIKIDATA = FIXTURES / "wikidata" / "films.json"

DIRECTORS = """select slug, wikidata_id from person
    where slug in ('francis-ford-coppola', 'quentin-tarantino', 'joel-coen', 'ethan-coen',
                   'david-fincher') order by slug"""
FILMS = "select imdb_id, wikidata_id from film where imdb_id = any($1::text[]) order by imdb_id"


async def _rows(dsn: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


async def test_import_wikidata(writable_dsn: str) -> None:
    before = await fingerprint(writable_dsn)
    refused = filmgraph_import(writable_dsn, "wikidata", WIKIDATA)
    assert refused.returncode == 1
    (reject,) = rejects(refused.stderr)
    assert re.fullmatch(
        r"films\.json:\d+: bad imdbId 'nm0000338' \(an IMDb title id such as tt0068646\) "
        r"\(at results\.bindings\[13\]\)",
        reject,
    ), reject
    assert await fingerprint(writable_dsn) == before

    done = filmgraph_import(writable_dsn, "wikidata", WIKIDATA, "--max-errors", "1")
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if line.startswith("filmgraph: ")]
    assert notes == [
        "filmgraph: films.json: tt0078788 is ambiguous in the file (items Q1000003, Q182692); "
        "left out",
        "filmgraph: films.json: Q25188 of tt0468569 is the film inception-2010's already; left out",
        "filmgraph: 1 film(s) not in the graph (by IMDb id) left out",
        "filmgraph: 1 director(s) matched ambiguously left alone",
    ]
    assert summary(done.stdout) == {"film": [0, 5, 2, 1], "person": [0, 4, 0, 0]}
    ids = ["tt0068646", "tt0110912", "tt0105236", "tt0116282", "tt0114369", "tt0443706",
           "tt0118715", "tt0078788", "tt0468569"]  # fmt: skip
    assert await _rows(writable_dsn, FILMS, ids) == [
        ("tt0068646", "Q47703"),
        ("tt0078788", None),  # two items in the file
        ("tt0105236", "Q72962"),
        ("tt0110912", "Q104123"),
        ("tt0114369", "Q190908"),
        ("tt0116282", "Q222720"),
        ("tt0118715", "Q223139"),
        ("tt0443706", "Q223374"),
        ("tt0468569", None),  # its item is Inception's
    ]
    assert await _rows(writable_dsn, DIRECTORS) == [
        ("david-fincher", None),  # one item per film, two films: which is he?
        ("ethan-coen", "Q13595531"),  # by name, among Fargo's two directors
        ("francis-ford-coppola", "Q56094"),  # The Godfather's only director
        ("joel-coen", "Q13595311"),
        ("quentin-tarantino", "Q3772"),  # the only director of two films, one item
    ]
    after = await fingerprint(writable_dsn)
    again = filmgraph_import(writable_dsn, "wikidata", WIKIDATA, "--max-errors", "1")
    assert again.returncode == 0, again.stderr
    assert summary(again.stdout) == {"film": [0, 0, 7, 1], "person": [0, 0, 4, 0]}
    assert await fingerprint(writable_dsn) == after


async def test_import_wikidata_leaves_a_sole_director_another_name_labels(
    writable_dsn: str, scratch_dir: Path
) -> None:
    """The film's only director on both sides is the item, unless the item's label names
    someone else: the graph's director and Wikidata's are then two people."""

    def binding(film: str, imdb: str, director: str, label: str) -> dict[str, Any]:
        entity = "http://www.wikidata.org/entity/"
        return {"item": {"type": "uri", "value": entity + film},
                "imdbId": {"type": "literal", "value": imdb},
                "director": {"type": "uri", "value": entity + director},
                "directorLabel": {"type": "literal", "xml:lang": "en", "value": label}}  # fmt: skip

    results = {
        "head": {"vars": ["item", "imdbId", "director", "directorLabel"]},
        "results": {
            "bindings": [
                binding("Q47703", "tt0068646", "Q7000001", "Somebody Else"),  # Coppola's
                binding("Q104123", "tt0110912", "Q3772", "Q3772"),  # no English label
            ]
        },
    }
    path = scratch_dir / "directors.json"
    path.write_text(json.dumps(results))
    done = filmgraph_import(writable_dsn, "wikidata", path)
    assert done.returncode == 0, done.stderr
    assert await _rows(writable_dsn, DIRECTORS) == [
        ("david-fincher", None),
        ("ethan-coen", None),
        ("francis-ford-coppola", None),
        ("joel-coen", None),
        ("quentin-tarantino", "Q3772"),
    ]


async def test_import_wikidata_an_items_ids_of_films_not_in_the_graph_make_nothing_doubtful(
    writable_dsn: str, scratch_dir: Path
) -> None:
    """Wikidata gives some film items a second IMDb id, a TV series' or a duplicate's: the
    item was left out as ambiguous whatever the graph held. Only the films of the graph are
    weighed: an item whose other id names no film of the graph is the one film's."""
    entity = "http://www.wikidata.org/entity/"

    def binding(film: str, imdb: str) -> dict[str, Any]:
        return {"item": {"type": "uri", "value": entity + film},
                "imdbId": {"type": "literal", "value": imdb}}  # fmt: skip

    results = {
        "head": {"vars": ["item", "imdbId"]},
        "results": {
            "bindings": [
                binding("Q47703", "tt0068646"),  # The Godfather
                binding("Q47703", "tt9900001"),  # a series' id, not in the graph
                binding("Q104123", "tt0110912"),  # Pulp Fiction
                binding("Q104123", "tt0105236"),  # Reservoir Dogs: both in the graph
            ]
        },
    }
    path = scratch_dir / "films.json"
    path.write_text(json.dumps(results))
    conn = await asyncpg.connect(writable_dsn)
    try:  # the demo's films have their items already
        await conn.execute("update film set wikidata_id = null")
    finally:
        await conn.close()
    done = filmgraph_import(writable_dsn, "wikidata", path)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if line.startswith("filmgraph: ")]
    assert notes == [
        "filmgraph: films.json: tt0105236 is ambiguous in the file (items Q104123); left out",
        "filmgraph: films.json: tt0110912 is ambiguous in the file (items Q104123); left out",
        "filmgraph: 1 film(s) not in the graph (by IMDb id) left out",
    ]
    assert await _rows(writable_dsn, FILMS, ["tt0068646", "tt0105236", "tt0110912"]) == [
        ("tt0068646", "Q47703"),
        ("tt0105236", None),
        ("tt0110912", None),
    ]


async def test_import_wikidata_reads_the_services_simple_json_download(
    writable_dsn: str, scratch_dir: Path
) -> None:
    """query.wikidata.org's download menu offers "JSON file" beside "SPARQL JSON": an array of
    objects of plain strings, a variable left unbound left out. It was refused as "not SPARQL
    JSON results"; it is read as the same results, bad rows at their index."""
    sparql = json.loads(WIKIDATA.read_text())
    simple = [{k: cell["value"] for k, cell in b.items()} for b in sparql["results"]["bindings"]]
    path = scratch_dir / "films.json"
    path.write_text(json.dumps(simple, indent=2))
    done = filmgraph_import(writable_dsn, "wikidata", path, "--max-errors", "1")
    assert done.returncode == 0, done.stderr
    (reject,) = rejects(done.stderr)
    assert re.fullmatch(
        r"films\.json:\d+: bad imdbId 'nm0000338' \(an IMDb title id such as tt0068646\) "
        r"\(at \[13\]\)",
        reject,
    ), reject
    assert summary(done.stdout) == {"film": [0, 5, 2, 1], "person": [0, 4, 0, 0]}
    assert await _rows(writable_dsn, DIRECTORS) == [
        ("david-fincher", None),
        ("ethan-coen", "Q13595531"),
        ("francis-ford-coppola", "Q56094"),
        ("joel-coen", "Q13595311"),
        ("quentin-tarantino", "Q3772"),
    ]
    path.write_text(json.dumps([{"item": "http://www.wikidata.org/entity/Q47703"}]))
    done = filmgraph_import(writable_dsn, "wikidata", path)
    assert done.returncode == 4
    assert "the query selects no ?imdbId" in done.stderr


async def test_import_wikidata_refuses_what_is_not_sparql_results(
    empty_dsn: str, scratch_dir: Path
) -> None:
    not_results = scratch_dir / "tmdb.json"
    not_results.write_text('{"results": []}')
    done = filmgraph_import(empty_dsn, "wikidata", not_results)
    assert done.returncode == 4
    assert "tmdb.json: not SPARQL JSON results" in done.stderr
    # The whole import is one file: cut short, it is refused, not counted as a bad row.
    whole = json.dumps({"head": {"vars": ["item", "imdbId"]}, "results": {"bindings": []}})
    for name, content in (("cut.json", whole[:-3].encode()), ("latin1.json", b"\xff{}")):
        (scratch_dir / name).write_bytes(content)
        done = filmgraph_import(empty_dsn, "wikidata", scratch_dir / name, "--max-errors", "5")
        assert done.returncode == 4, done.stderr
        assert done.stderr.splitlines()[-1].startswith(f"filmgraph: {name}:1: "), done.stderr
        assert done.stderr.splitlines()[-1].endswith("; nothing was imported"), done.stderr
    no_imdb = scratch_dir / "items.json"
    no_imdb.write_text('{"head": {"vars": ["item"]}, "results": {"bindings": []}}')
    done = filmgraph_import(empty_dsn, "wikidata", no_imdb)
    assert done.returncode == 4
    assert "the query selects no ?imdbId" in done.stderr


# Runs `filmgraph import`, then writes the process's peak resident memory (VmHWM, counted
# from its exec: ru_maxrss would count the forking test's own memory) on its last stderr line.
PEAK = """
import atexit, sys
from graph.cli import main
def peak():
    (line,) = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
    print(int(line.split()[1]) * 1024, file=sys.stderr)
atexit.register(peak)
sys.exit(main(["import", *sys.argv[1:]]))
"""


def _import_peak_rss(dsn: str, *args: str | Path) -> tuple[int, str, int]:
    """`filmgraph import ARGS…`: its exit status, stderr and peak resident memory (bytes)."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *map(str, args)],
        env=env(dsn),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    *lines, peak = done.stderr.splitlines()
    return done.returncode, "\n".join(lines), int(peak)


async def test_import_wikidata_streams_a_large_answer(writable_dsn: str, scratch_dir: Path) -> None:
    """An answer about every film is hundreds of megabytes: it was read whole, about six times
    its size in memory (1.2 GB for 200 MB). It is read as a stream: 60 MB of results (150,000
    bindings, as the service writes them) take what a small file takes, each binding is read
    (every film counted), and a bad one deep in the file is reported at its own line."""
    entity = "http://www.wikidata.org/entity/"
    count, bad = 150_000, 123_456
    path = scratch_dir / "films.json"
    with path.open("w", encoding="utf-8") as out:
        out.write('{\n "head": {\n  "vars": ["item", "itemLabel", "imdbId", "director"]\n },\n')
        out.write(' "results": {\n  "bindings": [\n')
        for i in range(count):
            binding = {
                "item": {"type": "uri", "value": f"{entity}Q{10_000_000 + i}"},
                "itemLabel": {"xml:lang": "en", "type": "literal", "value": f"Film {i} " * 8},
                "imdbId": {"type": "literal", "value": f"tt{20_000_000 + i}"},
                "director": {"type": "uri", "value": f"{entity}Q{30_000_000 + i}"},
            }
            if i == bad:
                binding["imdbId"]["value"] = "nm0000338"
            text = json.dumps(binding, indent=1).replace("\n", "\n   ")
            out.write(f"   {text}{',' if i < count - 1 else ''}\n")
        out.write("  ]\n }\n}\n")
    size = path.stat().st_size
    assert size > 60_000_000
    # The line each binding starts on, counted from the text.
    starts = [n for n, text in enumerate(path.read_text().splitlines(), 1) if text == "   {"]
    line = starts[bad]
    small = scratch_dir / "small.json"
    small.write_text((FIXTURES / "wikidata" / "films.json").read_text())
    status, _, floor = _import_peak_rss(writable_dsn, "wikidata", small, "--max-errors", "1")
    assert status == 0
    status, stderr, peak = _import_peak_rss(writable_dsn, "wikidata", path, "--max-errors", "1")
    assert status == 0, stderr
    assert rejects(stderr) == [
        f"films.json:{line}: bad imdbId 'nm0000338' (an IMDb title id such as tt0068646) "
        f"(at results.bindings[{bad}])"
    ]
    assert f"filmgraph: {count - 1} film(s) not in the graph (by IMDb id) left out" in stderr
    assert peak < floor + 32 * 2**20, (peak, floor, size)
