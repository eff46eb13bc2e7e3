"""DATABASE_URL: checked before it is used, so that a typo is one clear line and not a
traceback from deep in the driver; and named by host and port (never with its password) in
the logs."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = "5432"


class DsnError(ValueError):
    """DATABASE_URL is not a PostgreSQL URL asyncpg can use."""


def _host_ports(netloc: str) -> list[tuple[str, str]]:
    """(host, port) of each `host[:port]` in a netloc; '' for one left out."""
    hosts = netloc.rpartition("@")[2]
    out = []
    for item in hosts.split(",") if hosts else []:
        if item.startswith("["):  # an IPv6 address: [::1]:5432
            host, _, rest = item[1:].partition("]")
            out.append((host, rest.removeprefix(":")))
        else:
            host, _, port = item.partition(":")
            out.append((host, port))
    return out


def check(url: str, name: str = "DATABASE_URL") -> None:
    """Raise DsnError, saying what is wrong (and naming the setting `name`), unless url is a
    postgresql:// URL whose ports are numbers from 1 to 65535."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise DsnError(
            f"{name} must be a URL like postgresql://user:password@host:5432/database, "
            f"got one that starts with {parts.scheme + '://' if parts.scheme else 'no scheme'}"
        )
    ports = [port for _, port in _host_ports(parts.netloc) if port]
    for value in parse_qs(parts.query).get("port", []):
        ports.extend(value.split(","))
    for port in ports:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise DsnError(f"{name}: the port must be a number from 1 to 65535, got {port!r}")


def address(url: str) -> str:
    """`host=… port=…` of the server url names, for a log line. Values the URL leaves out are
    those asyncpg falls back to (PGHOST, PGPORT, localhost, 5432)."""
    parts = urlsplit(url)
    pairs = _host_ports(parts.netloc)
    query = parse_qs(parts.query)
    hosts = ",".join(h for h, _ in pairs if h) or ",".join(query.get("host", []))
    ports = ",".join(p for _, p in pairs if p) or ",".join(query.get("port", []))
    host = hosts or os.environ.get("PGHOST") or "localhost"
    port = ports or os.environ.get("PGPORT") or DEFAULT_PORT
    return f"host={host} port={port}"
