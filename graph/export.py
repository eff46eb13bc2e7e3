"""`filmgraph export jsonld`: the catalogue (or one region's where-to-watch) as schema.org
JSON-LD, streamed.

The catalogue is cut into chunks of consecutive film ids (`CHUNK_FILMS` films each), and each
chunk is one statement (`films_jsonld_chunk`, sql/queries/export.sql) that reads only its
range. Several connections run the chunks at once, one core of the server each: the first
opens a read-only, repeatable-read transaction and exports its snapshot
(`pg_export_snapshot()`), and the others import it (`SET TRANSACTION SNAPSHOT`) before they
read anything, so the feed is one consistent snapshot however long it takes and however many
connections read it. Connections take chunks strictly in id order, and the writer writes them
in that order; at most one chunk more than there are connections is taken and not yet
written, so the memory used is bounded by the chunk size, whatever the size of the catalogue.
Every document is the one `Film.jsonLd` answers, built by the same SQL function.

`write_feed` is the whole feed as one statement (`films_jsonld_feed`) on one connection: the
reference the chunked feed is tested against, byte for byte, and benchmarked against
(bench/export_jsonld.py).

Formats: `ndjson` (one Movie document per line) or `jsonld` (one JSON-LD document whose
`@graph` lists them, still written one by one).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import asyncpg

from graph import db

FORMATS = ("ndjson", "jsonld")
# Connections that read chunks at once (`--connections`): one server core each.
CONNECTIONS = 2
# Films a chunk (`--chunk`). Measured on the 1M-film catalogue (bench/README.md): each chunk
# hashes the person table once (~0.2 s), which 5,000-film chunks spend a third of their time
# on; at 20,000 a chunk's credits (~210,000) still sort in work_mem; 100,000 sort on disk. A
# chunk waiting to be written holds its documents (~2.3 KB a film).
CHUNK_FILMS = 20_000
# Sort and hash memory of a chunk's statement: its credits sort in memory (~37 MB at 20,000
# films) where the server's default 4 MB sorts them on disk.
CHUNK_WORK_MEM = "64MB"
# Past the largest film id: the end of the last chunk.
NO_END = 2**63 - 1
# Rows per round trip of a cursor: enough to keep PostgreSQL busy while the last batch is
# written, few enough that the batch (~2 KB a film) stays a few megabytes.
PREFETCH = 2_000
# The single statement's feed is written in blocks of about this many bytes.
BLOCK_BYTES = 1 << 20
# What pg_export_snapshot() answers, e.g. 00000003-0000001B-1: checked before it is written
# into SET TRANSACTION SNAPSHOT, which takes no parameter.
_SNAPSHOT = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


@dataclass(frozen=True)
class Exported:
    films: int
    seconds: float


class OutputError(Exception):
    """Writing the feed failed (disk full, a closed pipe): the OSError's strerror."""


def _write(out: BinaryIO, data: bytes | bytearray) -> None:
    try:
        out.write(data)
        out.flush()
    except OSError as exc:
        raise OutputError(exc.strerror or str(exc)) from exc


async def export_jsonld(
    conns: Sequence[asyncpg.Connection],
    out: BinaryIO,
    base: str,
    region: str | None,
    fmt: str = "ndjson",
    chunk_films: int = CHUNK_FILMS,
) -> Exported:
    """Write every film's JSON-LD (with `region`, the films offered there with only those
    offers) to `out`, in film id order, from one snapshot read by all of `conns` (open, not in
    a transaction), `chunk_films` films a statement."""
    start = time.perf_counter()
    async with contextlib.AsyncExitStack() as stack:
        leader = conns[0]
        await stack.enter_async_context(
            leader.transaction(isolation="repeatable_read", readonly=True)
        )
        snapshot = await leader.fetchval(db.sql("export_snapshot"))
        if not _SNAPSHOT.fullmatch(snapshot):
            raise ValueError(f"unexpected snapshot id {snapshot!r}")
        for conn in conns[1:]:
            await stack.enter_async_context(
                conn.transaction(isolation="repeatable_read", readonly=True)
            )
            # The first statement of the transaction, as PostgreSQL requires.
            await conn.execute(f"set transaction snapshot '{snapshot}'")
        for conn in conns:
            await conn.fetchval(db.sql("export_chunk_settings"), CHUNK_WORK_MEM)
        starts = [r["id"] for r in await leader.fetch(db.sql("film_chunk_starts"), chunk_films)]
        chunks = list(zip(starts, [*starts[1:], NO_END], strict=True))
        films = await _pipeline(conns, chunks, out, base, region, fmt)
    return Exported(films, time.perf_counter() - start)


async def _pipeline(
    conns: Sequence[asyncpg.Connection],
    chunks: list[tuple[int, int]],
    out: BinaryIO,
    base: str,
    region: str | None,
    fmt: str,
) -> int:
    """Run `chunks` on `conns` and write them in order; the number of films written."""
    loop = asyncio.get_running_loop()
    # Each chunk's films and block, by chunk number; the writer drops each once written.
    done: dict[int, asyncio.Future[tuple[int, bytearray]]] = {
        k: loop.create_future() for k in range(len(chunks))
    }
    # Chunks taken and not yet written: one a connection, and one being written.
    taken = asyncio.Semaphore(len(conns) + 1)
    queue = iter(enumerate(chunks))
    separator = b"\n" if fmt == "ndjson" else b",\n"
    statement = db.sql("films_jsonld_chunk")

    async def work(conn: asyncpg.Connection) -> None:
        while True:
            await taken.acquire()
            item = next(queue, None)  # the next chunk in id order
            if item is None:
                taken.release()
                return
            k, (first, end) = item
            block = bytearray()
            count = 0
            async for row in conn.cursor(statement, base, region, first, end, prefetch=PREFETCH):
                if count and fmt == "jsonld":
                    block += separator
                block += row[0].encode()
                if fmt == "ndjson":
                    block += separator
                count += 1
            done[k].set_result((count, block))

    async def write() -> int:
        films = 0
        if fmt == "jsonld":
            await asyncio.to_thread(_write, out, b'{"@context":"https://schema.org","@graph":[\n')
        for k in range(len(chunks)):
            count, block = await done[k]
            del done[k]
            if count:
                if fmt == "jsonld" and films:
                    await asyncio.to_thread(_write, out, separator)
                # In a thread, so that the connections go on reading while the block is written.
                await asyncio.to_thread(_write, out, block)
                films += count
            del block  # before the next chunk comes
            taken.release()
        if fmt == "jsonld":
            await asyncio.to_thread(_write, out, b"\n]}\n")
        return films

    try:
        async with asyncio.TaskGroup() as group:
            for conn in conns:
                group.create_task(work(conn))
            writer = group.create_task(write())
    except BaseExceptionGroup as failed:
        # The first failure is the cause; the tasks it cancelled add nothing.
        raise failed.exceptions[0] from None
    return writer.result()


async def write_feed(
    conn: asyncpg.Connection,
    out: BinaryIO,
    base: str,
    region: str | None,
    fmt: str = "ndjson",
    limit: int | None = None,
) -> Exported:
    """The feed as one statement, in the transaction the caller holds (a cursor needs one);
    at most `limit` films."""
    start = time.perf_counter()
    films = 0
    block: list[bytes] = []
    size = 0
    if fmt == "jsonld":
        block.append(b'{"@context":"https://schema.org","@graph":[\n')
    separator = b"\n" if fmt == "ndjson" else b",\n"
    cursor = conn.cursor(db.sql("films_jsonld_feed"), base, region, prefetch=PREFETCH)
    async for row in cursor:
        document: bytes = row[0].encode()
        if fmt == "jsonld" and films:
            block.append(separator)
        block.append(document)
        if fmt == "ndjson":
            block.append(separator)
        films += 1
        size += len(document)
        if size >= BLOCK_BYTES:
            _write(out, b"".join(block))
            block.clear()
            size = 0
        if films == limit:
            break
    if fmt == "jsonld":
        block.append(b"\n]}\n")
    _write(out, b"".join(block))
    return Exported(films, time.perf_counter() - start)
