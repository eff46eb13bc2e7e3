"""One timed round of one system on one page: wrk against an HTTP server, pgbench for the
floor, each with 32 connections, and what the machine did meanwhile (machine.py)."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import machine

HERE = Path(__file__).resolve().parent
CONNECTIONS = 32  # run.py --connections
THREADS = 2


@dataclass
class Round:
    system: str
    page: str
    round: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # failed connections, reads, writes, timeouts and HTTP statuses >= 400
    error_kinds: dict[str, int]  # the same by kind (wrk's counters; pgbench: "failed")
    app_cpu_ms: float | None  # server process CPU per request
    db_cpu_ms: float | None  # PostgreSQL CPU per request
    loadgen_cpu_s: float  # CPU of wrk or pgbench themselves
    other_cpu_cores: float  # the rest of the machine, in cores busy on average
    loadavg_before: float
    loadavg_after: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_measured(
    command: list[str], env: dict[str, str], app_pids: list[int], db_pid: int | None
) -> tuple[str, float, machine.Snapshot, machine.Snapshot, float, float, float]:
    """Run a load generator to its end; (stdout, wall s, snapshots, loadgen CPU s, loadavgs)."""
    load_before = machine.loadavg()
    before = machine.snapshot(app_pids, db_pid)
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        after = machine.snapshot(app_pids, db_pid)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}: {text[-2000:]}")
    loadgen = usage.ru_utime + usage.ru_stime
    return text, wall, before, after, loadgen, load_before, machine.loadavg()


def _round(
    system: str,
    page: str,
    number: int,
    requests: int,
    seconds: float,
    p50_ms: float,
    p99_ms: float,
    errors: dict[str, int],
    measured: tuple[str, float, machine.Snapshot, machine.Snapshot, float, float, float],
) -> Round:
    _, wall, before, after, loadgen, load_before, load_after = measured
    app = after.app - before.app
    db = None if before.db is None or after.db is None else after.db - before.db
    busy = after.machine_busy - before.machine_busy
    other = busy - app - (db or 0.0) - loadgen
    per = max(requests, 1)
    return Round(
        system=system,
        page=page,
        round=number,
        seconds=round(seconds, 2),
        requests=requests,
        rps=round(requests / seconds, 1),
        p50_ms=round(p50_ms, 2),
        p99_ms=round(p99_ms, 2),
        errors=sum(errors.values()),
        error_kinds={k: v for k, v in errors.items() if v},
        app_cpu_ms=round(1000 * app / per, 3) if app > 0 else None,
        db_cpu_ms=None if db is None else round(1000 * db / per, 3),
        loadgen_cpu_s=round(loadgen, 2),
        other_cpu_cores=round(max(other, 0.0) / wall, 2),
        loadavg_before=load_before,
        loadavg_after=load_after,
    )


def wrk(
    system: str,
    page: str,
    number: int,
    url: str,
    requests_file: Path,
    seconds: float,
    app_pids: list[int],
    db_pid: int | None,
) -> Round:
    command = [
        "wrk",
        f"-t{min(THREADS, CONNECTIONS)}",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "requests.lua"),
        url,
    ]
    measured = _run_measured(command, {"BENCH_REQUESTS": str(requests_file)}, app_pids, db_pid)
    line = next(x for x in measured[0].splitlines() if x.startswith('{"requests"'))
    r = json.loads(line)
    kinds = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    errors = {k: r[k] for k in kinds}
    return _round(
        system,
        page,
        number,
        r["requests"],
        r["duration_us"] / 1e6,
        r["p50_us"] / 1000,
        r["p99_us"] / 1000,
        errors,
        measured,
    )


def pgbench_script(sql: str, keys: list[str | None], folder: Path, page: str) -> Path:
    """The floor's statement as a pgbench script: $1 becomes a random key of the list, written
    into the statement as a constant array (prepared once, so the list costs an array
    subscript per run, not a second statement)."""
    body = sql.strip().rstrip(";")
    if keys != [None]:
        literal = ", ".join("'" + str(k).replace("'", "''") + "'" for k in keys)
        body = body.replace("$1", f"((array[{literal}]::text[])[:i])")
        text = f"\\set i random(1, {len(keys)})\n{body};\n"
    else:
        text = body + ";\n"
    path = folder / f"floor-{page}.sql"
    path.write_text(text)
    return path


def pgbench(
    system: str,
    page: str,
    number: int,
    pgbench_bin: str,
    dsn: str,
    script: Path,
    seconds: float,
    db_pid: int | None,
    folder: Path,
) -> Round:
    """pgbench -M prepared with 32 clients; latencies from its per-transaction log."""
    logs = folder / f"pgbench-{page}-{number}"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.iterdir():
        old.unlink()
    command = [
        pgbench_bin,
        "-n",
        "-M",
        "prepared",
        "-c",
        str(CONNECTIONS),
        "-j",
        str(min(THREADS, CONNECTIONS)),
        "-T",
        str(max(1, round(seconds))),
        "-f",
        str(script),
        "-l",
        f"--log-prefix={logs}/tx",
        dsn,
    ]
    measured = _run_measured(command, {}, [], db_pid)
    text = measured[0]
    found = re.search(r"number of transactions actually processed: (\d+)", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    assert found, text
    done = int(found[1])
    latencies = []
    for f in logs.iterdir():
        for line in f.read_text().splitlines():
            latencies.append(int(line.split()[2]) / 1000)  # µs -> ms
    q = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else [0] * 99
    )
    return _round(
        system,
        page,
        number,
        done,
        seconds,
        q[49],
        q[98],
        {"failed": int(failed[1]) if failed else 0},
        measured,
    )
