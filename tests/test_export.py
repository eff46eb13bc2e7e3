"""`filmgraph export jsonld` (graph/export.py): the chunked feed on several connections is the
single statement's feed byte for byte, reads one snapshot, and fails in one clear line.

What the documents say is checked as linked data in tests/test_linked.py; here the chunked
feed is compared with `films_jsonld_feed`, the whole feed as one statement, on the demo data
and on a small generated catalogue, with chunk sizes that cut them in many places (a chunk of
one film, chunks that a region's feed leaves empty, one chunk for everything).
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import IO

import asyncpg
import pytest

from graph.cli import parser
from graph.export import export_jsonld, write_feed
from graph.generate import generate
from graph.migrate import migrate
from tests.importing import env

BASE = "https://films.example.org"
FILMS = 400  # of the generated catalogue


async def single(dsn: str, region: str | None, fmt: str) -> bytes:
    conn = await asyncpg.connect(dsn)
    try:
        out = io.BytesIO()
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await write_feed(conn, out, BASE, region, fmt)
        return out.getvalue()
    finally:
        await conn.close()


async def chunked(dsn: str, region: str | None, fmt: str, connections: int, chunk: int) -> bytes:
    conns = [await asyncpg.connect(dsn) for _ in range(connections)]
    try:
        out = io.BytesIO()
        done = await export_jsonld(conns, out, BASE, region, fmt, chunk)
        assert done.films == out.getvalue().count(b'"@type":"Movie"')
        return out.getvalue()
    finally:
        for conn in conns:
            await conn.close()


async def scarcest_region(dsn: str) -> tuple[str, int, int]:
    """The region fewest films are offered in, how many are, and how many films there are."""
    conn = await asyncpg.connect(dsn)
    try:
        region, offered = await conn.fetchrow(
            "select region, count(distinct film_id) from offer group by 1 order by 2, 1 limit 1"
        )
        return region, offered, await conn.fetchval("select count(*) from film")
    finally:
        await conn.close()


@pytest.fixture
async def generated(empty_dsn: str) -> str:
    """A database of the test's own holding a generated catalogue of FILMS films."""
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await generate(conn, FILMS, 3)
    finally:
        await conn.close()
    return empty_dsn


async def same_feeds(dsn: str, cuts: list[tuple[int, int]]) -> None:
    region, offered, films = await scarcest_region(dsn)
    assert 0 < offered < films  # so that the region's feed leaves some chunks empty
    for fmt in ("ndjson", "jsonld"):
        for where in (None, region):
            reference = await single(dsn, where, fmt)
            assert reference.count(b'"@type":"Movie"') == (films if where is None else offered)
            for connections, chunk in cuts:
                feed = await chunked(dsn, where, fmt, connections, chunk)
                assert feed == reference, (fmt, where, connections, chunk)


async def test_chunked_feed_is_the_single_statement_feed_on_the_demo(dsn: str) -> None:
    # A film a chunk: every film a chunk boundary, and most chunks of a region's feed empty.
    await same_feeds(dsn, [(2, 1), (3, 7), (1, 30), (2, 100_000)])
    # A region nothing is offered in: every chunk empty, an empty @graph.
    for fmt in ("ndjson", "jsonld"):
        assert await chunked(dsn, "ZZ", fmt, 2, 7) == await single(dsn, "ZZ", fmt)
    assert (
        await single(dsn, "ZZ", "jsonld") == b'{"@context":"https://schema.org","@graph":[\n\n]}\n'
    )


async def test_chunked_feed_is_the_single_statement_feed_on_a_catalogue(generated: str) -> None:
    await same_feeds(generated, [(2, 9), (3, 64), (2, 1_000)])


def export(
    dsn: str, *args: str, stdout: int | IO[bytes] = subprocess.PIPE
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "export", "jsonld", *args],
        env={**env(dsn), "FILMGRAPH_PUBLIC_URL": BASE},
        # Unbuffered: what readline() reads is all it takes, and communicate() reads the rest.
        bufsize=0,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


async def test_export_reads_one_snapshot(generated: str) -> None:
    before = await single(generated, None, "ndjson")
    # Ten films a chunk, about 25 KB: once the command has written its first line, it is
    # stopped by the pipe, which holds 64 KB, with at most three chunks read, until this test
    # reads on; the last chunks are read after the writes below are committed.
    feed = export(generated, "--chunk", "10", "--connections", "2")
    assert feed.stdout is not None
    first = feed.stdout.readline()
    conn = await asyncpg.connect(generated)
    try:
        changed = await conn.fetch(
            "update film set title = 'Changed During The Export' "
            "where id in ((select max(id) from film), (select min(id) + 200 from film)) "
            "returning id"
        )
        assert len(changed) == 2
        await conn.execute("delete from offer where film_id = (select max(film_id) from offer)")
    finally:
        await conn.close()
    rest, errors = feed.communicate(timeout=120)
    assert feed.returncode == 0, errors
    assert first + rest == before
    after = await single(generated, None, "ndjson")
    assert after != before and b"Changed During The Export" in after


async def test_database_gone_mid_feed(generated: str) -> None:
    feed = export(generated, "--chunk", "10", "--connections", "2")
    assert feed.stdout is not None
    first = feed.stdout.readline()  # the feed has begun, and waits on the pipe
    assert first
    conn = await asyncpg.connect(generated)
    try:
        ended = await conn.fetchval(
            """select count(pg_terminate_backend(pid)) from pg_stat_activity
               where datname = current_database() and pid <> pg_backend_pid()
                   and backend_type = 'client backend'"""
        )
        assert ended == 2
    finally:
        await conn.close()
    rest, errors = feed.communicate(timeout=120)
    assert feed.returncode == 2, errors.decode()
    lines = errors.decode().splitlines()
    assert len(lines) == 1, errors
    assert lines[0].startswith("filmgraph: database error: ")
    assert lines[0].endswith("; the feed is incomplete")
    assert (first + rest).count(b"\n") < FILMS


def test_output_errors(dsn: str) -> None:
    full = export(dsn, "--output", "/dev/full")
    _, errors = full.communicate(timeout=120)
    assert full.returncode == 2
    assert errors.decode().splitlines() == [
        "filmgraph: /dev/full: No space left on device; the feed is incomplete"
    ]

    with open("/dev/full", "wb") as stdout:
        full = export(dsn, stdout=stdout)
        _, errors = full.communicate(timeout=120)
    assert full.returncode == 2
    assert errors.decode().splitlines() == [
        "filmgraph: standard output: No space left on device; the feed is incomplete"
    ]

    missing = export(dsn, "--output", "/nonexistent/feed.ndjson")
    _, errors = missing.communicate(timeout=120)
    assert missing.returncode == 2
    assert errors.decode().splitlines() == [
        "filmgraph: /nonexistent/feed.ndjson: No such file or directory"
    ]

    for bad in (["--connections", "0"], ["--chunk", "x"]):
        with pytest.raises(SystemExit) as refused:
            parser().parse_args(["export", "jsonld", *bad])
        assert refused.value.code == 2


def test_a_failed_export_leaves_the_last_feed_as_it_was(dsn: str, scratch_dir: Path) -> None:
    feed = scratch_dir / "feed.ndjson"
    feed.write_bytes(b"yesterday's feed\n")
    feed.chmod(0o640)
    gone = export("postgresql://postgres@127.0.0.1:1/none", "--output", str(feed))
    _, errors = gone.communicate(timeout=120)
    assert gone.returncode == 2
    (line,) = errors.decode().splitlines()
    assert line.startswith("filmgraph: database error: ")
    assert line.endswith(f"; the feed is incomplete; {feed} is left as it was")
    assert feed.read_bytes() == b"yesterday's feed\n"

    done = export(dsn, "--output", str(feed))
    _, errors = done.communicate(timeout=120)
    assert done.returncode == 0, errors
    assert feed.read_bytes().count(b'"@type":"Movie"') == 51
    assert feed.stat().st_mode & 0o777 == 0o640  # the feed it replaced kept its mode
    assert [p.name for p in scratch_dir.iterdir()] == ["feed.ndjson"]  # no partial file left
