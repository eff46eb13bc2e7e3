"""Cancelling a request's work without leaving coroutines that were never awaited.

graphql-core runs a selection set's fields as tasks (gather), each wrapping a coroutine that
holds the coroutines of its fields and resolvers. A task cancelled before its first step never
runs its coroutine, so the coroutines it holds are never awaited either, and Python warns about
each when it collects it ("coroutine '...' was never awaited", three per field), which is what a
client hanging up mid-request logged. The work they stand for never began, so nothing is lost:
they are closed here instead, which is what awaiting them would have been for.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine, Iterable
from typing import Any

# A scope key (set by graph/receive.py's protocol) whose value takes a callback to run, once,
# if the client hangs up before its request is answered (None takes it back). Without it (an
# app served otherwise), graph/envelope.py watches receive() for the hang-up in a task.
HANG_UP = "filmgraph.hang_up"

# How deep to look into what an unstarted coroutine holds: graphql-core nests, for a list of
# objects, the list's items, each item's selection set (a dict of its fields' coroutines), each
# field's completion and its resolver, and so on down the query.
DEPTH = 12


def unstarted() -> dict[asyncio.Task[Any], list[Coroutine[Any, Any, Any]]]:
    """The tasks not yet started, each with the unstarted coroutines its coroutine holds."""
    found: dict[asyncio.Task[Any], list[Coroutine[Any, Any, Any]]] = {}
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            held: list[Coroutine[Any, Any, Any]] = []
            _collect(_locals(coro), held, DEPTH)
            if held:
                found[task] = held
    return found


def close_orphans(before: dict[asyncio.Task[Any], list[Coroutine[Any, Any, Any]]]) -> None:
    """Close what the tasks of `before` held, for each that was cancelled without starting."""
    for task, held in before.items():
        if task.cancelled():
            # The innermost first: closing a coroutine lets go of those it holds, and Python
            # would warn about any of them not closed yet.
            for coro in reversed(held):
                if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                    coro.close()


def _collect(values: Iterable[Any], out: list[Coroutine[Any, Any, Any]], depth: int) -> None:
    if depth == 0:
        return
    for value in values:
        if inspect.iscoroutine(value):
            if inspect.getcoroutinestate(value) == inspect.CORO_CREATED:
                out.append(value)
                _collect(_locals(value), out, depth - 1)
        elif isinstance(value, dict):
            _collect(value.values(), out, depth - 1)
        elif isinstance(value, list | tuple):
            _collect(value, out, depth - 1)


def _locals(coro: Coroutine[Any, Any, Any]) -> Iterable[Any]:
    """An unstarted coroutine's arguments and closure (Python fills the closure in for a frame
    not yet started)."""
    frame = getattr(coro, "cr_frame", None)
    return frame.f_locals.values() if frame is not None else ()
