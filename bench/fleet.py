"""Fleet: two filmgraph server processes behind one port, a streaming replica when there is
one, a bounded mix of film pages, lists and searches on the 50k catalogue; and, mid-run, one
process killed (SIGKILL) and restarted, the replica stopped and started again, the other
process stopped gracefully (SIGTERM, drained) and restarted.

    .venv/bin/python bench/fleet.py [--seconds 40] [--connections 32]
        [--replica-dsn DSN ... | --start-replica] [--data /tmp/fleet-bench]

The database is a copy of `<cache>/db-50000` (bench/peers builds it; `FILMGRAPH_BENCH_CACHE`,
default `~/.cache/filmgraph-bench`) made once into `--data`, under the cache's lock: the bench
migrates its copy (and may leave buckets in it), never the cache. `--start-replica` makes a
streaming replica of it with `pg_basebackup -R` and passes it as FILMGRAPH_REPLICA_URLS (the
servers read from it while it is usable). `--replica-dsn` names replicas of one's own (with
DATABASE_URL for the primary).

The two processes share the port with SO_REUSEPORT, the kernel spreading connections over
them: so a process that dies leaves the other one serving, as two hosts behind a load
balancer would (`serve --workers 2` stops every worker when one dies, for its supervisor to
restart the whole). Each process is the app and server `filmgraph serve` runs (production
settings, pool 10, pool queue 100), from a launcher in this file (`--serve`).

The load is asyncio HTTP/1.1 keep-alive connections in this process, each sending the next
request when the last is answered: 60% film pages (500 slugs), 20% the top-rated list, 20%
searches (200 title words). A connection that fails is opened again (counted as a transport
error: a request in flight on a killed process). Prints throughput, p50/p99, the answers by
status (a 503 with and without Retry-After told apart; any other 5xx is a failure), a timeline
per second, and for each event the failures after it and the recovery time (from the event to
the last failure before the next one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench" / "peers"), str(ROOT)]

from database import SERVER_SETTINGS  # noqa: E402

from graph.embedded import EmbeddedPostgres, free_port  # noqa: E402

PAGES = ROOT / "bench" / "pages"
CACHE = Path(os.environ.get("FILMGRAPH_BENCH_CACHE") or Path.home() / ".cache/filmgraph-bench")
STARTUP_S = 60.0
# What the servers run: production, no rate limit (a refusal would be a failure here), a
# pool queue that does not refuse bursts, FILMGRAPH_POOL_MAX 10 each.
SERVER_ENV = {
    "FILMGRAPH_ENV": "production",
    "FILMGRAPH_RATE_LIMIT": "0",
    "FILMGRAPH_POOL_QUEUE": "100",
    "FILMGRAPH_POOL_MAX": "10",
    "FILMGRAPH_CURSOR_SECRET": "bench",
    "FILMGRAPH_DRAIN_TIMEOUT_MS": "10000",
}


# --- the database --------------------------------------------------------------------------


def copy_catalogue(data: Path) -> Path:
    """`<data>/pgdata`, a copy of the cached 50k catalogue, made once under the cache's lock."""
    source = CACHE / "db-50000"
    target = data / "pgdata"
    if target.exists():
        return target
    if not (source / "built.json").exists():
        raise SystemExit(f"{source} is not built: run bench/peers/run first")
    data.mkdir(parents=True, exist_ok=True)
    with (source / "pgdata.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"{source} is in use by another bench; try again later") from None
        partial = data / "pgdata.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(source / "pgdata", partial, symlinks=True)
        shutil.copy(source / "pgdata.password", data / "pgdata.password")
    (partial / "postmaster.pid").unlink(missing_ok=True)
    partial.rename(target)
    return target


def start_replica(primary: EmbeddedPostgres, data: Path) -> EmbeddedPostgres:
    """A streaming replica of `primary` (pg_basebackup -R), started on a port of its own."""
    replica_dir = data / "replica" / "pgdata"
    shutil.rmtree(replica_dir.parent, ignore_errors=True)
    replica_dir.parent.mkdir(parents=True)
    shutil.copy(data / "pgdata.password", replica_dir.parent / "pgdata.password")
    if primary._account is not None:  # PostgreSQL runs as nobody when we are root
        os.chown(replica_dir.parent, primary._account.pw_uid, primary._account.pw_gid)
    started = time.monotonic()
    primary._run(
        "pg_basebackup", "-d", primary.dsn, "-D", str(replica_dir), "-R", "-X", "stream",
        "-c", "fast",
    )  # fmt: skip
    print(f"fleet: replica copied in {time.monotonic() - started:.0f} s", file=sys.stderr)
    replica = EmbeddedPostgres(replica_dir, settings={"max_connections": "200"})
    replica.start()
    return replica


def migrate(dsn: str) -> None:
    """Apply pending migrations (to the copy)."""
    subprocess.run(
        [sys.executable, "-m", "graph.cli", "migrate"],
        env={**os.environ, "DATABASE_URL": dsn},
        check=True,
        cwd=ROOT,
    )


async def keys(dsn: str) -> tuple[list[str], list[str]]:
    """Analyze, and draw the film slugs and search words the load picks from."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("analyze")
        slugs = [
            r["slug"]
            for r in await conn.fetch(
                "select slug from film tablesample bernoulli (2) repeatable (1) limit 500"
            )
        ]
        titles = await conn.fetch(
            "select title from film tablesample bernoulli (2) repeatable (2) limit 400"
        )
    finally:
        await conn.close()
    words = sorted({w for r in titles for w in r["title"].split() if len(w) >= 4 and w.isalpha()})[
        :200
    ]
    return slugs, words


# --- the servers ---------------------------------------------------------------------------


def serve_here(port: int) -> None:
    """The launcher (`--serve PORT`): the app and server `filmgraph serve` runs, on a socket
    that shares its port (SO_REUSEPORT)."""
    from graph import stopping
    from graph.app import create_app
    from graph.cli import _run_server
    from graph.settings import Settings

    stopping.install()  # as `filmgraph serve`: SIGTERM drains, then the process exits 0
    settings = Settings.from_env()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    _run_server(create_app(settings), settings, sock, f"fleet: serving pid={os.getpid()}")


@dataclass
class Server:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it; the seconds until it serves (its own log says so)."""
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        deadline = started + STARTUP_S
        while f"serving pid={self.process.pid}" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.name} did not start; see {self.log}")
            time.sleep(0.05)  # a bench: polling a starting server's log is all there is
        return time.monotonic() - started

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait(timeout=60)


@contextlib.contextmanager
def servers(dsn: str, replicas: list[str], logs: Path) -> Iterator[list[Server]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")},
        **SERVER_ENV,
        "DATABASE_URL": dsn,
    }
    if replicas:
        env["FILMGRAPH_REPLICA_URLS"] = ",".join(replicas)
    both = [Server(name, port, env, logs / f"{name}.log") for name in ("a", "b")]
    try:
        for server in both:
            server.start()
        yield both
    finally:
        for server in both:
            if server.process is not None and server.process.poll() is None:
                server.signal(signal.SIGTERM)
        for server in both:
            if server.process is not None:
                server.wait()


# --- the load ------------------------------------------------------------------------------


@dataclass
class Answer:
    at: float  # when it ended, seconds from the start
    ms: float
    status: int  # 0: the connection failed
    retry_after: bool


@dataclass
class Load:
    port: int
    bodies: list[bytes]
    started: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)
    running: bool = True

    async def connection(self, rng: random.Random) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while self.running:
            body = rng.choice(self.bodies)
            sent = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                assert reader is not None
                writer.write(
                    b"POST /graphql HTTP/1.1\r\nhost: fleet\r\ncontent-type: application/json"
                    b"\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                )
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                await reader.readexactly(int(headers.get("content-length", "0")))
                close = headers.get("connection", "").lower() == "close"
                retry_after = "retry-after" in headers
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                status, close, retry_after = 0, True, False
            now = time.monotonic()
            self.answers.append(
                Answer(now - self.started, (now - sent) * 1000, status, retry_after)
            )
            if close and writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                reader = writer = None
            if status == 0:
                await asyncio.sleep(0.01)  # a client's reconnect back-off


def bodies(slugs: list[str], words: list[str]) -> list[bytes]:
    film = (PAGES / "film-page.graphql").read_text()
    top = (PAGES / "list.graphql").read_text()
    search = (PAGES / "search.graphql").read_text()
    out = [json.dumps({"query": film, "variables": {"slug": s, "region": "US"}}) for s in slugs]
    # 60% film pages, 20% lists, 20% searches, drawn uniformly from this list.
    lists = [json.dumps({"query": top})] * (len(out) // 3)
    searches = [json.dumps({"query": search, "variables": {"q": w}}) for w in words]
    searches = (searches * (len(out) // 3 // max(1, len(searches)) + 1))[: len(out) // 3]
    return [b.encode() for b in out + lists + searches]


# --- the run -------------------------------------------------------------------------------


@dataclass
class Event:
    at: float
    what: str
    detail: str = ""


async def run(
    port: int,
    load_bodies: list[bytes],
    seconds: float,
    connections: int,
    both: list[Server],
    replica: EmbeddedPostgres | None,
) -> tuple[Load, list[Event]]:
    load = Load(port, load_bodies)
    tasks = [asyncio.create_task(load.connection(random.Random(i))) for i in range(connections)]
    events: list[Event] = []

    def at() -> float:
        return time.monotonic() - load.started

    async def until(t: float) -> None:
        await asyncio.sleep(max(0.0, t - at()))

    a, b = both
    await until(seconds * 0.25)
    a.signal(signal.SIGKILL)
    events.append(Event(at(), "SIGKILL process a"))
    await asyncio.to_thread(a.wait)
    took = await asyncio.to_thread(a.start)
    events.append(Event(at(), "process a restarted", f"started in {took:.1f} s"))
    if replica is not None:
        await until(seconds * 0.5)
        await asyncio.to_thread(replica._run, "pg_ctl", "stop", "-m", "immediate", "-D",
                                str(replica.data_dir))  # fmt: skip
        events.append(Event(at(), "replica stopped (immediate)"))
        await until(seconds * 0.62)
        replica._unlock()  # start() takes the data directory's lock again
        await asyncio.to_thread(replica.start)
        events.append(Event(at(), "replica started"))
    await until(seconds * 0.75)
    b.signal(signal.SIGTERM)
    events.append(Event(at(), "SIGTERM process b (drain)"))
    code = await asyncio.to_thread(b.wait)
    events.append(Event(at(), "process b exited", f"exit code {code}"))
    took = await asyncio.to_thread(b.start)
    events.append(Event(at(), "process b restarted", f"started in {took:.1f} s"))
    await until(seconds)
    for server in both:
        assert server.process is not None
        rss = rss_mb(server.process.pid)
        events.append(Event(at(), f"process {server.name} memory", f"RSS {rss} MB"))
    load.running = False
    await asyncio.wait(tasks, timeout=30)
    return load, events


def rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) // 1024 for line in status.splitlines() if "VmRSS" in line)


def report(load: Load, events: list[Event], seconds: float) -> dict[str, object]:
    answers = load.answers
    ok = [x for x in answers if x.status == 200]
    kinds = Counter(
        "200"
        if x.status == 200
        else "transport error"
        if x.status == 0
        else f"503 {'with' if x.retry_after else 'WITHOUT'} Retry-After"
        if x.status == 503
        else f"{x.status} (FAILURE)"
        for x in answers
    )
    latencies = sorted(x.ms for x in ok)
    timeline: dict[int, Counter[str]] = {}
    for x in answers:
        timeline.setdefault(int(x.at), Counter())["ok" if x.status == 200 else "failed"] += 1
    print(f"\nfleet: {len(answers)} requests in {seconds:.0f} s, by answer:")
    for kind, n in sorted(kinds.items()):
        print(f"  {kind:28} {n:8}")
    print(
        f"throughput {len(ok) / seconds:.0f} answered/s; p50 {statistics.median(latencies):.1f} "
        f"ms, p99 {latencies[int(len(latencies) * 0.99)]:.1f} ms"
    )
    print("\nper second (ok / failed):")
    print(
        " ".join(f"{t}:{c['ok']}/{c['failed']}" for t, c in sorted(timeline.items()) if t < seconds)
    )
    print("\nevents:")
    summary = []
    for i, event in enumerate(events):
        end = events[i + 1].at if i + 1 < len(events) else seconds
        after = [x for x in answers if event.at <= x.at < end and x.status != 200]
        recovered = max((x.at for x in after), default=event.at) - event.at
        kinds_after = Counter(
            "transport" if x.status == 0 else f"{x.status}{'+RA' if x.retry_after else ''}"
            for x in after
        )
        print(
            f"  {event.at:6.1f} s  {event.what:30} {event.detail:22} failures after: "
            f"{dict(kinds_after) or 0}; recovered in {recovered:.2f} s"
        )
        summary.append(
            {**event.__dict__, "failures": dict(kinds_after), "recovery_s": round(recovered, 2)}
        )
    return {
        "requests": len(answers),
        "answered_per_s": round(len(ok) / seconds),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 1),
        "answers": dict(kinds),
        "events": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--replica-dsn", action="append", default=[])
    parser.add_argument("--start-replica", action="store_true")
    parser.add_argument("--data", type=Path, default=Path("/tmp/fleet-bench"))
    args = parser.parse_args()
    if args.serve:
        serve_here(args.serve)
        return
    primary: EmbeddedPostgres | None = None
    replica: EmbeddedPostgres | None = None
    dsn = os.environ.get("DATABASE_URL")
    logs = args.data / "logs"
    try:
        if not dsn:
            primary = EmbeddedPostgres(
                copy_catalogue(args.data),
                settings={**SERVER_SETTINGS, "wal_level": "replica", "max_wal_senders": "4"},
            )
            dsn = primary.start()
        migrate(dsn)
        slugs, words = asyncio.run(keys(dsn))
        replicas = list(args.replica_dsn)
        if args.start_replica:
            if primary is None:
                raise SystemExit("--start-replica needs the bench's own database (no DATABASE_URL)")
            replica = start_replica(primary, args.data)
            replicas.append(replica.dsn)
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        with servers(dsn, replicas, logs) as both:
            load, events = asyncio.run(
                run(both[0].port, bodies(slugs, words), args.seconds, args.connections, both,
                    replica)
            )  # fmt: skip
        result = report(load, events, args.seconds)
        result["replicas"] = len(replicas)
        for server in both:
            text = server.log.read_text(errors="replace")
            result[f"tracebacks_{server.name}"] = text.count("Traceback")
        print(json.dumps(result))
    finally:
        if replica is not None:
            replica.stop()
        if primary is not None:
            primary.stop()


if __name__ == "__main__":
    main()
