"""SPARQL 1.1 Query Results JSON read as a stream: `{"head": {"vars": [...]}, "results":
{"bindings": [...]}}`, one binding at a time; or the Wikidata Query Service's simpler "JSON
file" download, an array of objects of plain strings, each read as a binding.

An answer of the Wikidata Query Service about every film is hundreds of megabytes, and read
whole it took about six times its size in memory. Here the file (plain or gzip, by its magic
bytes) is decoded a chunk at a time, its outer objects walked by hand, and each value in them
(a binding, the head) decoded by the standard decoder: memory holds a chunk and a binding,
whatever the file's size. The text is read as `json.loads` reads it, but a key given twice
(which the service never writes) is read twice rather than the last one winning.
"""

from __future__ import annotations

import codecs
import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from graph.importers.reader import InputError

CHUNK = 1 << 20
# A value is read whole: one longer than this is refused rather than held.
MAX_VALUE = 64 << 20
_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


class _Text:
    """A JSON text read a chunk at a time: `buf[pos:]` is what is left to read of what has
    been read so far."""

    def __init__(self, name: str, stream: BinaryIO) -> None:
        self.name = name
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.started = False
        # The line of buf[_counted], and of bytes read (for an error in the UTF-8).
        self._counted = 0
        self._line = 1
        self._raw_line = 1
        self._raw_column = 0

    def more(self) -> None:
        """Read the next chunk, dropping what was read before pos."""
        try:
            raw = self.stream.read(CHUNK)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"{self.name}: corrupt or truncated gzip file: {exc}") from None
        try:
            text = self.decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            before = raw.rfind(b"\n", 0, exc.start)
            line = self._raw_line + raw.count(b"\n", 0, exc.start)
            byte = exc.start - before if before >= 0 else self._raw_column + exc.start + 1
            raise InputError(f"{self.name}:{line}: invalid UTF-8 at byte {byte}") from None
        self._raw_line += raw.count(b"\n")
        last = raw.rfind(b"\n")
        self._raw_column = len(raw) - last - 1 if last >= 0 else self._raw_column + len(raw)
        if not self.started and text:
            text = text.removeprefix("\ufeff")
            self.started = True
        self._line += self.buf.count("\n", self._counted, self.pos)
        self.buf = self.buf[self.pos :] + text
        self.pos = self._counted = 0
        self.eof = not raw

    def line(self, pos: int) -> int:
        """The 1-based line of buf[pos] (pos at or after the last position asked)."""
        self._line += self.buf.count("\n", self._counted, pos)
        self._counted = pos
        return self._line

    def error(self, message: str, pos: int) -> InputError:
        return InputError(f"{self.name}:{self.line(pos)}: not JSON: {message}")

    def peek(self) -> str:
        """The next character past whitespace ("" at the end of the text)."""
        while True:
            buf = self.buf
            pos = self.pos
            while pos < len(buf) and buf[pos] in _SPACE:
                pos += 1
            self.pos = pos
            if pos < len(buf) or self.eof:
                return buf[pos] if pos < len(buf) else ""
            self.more()

    def take(self, char: str, expecting: str) -> None:
        if self.peek() != char:
            raise self.error(f"Expecting {expecting}", self.pos)
        self.pos += 1

    def value(self) -> Any:
        """The next value, decoded whole."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # Cut by the chunk's end (a string runs on, or something is expected there)
                # rather than wrong: read on and try again.
                cut = exc.pos >= len(self.buf) - 8 or exc.msg.startswith("Unterminated string")
                if self.eof or not cut:
                    raise self.error(exc.msg, exc.pos) from None
            else:
                # A number may go on in the next chunk.
                if end < len(self.buf) or self.eof:
                    self.pos = end
                    return value
            if len(self.buf) - self.pos > MAX_VALUE:
                raise InputError(
                    f"{self.name}:{self.line(self.pos)}: a value over {MAX_VALUE >> 20} MiB"
                )
            self.more()

    def members(self) -> Iterator[str]:
        """The keys of the object that starts here, each left for its value to be read."""
        self.take("{", "'{'")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self.error("Expecting property name enclosed in double quotes", self.pos)
            key = self.value()
            self.take(":", "':' delimiter")
            yield key
            char = self.peek()
            self.pos += 1
            if char == "}":
                return
            if char != ",":
                raise self.error("Expecting ',' delimiter", self.pos - 1)

    def elements(self) -> Iterator[int]:
        """The positions of the values of the array that starts here, each left to be read."""
        self.take("[", "'['")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            self.peek()
            yield self.pos
            char = self.peek()
            self.pos += 1
            if char == "]":
                return
            if char != ",":
                raise self.error("Expecting ',' delimiter", self.pos - 1)


_ENTITY = ("http://www.wikidata.org/entity/", "https://www.wikidata.org/entity/")


def _binding(row: Any) -> Any:
    """A row of the simple JSON download as a SPARQL JSON binding: an entity's URI a `uri`,
    any other value a literal."""
    if not isinstance(row, dict):
        return row
    return {
        key: {
            "type": "uri" if isinstance(v, str) and v.startswith(_ENTITY) else "literal",
            "value": v,
        }
        for key, v in row.items()
    }


class Results:
    """The bindings of a SPARQL JSON results file, read as a stream. `check` hears the query's
    variables (head.vars) as soon as they are read: the service writes them first."""

    def __init__(self, path: Path, check: Callable[[str, list[Any]], None]) -> None:
        self.path = path
        self.check = check
        # Where the bindings are, for a reject: `results.bindings[i]`, or `[i]` in an array.
        self.at = "results.bindings"
        try:
            self.raw: BinaryIO = path.open("rb")
        except FileNotFoundError:
            raise InputError(f"{path}: no such file or directory") from None
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror or exc}") from None
        self.stream: BinaryIO = self.raw
        if self.raw.read(2) == b"\x1f\x8b":
            self.stream = gzip.GzipFile(fileobj=self.raw)  # type: ignore[assignment]
        self.raw.seek(0)

    def close(self) -> None:
        self.stream.close()
        self.raw.close()

    def bindings(self) -> Iterator[tuple[int, int, Any]]:
        """(index, line, binding) of each of results.bindings, the line that on which the
        binding starts; then refuses a file that is not SPARQL JSON results (InputError)."""
        name = self.path.name
        text = _Text(name, self.stream)
        variables: Any = None
        bindings = False
        if text.peek() == "[":
            # The Query Service's other JSON download ("JSON file", not "SPARQL JSON"): an
            # array of objects of plain strings, a variable left unbound left out.
            bindings = True
            self.at = ""
            for index, pos in enumerate(text.elements()):
                line = text.line(pos)
                row = text.value()
                if variables is None and isinstance(row, dict):
                    variables = list(row)
                    self.check(name, variables)
                yield index, line, _binding(row)
            if variables is None:
                variables = []  # an empty answer: no row to name them
        elif text.peek() != "{":
            text.value()
        else:
            for key in text.members():
                if key == "head":
                    head = text.value()
                    variables = head.get("vars") if isinstance(head, dict) else None
                    if isinstance(variables, list):
                        self.check(name, variables)
                elif key == "results" and text.peek() == "{":
                    for inner in text.members():
                        if inner == "bindings" and text.peek() == "[":
                            bindings = True
                            for index, pos in enumerate(text.elements()):
                                line = text.line(pos)
                                yield index, line, text.value()
                        else:
                            text.value()
                else:
                    text.value()
        if text.peek():
            raise text.error("Extra data", text.pos)
        if not isinstance(variables, list) or not bindings:
            raise InputError(
                f"{name}: not SPARQL JSON results (no head.vars and results.bindings lists)"
            )
