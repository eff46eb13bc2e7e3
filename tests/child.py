"""A `filmgraph` command in a child process: run to its end (`run`), or running, its stderr
read line by line (`Child`)."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`filmgraph ARGS` run to its end (at most two minutes), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "graph.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class Child:
    def __init__(self, args: list[str], env: dict[str, str], *, stdout: bool = False) -> None:
        self.command = args[0]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "graph.cli", *args],
            env=env,
            stdout=subprocess.PIPE if stdout else None,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        """Read stderr until a line holds `text`; fail if the command exits first."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if line is None:
                raise AssertionError(
                    f"{self.command} exited before {text!r}:\n{''.join(self.seen)}"
                )
            self.seen.append(line)
            if text in line:
                return

    def drain(self) -> None:
        """Read the rest of stderr, once the command has exited."""
        while (line := self.lines.get(timeout=30)) is not None:
            self.seen.append(line)
