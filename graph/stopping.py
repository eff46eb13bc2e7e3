"""Stopping on SIGTERM without tracebacks or stray servers.

An exception raised from a signal handler lands wherever the main thread happens to be: in
the middle of an asyncio callback (asyncio then logs it with a traceback and carries on),
or while asyncio.run is still building its event loop. So SIGTERM never raises. Outside an
event loop it only records the request, which the next safe point honours (`requested()`,
and `run()` before it starts its coroutine). While `run()` drives a coroutine, asyncio
itself receives the signal and cancels the coroutine's task, and `run()` raises `Stopped`
once the loop is closed.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Signals are delivered to the process, so the request is process-wide state.
_requested = threading.Event()


class Stopped(Exception):
    """SIGTERM asked filmgraph to stop."""


def _on_sigterm(signum: int, frame: object) -> None:
    _requested.set()


def install() -> None:
    """Take over SIGTERM for the rest of the process."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def requested() -> bool:
    """Whether SIGTERM has arrived."""
    return _requested.is_set()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(coro), cancelled cleanly by SIGTERM."""

    async def main() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def cancel() -> None:
            _requested.set()
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, cancel)
        try:
            if _requested.is_set():  # it came before the loop could take it over
                coro.close()
                raise Stopped
            return await coro
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, _on_sigterm)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if _requested.is_set():
            raise Stopped from None
        raise
