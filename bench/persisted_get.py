"""Persisted GETs answered from the response cache against uncached POSTs of the same page.

One `filmgraph serve` process (production settings, rate limiting off) on the demo data;
wrk with 32 connections; the three variants alternate within each round, and the machine's
load average is recorded with each round:

- **cached GET**: the film page called by its persisted hash over GET (the answer comes from
  the in-process response cache: no parsing, no database);
- **304**: the same GET with `If-None-Match` naming its ETag (no body at all);
- **POST**: the same page and variables sent whole over POST (never cached: parsed once
  (the parse cache), validated, executed against PostgreSQL, encoded).

    .venv/bin/python bench/persisted_get.py [--rounds 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx

from graph.demo.load import load_demo
from graph.embedded import free_port
from graph.migrate import migrate

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench/inprocess.py, and graph/ and tests/

from inprocess import database  # noqa: E402

ROOT = HERE.parent
FILM_PAGE = (ROOT / "examples" / "film-page.graphql").read_text()
VARIABLES = {"slug": "refusenik-2007", "region": "US"}
DIGEST = hashlib.sha256(FILM_PAGE.encode()).hexdigest()
EXTENSIONS = {"persistedQuery": {"version": 1, "sha256Hash": DIGEST}}
CONNECTIONS = 32


@contextlib.contextmanager
def serving(dsn: str) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")}
    env.update(
        DATABASE_URL=dsn,
        FILMGRAPH_ENV="production",
        FILMGRAPH_RATE_LIMIT="0",
        FILMGRAPH_CURSOR_SECRET="bench",
        # Admission counts every request in progress against the pool, cache hits too (it
        # decides at the request's head): 32 connections past the default queue of 20 + 10
        # would be refused now and then, in every variant.
        FILMGRAPH_POOL_QUEUE="64",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2, trust_env=False).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("filmgraph serve did not become ready")
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def wrk(url: str, seconds: int, headers: dict[str, str], script: Path | None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rate": rate,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "bad": float(non2xx.group(1)) if non2xx else 0.0,
    }


async def prepare(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await load_demo(conn)
    finally:
        await conn.close()


def main(rounds: int, seconds: int) -> None:
    with database() as (dsn, fresh):
        if fresh:
            asyncio.run(prepare(dsn))
        with serving(dsn) as url, tempfile.TemporaryDirectory() as tmp:
            post_body = json.dumps({"query": FILM_PAGE, "variables": VARIABLES})
            script = Path(tmp) / "post.lua"
            script.write_text(
                'wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(post_body)}\n"
            )
            # Register the document (APQ), then fill the cache and learn the ETag.
            httpx.post(
                f"{url}/graphql",
                json={"query": FILM_PAGE, "variables": VARIABLES, "extensions": EXTENSIONS},
                trust_env=False,
            ).raise_for_status()
            query = urllib.parse.urlencode(
                {"extensions": json.dumps(EXTENSIONS), "variables": json.dumps(VARIABLES)}
            )
            get_url = f"{url}/graphql?{query}"
            first = httpx.get(get_url, trust_env=False)
            etag = first.headers["etag"]
            assert httpx.get(get_url, trust_env=False).content == first.content
            posted = httpx.post(
                f"{url}/graphql", content=post_body, headers={"content-type": "application/json"},
                trust_env=False,
            )  # fmt: skip
            assert posted.json() == first.json(), "the POST answers what the GET does"
            variants = {
                "persisted GET, from the cache": (get_url, {}, None),
                "persisted GET, If-None-Match (304)": (get_url, {"If-None-Match": etag}, None),
                "POST, uncached": (f"{url}/graphql", {}, script),
            }
            results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for round_no in range(1, rounds + 1):
                for name, (target, headers, lua) in variants.items():
                    load = os.getloadavg()[0]
                    found = wrk(target, seconds, headers, lua)
                    results[name].append(found)
                    print(
                        f"round {round_no} {name}: {found['rate']:.0f} req/s, "
                        f"p99 {found['p99_ms']:.1f} ms, non-2xx/3xx {found['bad']:.0f}, "
                        f"load before {load:.2f}",
                        flush=True,
                    )
    post = statistics.median(r["rate"] for r in results["POST, uncached"])
    heading = f"variant (median of {rounds} rounds, {CONNECTIONS} connections)"
    print(f"\n| {heading} | req/s | p99 ms | x POST |")
    print("|---|---:|---:|---:|")
    for name, measured in results.items():
        rate = statistics.median(r["rate"] for r in measured)
        p99 = statistics.median(r["p99_ms"] for r in measured)
        print(f"| {name} | {rate:.0f} | {p99:.1f} | {rate / post:.1f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    main(args.rounds, args.seconds)
