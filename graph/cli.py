"""The `filmgraph` command: serve | migrate | load-demo | schema | generate | generate-imdb |
import | export."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

import asyncpg
import uvicorn
from starlette.applications import Starlette

from graph import cursor_secret, db, stopping
from graph.app import create_app, server_config
from graph.demo.load import load_demo
from graph.draining import Drain
from graph.dsn import DsnError
from graph.dsn import check as check_dsn
from graph.embedded import EmbeddedError, EmbeddedPostgres
from graph.export import CHUNK_FILMS, CONNECTIONS, FORMATS, Exported, OutputError, export_jsonld
from graph.generate import GenerateError, generate
from graph.imdb_files import generate_imdb
from graph.importers.command import add_import_parser, cmd_import, one_line
from graph.metrics import across_workers
from graph.migrate import MigrationError, ensure_current, migrate, schema_state
from graph.observe import JsonFormatter
from graph.persisted import trusted_documents
from graph.schema import abstract_types, create_schema
from graph.server_version import UnsupportedServer, check_server_version
from graph.settings import Settings, public_url_set, served_url
from graph.workers import WorkersError, worker_settings
from graph.workers import serve as serve_workers

# After the drain: what uvicorn gives the requests still running before it cancels them, and
# what a workers' parent adds to the drain before it kills a worker.
STOP_MARGIN_S = 2.0

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
        else:
            await ensure_current(conn)
        if demo == "always" or (
            demo == "if-empty" and await conn.fetchval(db.sql("film_count")) == 0
        ):
            films = await load_demo(conn)
            print(f"filmgraph: demo data loaded ({films} films)", file=sys.stderr)
    finally:
        await conn.close()


async def _serve_schema(dsn: str, *, migrate_now: bool) -> None:
    """serve on DATABASE_URL: apply pending migrations (migrate_now) or say what to run; refuse
    a server that is too old (UnsupportedServer) or a database whose applied migrations were
    edited (MigrationError)."""
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except db.CONNECTION_ERRORS as exc:
        # Start anyway, as the app does: /readyz tells what is wrong, the schema included,
        # once the database answers.
        log.warning("schema not checked at start-up error=%r", exc)
        return
    try:
        # A server older than filmgraph supports is refused (UnsupportedServer).
        await check_server_version(conn)
        state = await schema_state(conn)
        if state.changed:
            raise MigrationError(state.explain())
        if state.pending and not state.unknown and migrate_now:
            applied = await migrate(conn)
            print(f"filmgraph: {len(applied)} migration(s) applied", file=sys.stderr)
        elif state.problem() is not None:
            print(
                f"filmgraph: {state.explain()}; until then /readyz answers 503 and queries "
                "SERVICE_UNAVAILABLE",
                file=sys.stderr,
            )
    finally:
        await conn.close()


def cmd_serve(settings: Settings, workers: int = 1) -> int:
    for url in settings.replica_urls:
        check_dsn(url, "FILMGRAPH_REPLICA_URLS")
    each = worker_settings(settings, workers)  # refused before anything starts
    # A manifest that cannot be read stops the start before anything else does.
    trusted = trusted_documents(settings)
    sock = _listen(settings.host, settings.port)
    with sock, database(settings) as (dsn, _):
        if not settings.database_url:
            # Kept beside the embedded data, once that is known to start: a serve that fails
            # (no PostgreSQL, a data directory in use) leaves nothing behind.
            if not settings.cursor_secret:
                secret = cursor_secret.kept_in(settings.data_dir)
                settings = dataclasses.replace(settings, cursor_secret=secret)
            # The embedded database is filmgraph's own: nothing else would migrate it.
            stopping.run(_prepare(dsn, migrations=True, demo="if-empty"))
        else:
            stopping.run(_serve_schema(dsn, migrate_now=settings.migrate_on_start))
        url = f"http://{settings.host}:{settings.port}/graphql"
        # Production turns GraphiQL off: then the endpoint is all there is to point at.
        what = "GraphiQL at" if settings.graphiql else "GraphQL endpoint at"
        announce = f"filmgraph: {what} {url}"
        if workers == 1:
            _run_server(create_app(settings, dsn, trusted), settings, sock, announce)
            return 0

        def run(index: int) -> None:
            app = create_app(each, dsn, trusted)
            app.state.worker = True  # /healthz names the worker's pid, outside production
            # Said once, by the first worker up: the kernel queues connections until then.
            _run_server(app, each, sock, f"{announce} ({workers} workers)" if index == 0 else "")

        # The parent gives its workers their drain and a little more before it kills them.
        stop_after = settings.drain_timeout_ms / 1000 + STOP_MARGIN_S
        if not settings.metrics:
            return serve_workers(sock, workers, run, stop_after)
        # The workers' figures, summed by whichever answers /metrics (graph/metrics.py).
        with across_workers():
            return serve_workers(sock, workers, run, stop_after)


def _run_server(app: Starlette, settings: Settings, sock: socket.socket, announce: str) -> None:
    logs: dict[str, Any] = {}
    if settings.log_format == "json":
        # One JSON line per request already (graph/observe.py): no access log beside it, and
        # uvicorn's own lines through the root logger's JSON formatter.
        logs = {"access_log": False, "log_config": None}
    config = server_config(
        app,
        settings,
        host=settings.host,
        port=settings.port,
        log_level="info",
        # Past the drain, what is still running is cancelled (graph/draining.py).
        timeout_graceful_shutdown=STOP_MARGIN_S,
        **logs,
    )
    server = _Server(config, announce=announce)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again with
    # our handlers in place; once it has, stopping is the normal way out.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])


class _Server(uvicorn.Server):
    """uvicorn on a socket bound beforehand, announcing the address once it serves there.

    uvicorn takes SIGTERM over only once it runs: one that came just before is still
    honoured, at its next tick (every 0.1 s)."""

    def __init__(self, config: uvicorn.Config, *, announce: str) -> None:
        super().__init__(config)
        self.announce = announce
        # An app of create_app's drains before it stops (graph/draining.py).
        self.drain: Drain | None = getattr(config.app, "drain", None)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.announce:
            print(self.announce, file=sys.stderr, flush=True)
            # uvicorn says where it listens only on sockets it bound itself.
            self._log_started_message(sockets or [])

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # The first SIGTERM or SIGINT starts the drain; a second one stops at once.
        if self.drain is None or self.drain.started:
            super().handle_exit(sig, frame)
        else:
            self._captured_signals.append(sig)
            self.drain.start()

    async def on_tick(self, counter: int) -> bool:
        if stopping.requested():
            if self.drain is None:
                self.should_exit = True
            else:
                self.drain.start()
        if self.drain is not None and self.drain.finished():
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


def cmd_generate_imdb(directory: Path, scale: float, seed: int, changed: float) -> int:
    start = time.perf_counter()
    try:
        written = generate_imdb(directory, scale, seed, changed)
    except OSError as exc:
        print(f"filmgraph: {exc.filename or directory}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for w in written:
        print(f"{w.path}\t{w.rows}")
    print(
        f"filmgraph: wrote {len(written)} files in {time.perf_counter() - start:.0f} s",
        file=sys.stderr,
    )
    return 0


def _region(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", text):
        raise argparse.ArgumentTypeError(f"not an ISO 3166-1 alpha-2 code such as US: {text!r}")
    return text.upper()


def _open_feed(path: str) -> tuple[BinaryIO, str | None]:
    """Where to write the feed meant for `path`: a regular file (or a new one) is written
    beside it (`path.partial-PID`, with the mode of the file it replaces) and renamed over it
    once the feed is whole, so a failed export leaves the last feed as it was; the partial
    name is returned to rename or remove. Anything else (/dev/full, a pipe, a symbolic link)
    is written to in place."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):  # a device, a pipe, a symbolic link
        return open(path, "wb"), None
    partial = f"{path}.partial-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(partial)  # left by a process of this pid that was killed
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    if mode is not None:
        os.fchmod(fd, stat.S_IMODE(mode))
    return os.fdopen(fd, "wb"), partial


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    async def run(dsn: str, out: BinaryIO) -> Exported:
        conns: list[asyncpg.Connection] = []
        try:
            for _ in range(args.connections):
                conns.append(await asyncpg.connect(dsn, timeout=10))
            await ensure_current(conns[0])
            return await export_jsonld(
                conns, out, settings.public_url, args.region, args.format, args.chunk
            )
        finally:
            for conn in conns:
                with contextlib.suppress(
                    OSError,
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                    asyncpg.InternalClientError,
                ):
                    await conn.close(timeout=5)

    where = "standard output" if args.output == "-" else args.output
    partial = None
    try:
        if args.output == "-":
            out = sys.stdout.buffer
        else:
            out, partial = _open_feed(args.output)
    except OSError as exc:
        print(f"filmgraph: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    # What a failure leaves: FILE as it was when the feed is written beside it.
    kept = f"; {args.output} is left as it was" if partial else ""
    complete = False
    try:
        with database(settings) as (dsn, _):
            done = stopping.run(run(dsn, out))
        out.flush()
        complete = True
    except OutputError as exc:
        if out is sys.stdout.buffer:
            # What could not be written must not be written again at exit, failing again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        print(f"filmgraph: {where}: {exc}; the feed is incomplete{kept}", file=sys.stderr)
        return 2
    # InternalClientError: asyncpg's word for a connection the server dropped mid-protocol.
    except (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
    ) as exc:
        print(
            f"filmgraph: database error: {one_line(exc)}; the feed is incomplete{kept}",
            file=sys.stderr,
        )
        return 2
    finally:
        if out is not sys.stdout.buffer:
            with contextlib.suppress(OSError):  # a failed write was reported above
                out.close()
        if partial is not None:
            with contextlib.suppress(OSError):
                if complete:
                    os.replace(partial, args.output)
                else:
                    os.unlink(partial)
    rate = done.films / done.seconds if done.seconds else 0.0
    print(
        f"filmgraph: exported {done.films} film(s) in {done.seconds:.1f} s ({rate:,.0f}/s)",
        file=sys.stderr,
    )
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 10:  # also refuses nan
        raise argparse.ArgumentTypeError("must be more than 0 and at most 10")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be 0 to 1")
    return value


def cmd_schema(settings: Settings, possible_types: bool = False) -> int:
    schema = create_schema(settings)
    if possible_types:
        print(json.dumps(abstract_types(schema), indent=2))
    else:
        print(schema.as_str())
    return 0


def parser() -> argparse.ArgumentParser:
    # Each command's --help says which database it works on: without DATABASE_URL, the embedded
    # server a user may not know exists, in a directory they may want to find or reset.
    database = (
        "Database: the PostgreSQL at DATABASE_URL or, when DATABASE_URL is unset, the embedded "
        "PostgreSQL in the per-user data directory (FILMGRAPH_DATA_DIR; by default "
        "~/.local/share/filmgraph, or /var/lib/filmgraph for root), which one filmgraph process "
        "at a time may use."
    )
    p = argparse.ArgumentParser(
        prog="filmgraph",
        description="The film graph GraphQL API: serve it, migrate its database, load data. "
        + database,
    )
    p.add_argument(
        "--version", action="version", version=f"%(prog)s {metadata.version('filmgraph')}"
    )
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the API (on an embedded PostgreSQL with demo data when DATABASE_URL is unset)",
        description="Run the GraphQL API on http://HOST:PORT/graphql. On the embedded "
        "PostgreSQL it first applies pending migrations and loads the demo data into an empty "
        "graph, and it stops that server on exit. " + database,
    )
    serve.add_argument(
        "--host", help="interface to listen on (default FILMGRAPH_HOST or 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, help="port to listen on (default FILMGRAPH_PORT or 8000)"
    )
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        help="with DATABASE_URL, do not apply pending migrations on start (for deployments "
        "that run `filmgraph migrate` separately; FILMGRAPH_MIGRATE_ON_START=0 does the same)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve from N processes on the one port (default 1), one core each; they share "
        "FILMGRAPH_POOL_MAX connections out between their pools",
    )
    sub.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply pending migrations, each once, under an advisory lock. " + database,
    )
    sub.add_parser(
        "load-demo",
        help="load the demo films, people and offers",
        description="Load the demo films, people and offers; loading them twice changes "
        "nothing. On the embedded PostgreSQL it applies pending migrations first. " + database,
    )
    schema = sub.add_parser(
        "schema",
        help="print the GraphQL schema (SDL), as committed in schema.graphql",
        description="Print the GraphQL schema (SDL), as committed in schema.graphql. Uses no "
        "database: neither DATABASE_URL nor the embedded PostgreSQL.",
    )
    schema.add_argument(
        "--possible-types",
        action="store_true",
        help="print the object types of each interface and union as JSON instead, as "
        "committed in examples/possibleTypes.json (Apollo Client's possibleTypes)",
    )
    gen = sub.add_parser(
        "generate",
        help="fill an empty graph with a deterministic synthetic catalogue",
        description="Fill an empty graph with a deterministic synthetic catalogue, for scale "
        "tests, after applying pending migrations. " + database,
    )
    gen.add_argument("--films", type=int, required=True, help="number of films")
    gen.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    imdb = sub.add_parser(
        "generate-imdb",
        help="write synthetic IMDb dataset files (.tsv.gz) at a scale of the full dataset",
        description="Write title.basics, title.ratings, name.basics, title.principals, "
        "title.crew and title.akas (.tsv.gz) into DIR as IMDb publishes them, with the full "
        "dataset's proportions and its row counts times SCALE, for `filmgraph import imdb` "
        "at scale (see bench/README.md). Uses no database: neither DATABASE_URL nor the "
        "embedded PostgreSQL.",
    )
    imdb.add_argument("directory", type=Path, metavar="DIR", help="directory to write into")
    imdb.add_argument(
        "--scale",
        type=_scale,
        default=0.01,
        help="share of the full dataset's rows, more than 0 and at most 10 (default "
        "%(default)s; 1 is 11M titles, 14M people, 96M principals)",
    )
    imdb.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    imdb.add_argument(
        "--changed",
        type=_share,
        default=0.0,
        help="share of titles and of ratings changed, as in a later day's files (default 0)",
    )
    add_import_parser(sub)
    export = sub.add_parser(
        "export",
        help="write the catalogue as a streamed schema.org JSON-LD feed",
        description="Write the catalogue as linked data. " + database,
    )
    kinds = export.add_subparsers(dest="what", required=True)
    jsonld = kinds.add_parser(
        "jsonld",
        help="every film as a schema.org Movie (JSON-LD), one per line by default",
        description="Write every film as the schema.org Movie document Film.jsonLd answers, "
        "in film id order, from one consistent snapshot, streamed in constant memory. "
        "@ids start with FILMGRAPH_PUBLIC_URL. " + database,
    )
    jsonld.add_argument(
        "--region",
        type=_region,
        help="only the films offered in this region (ISO 3166-1 alpha-2, e.g. US), with only "
        "that region's offers: its where-to-watch feed",
    )
    jsonld.add_argument(
        "--format",
        choices=FORMATS,
        default="ndjson",
        help="ndjson: one document per line (default); jsonld: one document with an @graph",
    )
    jsonld.add_argument(
        "--output",
        "-o",
        default="-",
        metavar="FILE",
        help="where to write (default -: standard output)",
    )
    jsonld.add_argument(
        "--connections",
        type=_positive,
        default=CONNECTIONS,
        metavar="N",
        help="database connections reading chunks at once, one server core each, all from one "
        "snapshot (default %(default)s)",
    )
    jsonld.add_argument(
        "--chunk",
        type=_positive,
        default=CHUNK_FILMS,
        metavar="FILMS",
        help="films read by one statement; a chunk waiting to be written holds its documents "
        "in memory (~2.3 KB a film) (default %(default)s)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    if settings.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    if getattr(args, "host", None) or getattr(args, "port", None):
        from dataclasses import replace

        settings = replace(
            settings, host=args.host or settings.host, port=args.port or settings.port
        )
        if not public_url_set():
            # The JSON-LD @ids name the pages of the server that serves them.
            settings = replace(settings, public_url=served_url(settings.host, settings.port))
    if getattr(args, "no_migrate", False):
        settings = dataclasses.replace(settings, migrate_on_start=False)
    commands: dict[str, Callable[[Settings], int]] = {
        "serve": lambda s: cmd_serve(s, args.workers),
        "migrate": cmd_migrate,
        "load-demo": cmd_load_demo,
        "schema": partial(cmd_schema, possible_types=getattr(args, "possible_types", False)),
    }
    stopping.install()
    try:
        if args.command == "generate-imdb":
            return cmd_generate_imdb(args.directory, args.scale, args.seed, args.changed)
        if args.command == "generate":
            return cmd_generate(settings, args.films, args.seed)
        if args.command == "export":
            return cmd_export(settings, args)
        if args.command == "import":
            with database(settings) as (dsn, _):
                return cmd_import(dsn, args)
        return commands[args.command](settings)
    except (KeyboardInterrupt, stopping.Stopped):
        print("filmgraph: interrupted", file=sys.stderr)
        return 130
    except (GenerateError, MigrationError, UnsupportedServer) as exc:
        print(f"filmgraph: {exc}", file=sys.stderr)
        return 2
    except EmbeddedError as exc:
        print(f"filmgraph: embedded PostgreSQL: {exc}", file=sys.stderr)
        return 2
    except (DsnError, ListenError, WorkersError) as exc:
        print(f"filmgraph: {exc}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"filmgraph: database error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
