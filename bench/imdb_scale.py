"""The IMDb dataset a user downloads, at a scale factor: `filmgraph import imdb` against COPY.

Generates (once, then reuses) the six IMDb files with `filmgraph generate-imdb` at --scale
(1.0 is the full dataset's cardinalities: 11M titles, 14M people, 96M principals, ...) under
FILMGRAPH_IMPORT_BENCH_DIR (default /tmp/filmgraph-import-bench), plus the files of the next
day (`--changed 0.01`: 1% of titles and ratings changed). Then, in one embedded PostgreSQL
(or DATABASE_URL), in one run:

- floor: COPY of the same six files, decompressed as they are read, into unlogged, unindexed
  tables of text columns (what a raw loader does);
- first load: `filmgraph import imdb DAY0` into an empty graph (the first-load path);
- write floor: the graph the first load made written again (CREATE TABLE AS of each of its
  tables, logged, and the same indexes, then a checkpoint): what writing its rows and indexes
  costs at all, whatever computes them (--first-only stops here);
- with --normal-too, the same first load by the path for a graph that has data, for the ratio;
- re-import: the same files again, which changes nothing;
- daily change: `filmgraph import imdb DAY1`, while `filmgraph serve` answers the film page
  in a loop; its p95 then, against its p95 idle just before.

Each import runs as a child process: wall time, peak RSS (wait4: the largest process's; and
the sum over the importer and its reader processes, sampled), peak temporary disk (the
database's temporary relations and pgsql_tmp, sampled every 0.2 s), WAL written, and the time
of each step (the importer's per-statement debug log, and its per-file read lines). Rates are
title.principals rows per second of wall time. Prints one table, extrapolated linearly to the
full dataset where --scale is below 1.

With --inline-too N, N pairs of further daily changes (day0 and day1 in turn), read by the
reader processes and by the importer's own process (as before them), alternately.

    .venv/bin/python bench/imdb_scale.py [--scale 0.1] [--seed 1] [--normal-too] [--inline-too N]
        [--first-only] [--pg-bin /usr/lib/postgresql/15/bin]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import http.client
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from graph.embedded import EmbeddedPostgres, free_port
from graph.imdb_files import FILES, HEADERS, generate_imdb
from graph.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
FILM_PAGE = (ROOT / "examples" / "film-page.graphql").read_text()
# Runs the import in a child with the per-statement log on; `normal` forces the path for a
# graph that has data (the first-load path is otherwise taken into an empty graph).
CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
logging.getLogger("graph.importers.run").setLevel(logging.DEBUG)
if sys.argv[1] == "normal":
    import functools
    import graph.importers.command as command
    command.import_imdb = functools.partial(command.import_imdb, first_load=False)
if sys.argv[1] == "inline":
    # Each file read in the importer's own process, as before graph/importers/readahead.py:
    # none read ahead, and the lines left out by the same filter, in process.
    import json
    import graph.importers.imdb as imdb
    import graph.importers.run as run
    from graph.importers.kept import LineFilter
    from graph.importers.reader import Source, tsv_copy

    imdb.Ahead.start = lambda self, names: None

    class Inline:
        def __init__(self, path, header, reject, counted, drop=None):
            self.source = Source(path)
            self.args = (header, reject, counted)
            self.drop = drop

        @property
        def position(self):
            return self.source.position

        async def blocks(self):
            lines = LineFilter(json.loads(self.drop.argument())) if self.drop else None
            try:
                for block in tsv_copy(self.source, *self.args, lines):
                    yield block
                if lines is not None:
                    self.drop.finished(lines.finish())
            finally:
                self.source.close()

    run.ReadAhead = Inline
from graph.cli import main
sys.exit(main(sys.argv[2:]))
"""


@dataclass
class Measured:
    label: str
    seconds: float
    rss_kib: int
    tree_rss_bytes: int
    temp_bytes: int
    wal_bytes: int
    steps: dict[str, float] = field(default_factory=dict)
    summary: str = ""
    import_cpu: float = 0.0  # the importer and its reader processes, user + system
    database_cpu: float | None = None  # the database server's processes (embedded only)


def files(root: Path, scale: float, seed: int, *, day1: bool = True) -> tuple[Path, Path]:
    """day0 and day1 under root, generated once (day1 only if asked: --first-only reads only
    day0, and at full scale each day takes minutes and gigabytes)."""
    base = root / f"imdb-scale-{scale:g}-seed-{seed}"
    days = (("day0", 0.0), ("day1", 0.01)) if day1 else (("day0", 0.0),)
    for day, changed in days:
        done = base / f"{day}.complete"
        if not done.exists():
            start = time.perf_counter()
            generate_imdb(base / day, scale, seed, changed)
            done.touch()
            print(f"generated {day} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return base / "day0", base / "day1"


def rows_of(directory: Path) -> dict[str, int]:
    out = {}
    for name in FILES:
        with gzip.open(directory / f"{name}.tsv.gz", "rb") as f:
            out[name] = sum(b.count(b"\n") for b in iter(lambda: f.read(1 << 20), b"")) - 1
    return out


async def _blocks(path: Path) -> AsyncIterator[bytes]:
    with gzip.open(path, "rb") as f:
        f.readline()  # the header
        while block := f.read(1 << 20):
            yield block


async def floor(dsn: str, directory: Path) -> dict[str, float]:
    """Seconds to COPY each file into an unlogged, unindexed table of text columns."""
    conn = await asyncpg.connect(dsn)
    times = {}
    try:
        for name in FILES:
            table = "raw_" + name.replace(".", "_")
            columns = ", ".join(f'"{c.lower()}" text' for c in HEADERS[name])
            await conn.execute(f"drop table if exists {table}")
            await conn.execute(f"create unlogged table {table} ({columns})")
            start = time.perf_counter()
            # IMDb's files are not COPY text (a backslash is literal), so read as CSV with
            # characters that never occur as quote and escape.
            await conn.copy_to_table(
                table,
                source=_blocks(directory / f"{name}.tsv.gz"),
                format="csv",
                delimiter="\t",
                quote="\x01",
                escape="\x02",
                null="\\N",
            )
            times[name] = time.perf_counter() - start
            await conn.execute(f"drop table {table}")
    finally:
        await conn.close()
    return times


class Sampler:
    """Peak size of the server's temporary files while an import runs."""

    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _size(self) -> int:
        assert self.data_dir is not None
        total = 0
        for top in (self.data_dir / "base",):
            for dirpath, _, names in os.walk(top):
                temp_dir = "pgsql_tmp" in dirpath
                for n in names:
                    if temp_dir or re.match(r"t\d+_", n):
                        with contextlib.suppress(OSError):
                            total += os.stat(os.path.join(dirpath, n)).st_size
        return total

    def _loop(self) -> None:
        while not self.stop.wait(0.2):
            self.peak = max(self.peak, self._size())

    def __enter__(self) -> Sampler:
        if self.data_dir is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.data_dir is not None:
            self.thread.join()


class TreeRss:
    """Peak of the summed resident memory of a process and its descendants (the importer
    and its reader processes), sampled every 0.1 s: wait4's peak is one process's."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _sum(self) -> int:
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/statm") as f:
                    rss[int(entry)] = int(f.read().split()[1]) * PAGE
        tree = {self.pid}
        grown = True
        while grown:
            more = {p for p, parent in parents.items() if parent in tree} - tree
            tree |= more
            grown = bool(more)
        return sum(rss.get(p, 0) for p in tree)

    def _loop(self) -> None:
        while not self.stop.wait(0.1):
            self.peak = max(self.peak, self._sum())

    def finish(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak


PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
CORES = len(os.sched_getaffinity(0))


def _server_stats(data_dir: Path) -> tuple[int, dict[int, list[str]]]:
    """The embedded server's postmaster, and /proc/PID/stat's fields after the command of
    every process (state ppid ... utime(11) stime(12) cutime(13) cstime(14), from 0)."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as f:
                stats[int(entry)] = f.read().rsplit(")", 1)[1].split()
    return postmaster, stats


def floor_cpu(
    data_dir: Path | None, backends: int, bench_before: float, database_before: float | None
) -> str:
    """The CPU time of the COPY floor: this process (it decompresses the files) and the
    database's, as run_import counts an import's."""
    bench_s = time.process_time() - bench_before
    after = database_cpu(data_dir, backends_at_most=backends)
    if after is None or database_before is None:
        return f"CPU: bench process {bench_s:.1f} s"
    database_s = after - database_before
    return (
        f"CPU: bench process {bench_s:.1f} s, database {database_s:.1f} s, together "
        f"{bench_s + database_s:.1f} s"
    )


def server_children(data_dir: Path | None) -> int:
    """How many processes the embedded server runs (0 for a server of DATABASE_URL)."""
    if data_dir is None:
        return 0
    postmaster, stats = _server_stats(data_dir)
    return sum(1 for f in stats.values() if int(f[1]) == postmaster)


def database_cpu(data_dir: Path | None, backends_at_most: int | None = None) -> float | None:
    """CPU seconds (user + system) the embedded server's processes have used: the postmaster
    and those running, plus those that ended and were reaped (its children's totals: the
    import's backend, once its connection closes); with backends_at_most, once it runs no
    more processes than that (10 s at most). None for a server of DATABASE_URL."""
    if data_dir is None:
        return None
    deadline = time.monotonic() + 10
    while backends_at_most is not None and server_children(data_dir) > backends_at_most:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    postmaster, stats = _server_stats(data_dir)
    ticks = sum(int(x) for x in stats[postmaster][11:15])
    ticks += sum(int(f[11]) + int(f[12]) for f in stats.values() if int(f[1]) == postmaster)
    return ticks / TICK


STATEMENT = re.compile(r"statement name=(\S+) seconds=([0-9.]+)")
READ = re.compile(r"read file=(\S+) rows=\d+ seconds=([0-9.]+)")


# The tables a first load writes, for the write floor: the graph's rows and indexes written
# again, copied from the loaded graph (CREATE TABLE AS, then each index of sql/schema.sql).
GRAPH_TABLES = (
    "film",
    "person",
    "credit",
    "film_alternative_title",
    "film_genre",
    "credit_tally",
    "search_word",
    "collaboration",
)


async def write_floor(dsn: str) -> dict[str, float]:
    """Seconds to write the loaded graph's rows (CREATE TABLE AS, logged) and build its
    indexes (the same definitions) again: the cost of writing the graph at all, whatever
    computes it. Derived values (slugs, search vectors, words) are copied, not computed."""
    conn = await asyncpg.connect(dsn)
    times: dict[str, float] = {}
    try:
        # As the first load's transaction has it (imdb_first_load_memory).
        await conn.execute("set maintenance_work_mem = '256MB'")
        for table in GRAPH_TABLES:
            copy = f"floor_{table}"
            indexes = await conn.fetch(
                "select indexname, indexdef from pg_indexes "
                "where schemaname = 'public' and tablename = $1",
                table,
            )
            await conn.execute(f"drop table if exists {copy}")
            start = time.perf_counter()
            await conn.execute(f"create table {copy} as select * from {table}")
            for index in indexes:
                ddl = index["indexdef"].replace(
                    f" {index['indexname']} ON public.{table} ",
                    f" floor_{index['indexname']} ON public.{copy} ",
                )
                await conn.execute(ddl)
            await conn.execute("checkpoint")
            times[table] = time.perf_counter() - start
            await conn.execute(f"drop table {copy}")
    finally:
        await conn.close()
    return times


def steps_of(log: str) -> dict[str, float]:
    steps: dict[str, float] = defaultdict(float)
    for m in READ.finditer(log):
        steps[f"read+COPY {m.group(1)}"] += float(m.group(2))
    for m in STATEMENT.finditer(log):
        steps[m.group(1)] += float(m.group(2))
    return dict(steps)


async def wal_lsn(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("select pg_current_wal_lsn() - '0/0'::pg_lsn"))
    finally:
        await conn.close()


def run_import(
    label: str, dsn: str, directory: Path, data_dir: Path | None, path: str = "auto"
) -> Measured:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")},
        "DATABASE_URL": dsn,
    }
    before = asyncio.run(wal_lsn(dsn))
    cpu_before = database_cpu(data_dir)
    backends = server_children(data_dir)
    argv = [sys.executable, "-c", CHILD, path, "import", "imdb", str(directory)]
    logs = directory.parent / "import.log"
    with Sampler(data_dir) as sampler, logs.open("w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=err)
        tree = TreeRss(proc.pid)
        assert proc.stdout is not None
        out = proc.stdout.read()  # the summary: small; stderr goes to a file
        tree_rss = tree.finish()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        err.seek(0)
        log = err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{label} failed:\n{log[-3000:]}")
    # The import's backend ends once its client has exited: its time is counted once it has
    # been reaped (asked before the next connection to the server).
    cpu_after = database_cpu(data_dir, backends_at_most=backends)
    wal = asyncio.run(wal_lsn(dsn)) - before
    return Measured(
        label,
        seconds,
        usage.ru_maxrss,
        tree_rss,
        sampler.peak,
        wal,
        steps_of(log),
        out.decode().strip(),
        usage.ru_utime + usage.ru_stime,  # wait4: the importer and its reaped readers
        None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
    )


async def fresh_database(server_dsn: str) -> str:
    name = f"imdb_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    dsn = server_dsn.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


async def drop(server_dsn: str, dsn: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'drop database "{dsn.rsplit("/", 1)[1]}" with (force)')
    finally:
        await conn.close()


async def film_slugs(dsn: str, n: int = 300) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select slug from film where imdb_votes is not null order by random() limit $1", n
        )
    finally:
        await conn.close()
    return [r["slug"] for r in rows]


@contextlib.contextmanager
def server(dsn: str, logs: Path) -> Iterator[int]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FILMGRAPH_")},
        "DATABASE_URL": dsn,
        "FILMGRAPH_PORT": str(port),
        "FILMGRAPH_CURSOR_SECRET": "bench",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=logs.open("wb"),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("filmgraph serve did not start within 60 s")
            time.sleep(0.2)  # a bench: polling a starting server is all there is
        yield port
    finally:
        process.terminate()
        process.wait(timeout=60)


class FilmPages:
    """One client asking for film pages in a loop, one at a time, recording latencies."""

    def __init__(self, port: int, slugs: list[str]) -> None:
        self.port = port
        self.bodies = [
            json.dumps({"query": FILM_PAGE, "variables": {"slug": s, "region": "US"}}).encode()
            for s in slugs
        ]
        self.latencies: list[float] = []
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        i = 0
        while not self.stop.is_set():
            body = self.bodies[i % len(self.bodies)]
            i += 1
            start = time.perf_counter()
            conn.request("POST", "/graphql", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            self.latencies.append(time.perf_counter() - start)
            if response.status != 200 or b'"errors"' in data:
                self.errors += 1

    def run_for(self, seconds: float) -> None:
        self.thread.start()
        self.stop.wait(seconds)
        self.finish()

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()

    def p95_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=20)[-1] * 1000


def table(
    results: list[Measured],
    copy: dict[str, float],
    rows: dict[str, int],
    scale: float,
    written: dict[str, float],
) -> str:
    principals = rows["title.principals"]
    total = sum(rows.values())
    copy_s = sum(copy.values())
    factor = 1 / scale
    lines = [
        f"scale {scale:g}: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()),
        "",
        f"| step | wall s | all rows/s | / COPY floor | full dataset (x{factor:g}) | peak RSS | "
        "peak RSS, all processes | temp disk | WAL |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| COPY floor (6 files, unlogged, unindexed) | {copy_s:.1f} | {total / copy_s:,.0f} | "
        f"1.00 | {copy_s * factor / 60:.1f} min | | | | |",
    ]
    for m in results:
        lines.append(
            f"| {m.label} | {m.seconds:.1f} | {total / m.seconds:,.0f} | "
            f"{m.seconds / copy_s:.2f} | {m.seconds * factor / 60:.1f} min | "
            f"{m.rss_kib / 1024:.0f} MiB | {m.tree_rss_bytes / 2**20:.0f} MiB | "
            f"{m.temp_bytes / 2**20:,.0f} MiB | "
            f"{m.wal_bytes / 2**20:,.0f} MiB |"
        )
    written_s = sum(written.values())
    lines.append(
        f"\nwrite floor (the first load's graph written again: CREATE TABLE AS, logged, its "
        f"indexes, a checkpoint): {written_s:.1f} s = {written_s / copy_s:.2f} x the COPY floor; "
        f"COPY floor + write floor {copy_s + written_s:.1f} s = "
        f"{(copy_s + written_s) / copy_s:.2f} x; per table: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in written.items())
    )
    lines.append(f"\n(title.principals: {principals:,} rows)")
    lines.append("\nCOPY floor per file: " + ", ".join(f"{k} {v:.1f} s" for k, v in copy.items()))
    for m in results:
        top = sorted(m.steps.items(), key=lambda kv: -kv[1])[:24]
        sql_s = sum(s for name, s in m.steps.items() if not name.startswith("read+"))
        lines.append(
            f"\n{m.label}: statements {sql_s:.1f} s, the rest (reading, waiting for the "
            f"readers, start-up) {m.seconds - sql_s:.1f} s; steps over 0.5 s:"
        )
        lines += [f"  {name}: {s:.1f} s" for name, s in top if s >= 0.5]
        if m.database_cpu is not None:
            # On this machine's cores, the import cannot take less wall time than its CPU
            # time over them, however its work is overlapped.
            cpu = m.import_cpu + m.database_cpu
            lines.append(
                f"  CPU: importer and its readers {m.import_cpu:.1f} s, database "
                f"{m.database_cpu:.1f} s, together {cpu:.1f} s = {cpu / CORES:.1f} s of wall "
                f"on {CORES} cores at the least ({cpu / CORES / copy_s:.2f} x the COPY floor)"
            )
    return "\n".join(lines)


def bench(server_dsn: str, data_dir: Path | None, args: argparse.Namespace, root: Path) -> None:
    day0, day1 = files(root, args.scale, args.seed, day1=not args.first_only)
    rows = rows_of(day0)
    results: list[Measured] = []
    dsn = asyncio.run(fresh_database(server_dsn))
    try:
        backends = server_children(data_dir)
        cpu = time.process_time(), database_cpu(data_dir)
        copy = asyncio.run(floor(dsn, day0))
        copy_cpu = floor_cpu(data_dir, backends, *cpu)
        print(f"COPY floor: {sum(copy.values()):.1f} s; {copy_cpu}", file=sys.stderr)
        first = run_import("first load (empty graph)", dsn, day0, data_dir)
        results.append(first)
        print(first.summary, file=sys.stderr)
        written = asyncio.run(write_floor(dsn))
        print(f"write floor: {sum(written.values()):.1f} s", file=sys.stderr)
        if args.first_only:
            print(table(results, copy, rows, args.scale, written))
            print(f"\nCOPY floor: {copy_cpu}")
            return
        again = run_import("re-import, same files", dsn, day0, data_dir)
        results.append(again)
        print(again.summary, file=sys.stderr)
        slugs = asyncio.run(film_slugs(dsn))
        with server(dsn, root / "serve.log") as port:
            warm = FilmPages(port, slugs)
            warm.run_for(5)
            idle = FilmPages(port, slugs)
            idle.run_for(args.idle_seconds)
            busy = FilmPages(port, slugs)
            busy.start()
            try:
                daily = run_import("re-import, daily change (1%)", dsn, day1, data_dir)
            finally:
                busy.finish()
        results.append(daily)
        print(daily.summary, file=sys.stderr)
        paired = readers_against_inline(dsn, (day0, day1), data_dir, args.inline_too)
    finally:
        asyncio.run(drop(server_dsn, dsn))
    if args.normal_too:
        dsn = asyncio.run(fresh_database(server_dsn))
        try:
            results.insert(1, run_import("first load, normal path", dsn, day0, data_dir, "normal"))
        finally:
            asyncio.run(drop(server_dsn, dsn))
    print(table(results, copy, rows, args.scale, written))
    print(f"\nCOPY floor: {copy_cpu}")
    print(
        f"\nfilm page p95 idle {idle.p95_ms():.1f} ms ({len(idle.latencies)} requests), "
        f"during the daily-change import {busy.p95_ms():.1f} ms ({len(busy.latencies)} "
        f"requests, {busy.errors} errors): ratio {busy.p95_ms() / idle.p95_ms():.2f}"
    )
    if paired:
        print(paired)


READERS, INLINE = "reader processes", "in-process reading"


def readers_against_inline(
    dsn: str, days: tuple[Path, Path], data_dir: Path | None, rounds: int
) -> str:
    """Daily changes (day0 and day1 in turn: each import is a 1% change from the last), read
    by reader processes and in the importer's own process alternately, in pairs."""
    runs: dict[str, list[Measured]] = {READERS: [], INLINE: []}
    at = 0  # the graph holds day1: day0 is next
    for r in range(rounds):
        pair = [(READERS, "auto"), (INLINE, "inline")]
        for label, path in pair if r % 2 == 0 else pair[::-1]:
            runs[label].append(run_import(label, dsn, days[at], data_dir, path))
            at = 1 - at
    if not rounds:
        return ""
    lines = [f"\ndaily change, {rounds} pair(s) alternated, median (all runs):"]
    for label, measured in runs.items():
        walls = [m.seconds for m in measured]
        reads = [sum(v for k, v in m.steps.items() if k.startswith("read+")) for m in measured]
        rss = max(m.tree_rss_bytes for m in measured) / 2**20
        lines.append(
            f"  {label}: wall {statistics.median(walls):.1f} s "
            f"({', '.join(f'{w:.1f}' for w in walls)}), read+COPY steps "
            f"{statistics.median(reads):.1f} s, peak RSS all processes {rss:.0f} MiB"
        )
    ratio = statistics.median(m.seconds for m in runs[READERS]) / statistics.median(
        m.seconds for m in runs[INLINE]
    )
    lines.append(f"  wall ratio, reader processes / in-process: {ratio:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--normal-too", action="store_true")
    parser.add_argument(
        "--first-only", action="store_true", help="the COPY floor, the first load, its write floor"
    )
    parser.add_argument(
        "--inline-too",
        type=int,
        default=0,
        metavar="PAIRS",
        help="then PAIRS daily changes read by reader processes and in-process, alternately",
    )
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--pg-bin", type=Path, default=None)
    args = parser.parse_args()
    root = Path(os.environ.get("FILMGRAPH_IMPORT_BENCH_DIR", "/tmp/filmgraph-import-bench"))
    root.mkdir(parents=True, exist_ok=True)
    external = os.environ.get("DATABASE_URL")
    if external:
        bench(external, None, args, root)
        return
    data = root / ("pgdata" if args.pg_bin is None else f"pgdata-{args.pg_bin.parent.name}")
    pg = EmbeddedPostgres(data, binaries=args.pg_bin)
    try:
        dsn = pg.start()
        bench(dsn, data, args, root)
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
