"""A tab-separated file read into COPY text by a child process, while the import goes on.

Reading is most of a daily IMDb re-import: gunzip, split, escape and number 100 million lines
(reader.tsv_copy) on one core, while the second core waits. So each file is read by a child
process (`python -m graph.importers.readahead PATH COLUMN…`) that writes tsv_copy's blocks,
its rejects and its progress, in the order tsv_copy gives them, to a pipe; the import takes
them from the pipe as it stages the file, filtering blocks and feeding COPY in the meantime.
The graph is still written by the import's one connection and transaction: the child
touches no database, and a failure of either side ends both (the import kills the child; a
child whose import is gone dies writing to the broken pipe).

Given a filter (kept.py: `--filter SPEC`, a JSON object), the child leaves out the lines the
import does not want before it numbers them, and writes nothing of them to the pipe; it then
reports how many it left out, and has written the marks it made where the spec says.

The child runs at the importer's own CPU priority (it inherits it: see priority.py), and holds
at most a block and the pipe's contents: the import reads at most STREAM_LIMIT ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import struct
import sys
import tempfile
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from graph.importers.kept import LineFilter
from graph.importers.reader import InputError, Reject, RejectSink, Source, tsv_copy

# A message: kind (one byte) and the payload's length, then the payload.
FRAME = struct.Struct(">cQ")
BLOCK, COUNTED, REJECT, LEFT_OUT, FAILED, DONE = b"B", b"N", b"R", b"L", b"E", b"D"
PAIR = struct.Struct(">QQ")
LINE = struct.Struct(">Q")
# How far ahead of the import the child may read (blocks are about 1 MiB of text).
STREAM_LIMIT = 8 << 20
PIPE_SIZE = 4 << 20
# The child imports this very package, wherever the import runs from.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class Filter(Protocol):
    """The import's side of the lines a reader leaves out (kept.FileFilter)."""

    def argument(self) -> str:
        """The filter's spec, for the child's command line."""
        ...

    def finished(self, left_out: int) -> None:
        """The child has read the whole file and left out this many lines."""
        ...


class ReadAhead:
    """tsv_copy(Source(path), header, …) run in a child process: `blocks()` gives its blocks,
    calls reject and counted as tsv_copy would, and keeps `position` (bytes of the file read)
    for the progress bar."""

    def __init__(
        self,
        path: Path,
        header: list[str],
        reject: RejectSink,
        counted: Callable[[int], None],
        drop: Filter | None = None,
    ) -> None:
        self.path = path
        self.header = header
        self.reject = reject
        self.counted = counted
        self.drop = drop
        self.position = 0
        # Read ahead of its turn (spool()): the reader process and the file it wrote.
        self._spooled: tuple[asyncio.subprocess.Process, BinaryIO] | None = None

    async def blocks(self) -> AsyncGenerator[bytes, None]:
        if self._spooled is not None:
            async for block in self._spooled_blocks(*self._spooled):
                yield block
            return
        # The pipe is our own, read by a transport closed below whatever happens: with the
        # process's own pipe, waiting for a killed child would wait for its pipe's end too,
        # which a transport paused on a full buffer never reads.
        read_end, write_end = os.pipe()
        _widen(write_end)
        try:
            child = await self._start(write_end)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        loop = asyncio.get_running_loop()
        pipe = asyncio.StreamReader(limit=STREAM_LIMIT, loop=loop)
        stream = os.fdopen(read_end, "rb", 0)
        transport: asyncio.BaseTransport | None = None
        done = False
        try:
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(pipe, loop=loop), stream
            )
            while not done:
                try:
                    kind, size = FRAME.unpack(await pipe.readexactly(FRAME.size))
                    payload = await pipe.readexactly(size)
                except asyncio.IncompleteReadError:
                    raise self._unfinished() from None
                if kind == BLOCK:
                    yield payload
                else:
                    self._message(kind, payload)
                done = kind == DONE
        finally:
            if transport is None:
                stream.close()
            else:
                transport.close()
            if not done:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
            await child.wait()

    async def spool(self) -> None:
        """Read the file now, ahead of its turn, into a spool file (on disk: memory stays
        bounded); return when the reader is done. blocks() then gives what it read. The
        file has no name: whatever ends the import, even SIGKILL, it goes with it."""
        # Closed by _spooled_blocks once staged, or below: it outlives this call.
        spool = tempfile.TemporaryFile(prefix="filmgraph-spool-")  # noqa: SIM115
        try:
            child = await self._start(spool.fileno())
            self._spooled = (child, spool)
            await child.wait()
        except BaseException:
            if self._spooled is not None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
            spool.close()
            raise

    async def _spooled_blocks(
        self, child: asyncio.subprocess.Process, spool: BinaryIO
    ) -> AsyncGenerator[bytes, None]:
        await child.wait()
        try:
            # The reader wrote through its own descriptor of the same open file.
            spool.seek(0)
            kind = b""
            while kind != DONE:
                head = spool.read(FRAME.size)
                if len(head) < FRAME.size:
                    raise self._unfinished()
                kind, size = FRAME.unpack(head)
                payload = spool.read(size)
                if len(payload) < size:
                    raise self._unfinished()
                if kind == BLOCK:
                    yield payload
                else:
                    self._message(kind, payload)
        finally:
            spool.close()

    async def _start(self, out: int) -> asyncio.subprocess.Process:
        options = ["--filter", self.drop.argument()] if self.drop is not None else []
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            *options,
            str(self.path),
            *self.header,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            env=_child_env(),
        )

    def _message(self, kind: bytes, payload: bytes) -> None:
        if kind == COUNTED:
            lines, self.position = PAIR.unpack(payload)
            self.counted(lines)
        elif kind == REJECT:
            (line,) = LINE.unpack_from(payload)
            reason = payload[LINE.size :].decode()
            self.reject(Reject(self.path.name, line, reason))
        elif kind == LEFT_OUT:
            (left_out,) = LINE.unpack(payload)
            if self.drop is not None:
                self.drop.finished(left_out)
        elif kind == FAILED:
            raise InputError(payload.decode())

    def _unfinished(self) -> InputError:
        return InputError(f"{self.path.name}: the file's reader process ended without finishing")


def _widen(pipe: int) -> None:
    """Let the pipe hold a few blocks (64 KiB by default): the child then writes a block
    while the import is busy, rather than wait for the import to be scheduled, 16 times a
    block, which on a busy machine cost more than the second core gave."""
    setting = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if setting is None:
        return
    for size in (PIPE_SIZE, 1 << 20):  # 1 MiB: the most an unprivileged user may ask
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe, setting, size)
            return


def _child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": PACKAGE_ROOT + (os.pathsep + path if path else "")}


def _send(out: BinaryIO, kind: bytes, payload: bytes) -> None:
    out.write(FRAME.pack(kind, len(payload)))
    out.write(payload)


def read(path: Path, header: list[str], out: BinaryIO, drop: LineFilter | None = None) -> None:
    """The child's side: tsv_copy of path, as messages on out."""
    try:
        source = Source(path)
    except InputError as exc:
        _send(out, FAILED, str(exc).encode())
        return

    def reject(item: Reject) -> None:
        _send(out, REJECT, LINE.pack(item.line) + item.reason.encode())

    def counted(lines: int) -> None:
        _send(out, COUNTED, PAIR.pack(lines, source.position))

    try:
        for block in tsv_copy(source, header, reject, counted, drop):
            _send(out, BLOCK, block)
    except InputError as exc:
        _send(out, FAILED, str(exc).encode())
        return
    finally:
        source.close()
    if drop is not None:
        _send(out, LEFT_OUT, LINE.pack(drop.finish()))
    _send(out, DONE, b"")


def main(argv: list[str]) -> int:
    out = sys.stdout.buffer
    drop = None
    if argv[0] == "--filter":
        drop = LineFilter(json.loads(argv[1]))
        argv = argv[2:]
    try:
        read(Path(argv[0]), argv[1:], out, drop)
        out.flush()
    except BrokenPipeError:  # the import is gone: nobody to read for
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
