"""A client that hangs up at any moment of its request: its work is cancelled, and nothing it
started is left for Python to warn about ("coroutine ... was never awaited")."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from graph.app import create_app
from graph.settings import Settings
from tests.conftest import post_scope

FILM_PAGE = (Path(__file__).parent.parent / "examples" / "film-page.graphql").read_text()
LIST_PAGE = """{ films(orderBy: [{field: RATING, direction: DESC}], first: 100) {
  totalCount nodes { id title year imdbRating directors { name } genres { name } } } }"""
PAGES = {
    "film": {"query": FILM_PAGE, "variables": {"slug": "refusenik-2007", "region": "US"}},
    # Lists of objects nest the coroutines deeper.
    "list": {"query": LIST_PAGE},
}


@pytest.mark.parametrize("execution", ["resolvers", "compiled"])
@pytest.mark.parametrize("page", sorted(PAGES))
async def test_hanging_up_at_every_step_of_a_request_leaves_no_coroutine_unawaited(
    dsn: str, page: str, execution: str
) -> None:
    """The app, as uvicorn calls it, with a client that hangs up after 0, 2, 4... turns of the
    event loop: some of those land between graphql-core creating a field's task and that
    task's first step, whose coroutines were then never awaited."""
    app = create_app(Settings(execution=execution), dsn)
    body = json.dumps(PAGES[page]).encode()
    scope = post_scope(body)
    cancelled = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with app.router.lifespan_context(app):
            scope["state"] = {}
            for turns in range(0, 120, 2):
                cancelled += not await _hang_up_after(app, {**scope}, body, turns)
            gc.collect()
    # Most hang-ups came mid-request; a compiled request is done in fewer turns.
    assert cancelled > (10 if execution == "resolvers" else 3)
    unawaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert unawaited == []


async def _hang_up_after(app: Any, scope: dict[str, Any], body: bytes, turns: int) -> bool:
    """Send the request, hang up after `turns` turns of the event loop; whether it was answered
    first."""
    gone = asyncio.Event()
    answered = asyncio.Event()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answered.set()

    request = asyncio.ensure_future(app(scope, receive, send))
    for _ in range(turns):
        await asyncio.sleep(0)  # one turn of the loop: where the hang-up lands is the point
    gone.set()
    async with asyncio.timeout(30):
        await request
    return answered.is_set()
