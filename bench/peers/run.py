"""Side by side: filmgraph against PostGraphile v5 and the hand-written SQL floor, on one
database, four pages, wrk with 32 connections, systems alternating within each round.

    .venv/bin/python bench/peers/run.py            # the full run: 3 rounds of 20 s
    .venv/bin/python bench/peers/run.py --quick    # a smoke check: 2 rounds of 3 s
    .venv/bin/python bench/peers/run.py --scale    # the film page at 1M films against 50k

See bench/peers/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

import asyncpg  # noqa: E402
import check  # noqa: E402
import httpx  # noqa: E402
import load  # noqa: E402
import systems  # noqa: E402
from database import Database, open_database  # noqa: E402
from pages import PAGES  # noqa: E402
from pages import keys as page_keys  # noqa: E402

CACHE = Path(os.environ.get("FILMGRAPH_BENCH_CACHE") or Path.home() / ".cache" / "filmgraph-bench")
KEYS = {"film-page": 1000, "filmography": 100, "list": 1, "search": 300}

FLOOR = "floor (SQL, pgbench)"
POSTGRAPHILE = "PostGraphile v5"
COMPILED = "filmgraph compiled"
RESOLVERS = "filmgraph resolvers"
FILMGRAPH = "filmgraph (default execution)"  # --scale: whichever path serves the page
WORKERS = "filmgraph --workers 2"
WORKERS_BEFORE = "filmgraph --workers 2 (before)"  # --before DIR
PERSISTED = "filmgraph persisted GET"
NOT_MODIFIED = "filmgraph GET If-None-Match (304)"


@dataclass
class Target:
    """One system as a load target: how to send it load, or why it is n/a (per page)."""

    name: str
    kind: str  # "floor", "postgraphile", "post" (filmgraph), "persisted", "not-modified"
    server: systems.Server | None = None  # None: the floor
    db: Database | None = None
    na: dict[str, str] = field(default_factory=dict)  # page -> why not measured
    lines: dict[str, Path] = field(default_factory=dict)  # page -> wrk requests file
    scripts: dict[str, Path] = field(default_factory=dict)  # page -> pgbench script
    notes: dict[str, Any] = field(default_factory=dict)


def postmaster_pid(db: Database) -> int | None:
    if db.server is None:
        return None
    return int((db.server.data_dir / "postmaster.pid").read_text().split()[0])


def write_lines(path: Path, lines: list[tuple[str, str, str]]) -> Path:
    path.write_text("".join(f"{p}\t{b}\t{e}\n" for p, b, e in lines))
    return path


def post_lines(page: str, keys: list[str | None], postgraphile: bool) -> list[tuple[str, str, str]]:
    p = PAGES[page]
    document = p.postgraphile_document if postgraphile else p.document
    out = []
    for key in keys:
        body = {"query": document, "variables": p.variables(key)}
        if not postgraphile:
            body["operationName"] = p.operation
        out.append(("/graphql", json.dumps(body, separators=(",", ":")), ""))
    return out


async def prewarm(db: Database, pages: list[str], keys: dict[str, list[str | None]]) -> float:
    """Run the floor's statement once for every key: the pages the benchmark will read come
    into memory before any system is timed (a catalogue just built or restarted is cold, and
    the first system timed would pay for everyone). Returns the seconds it took."""
    start = time.monotonic()
    conn = await asyncpg.connect(db.dsn)
    try:
        for page in pages:
            sql = PAGES[page].floor_sql
            for key in keys[page]:
                await (conn.fetchval(sql, key) if "$1" in sql else conn.fetchval(sql))
    finally:
        await conn.close()
    return round(time.monotonic() - start, 1)


@contextlib.contextmanager
def running(servers: list[systems.Server]) -> Iterator[None]:
    started: list[systems.Server] = []
    try:
        for s in servers:
            print(f"peers: starting {s.name}", file=sys.stderr, flush=True)
            s.start()
            started.append(s)
        yield
    finally:
        for s in reversed(started):
            s.stop()


async def probe_compiled(
    db: Database, work: Path, pages: list[str], keys: dict[str, list[str | None]]
) -> dict[str, Any]:
    """page -> whether filmgraph's compiled setting serves it compiled (a server with
    FILMGRAPH_EXPLAIN_EXECUTION=1 says which path served a response)."""
    probe = systems.filmgraph(db, work / "logs", "compiled", explain=True)
    probe.name = "filmgraph compiled (probe, explain on)"
    out: dict[str, Any] = {}
    with running([probe]):
        async with httpx.AsyncClient() as client:
            for page in pages:
                p = PAGES[page]
                r = await client.post(
                    probe.url,
                    json={"query": p.document, "variables": p.variables(keys[page][0])},
                    timeout=60,
                )
                out[page] = {
                    "compiled": systems.said_compiled(r.json().get("extensions")),
                    "extensions": r.json().get("extensions"),
                }
    return out


def summarise(rounds: list[load.Round]) -> dict[tuple[str, str], dict[str, Any]]:
    by: dict[tuple[str, str], list[load.Round]] = {}
    for r in rounds:
        by.setdefault((r.system, r.page), []).append(r)

    def med(values: list[float | None]) -> float | None:
        vs = [v for v in values if v is not None]
        return round(statistics.median(vs), 3) if vs else None

    return {
        key: {
            "rps": med([r.rps for r in rs]),
            "p50_ms": med([r.p50_ms for r in rs]),
            "p99_ms": med([r.p99_ms for r in rs]),
            "app_cpu_ms": med([r.app_cpu_ms for r in rs]),
            "db_cpu_ms": med([r.db_cpu_ms for r in rs]),
            "errors": sum(r.errors for r in rs),
            "rounds": len(rs),
        }
        for key, rs in by.items()
    }


def fmt(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}"


def print_table(
    targets: list[Target],
    pages: list[str],
    summary: dict[tuple[str, str], dict[str, Any]],
    statements: dict[tuple[str, str], float | None],
) -> str:
    lines = []
    for page in pages:
        lines.append(f"\n{page}")
        lines.append(
            f"  {'system':38} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'app ms':>7} "
            f"{'db ms':>6} {'stmts':>6} {'err':>4}"
        )
        for t in targets:
            if page in t.na:
                lines.append(f"  {t.name:38} n/a: {t.na[page]}")
                continue
            s = summary.get((t.name, page))
            if s is None:
                continue
            st = statements.get((t.name, page))
            lines.append(
                f"  {t.name:38} {fmt(s['rps']):>8} {fmt(s['p50_ms'], 1):>8} "
                f"{fmt(s['p99_ms'], 1):>8} {fmt(s['app_cpu_ms'], 2):>7} "
                f"{fmt(s['db_cpu_ms'], 2):>6} {fmt(st, 1):>6} {s['errors']:>4}"
            )
        # filmgraph as it serves this page by default: compiled when the compiler serves it
        compiled = next(t for t in targets if t.name == COMPILED)
        default = RESOLVERS if page in compiled.na else COMPILED
        fg = summary.get((default, page), {}).get("rps")
        pgl = summary.get((POSTGRAPHILE, page), {}).get("rps")
        floor = summary.get((FLOOR, page), {}).get("rps")
        lines.append(
            f"  ratios ({default}): / PostGraphile {ratio(fg, pgl)}, / floor {ratio(fg, floor)}"
            f"; PostGraphile / floor {ratio(pgl, floor)}"
        )
        after = summary.get((WORKERS, page), {}).get("rps")
        before = summary.get((WORKERS_BEFORE, page), {}).get("rps")
        if before:
            lines.append(
                f"  --workers 2 / floor {ratio(after, floor)} (before {ratio(before, floor)}); "
                f"after / before {ratio(after, before)}"
            )
    text = "\n".join(lines)
    print(text)
    return text


async def prepare_targets(
    db: Database,
    work: Path,
    pages: list[str],
    keys: dict[str, list[str | None]],
    pgl_folder: Path,
    label: str = "",
    variants: bool = True,
    before: Path | None = None,
) -> tuple[list[Target], list[systems.Server], dict[str, Any]]:
    """The targets on one database, with their servers (not started) and what was detected."""
    logs = work / "logs"
    detected: dict[str, Any] = {}
    help_text = systems.serve_help()
    detected["workers"] = "--workers" in help_text
    compiled = await probe_compiled(db, work, pages, keys)
    detected["compiled"] = compiled

    floor = Target(FLOOR + label, "floor", db=db)
    for page in pages:
        floor.scripts[page] = load.pgbench_script(
            PAGES[page].floor_sql, keys[page], work, page + label.replace(" @", "-")
        )

    pgl_server = systems.postgraphile(db, logs, pgl_folder)
    pgl = Target(POSTGRAPHILE + label, "postgraphile", pgl_server, db)

    default = systems.filmgraph(db, logs, "compiled")
    fg_compiled = Target((COMPILED if variants else FILMGRAPH) + label, "post", default, db)
    servers = [pgl_server, default]
    targets = [floor, pgl, fg_compiled]
    for page in pages:
        if variants and not compiled[page]["compiled"]:
            fg_compiled.na[page] = "the compiler does not serve this page (resolvers did)"
        if PAGES[page].postgraphile is None:
            pgl.na[page] = PAGES[page].why_no_postgraphile
    if variants:
        resolvers = systems.filmgraph(db, logs, "resolvers")
        servers.append(resolvers)
        targets.append(Target(RESOLVERS + label, "post", resolvers, db))
        workers = Target(WORKERS + label, "post", None, db)
        if detected["workers"]:
            w = systems.filmgraph(db, logs, "compiled", workers=2)
            servers.append(w)
            workers.server = w
        else:
            workers.na = dict.fromkeys(pages, "filmgraph serve has no --workers yet")
        targets.append(workers)
        if before is not None and detected["workers"]:
            b = systems.filmgraph(db, logs, "compiled", workers=2, tree=before)
            servers.append(b)
            targets.append(Target(WORKERS_BEFORE + label, "post", b, db))
        targets.append(Target(PERSISTED + label, "persisted", default, db))
        targets.append(Target(NOT_MODIFIED + label, "not-modified", default, db))
    return targets, servers, detected


async def setup_requests(
    targets: list[Target], work: Path, pages: list[str], keys: dict[str, list[str | None]]
) -> None:
    """wrk request files. Persisted GETs are detected here, once per server and page (the
    probe registers the document, so a second probe would find it known), and every key is
    fetched once before timing: that fills the server's response cache, the steady state of
    a deployment answering GETs, and gives each key's ETag for If-None-Match."""
    detected: dict[tuple[int, str], tuple[str | None, str | None]] = {}
    etags: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for t in targets:
        if t.server is None:
            continue
        for page in pages:
            if page in t.na:
                continue
            name = "".join(c if c.isalnum() or c in "-." else "_" for c in t.name)
            stem = work / f"requests-{name}-{page}.txt"
            if t.kind == "postgraphile":
                t.lines[page] = write_lines(stem, post_lines(page, keys[page], True))
                continue
            if t.kind == "post":
                t.lines[page] = write_lines(stem, post_lines(page, keys[page], False))
                continue
            at = (t.server.port, page)
            if at not in detected:
                detected[at] = systems.detect_persisted(t.server, page, keys[page][0])
            no_get, no_304 = detected[at]
            why = no_get if t.kind == "persisted" else (no_get or no_304)
            if why:
                t.na[page] = why
                continue
            if at not in etags:
                etags[at] = []
                async with httpx.AsyncClient() as client:
                    for key in keys[page]:
                        path = systems.persisted_get_path(page, key)
                        r = await client.get(f"http://127.0.0.1:{t.server.port}{path}", timeout=60)
                        etags[at].append((path, r.headers.get("etag", "")))
            lines = [
                (path, "", etag if t.kind == "not-modified" else "") for path, etag in etags[at]
            ]
            t.lines[page] = write_lines(stem, lines)


def fetcher(t: Target, client: httpx.AsyncClient, floor_conn: asyncpg.Connection) -> check.Fetch:
    if t.server is None:
        return check.floor_fetch(floor_conn)
    if t.kind == "postgraphile":
        return check.graphql_fetch(client, t.server.url, postgraphile=True)
    if t.kind in ("persisted", "not-modified"):
        return check.persisted_fetch(
            client, f"http://127.0.0.1:{t.server.port}", systems.persisted_get_path
        )
    return check.graphql_fetch(client, t.server.url)


async def verify(
    targets: list[Target],
    db: Database,
    pages: list[str],
    keys: dict[str, list[str | None]],
    samples: dict[str, int],
    count_requests: int,
    pgbench_bin: str,
) -> tuple[dict[str, Any], dict[tuple[str, str], float | None]]:
    """Identity on a sample of each page, then statements per request."""
    identity: dict[str, Any] = {}
    statements: dict[tuple[str, str], float | None] = {}
    tops: dict[str, Any] = {}
    # The reference semantics: the resolver path; in --scale, filmgraph as it runs by default.
    posts = [t for t in targets if t.kind == "post" and t.server is not None]
    reference_target = next((t for t in posts if t.name.startswith(RESOLVERS)), posts[0])
    floor_conn = await asyncpg.connect(db.dsn)
    monitor = await asyncpg.connect(db.monitor_dsn)
    database = db.dsn.rsplit("/", 1)[1].split("?")[0]
    try:
        async with httpx.AsyncClient() as client:
            reference = fetcher(reference_target, client, floor_conn)
            for page in pages:
                others = {
                    t.name: fetcher(t, client, floor_conn)
                    for t in targets
                    if page not in t.na and t is not reference_target and t.kind != "not-modified"
                }
                loosely = {t.name for t in targets if t.kind == "postgraphile"}
                sample = keys[page][:: max(1, len(keys[page]) // samples[page])][: samples[page]]
                identity[page] = await check.compare(page, sample, reference, others, loosely)
                for name, result in identity[page].items():
                    state = "identical" if result["identical"] == result["pages"] else "DIFFERENT"
                    print(
                        f"peers: check {page}: {name}: {result['identical']}/{result['pages']} "
                        f"{state}"
                        + (
                            f" ({result['first_difference']})" if result["first_difference"] else ""
                        ),
                        file=sys.stderr,
                        flush=True,
                    )
            if not await check.has_statements(monitor):
                return identity, {}
            # a longer idle window in a full run: a poll every few seconds is then seen
            idle_s = 3.0 if count_requests < 20 else 10.0
            background = await check.background_rate(monitor, database, idle_s)
            identity["background_statements_per_s"] = round(background, 2)
            for page in pages:
                key = keys[page][0]
                for t in targets:
                    if page in t.na:
                        continue
                    run = _requests(
                        t, page, key, count_requests, pgbench_bin, db.dsn, client, floor_conn
                    )
                    per, top = await check.count_statements(
                        monitor, database, run, count_requests, background
                    )
                    statements[(t.name, page)] = round(per, 2)
                    tops[f"{t.name} | {page}"] = top
    finally:
        await floor_conn.close()
        await monitor.close()
    identity["statement_tops"] = tops
    return identity, statements


def _requests(
    t: Target,
    page: str,
    key: str | None,
    count: int,
    pgbench_bin: str,
    dsn: str,
    client: httpx.AsyncClient,
    floor_conn: asyncpg.Connection,
) -> Callable[[], Awaitable[None]]:
    """count requests of one page to one system, one after another: through pgbench for the
    floor, so that its statements are counted as pgbench runs them."""
    if t.server is None:
        script = str(t.scripts[page])

        async def floor() -> None:
            await asyncio.to_thread(check.pgbench_once, pgbench_bin, dsn, script, count)

        return floor
    if t.kind == "not-modified":
        path, _, etag = t.lines[page].read_text().splitlines()[0].split("\t")
        url = f"http://127.0.0.1:{t.server.port}{path}"

        async def revalidate() -> None:
            for _ in range(count):
                r = await client.get(url, headers={"If-None-Match": etag}, timeout=60)
                if r.status_code != 304:
                    raise AssertionError(f"If-None-Match answered {r.status_code}, not 304")

        return revalidate
    fetch = fetcher(t, client, floor_conn)

    async def http() -> None:
        for _ in range(count):
            await fetch(page, key)

    return http


def time_rounds(
    targets: list[Target],
    pages: list[str],
    rounds: int,
    seconds: float,
    warmup: float,
    pgbench_bin: str,
    work: Path,
) -> list[load.Round]:
    results: list[load.Round] = []
    live = list(targets)

    def one(t: Target, page: str, number: int, secs: float) -> load.Round:
        assert t.db is not None
        db_pid = postmaster_pid(t.db)
        if t.server is None:
            return load.pgbench(
                t.name, page, number, pgbench_bin, t.db.dsn, t.scripts[page], secs, db_pid, work
            )
        return load.wrk(
            t.name,
            page,
            number,
            f"http://127.0.0.1:{t.server.port}",
            t.lines[page],
            secs,
            [t.server.pid],
            db_pid,
        )

    for page in pages:
        for t in live:
            if page not in t.na:
                print(f"peers: warm-up {t.name} {page}", file=sys.stderr, flush=True)
                one(t, page, 0, warmup)
    for number in range(1, rounds + 1):
        for page in pages:
            order = [t for t in live if page not in t.na]
            shift = (number - 1) % max(len(order), 1)
            order = order[shift:] + order[:shift]  # who goes first changes every round
            for t in order:
                r = one(t, page, number, seconds)
                print(
                    f"peers: round {number} {page:11} {t.name:38} {r.rps:9.1f} req/s "
                    f"p50 {r.p50_ms:7.1f} p99 {r.p99_ms:7.1f} ms  err {r.errors}  "
                    f"load {r.loadavg_before:.1f}  other cpu {r.other_cpu_cores:.2f}",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(r)
    return results


async def main_compare(args: argparse.Namespace) -> dict[str, Any]:
    pages = args.pages
    work = CACHE / "runs" / time.strftime("%Y%m%dT%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    db = await open_database(CACHE, args.films)
    try:
        pgl_folder = systems.install_postgraphile(CACHE)
        pgbench_bin = (
            str(db.bin_dir / "pgbench") if db.bin_dir else shutil.which("pgbench") or "pgbench"
        )
        conn = await asyncpg.connect(db.dsn)
        try:
            keys = {p: await page_keys(conn, p, KEYS[p]) for p in pages}
        finally:
            await conn.close()
        prewarm_s = await prewarm(db, pages, keys)
        targets, servers, detected = await prepare_targets(
            db, work, pages, keys, pgl_folder, before=args.before
        )
        with running(servers):
            await setup_requests(targets, work, pages, keys)
            samples = (
                {"film-page": 10, "filmography": 5, "list": 1, "search": 5}
                if args.quick
                else {"film-page": 100, "filmography": 20, "list": 1, "search": 20}
            )
            identity, statements = await verify(
                targets, db, pages, keys, samples, 5 if args.quick else 20, pgbench_bin
            )
            rounds = time_rounds(
                targets, pages, args.rounds, args.seconds, args.warmup, pgbench_bin, work
            )
        summary = summarise(rounds)
        table = print_table(targets, pages, summary, statements)
        return {
            "mode": "quick" if args.quick else "full",
            "films": args.films,
            "database": db.built,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "connections": load.CONNECTIONS,
            "node": systems.node_version(pgl_folder),
            "postgraphile": systems.POSTGRAPHILE,
            "detected": detected,
            "prewarm_s": prewarm_s,
            "not_measured": {t.name: t.na for t in targets if t.na},
            "identity": identity,
            "statements_per_request": {f"{s} | {p}": v for (s, p), v in statements.items()},
            "summary": {f"{s} | {p}": v for (s, p), v in summary.items()},
            "rounds_detail": [r.as_dict() for r in rounds],
            "table": table,
            "wall_s": round(time.monotonic() - started, 1),
            "work_dir": str(work),
        }
    finally:
        db.stop()


async def main_scale(args: argparse.Namespace) -> dict[str, Any]:
    """The film page at --films (default 50k) against --large (default 1M): same systems,
    alternating between the two databases within each round."""
    pages = ["film-page"]
    work = CACHE / "runs" / (time.strftime("%Y%m%dT%H%M%S") + "-scale")
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    small = await open_database(CACHE, args.films)
    try:
        large = await open_database(CACHE, args.large)
    except BaseException:
        small.stop()
        raise
    try:
        pgl_folder = systems.install_postgraphile(CACHE)
        pgbench_bin = (
            str(small.bin_dir / "pgbench")
            if small.bin_dir
            else shutil.which("pgbench") or "pgbench"
        )
        targets: list[Target] = []
        servers: list[systems.Server] = []
        detected: dict[str, Any] = {}
        checks: dict[str, Any] = {}
        for db in (small, large):
            conn = await asyncpg.connect(db.dsn)
            try:
                keys = {"film-page": await page_keys(conn, "film-page", KEYS["film-page"])}
            finally:
                await conn.close()
            label = f" @{db.films // 1000}k"
            detected[label + " prewarm_s"] = await prewarm(db, pages, keys)
            t, s, d = await prepare_targets(
                db, work, pages, keys, pgl_folder, label, variants=False
            )
            # the default execution: compiled when the compiler serves the page, else resolvers
            targets += t
            servers += s
            detected[label] = d
            with running(s):
                await setup_requests(t, work, pages, keys)
                samples = {"film-page": 10 if args.quick else 100}
                identity, statements = await verify(
                    t, db, pages, keys, samples, 5 if args.quick else 20, pgbench_bin
                )
                checks[label] = {
                    "identity": identity,
                    "statements_per_request": {f"{n} | {p}": v for (n, p), v in statements.items()},
                }
        with running(servers):
            rounds = time_rounds(
                targets, pages, args.rounds, args.seconds, args.warmup, pgbench_bin, work
            )
        summary = summarise(rounds)
        lines = ["\nfilm page latency at 1M films against 50k (median over rounds)"]
        out = {}
        for kind in (FLOOR, POSTGRAPHILE, FILMGRAPH):
            a = summary.get((f"{kind} @{small.films // 1000}k", "film-page"))
            b = summary.get((f"{kind} @{large.films // 1000}k", "film-page"))
            if not a or not b:
                lines.append(f"  {kind:30} n/a")
                continue
            out[kind] = {"small": a, "large": b, "p50_ratio": b["p50_ms"] / a["p50_ms"]}
            lines.append(
                f"  {kind:30} p50 {a['p50_ms']:.1f} -> {b['p50_ms']:.1f} ms "
                f"({b['p50_ms'] / a['p50_ms']:.2f}x), "
                f"p99 {a['p99_ms']:.1f} -> {b['p99_ms']:.1f} ms, "
                f"req/s {a['rps']:.0f} -> {b['rps']:.0f}"
            )
        text = "\n".join(lines)
        print(text)
        return {
            "mode": "scale",
            "connections": load.CONNECTIONS,
            "checks": checks,
            "databases": {"small": small.built, "large": large.built},
            "detected": detected,
            "summary": {f"{s} | {p}": v for (s, p), v in summary.items()},
            "scale": out,
            "rounds_detail": [r.as_dict() for r in rounds],
            "table": text,
            "wall_s": round(time.monotonic() - started, 1),
            "work_dir": str(work),
        }
    finally:
        large.stop()
        small.stop()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke check: 2 rounds of 3 s")
    ap.add_argument("--scale", action="store_true", help="the film page at --large against --films")
    ap.add_argument("--rounds", type=int, help="rounds (default 3; 2 with --quick)")
    ap.add_argument(
        "--seconds", type=float, help="seconds per system per round (default 20; 3 with --quick)"
    )
    ap.add_argument(
        "--warmup",
        type=float,
        help="warm-up seconds per system and page (default 5; 1 with --quick)",
    )
    ap.add_argument("--films", type=int, default=50_000, help="catalogue size (default 50000)")
    ap.add_argument(
        "--large", type=int, default=1_000_000, help="--scale's large size (default 1000000)"
    )
    ap.add_argument("--pages", nargs="+", default=list(PAGES), choices=list(PAGES))
    ap.add_argument(
        "--connections",
        type=int,
        default=32,
        help="connections of wrk and pgbench (default 32; 1 measures latency without queueing)",
    )
    ap.add_argument("--out", type=Path, help="write the JSON results here too")
    ap.add_argument(
        "--filmgraph-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every filmgraph server (repeatable), e.g. one a feature needs",
    )
    ap.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="also `filmgraph --workers 2` served by the code in DIR (a checkout of the commit "
        "to compare with: git archive main | tar -x -C DIR), alternating with the others",
    )
    args = ap.parse_args()
    load.CONNECTIONS = args.connections
    for item in args.filmgraph_env:
        name, _, value = item.partition("=")
        systems.EXTRA_ENV[name] = value
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.seconds = args.seconds or (3.0 if args.quick else 20.0)
    args.warmup = args.warmup or (1.0 if args.quick else 5.0)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    result = asyncio.run(main_scale(args) if args.scale else main_compare(args))
    out = Path(result["work_dir"]) / "results.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\npeers: results in {out} ({result['wall_s']:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
