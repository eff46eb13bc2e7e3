"""Processes a test started and left running: a server or import whose test failed (or timed
out waiting for it to stop) would otherwise run on after the suite, holding its port and
database connections, and slow or break the tests after it."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def _processes() -> dict[int, tuple[int, str]]:
    """Every running process (not a zombie): pid -> (parent pid, command line)."""
    found: dict[int, tuple[int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            command = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        state, parent = stat.rpartition(")")[2].split()[:2]
        if state != "Z":
            found[int(entry.name)] = (int(parent), command.replace(b"\0", b" ").decode().strip())
    return found


def children() -> set[int]:
    """This process's running children."""
    me = os.getpid()
    return {pid for pid, (parent, _) in _processes().items() if parent == me}


def kill(pids: set[int]) -> list[str]:
    """Kill these processes and everything they started; their command lines."""
    table = _processes()
    commands = [table[pid][1] for pid in sorted(pids) if pid in table]
    tree = set(pids)
    grew = True
    while grew:
        more = {pid for pid, (parent, _) in table.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return commands
