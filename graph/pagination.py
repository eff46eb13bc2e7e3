"""Connections: arguments, opaque cursors, and the page a batch statement returns.

Every paged statement numbers its rows per parent (`rn`, from 1) in a total order, so a cursor
is a position in one connection. The cursor also carries a short digest of the connection it
came from (field, parent, filters), so that a cursor pasted into another connection is refused
instead of silently selecting the wrong rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

import strawberry

from graph.errors import UserInputError

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
_CURSOR_VERSION = "c1"


def _digest(scope: str) -> str:
    return hashlib.blake2s(scope.encode(), digest_size=6).hexdigest()


def encode_cursor(scope: str, position: int) -> str:
    raw = f"{_CURSOR_VERSION}:{_digest(scope)}:{position}"
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def decode_cursor(scope: str, cursor: str, argument: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        version, digest, position_text = raw.split(":")
        position = int(position_text)
    except (ValueError, UnicodeError, binascii.Error):
        raise UserInputError(f"{argument}: not a valid cursor", argument=argument) from None
    if version != _CURSOR_VERSION or position < 1 or position > 2**31 - 1:
        raise UserInputError(f"{argument}: not a valid cursor", argument=argument)
    if digest != _digest(scope):
        raise UserInputError(
            f"{argument}: this cursor belongs to another connection or other arguments",
            argument=argument,
        )
    return position


@dataclass(frozen=True)
class Window:
    """Which slice of a connection to return, as positions (rn) in its order."""

    after: int = 0
    before: int | None = None
    first: int | None = DEFAULT_PAGE_SIZE
    last: int | None = None

    @property
    def params(self) -> tuple[int, int | None, int | None, int | None]:
        """$1-$4 of the pagination fragment in graph/db.py."""
        return (self.after, self.before, self.first, self.last)


def page_size(value: int | None, argument: str) -> int | None:
    if value is not None and not 1 <= value <= MAX_PAGE_SIZE:
        raise UserInputError(
            f"{argument} must be between 1 and {MAX_PAGE_SIZE}, got {value}", argument=argument
        )
    return value


def window(
    scope: str,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Window:
    """Validate connection arguments; BAD_USER_INPUT names the argument at fault."""
    first = page_size(first, "first")
    last = page_size(last, "last")
    if first is not None and last is not None:
        raise UserInputError("pass either first or last, not both", argument="last")
    if first is None and last is None:
        first = DEFAULT_PAGE_SIZE
    after_pos = decode_cursor(scope, after, "after") if after is not None else 0
    before_pos = decode_cursor(scope, before, "before") if before is not None else None
    return Window(after=after_pos, before=before_pos, first=first, last=last)


@dataclass(frozen=True)
class Page(Generic[R]):
    """One parent's slice of a connection: (position, item) pairs and the parent's total."""

    items: Sequence[tuple[int, R]]
    total: int


EMPTY_PAGE: Page[Any] = Page(items=(), total=0)


@strawberry.type(description="Where a page sits in its connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="True when more items follow this page in the connection's order."
    )
    has_previous_page: bool = strawberry.field(
        description="True when items come before this page in the connection's order."
    )
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first item on this page; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item on this page; null when the page is empty."
    )


@strawberry.type(description="One item of a connection with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description="Opaque position of this item; pass it as `after` or `before`."
    )
    node: T = strawberry.field(description="The item.")


@strawberry.type(
    description="A page of a list that can grow: `edges` (or just `nodes`), `pageInfo` to "
    "move on, and `totalCount` for the whole list."
)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items on this page, with cursors.")
    nodes: list[T] = strawberry.field(description="The items on this page, without cursors.")
    page_info: PageInfo = strawberry.field(description="How to reach the neighbouring pages.")
    # Counting can cost as much as the page itself, so it runs only when asked for.
    total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of items in the whole list, over all pages.")
    async def total_count(self) -> int:
        return await self.total()


def connection(scope: str, page: Page[R], win: Window, node: Callable[[R], T]) -> Connection[T]:
    """Turn one parent's page into a Connection."""
    edges = [Edge(cursor=encode_cursor(scope, pos), node=node(item)) for pos, item in page.items]
    if page.items:
        first_pos, last_pos = page.items[0][0], page.items[-1][0]
        has_previous = first_pos > 1
        has_next = last_pos < page.total
    else:
        has_previous = min(win.after, page.total) > 0
        has_next = win.before is not None and win.before <= page.total
    return Connection(
        edges=edges,
        nodes=[e.node for e in edges],
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total=partial(_known, page.total),
    )


async def _known(total: int) -> int:
    return total
