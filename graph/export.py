"""`filmgraph export jsonld`: the catalogue (or one region's where-to-watch) as schema.org
JSON-LD, streamed.

One statement (`films_jsonld_feed`, sql/queries/export.sql) runs in a read-only, repeatable-
read transaction, so the feed is one consistent snapshot however long it takes; a server-side
cursor hands its rows over a few thousand at a time, and each is written as it comes, so the
memory used stays the same for any size of catalogue. Every document is the one
`Film.jsonLd` answers, built by the same SQL function.

Formats: `ndjson` (one Movie document per line) or `jsonld` (one JSON-LD document whose
`@graph` lists them, still written one by one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import BinaryIO

import asyncpg

from graph import db

FORMATS = ("ndjson", "jsonld")
# Rows per round trip of the cursor: enough to keep PostgreSQL busy while the last batch is
# written, few enough that the batch (~2 KB a film) stays a few megabytes.
PREFETCH = 2_000
# Written in blocks of about this many bytes.
BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class Exported:
    films: int
    seconds: float


async def export_jsonld(
    conn: asyncpg.Connection, out: BinaryIO, base: str, region: str | None, fmt: str = "ndjson"
) -> Exported:
    """Write every film's JSON-LD (with `region`, the films offered there with only those
    offers) to `out`, in film id order, from one snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await write_feed(conn, out, base, region, fmt)


async def write_feed(
    conn: asyncpg.Connection,
    out: BinaryIO,
    base: str,
    region: str | None,
    fmt: str = "ndjson",
    limit: int | None = None,
) -> Exported:
    """The feed, in the transaction the caller holds (a cursor needs one); at most `limit`
    films (bench/export_jsonld.py)."""
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
            out.write(b"".join(block))
            block.clear()
            size = 0
        if films == limit:
            break
    if fmt == "jsonld":
        block.append(b"\n]}\n")
    out.write(b"".join(block))
    out.flush()
    return Exported(films, time.perf_counter() - start)
