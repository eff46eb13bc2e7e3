"""GET /films/{slug} and /people/{slug}: a film's or a person's schema.org JSON-LD, the same
document as `Film.jsonLd`/`Person.jsonLd` (sql/migrations/0012_linked.sql builds it).

Content negotiation: `application/ld+json` (or `application/json`) gets the document; a
browser (`text/html` preferred) gets a small HTML page with the document embedded in a
`<script type="application/ld+json">`, as search engines read it. Answers carry an ETag of the
data version (docs/caching.md), so If-None-Match answers 304 until the graph changes, and
`Cache-Control: public, max-age=FILMGRAPH_CACHE_MAX_AGE_S` as GET /graphql does.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graph import db
from graph.db import CONNECTION_ERRORS, BoundedPool
from graph.errors import NOT_FOUND, SERVICE_UNAVAILABLE
from graph.httpcache import not_modified
from graph.settings import Settings

JSON_LD = "application/ld+json"
# Slugs as the graph stores them (the film and person tables' checks); anything else is
# no film or person at all.
MAX_SLUG_CHARS = 300


def wants_html(accept: str) -> bool:
    """Whether the client prefers HTML to JSON-LD: a browser's Accept names text/html before
    any JSON type (q-values ignored: browsers list what they prefer first)."""
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for media in types:
        if media in ("text/html", "application/xhtml+xml"):
            return True
        if media in (JSON_LD, "application/json", "*/*"):
            return False
    return False


def page(document: str) -> str:
    """The HTML page for a browser: the name as a heading, the JSON-LD embedded."""
    parsed = orjson.loads(document)
    name = html.escape(str(parsed.get("name", "")))
    # Inside <script>, "</script" would end the element and "<!--" change how the rest is
    # read: "<", ">" and "&" are written as JSON escapes instead, the same JSON.
    embedded = document.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (
        "<!doctype html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
        f"<title>{name}</title>\n"
        f'<script type="application/ld+json">{embedded}</script>\n'
        f"</head>\n<body>\n<h1>{name}</h1>\n"
        f"<pre>{html.escape(orjson.dumps(parsed, option=orjson.OPT_INDENT_2).decode())}</pre>\n"
        "</body>\n</html>\n"
    )


def routes(settings: Settings, version: Callable[[], int | None], fingerprint: str) -> list[Route]:
    max_age = f"public, max-age={settings.cache_max_age_s}"

    def endpoint(kind: str, statement: str) -> Callable[[Request], object]:
        async def serve(request: Request) -> Response:
            slug = request.path_params["slug"]
            as_html = wants_html(request.headers.get("accept", ""))
            current = version()
            etag = None
            if current is not None:
                seed = f"{fingerprint}\n{current}\n{request.url.path}\n{as_html}"
                digest = hashlib.blake2b(seed.encode("utf-8", "surrogatepass"), digest_size=16)
                etag = f'"{digest.hexdigest()}"'
                if not_modified(request.scope, etag.encode()):
                    return Response(status_code=304, headers=_headers(etag, max_age))
            document = None
            if len(slug) <= MAX_SLUG_CHARS and "\x00" not in slug:
                pool: BoundedPool = request.app.state.pool
                try:
                    document = await pool.fetchval(db.sql(statement), slug, settings.public_url)
                except (*CONNECTION_ERRORS, asyncpg.InternalClientError):
                    return JSONResponse(
                        {"error": {"code": SERVICE_UNAVAILABLE, "message": "database unavailable"}},
                        status_code=503,
                        headers={"retry-after": "1"},
                    )
            if document is None:
                return JSONResponse(
                    {
                        "error": {
                            "code": NOT_FOUND,
                            "message": f"no {kind} has the slug {slug[:100]!r}",
                        }
                    },
                    status_code=404,
                    headers={"vary": "accept"},
                )
            headers = _headers(etag, max_age) if current == version() else {"vary": "accept"}
            if as_html:
                return Response(page(document), media_type="text/html", headers=headers)
            return Response(document, media_type=JSON_LD, headers=headers)

        return serve

    return [
        Route("/films/{slug}", endpoint("film", "film_jsonld_by_slug"), methods=["GET"]),
        Route("/people/{slug}", endpoint("person", "person_jsonld_by_slug"), methods=["GET"]),
    ]


def _headers(etag: str | None, max_age: str) -> dict[str, str]:
    headers = {"vary": "accept", "cache-control": max_age}
    if etag is not None:
        headers["etag"] = etag
    return headers
