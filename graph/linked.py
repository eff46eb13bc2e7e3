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
import re
from collections.abc import Callable

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graph import db
from graph.cost import JSON_DOCUMENT_COST
from graph.db import CONNECTION_ERRORS, BoundedPool
from graph.errors import NOT_FOUND, RATE_LIMITED, SERVICE_UNAVAILABLE
from graph.httpcache import not_modified
from graph.ratelimit import Limiter, client_key
from graph.settings import Settings

JSON_LD = "application/ld+json"
# Slugs as the graph stores them (the film and person tables' checks); anything else is
# no film or person at all.
MAX_SLUG_CHARS = 300
# RFC 9110's qvalue: 0 to 1, at most three decimals.
QVALUE = re.compile(r"[01](\.[0-9]{0,3})?")


def wants_html(accept: str) -> bool:
    """Whether the client prefers HTML to JSON-LD, by RFC 9110's rules: each type's quality
    is that of the most specific range of Accept that matches it (`text/html`, then `text/*`,
    then `*/*`), and HTML wins when its quality is higher than JSON-LD's, or equal (and not 0)
    from a range listed before (a browser lists text/html first; `*/*` alone is JSON-LD)."""
    ranges = [_media_range(part) for part in accept.split(",") if part.strip()]
    page_q = max(_quality(ranges, t) for t in ("text/html", "application/xhtml+xml"))
    document_q = max(_quality(ranges, t) for t in (JSON_LD, "application/json"))
    # (q, minus the position): higher q first, then the range listed first.
    return page_q > document_q and page_q[0] > 0


def _media_range(part: str) -> tuple[str, float]:
    """A range of Accept and its q (1 when missing or not a qvalue)."""
    media, *params = (p.strip() for p in part.split(";"))
    q = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q" and QVALUE.fullmatch(value.strip()):
            q = min(float(value), 1.0)
    return media.lower(), q


def _quality(ranges: list[tuple[str, float]], media: str) -> tuple[float, int]:
    """The q the most specific matching range gives `media`, and minus that range's position
    (so that of two equal qualities, max() prefers the range listed first); 0 when none."""
    kind = media.split("/")[0] + "/*"
    best: tuple[int, float, int] | None = None  # specificity, q, position
    for at, (found, q) in enumerate(ranges):
        specific = 2 if found == media else 1 if found == kind else 0 if found == "*/*" else -1
        if specific >= 0 and (best is None or specific > best[0]):
            best = (specific, q, at)
    return (0.0, -len(ranges)) if best is None else (best[1], -best[2])


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


def routes(
    settings: Settings,
    version: Callable[[], int | None],
    fingerprint: str,
    limiter: Limiter | None = None,
) -> list[Route]:
    max_age = f"public, max-age={settings.cache_max_age_s}"

    async def refused(request: Request, points: int) -> Response | None:
        """Charge the client's rate limit what `{ film(slug:) { jsonLd } }` costs (1 point up
        front, and the document's cost once it is read; a 304 only the first): the pages
        draw from the same bucket as /graphql. The 429 when it had not the points."""
        if limiter is None:
            return None
        address = request.client.host if request.client else None
        client = client_key(request.headers.get("x-api-key"), address, settings.api_keys)
        wait = await limiter.charge(client, points)
        if wait is None:
            return None
        message = f"Rate limit reached: {limiter.capacity:.0f} cost points per minute."
        return JSONResponse(
            {"error": {"code": RATE_LIMITED, "message": f"{message} Retry in {wait} s."}},
            status_code=429,
            headers={"retry-after": str(wait), "vary": "accept"},
        )

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
                # If-None-Match naming this very tag: 304 without reading the document. A
                # bare "*" matches only a document that exists, so it waits for the lookup.
                named = etag[1:-1] in request.headers.get("if-none-match", "")
                if named and not_modified(request.scope, etag.encode()):
                    return await refused(request, 1) or Response(
                        status_code=304, headers=_headers(etag, max_age)
                    )
            refusal = await refused(request, 1 + JSON_DOCUMENT_COST)
            if refusal is not None:
                return refusal
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
            if etag is not None and not_modified(request.scope, etag.encode()):
                return Response(status_code=304, headers=_headers(etag, max_age))
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
