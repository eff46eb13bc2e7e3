"""Requests no route takes: a path nothing serves (HTTP 404, `NOT_FOUND`) or a method its
route does not take (HTTP 405, `METHOD_NOT_ALLOWED`, with `Allow`), answered with a stable
code in the shape of the path's other errors instead of Starlette's plain text: for
/graphql a GraphQL response (graph/envelope.py), for any other path the JSON-LD pages' shape
`{"error": {"code", "message"}}`."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graph import errors
from graph.envelope import refusal

GRAPHQL_PATH = "/graphql"


async def unrouted(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code == 405:
        code = errors.METHOD_NOT_ALLOWED
        message = f"{path[:100]} does not take {request.method}"
    else:
        code = errors.NOT_FOUND
        message = f"nothing is served at {path[:100]}"
    response: Response
    if path == GRAPHQL_PATH:
        response = refusal(exc.status_code, message, request.headers.get("accept", ""))
        response.headers["cache-control"] = "no-store"
    else:
        response = JSONResponse(
            {"error": {"code": code, "message": message}},
            status_code=exc.status_code,
            headers={"cache-control": "no-store"},
        )
    response.headers.update(exc.headers or {})
    return response


HANDLERS = {404: unrouted, 405: unrouted}
