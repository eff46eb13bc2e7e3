"""Progress per file: a bar with rows, rows/s and ETA on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger(__name__)

REDRAW_S = 0.2
LOG_EVERY_S = 5.0
BAR = 24


class FileProgress:
    """Rows read from one file; ETA from the share of the file's bytes read so far."""

    def __init__(self, name: str, size: int, position: Callable[[], int], out: TextIO | None):
        self.name = name
        self.size = max(size, 1)
        self.position = position
        self.out = out
        self.rows = 0
        self.start = time.monotonic()
        self.shown = 0.0
        if not out:
            log.info("reading file=%s bytes=%d", name, size)

    def add(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if now - self.shown < (REDRAW_S if self.out else LOG_EVERY_S):
            return
        self.shown = now
        elapsed = max(now - self.start, 1e-6)
        rate = self.rows / elapsed
        share = min(self.position() / self.size, 1.0)
        eta = elapsed * (1 - share) / share if share > 0 else 0.0
        if self.out:
            self._draw(share, rate, f"ETA {eta:5.0f} s")
        else:
            log.info(
                "reading file=%s rows=%d rows_per_s=%.0f done=%.0f%% eta_s=%.0f",
                self.name,
                self.rows,
                rate,
                share * 100,
                eta,
            )

    def _draw(self, share: float, rate: float, tail: str, end: str = "") -> None:
        assert self.out is not None
        filled = int(BAR * share)
        self.out.write(
            f"\r{self.name[:28]:<28} [{'#' * filled}{'.' * (BAR - filled)}] {share:4.0%} "
            f"{self.rows:>12,} rows {rate:>10,.0f} rows/s {tail}\x1b[K{end}"
        )
        self.out.flush()

    def done(self) -> None:
        """The file is read: its bar stays, complete, on a terminal; a log line otherwise."""
        elapsed = time.monotonic() - self.start
        if self.out:
            self._draw(1.0, self.rows / max(elapsed, 1e-6), f"in {elapsed:5.1f} s", "\n")
            return
        log.info(
            "read file=%s rows=%d seconds=%.1f rows_per_s=%.0f",
            self.name,
            self.rows,
            elapsed,
            self.rows / max(elapsed, 1e-6),
        )


def terminal() -> TextIO | None:
    """stderr when it is a terminal (draw bars there), else None (log lines only)."""
    return sys.stderr if sys.stderr.isatty() else None
