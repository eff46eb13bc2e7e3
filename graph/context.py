"""The per-request context every resolver gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import strawberry

if TYPE_CHECKING:
    from graph.loaders import Loaders
    from graph.ratelimit import Limiter


@dataclass
class Context:
    """What one request may use: its own DataLoaders (never shared between requests), and the
    key that seals keyset cursors."""

    loaders: Loaders
    cursor_key: bytes
    # Who is asking (API key or address) and the limiter to charge, when rate limiting is on.
    client: str = ""
    rate_limiter: Limiter | None = None
    # Cost already granted to this request: the operations of a batch share one limit.
    cost_spent: int = 0


Info = strawberry.Info[Context, None]
