"""CPU per film page of two filmgraph trees side by side: this checkout and the code in
--before DIR (`git archive main | tar -x -C DIR`), each `serve --workers 2` on the peers'
50k-film database (bench/peers/database.py), both under wrk (32 connections each) at the
same time.

Loaded together, the two servers share whatever else the machine runs: on a machine that
other work keeps busy, requests/s swing from round to round, and so does the CPU a request
costs, but alike for both. Each round prints, per tree, the server's CPU (its process tree)
and PostgreSQL's (the backends its pools opened, found by their client ports) per request.

    .venv/bin/python bench/cpu_ab.py --before DIR [--rounds 5] [--seconds 5] [--after-env N=V]

--after-env sets a variable for this checkout's server only (a setting to compare on and
off: `--before .` with `--after-env FILMGRAPH_COALESCE=0`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE / "peers"), str(HERE.parent)]

import asyncpg  # noqa: E402
import machine  # noqa: E402
import systems  # noqa: E402
from database import Database, open_database  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
CONNECTIONS = 32
CACHE = Path(os.environ.get("FILMGRAPH_BENCH_CACHE") or Path.home() / ".cache" / "filmgraph-bench")
FILM_PAGE = (HERE / "pages" / "film-page.graphql").read_text()


def process_cpu(pid: int) -> float:
    """CPU seconds of one live process (0 once gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def tree(root: int) -> set[int]:
    children = machine._children()
    out, stack = set(), [root]
    while stack:
        pid = stack.pop()
        out.add(pid)
        stack.extend(children.get(pid, []))
    return out


def client_ports(db: Database, server: systems.Server) -> set[int]:
    """The local ports of the server's connections to PostgreSQL."""
    port = int(re.findall(r":(\d+)/", db.dsn)[0])
    pids = tree(server.pid)
    listing = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"dport = :{port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ports = set()
    for line in listing.splitlines():
        found = re.search(rf"127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:{port}", line)
        if found and any(f"pid={p}," in line for p in pids):
            ports.add(int(found[1]))
    return ports


async def backends(db: Database, server: systems.Server) -> list[int]:
    """The PostgreSQL backends serving the server's connections (matched by client port)."""
    ports = client_ports(db, server)
    conn = await asyncpg.connect(db.dsn)
    try:
        rows = await conn.fetch("select pid, client_port from pg_stat_activity")
    finally:
        await conn.close()
    return [r["pid"] for r in rows if r["client_port"] in ports]


def load(servers: dict[str, systems.Server], requests: Path, seconds: int) -> dict[str, int]:
    """wrk on every server at once; the requests each answered."""
    env = {**os.environ, "BENCH_REQUESTS": str(requests)}
    lua = str(HERE / "peers" / "requests.lua")
    loads = {
        name: subprocess.Popen(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", lua, s.url],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for name, s in servers.items()
    }
    done = {}
    for name, process in loads.items():
        output = process.communicate()[0]
        line = next(x for x in output.splitlines() if x.startswith('{"requests"'))
        done[name] = max(json.loads(line)["requests"], 1)
    return done


async def one_round(
    db: Database, servers: dict[str, systems.Server], requests: Path, seconds: int
) -> dict[str, tuple[float, float, float]]:
    """Per tree: (requests/s, server CPU us per request, database CPU us per request)."""
    serving = {name: await backends(db, s) for name, s in servers.items()}
    before = {
        name: (machine.tree_cpu(s.pid), sum(process_cpu(b) for b in serving[name]))
        for name, s in servers.items()
    }
    answered = await asyncio.to_thread(load, servers, requests, seconds)
    out = {}
    for name, s in servers.items():
        done = answered[name]
        app = machine.tree_cpu(s.pid) - before[name][0]
        database = sum(process_cpu(b) for b in serving[name]) - before[name][1]
        if set(await backends(db, s)) != set(serving[name]):
            database = float("nan")  # a pool opened or closed a connection meanwhile
        out[name] = (done / seconds, 1e6 * app / done, 1e6 * database / done)
    return out


async def main(before: Path, rounds: int, seconds: int, after_env: dict[str, str]) -> None:
    db = await open_database(CACHE, 50_000)
    try:
        with tempfile.TemporaryDirectory(prefix="filmgraph-cpu-ab-") as tmp:
            work = Path(tmp)
            conn = await asyncpg.connect(db.dsn)
            try:
                # 1000 films spread over the catalogue, the same for both.
                rows = await conn.fetch("select slug from film order by id")
            finally:
                await conn.close()
            slugs = [r["slug"] for r in rows][:: max(1, len(rows) // 1000)][:1000]
            requests = work / "requests.txt"
            requests.write_text(
                "".join(
                    "/graphql\t"
                    + json.dumps(
                        {
                            "query": FILM_PAGE,
                            "variables": {"slug": slug, "region": "US"},
                            "operationName": "FilmPage",
                        },
                        separators=(",", ":"),
                    )
                    + "\t\n"
                    for slug in slugs
                )
            )
            servers = {
                "before": systems.filmgraph(db, work, "compiled", workers=2, tree=before),
                "after": systems.filmgraph(db, work, "compiled", workers=2),
            }
            servers["after"].env.update(after_env)
            for server in servers.values():
                server.start()
            try:
                await one_round(db, servers, requests, 2)  # warm: compiled, pools open
                results: dict[str, list[tuple[float, float, float]]] = {n: [] for n in servers}
                print(f"film page, --workers 2, wrk -c{CONNECTIONS} on each at once")
                for number in range(rounds):
                    got = await one_round(db, servers, requests, seconds)
                    for name, (rate, app, database) in got.items():
                        results[name].append((rate, app, database))
                        print(
                            f"round {number} {name:7} {rate:7.0f} req/s  app {app:5.0f} us  "
                            f"db {database:5.0f} us",
                            flush=True,
                        )
            finally:
                for server in servers.values():
                    server.stop()
        print(f"medians of {rounds} rounds of {seconds} s (load average {os.getloadavg()[0]:.1f})")
        for name, rows in results.items():
            rate = statistics.median(r[0] for r in rows)
            app = statistics.median(r[1] for r in rows)
            database = statistics.median(r[2] for r in rows)
            print(f"{name:7} {rate:7.0f} req/s  app {app:5.0f} us/req  db {database:5.0f} us/req")
        wins = sum(a[1] < b[1] for a, b in zip(results["after"], results["before"], strict=True))
        print(f"rounds where this checkout used less server CPU: {wins} of {rounds}")
    finally:
        db.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the tree to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--after-env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    after_env = dict(item.split("=", 1) for item in args.after_env)
    asyncio.run(main(args.before, args.rounds, args.seconds, after_env))
