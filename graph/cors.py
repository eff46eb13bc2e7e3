"""CORS: which browser pages may call the API, and with which headers.

Outside production a page served from this machine (`http://localhost:3000`,
`http://127.0.0.1:5173`, any port) may call the API without configuration, as a front-end dev
server does; production allows only the origins in FILMGRAPH_CORS_ORIGINS. The headers are
those GraphQL clients send (docs/http.md#cors)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from graph.settings import Settings

# http or https, localhost or a loopback address, any port or none. Only the loopback names:
# a page on another host is not the developer's own.
LOOPBACK_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?"

# The request headers GraphQL clients send: Apollo Client its client name and version (and
# `apollo-require-preflight` for uploads), integrators an API key or a bearer token.
ALLOWED_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-api-key",
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-request-id",
)
# What a page's script may read of an answer, besides the CORS-safelisted headers.
EXPOSED_HEADERS = ("etag", "retry-after", "cache-tag", "x-request-id")
# How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours).
MAX_AGE_S = 7_200


def cors_middleware(settings: Settings) -> Middleware:
    loopback = settings.environment != "production"
    return Middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_origin_regex=LOOPBACK_ORIGINS if loopback else None,
        allow_methods=["GET", "POST"],
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        max_age=MAX_AGE_S,
    )
