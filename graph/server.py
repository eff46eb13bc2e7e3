"""The server process: uvicorn's configuration for an app of create_app's."""

from __future__ import annotations

from typing import Any

import uvicorn
from starlette.applications import Starlette

from graph import receive
from graph.settings import Settings

# Headers a request may send besides its URL; nginx's default buffers hold as much.
MAX_HEADER_BYTES = 32_768


def server_config(app: Starlette, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn serving `app`, with a bound on the request line and headers, and on the time to
    receive them and the body. uvicorn reads the head whole before the app sees the request,
    and its parser (httptools) bounds neither: one client could send a gigabyte of headers.
    graph/receive.py stops reading past the bound (a plain 400, and the connection closed);
    past the URL limit but within it, the app answers 414. The deadlines, and the refusals
    made there for /graphql's admission (an app of create_app's): graph/receive.py."""
    return uvicorn.Config(
        app,
        http=receive.protocol(
            settings.header_timeout_ms / 1000,
            settings.body_timeout_ms / 1000,
            settings.max_url_bytes + MAX_HEADER_BYTES,
            getattr(app.state, "admission", None),
        ),
        **options,
    )
