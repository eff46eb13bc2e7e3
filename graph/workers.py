"""`filmgraph serve --workers N`: N processes serving one listening socket.

One Python process serves on one core: its event loop runs the GraphQL execution of every
request. Workers are forked from the parent once it has bound the socket, started the embedded
PostgreSQL and migrated: each builds its own app (its own pool, admission and caches) and runs
uvicorn, with the same protocol class, request-line and header bounds, receive deadlines and
early refusals as a single process (graph/server.py), on the inherited socket; the kernel
hands each connection to one of them. The parent only waits: on SIGTERM or SIGINT it passes
SIGTERM on, each worker drains as one process does (graph/draining.py), and the parent returns
once every worker has exited. A worker that exits on its own stops the others (a supervisor, such
as systemd or the container's, restarts the whole).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from graph import stopping
from graph.settings import Settings

log = logging.getLogger(__name__)

# How long the parent waits for its workers to finish their requests once asked to stop, before
# it kills them, unless told (`serve` gives them FILMGRAPH_DRAIN_TIMEOUT_MS and a margin).
STOP_TIMEOUT_S = 30.0


class WorkersError(Exception):
    """--workers cannot be honoured with these settings."""


def worker_settings(settings: Settings, workers: int) -> Settings:
    """Each worker's settings: FILMGRAPH_POOL_MAX (and POOL_MIN) shared out, so that the N pools
    together open no more connections than one process would."""
    if workers < 1:
        raise WorkersError(f"--workers must be at least 1, got {workers}")
    if settings.pool_max_size < workers:
        raise WorkersError(
            f"--workers {workers} needs FILMGRAPH_POOL_MAX of at least {workers} (got "
            f"{settings.pool_max_size}): the workers share its connections out, one at least each"
        )
    pool_max = settings.pool_max_size // workers
    pool_min = min(pool_max, -(-settings.pool_min_size // workers))
    return dataclasses.replace(settings, pool_max_size=pool_max, pool_min_size=pool_min)


def serve(
    sock: socket.socket,
    workers: int,
    run: Callable[[int], None],
    stop_timeout: float = STOP_TIMEOUT_S,
) -> int:
    """Fork `workers` processes, each calling run(index) to serve on `sock`, and wait for them.
    0 once all have exited after SIGTERM or SIGINT, 1 if one exited on its own."""
    context = multiprocessing.get_context("fork")
    processes: list[BaseProcess] = []
    for index in range(workers):
        process = context.Process(target=_work, args=(run, index), name=f"filmgraph-worker-{index}")
        process.start()
        processes.append(process)
    status = 0
    try:
        while not stopping.requested():
            ended = wait([p.sentinel for p in processes], timeout=0.1)
            if ended:
                gone = [p for p in processes if not p.is_alive()]
                log.error(
                    "worker exited; stopping the others pid=%s exitcode=%s",
                    gone[0].pid,
                    gone[0].exitcode,
                )
                status = 1
                break
    except KeyboardInterrupt:
        pass  # SIGINT: the workers of a terminal's process group have it too
    _stop(processes, stop_timeout)
    return status


def _work(run: Callable[[int], None], index: int) -> None:
    # The parent's SIGINT handler raises KeyboardInterrupt; uvicorn installs its own while it
    # serves, and until then a worker just ends.
    log.info("worker started pid=%d", os.getpid())
    with contextlib.suppress(KeyboardInterrupt):
        run(index)
    sys.stdout.flush()


def _stop(processes: list[BaseProcess], timeout: float) -> None:
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.warning("worker did not stop in time; killed pid=%s", process.pid)
            process.kill()
            process.join()
