"""Lines worth staging: what an IMDb import drops as it reads, before the database sees it.

Movies and TV movies are under a tenth of IMDb's titles, and most people in name.basics are
credited only on episodes and shorts. Staging every line, then checking and deleting nine in
ten in SQL, cost most of an import's time. So, as the files are read:

- title.basics (read first) marks each title id as of a kept type or of another type (a title
  listed under both, as a duplicated id may be, counts as kept, and the SQL decides);
- title.ratings, title.principals, title.crew and title.akas lines about a title of another
  type are dropped and counted as left out, exactly those the SQL would have left out; a line
  whose title is kept, unknown, or whose id is malformed is staged and checked as before;
- title.principals and title.crew (read before name.basics) mark the people their staged lines
  name, and name.basics lines of people neither named nor in the graph are dropped and counted
  as "not credited here", as the SQL would have left them out.

The dropping is done by each file's reader process (readahead.py), before it numbers and
writes a line: at full scale 98% of title.principals' 96 million lines are about titles of
other types, and splitting each of them a second time in the import's process cost more than
reading them. The import hands the reader the marks it needs as a file (Kept.reader_filter);
the reader gives back the marks it made and how many lines it left out (FileFilter.finished).

Ids are the number after `tt`/`nm`, kept one byte each (IMDb's run to about 40 million); an id
past MAX_ID is never dropped.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from itertools import compress, count, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

MAX_ID = 1 << 28
OTHER, KEPT = 1, 2


def _number(field: bytes, prefix: bytes) -> int:
    """The id's number, or -1 if the field is not prefix + digits (a malformed id is staged,
    for the checks to reject)."""
    digits = field[2:]
    if field[:2] != prefix or not digits.isdigit() or len(digits) > 9:
        return -1
    n = int(digits)
    return n if n < MAX_ID else -1


def _numbers(fields: list[bytes], prefix: bytes) -> list[int]:
    """_number() of each field, those that are ids (millions at full scale: no Python step
    per id but _number's own)."""
    return [n for n in map(_number, fields, repeat(prefix)) if n >= 0]


class Marks:
    """One byte per id number, grown as ids come."""

    def __init__(self, marks: bytes = b"") -> None:
        self.marks = bytearray(marks)

    def mark(self, n: int, value: int) -> None:
        if n < 0:
            return
        if n >= len(self.marks):
            self.marks.extend(bytes(max(n + 1 - len(self.marks), len(self.marks) // 2)))
        if self.marks[n] < value:
            self.marks[n] = value

    def mark_all(self, numbers: list[int], value: int) -> None:
        """mark() each of numbers (none negative)."""
        if not numbers:
            return
        self.mark(max(numbers), 0)  # grown once
        marks = self.marks
        for n in numbers:
            if marks[n] < value:
                marks[n] = value

    def get(self, n: int) -> int:
        return self.marks[n] if 0 <= n < len(self.marks) else 0


class Kept:
    """The titles and people of one import, and the lines left out per file (the import's
    side: the readers do the dropping, see LineFilter)."""

    def __init__(self, title_types: Iterable[str]) -> None:
        self.types = sorted(title_types)
        self.titles = Marks()
        self.people = Marks()
        self.left_out: dict[str, int] = {}
        # Lines of title.basics staged of a kept type (whatever their id): if no more than
        # the films staged, no id was given again (imdb_titles_again need not look).
        self.kept_title_lines = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        # The marks as last written for a reader, until they change.
        self._written: dict[str, Path] = {}

    def titles_in_graph(self, ids: list[bytes]) -> None:
        self.titles.mark_all(_numbers(ids, b"tt"), KEPT)
        self._written.pop("titles", None)

    def people_in_graph(self, ids: list[bytes]) -> None:
        self.people.mark_all(_numbers(ids, b"nm"), KEPT)
        self._written.pop("people", None)

    def reader_filter(self, name: str) -> FileFilter:
        """What the reader of file `name` is to leave out, and the marks it needs."""
        spec: dict[str, object]
        if name == "title.basics":
            spec = {
                "kind": "basics",
                "types": self.types,
                "titles": str(self._write("titles")),
                "titles_out": str(self._path("titles-read")),
            }
        elif name == "name.basics":
            spec = {"kind": "names", "people": str(self._write("people"))}
        else:
            spec = {"kind": "titles", "titles": str(self._write("titles"))}
            column = PEOPLE_COLUMNS.get(name, 0)
            if column:
                spec |= {
                    "people_column": column,
                    "people": str(self._write("people")),
                    "people_out": str(self._path(f"people-{name}")),
                }
        return FileFilter(self, name, spec)

    def names(self, block: bytes) -> bytes:
        """A name.basics COPY block without the lines of people nobody here credits, for a
        file read before the credits were (its reader was given no marks of people)."""
        out = []
        dropped = 0
        people = self.people
        for line in block.split(b"\n"):
            fields = line.split(b"\t", 2)
            n = _number(fields[1], b"nm") if len(fields) == 3 else -1
            if n >= 0 and people.get(n) == 0:
                dropped += 1
                continue
            out.append(line)
        self.left_out["name.basics"] = self.left_out.get("name.basics", 0) + dropped
        return b"\n".join(out)

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def _path(self, name: str) -> Path:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="filmgraph-import-")
        return Path(self._dir.name) / name

    def _write(self, which: str) -> Path:
        path = self._written.get(which)
        if path is None:
            path = self._path(which)
            path.write_bytes(getattr(self, which).marks)
            self._written[which] = path
        return path

    def _read_back(self, which: str, path: Path) -> None:
        """The marks a reader wrote: those it was given, and those it made."""
        marks: Marks = getattr(self, which)
        if which == "titles":
            # title.basics' reader, the one to mark titles: its file is the marks as they now
            # are, and the next readers are given it as it is.
            marks.marks = bytearray(path.read_bytes())
            self._written[which] = path.rename(path.with_name(which))
            return
        # People are marked by the credits' readers, which may run at once, each from the
        # marks of the graph: a person marked by either is marked (marks are 0 or KEPT).
        made = path.read_bytes()
        size = max(len(made), len(marks.marks))
        both = int.from_bytes(made, "little") | int.from_bytes(marks.marks, "little")
        marks.marks = bytearray(both.to_bytes(size, "little"))
        path.unlink()
        self._written.pop(which, None)


# title.principals' nconst and title.crew's directors and writers (columns of the file).
PEOPLE_COLUMNS = {"title.principals": 3, "title.crew": 2}


class FileFilter:
    """The import's side of one file's LineFilter: its spec (for the reader's command line),
    and what the reader reports at its end."""

    def __init__(self, kept: Kept, name: str, spec: dict[str, object]) -> None:
        self.kept = kept
        self.name = name
        self.spec = spec

    def argument(self) -> str:
        return json.dumps(self.spec)

    def finished(self, left_out: int) -> None:
        kept = self.kept
        kept.left_out[self.name] = kept.left_out.get(self.name, 0) + left_out
        if "titles_out" in self.spec:
            lines = Path(str(self.spec["titles_out"]) + ".lines")
            kept.kept_title_lines += int(lines.read_text())
            lines.unlink()
            kept._read_back("titles", Path(str(self.spec["titles_out"])))
        if "people_out" in self.spec:
            kept._read_back("people", Path(str(self.spec["people_out"])))


_HEAD = itemgetter(0)


def _heads(lines: list[bytes]) -> list[bytes]:
    """Each line's first field (the whole line if it has no tab)."""
    return list(map(_HEAD, map(bytes.partition, lines, repeat(b"\t"))))


class LineFilter:
    """The reader's side (reader.tsv_copy calls it): drops the lines of one file that are not
    worth staging before they are numbered, and marks the titles and people of those it stages.

    A line is dropped only when it has its number of fields and is read as it is (a line that
    is repaired is checked once repaired, by `drops`), so a malformed line is rejected as it
    was, not left out."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.kind: str = spec["kind"]
        self.spec = spec
        self.types = {t.encode() for t in spec.get("types", ())}
        self.titles = Marks(Path(spec["titles"]).read_bytes() if "titles" in spec else b"")
        self.people = Marks(Path(spec["people"]).read_bytes() if "people" in spec else b"")
        self.people_column: int = spec.get("people_column", 0)
        self.left_out = 0
        self.kept_lines = 0  # title.basics: staged lines of a kept type, whatever their id

    def number(self, lines: list[bytes], first: int, tabs: int) -> list[bytes | None]:
        """Each line as COPY text prefixed with its number; b"" for a line with the wrong
        number of fields (to be repaired or rejected), None for a line left out."""
        if self.kind == "basics":
            return [
                b"%d\t%s" % (n, line) if line.count(b"\t") == tabs else b""
                for n, line in enumerate(lines, first)
            ]
        heads = _heads(lines)
        # A file's lines run title by title (or person by person): each id is looked up once.
        dropped = self._others(set(heads))
        out = [
            (None if head in dropped else b"%d\t%s" % (n, line))
            if line.count(b"\t") == tabs
            else b""
            for n, line, head in zip(range(first, first + len(lines)), lines, heads, strict=True)
        ]
        if dropped:
            self.left_out += out.count(None)
        return out

    def plain(self, lines: list[bytes], first: int) -> list[bytes]:
        """number() of lines that all have their number of fields, without those left out:
        the same, at no Python work per line left out."""
        numbered: Iterable[tuple[int, bytes]] = zip(count(first), lines)
        if self.kind != "basics":
            heads = _heads(lines)
            unique = set(heads)
            dropped = self._others(unique)
            if dropped:
                unique -= dropped
                numbered = compress(numbered, map(unique.__contains__, heads))
        out = list(map(b"%d\t%s".__mod__, numbered))
        self.left_out += len(lines) - len(out)
        return out

    def drops(self, line: bytes) -> bool:
        """Whether a line read otherwise (repaired, or of a block with bad bytes) is left out."""
        if self.kind == "basics" or not self._others({line.partition(b"\t")[0]}):
            return False
        self.left_out += 1
        return True

    def _others(self, heads: set[bytes]) -> set[bytes]:
        """The heads (ids) of lines to leave out: titles of another type, people of names
        nobody credits."""
        if self.kind == "names":
            marks = self.people.marks
            return {
                head
                for head in heads
                if (n := _number(head, b"nm")) >= 0 and (n >= len(marks) or not marks[n])
            }
        marks = self.titles.marks
        return {
            head
            for head in heads
            if 0 <= (n := _number(head, b"tt")) < len(marks) and marks[n] == OTHER
        }

    def staged(self, lines: list[bytes]) -> None:
        """Mark the titles (title.basics) or people (credits) of a block's staged lines
        (`line<TAB>fields…`)."""
        if self.kind == "basics":
            kept: list[int] = []
            other: list[int] = []
            types = self.types
            for fields in map(bytes.split, lines, repeat(b"\t"), repeat(3)):
                if len(fields) > 3:
                    of_kept_type = fields[2] in types
                    # Counted whatever its id: the SQL reads ids _number does not (10 digits).
                    self.kept_lines += of_kept_type
                    n = _number(fields[1], b"tt")
                    if n >= 0:
                        (kept if of_kept_type else other).append(n)
            self.titles.mark_all(other, OTHER)
            self.titles.mark_all(kept, KEPT)
        elif self.people_column == 3:
            people = self.people
            for line in lines:
                fields = line.split(b"\t", 4)
                if len(fields) > 3:
                    people.mark(_number(fields[3], b"nm"), KEPT)
        elif self.people_column == 2:
            people = self.people
            for line in lines:
                fields = line.split(b"\t", 4)
                for column in fields[2:4]:
                    for nconst in column.split(b","):
                        people.mark(_number(nconst, b"nm"), KEPT)

    def finish(self) -> int:
        """Write the marks made for the import; return how many lines were left out."""
        if "titles_out" in self.spec:
            Path(self.spec["titles_out"] + ".lines").write_text(str(self.kept_lines))
            Path(self.spec["titles_out"]).write_bytes(self.titles.marks)
        if "people_out" in self.spec:
            Path(self.spec["people_out"]).write_bytes(self.people.marks)
        return self.left_out
