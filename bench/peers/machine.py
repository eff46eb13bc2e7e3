"""What the machine did during a round, from /proc: CPU seconds of a process tree, of the
PostgreSQL cluster, of everything, and the load average.

A process tree's CPU is its live processes' user + system time plus what its root has reaped
(cutime + cstime): a worker or backend that exited is counted once, by its parent. The
PostgreSQL cluster is the postmaster's tree, so backends that pgbench opened and closed
during a round are in it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, list[str]] | None:
    """(parent pid, fields after the command name) of a live process, None when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return int(rest[1]), rest


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                tree.setdefault(st[0], []).append(int(entry.name))
    return tree


def tree_cpu(root: int) -> float:
    """CPU seconds of root and its descendants, live or reaped."""
    tree = _children()
    total = 0
    stack = [root]
    first = True
    while stack:
        pid = stack.pop()
        st = _stat(pid)
        if st is None:
            continue
        fields = st[1]
        # fields[11..14]: utime, stime, cutime, cstime (stat fields 14-17)
        total += int(fields[11]) + int(fields[12])
        if first:
            total += int(fields[13]) + int(fields[14])
            first = False
        stack.extend(tree.get(pid, []))
    return total / TICK


def machine_cpu() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, wall-clock seconds since boot x cores)."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + values[4]  # idle + iowait
    # guest time is already counted in user
    total = sum(values[:8])
    return (total - idle) / TICK, total / TICK


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


@dataclass
class Snapshot:
    machine_busy: float
    app: float
    db: float | None


def snapshot(app_pids: list[int], db_pid: int | None) -> Snapshot:
    return Snapshot(
        machine_busy=machine_cpu()[0],
        app=sum(tree_cpu(p) for p in app_pids),
        db=None if db_pid is None else tree_cpu(db_pid),
    )
