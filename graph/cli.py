"""The `filmgraph` command: serve | migrate | load-demo | schema | generate | import."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import socket
import sys
import time
from collections.abc import Iterator

import asyncpg
import uvicorn

from graph import cursor_secret, db, stopping
from graph.app import create_app, server_config
from graph.demo.load import load_demo
from graph.dsn import DsnError
from graph.dsn import check as check_dsn
from graph.embedded import EmbeddedError, EmbeddedPostgres
from graph.generate import GenerateError, generate
from graph.importers.command import add_import_parser, cmd_import
from graph.migrate import migrate
from graph.schema import create_schema
from graph.settings import Settings

log = logging.getLogger("graph.cli")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[tuple[str, bool]]:
    """(DSN, embedded?): DATABASE_URL when set, else the embedded server, stopped on exit."""
    if settings.database_url:
        check_dsn(settings.database_url)
        yield settings.database_url, False
        return
    server = EmbeddedPostgres(settings.data_dir / "pgdata")
    fresh = not server.initialised
    try:
        # start() inside the try: a signal that lands just as it returns must still stop it.
        yield server.start(), fresh
    finally:
        server.stop()


async def _prepare(dsn: str, *, migrations: bool, demo: str) -> None:
    """Migrate and/or load the demo data. demo: "always", "if-empty" or "never"."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        if migrations:
            applied = await migrate(conn)
            print(f"filmgraph: {len(applied)} migration(s) applied", file=sys.stderr)
        if demo == "always" or (
            demo == "if-empty" and await conn.fetchval(db.sql("film_count")) == 0
        ):
            films = await load_demo(conn)
            print(f"filmgraph: demo data loaded ({films} films)", file=sys.stderr)
    finally:
        await conn.close()


def cmd_serve(settings: Settings) -> int:
    if not settings.database_url and not settings.cursor_secret:
        secret = cursor_secret.kept_in(settings.data_dir)
        settings = dataclasses.replace(settings, cursor_secret=secret)
    sock = _listen(settings.host, settings.port)
    with sock, database(settings) as (dsn, _):
        if not settings.database_url:
            stopping.run(_prepare(dsn, migrations=True, demo="if-empty"))
        app = create_app(settings, dsn)
        url = f"http://{settings.host}:{settings.port}/graphql"
        # Production turns GraphiQL off: then the endpoint is all there is to point at.
        what = "GraphiQL at" if settings.graphiql else "GraphQL endpoint at"
        server = _Server(
            server_config(app, settings, host=settings.host, port=settings.port, log_level="info"),
            announce=f"filmgraph: {what} {url}",
        )
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again with
        # our handlers in place; once it has, stopping is the normal way out.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    return 0


class _Server(uvicorn.Server):
    """uvicorn on a socket bound beforehand, announcing the address once it serves there.

    uvicorn takes SIGTERM over only once it runs: one that came just before is still
    honoured, at its next tick (every 0.1 s)."""

    def __init__(self, config: uvicorn.Config, *, announce: str) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.announce, file=sys.stderr, flush=True)
            # uvicorn says where it listens only on sockets it bound itself.
            self._log_started_message(sockets or [])

    async def on_tick(self, counter: int) -> bool:
        if stopping.requested():
            self.should_exit = True
        return await super().on_tick(counter)


class ListenError(Exception):
    """The API's address cannot be listened on."""


def _listen(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound before anything is announced or started."""
    if not 1 <= port <= 65535:  # the kernel would take the port modulo 65536
        raise ListenError(f"cannot listen on port {port}: the port must be from 1 to 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, OverflowError) as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # uvicorn's default backlog
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else exc
        raise ListenError(
            f"cannot listen on {host}:{port}: {reason}; stop what uses it, or pass --port"
        ) from None
    return sock


def cmd_migrate(settings: Settings) -> int:
    with database(settings) as (dsn, _):
        stopping.run(_prepare(dsn, migrations=True, demo="never"))
    return 0


def cmd_load_demo(settings: Settings) -> int:
    with database(settings) as (dsn, _):
        stopping.run(_prepare(dsn, migrations=not settings.database_url, demo="always"))
    return 0


def cmd_generate(settings: Settings, films: int, seed: int) -> int:
    async def run(dsn: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await migrate(conn)
            start = time.perf_counter()
            counts = await generate(conn, films, seed)
            summary = " ".join(f"{table}={n}" for table, n in counts.items())
            print(
                f"filmgraph: generated {summary} in {time.perf_counter() - start:.0f} s",
                file=sys.stderr,
            )
        finally:
            await conn.close()

    with database(settings) as (dsn, _):
        stopping.run(run(dsn))
    return 0


def cmd_schema(settings: Settings) -> int:
    print(create_schema(settings).as_str())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="filmgraph", description="The film graph GraphQL API.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the API (on an embedded PostgreSQL with demo data when DATABASE_URL is unset)",
    )
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    sub.add_parser("migrate", help="apply pending database migrations")
    sub.add_parser("load-demo", help="load the demo films, people and offers")
    sub.add_parser("schema", help="print the GraphQL schema (SDL), as committed in schema.graphql")
    gen = sub.add_parser(
        "generate", help="fill an empty graph with a deterministic synthetic catalogue"
    )
    gen.add_argument("--films", type=int, required=True, help="number of films")
    gen.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    add_import_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    if getattr(args, "host", None) or getattr(args, "port", None):
        from dataclasses import replace

        settings = replace(
            settings, host=args.host or settings.host, port=args.port or settings.port
        )
    commands = {
        "serve": cmd_serve,
        "migrate": cmd_migrate,
        "load-demo": cmd_load_demo,
        "schema": cmd_schema,
    }
    stopping.install()
    try:
        if args.command == "generate":
            return cmd_generate(settings, args.films, args.seed)
        if args.command == "import":
            with database(settings) as (dsn, _):
                return cmd_import(dsn, args)
        return commands[args.command](settings)
    except (KeyboardInterrupt, stopping.Stopped):
        print("filmgraph: interrupted", file=sys.stderr)
        return 130
    except GenerateError as exc:
        print(f"filmgraph: {exc}", file=sys.stderr)
        return 2
    except EmbeddedError as exc:
        print(f"filmgraph: embedded PostgreSQL: {exc}", file=sys.stderr)
        return 2
    except (DsnError, ListenError) as exc:
        print(f"filmgraph: {exc}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"filmgraph: database error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
