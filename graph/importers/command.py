"""`filmgraph import …`: arguments, the run, the closing summary and the exit status."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from graph import stopping
from graph.importers.imdb import DEFAULT_TITLE_TYPES, import_imdb, parse_title_types
from graph.importers.movielens import import_movielens
from graph.importers.reader import InputError
from graph.importers.run import (
    WATCHDOG_TIMEOUT_S,
    ImportFailed,
    Run,
    connect,
    run_import,
    watched,
)
from graph.importers.tmdb import import_providers, import_watch
from graph.importers.wikidata import import_wikidata
from graph.migrate import migrate

# Exit statuses (README "Importing data"). 2 is also what argparse uses for bad usage.
EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_DATABASE = 2
EXIT_BUSY = 3
EXIT_INPUT = 4


def _max_errors(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


# lock_timeout is a 32-bit count of milliseconds.
MAX_WAIT_S = (2**31 - 1) // 1000


def _wait(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= MAX_WAIT_S:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_WAIT_S} seconds")
    return value


def add_import_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    database = (
        "Imports into the PostgreSQL at DATABASE_URL or, when DATABASE_URL is unset, the "
        "embedded PostgreSQL in the per-user data directory (FILMGRAPH_DATA_DIR; by default "
        "~/.local/share/filmgraph, or /var/lib/filmgraph for root), after applying pending "
        "migrations, in one transaction."
    )
    imp = sub.add_parser(
        "import",
        help="import public film datasets (IMDb, MovieLens, TMDB) in one transaction",
        description="Import public film datasets as they are published. " + database,
    )
    sources = imp.add_subparsers(dest="source", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--max-errors",
        type=_max_errors,
        default=0,
        help="bad rows to report and skip before the import aborts (default 0)",
    )
    common.add_argument(
        "--wait",
        type=_wait,
        default=0.0,
        metavar="SECONDS",
        help="if another import is running, wait up to SECONDS for it to finish "
        "(default 0: fail at once with exit status 3)",
    )
    imdb = sources.add_parser(
        "imdb",
        parents=[common],
        help="IMDb dataset files (*.tsv or *.tsv.gz) in DIR",
        description="Import the IMDb dataset files present in DIR. " + database,
    )
    imdb.add_argument(
        "directory",
        type=Path,
        metavar="DIR",
        help="directory holding any of title.basics, title.ratings, name.basics, "
        "title.principals, title.crew and title.akas (.tsv.gz or .tsv)",
    )
    imdb.add_argument(
        "--title-types",
        default=",".join(DEFAULT_TITLE_TYPES),
        help="titleType values to import, comma-separated (default %(default)s)",
    )
    imdb.add_argument(
        "--prune",
        action="store_true",
        help="the files are IMDb's whole dataset: remove the IMDb films, people, credits, "
        "ratings and alternative titles they no longer list",
    )

    movielens = sources.add_parser(
        "movielens",
        parents=[common],
        help="MovieLens movies.csv and links.csv in DIR",
        description="Import MovieLens movies.csv and links.csv. " + database,
    )
    movielens.add_argument(
        "directory",
        type=Path,
        metavar="DIR",
        help='directory holding movies.csv and links.csv ("latest-small" layout)',
    )
    providers = sources.add_parser(
        "tmdb-providers",
        parents=[common],
        help="TMDB's watch-provider list (JSON)",
        description="Import TMDB's watch-provider list. " + database,
    )
    providers.add_argument(
        "file", type=Path, metavar="FILE", help="TMDB's watch-provider list, as JSON"
    )
    watch = sources.add_parser(
        "tmdb-watch",
        parents=[common],
        help="TMDB /movie/{id}/watch/providers answers (JSON), one film per file",
        description="Import TMDB /movie/{id}/watch/providers answers as offers. " + database,
    )
    watch.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="a TMDB /movie/{id}/watch/providers answer (JSON) about one film",
    )
    wikidata = sources.add_parser(
        "wikidata",
        parents=[common],
        help="Wikidata Query Service results (SPARQL JSON): Wikidata ids of films and directors",
        description="Set the Wikidata ids of films (by IMDb id) and of their directors (where "
        "the graph can tell which person an item is) from the Wikidata Query Service's SPARQL "
        "JSON results. " + database,
    )
    wikidata.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help="SPARQL JSON results binding ?item and ?imdbId, optionally ?director and "
        "?directorLabel (docs/importing.md gives the query)",
    )


def _work(args: argparse.Namespace) -> Callable[[Run], Awaitable[None]]:
    """What the chosen source imports, checked before any connection is made."""
    if args.source == "imdb":
        types = parse_title_types(args.title_types)
        return lambda run: import_imdb(run, args.directory, types, prune=args.prune)
    if args.source == "movielens":
        return lambda run: import_movielens(run, args.directory)
    if args.source == "tmdb-providers":
        return lambda run: import_providers(run, args.file)
    if args.source == "tmdb-watch":
        return lambda run: import_watch(run, args.files)
    if args.source == "wikidata":
        return lambda run: import_wikidata(run, args.file)
    raise InputError(f"unknown source {args.source}")


async def _import(dsn: str, args: argparse.Namespace) -> Run:
    work = _work(args)
    conn = await connect(dsn)
    try:
        await watched(dsn, conn, migrate(conn))
    finally:
        await conn.close(timeout=WATCHDOG_TIMEOUT_S)
    run, seconds = await run_import(dsn, args.max_errors, work, args.wait)
    print(run.summary(seconds))
    return run


def cmd_import(dsn: str, args: argparse.Namespace) -> int:
    try:
        stopping.run(_import(dsn, args))
    except InputError as exc:
        print(f"filmgraph: {exc}; nothing was imported", file=sys.stderr)
        return EXIT_INPUT
    except ImportFailed as exc:
        print(f"filmgraph: {exc}", file=sys.stderr)
        return exc.code
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        print(f"filmgraph: database error: {one_line(exc)}", file=sys.stderr)
        return EXIT_DATABASE
    return EXIT_OK


def one_line(exc: BaseException) -> str:
    """An error as one line: PostgreSQL's DETAIL and HINT, which asyncpg puts on lines of their
    own, follow the message after semicolons."""
    return "; ".join(" ".join(part.split()) for part in str(exc).splitlines() if part.strip())
