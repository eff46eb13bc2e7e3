"""GraphiQL served from the package: its page and the assets it loads, no CDN.

The assets are vendored under graph/static/graphiql (see the README there); the page refers to
them by relative URL, so GraphiQL works without internet and behind a path prefix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

ASSETS = Path(__file__).parent / "static" / "graphiql"
STATIC_PATH = "/graphiql/static"

CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# A vendored file lives in a folder named after its package and version, so its URL changes
# whenever its content does: browsers may keep it for a year without asking again. The page and
# filmgraph's own files beside it change with filmgraph: browsers revalidate them (ETag).
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# Everything from this server; GraphiQL's stylesheet embeds its fonts and icons as data: URLs
# and its components set inline styles.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str


def load_assets(root: Path = ASSETS) -> dict[str, Asset]:
    """Every script and stylesheet under `root`, by its path relative to it. Only these are
    served: not the licences, READMEs or anything else a URL could name."""
    assets = {}
    for path in sorted(root.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        name = path.relative_to(root).as_posix()
        body = path.read_bytes()
        assets[name] = Asset(
            body=body,
            content_type=content_type,
            # Of the content, not the file's mtime: the same on every install and instance.
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            cache_control=IMMUTABLE if "/" in name else REVALIDATE,
        )
    return assets


def page() -> HTMLResponse:
    """The GraphiQL page that GET /graphql answers a browser with."""
    html = (ASSETS / "page.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={**SECURITY_HEADERS, "cache-control": REVALIDATE})


def routes() -> list[Route]:
    """The route serving GraphiQL's assets (added only where GraphiQL is on)."""
    assets = load_assets()

    async def asset(request: Request) -> Response:
        found = assets.get(request.path_params["path"])
        if found is None:
            # A path nothing is served at, answered as any other (graph/unrouted.py).
            raise HTTPException(404)
        headers = {
            **SECURITY_HEADERS,
            "etag": found.etag,
            "cache-control": found.cache_control,
        }
        if found.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(found.body, headers=headers, media_type=found.content_type)

    return [Route(STATIC_PATH + "/{path:path}", asset, methods=["GET", "HEAD"])]
