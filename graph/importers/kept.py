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

Ids are the number after `tt`/`nm`, kept one byte each (IMDb's run to about 40 million); an id
past MAX_ID is never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

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


class Marks:
    """One byte per id number, grown as ids come."""

    def __init__(self) -> None:
        self.marks = bytearray()

    def mark(self, n: int, value: int) -> None:
        if n < 0:
            return
        if n >= len(self.marks):
            self.marks.extend(bytes(max(n + 1 - len(self.marks), len(self.marks) // 2)))
        if self.marks[n] < value:
            self.marks[n] = value

    def get(self, n: int) -> int:
        return self.marks[n] if 0 <= n < len(self.marks) else 0


class Kept:
    """The titles and people of one import, and the lines left out per file."""

    def __init__(self, title_types: Iterable[str]) -> None:
        self.types = {t.encode() for t in title_types}
        self.titles = Marks()
        self.people = Marks()
        self.left_out: dict[str, int] = {}
        self.basics_read = False

    def titles_in_graph(self, ids: Iterable[str]) -> None:
        for i in ids:
            self.titles.mark(_number(i.encode(), b"tt"), KEPT)

    def people_in_graph(self, ids: Iterable[str]) -> None:
        for i in ids:
            self.people.mark(_number(i.encode(), b"nm"), KEPT)

    def basics(self, block: bytes) -> bytes:
        """Note the type of each title of a title.basics COPY block (`line, tconst,
        titleType, …`); the block is staged whole."""
        for line in block.split(b"\n"):
            fields = line.split(b"\t", 3)
            if len(fields) < 4:
                continue
            n = _number(fields[1], b"tt")
            if n >= 0:
                self.titles.mark(n, KEPT if fields[2] in self.types else OTHER)
        self.basics_read = True
        return block

    def about_titles(self, name: str, people: int) -> TitleLines:
        """A filter of the COPY blocks of a file whose first column is a title id; `people`
        says which columns name people (0: none, 3: principals' nconst, 2: crew's lists)."""
        return TitleLines(self, name, people)

    def names(self, block: bytes) -> bytes:
        """A name.basics COPY block without the lines of people nobody here credits."""
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


class TitleLines:
    def __init__(self, kept: Kept, name: str, people: int) -> None:
        self.kept = kept
        self.name = name
        self.people = people

    def __call__(self, block: bytes) -> bytes:
        titles = self.kept.titles
        marks = titles.marks
        size = len(marks)
        people = self.kept.people
        out = []
        dropped = 0
        # IMDb's files run title by title: a title's lines follow each other, so its id is
        # looked up once.
        last, other = b"", False
        for line in block.split(b"\n"):
            fields = line.split(b"\t", 4)
            if len(fields) < 3:
                out.append(line)
                continue
            if fields[1] != last:
                last = fields[1]
                n = _number(last, b"tt")
                other = 0 <= n < size and marks[n] == OTHER
            if other:
                dropped += 1
                continue
            out.append(line)
            if self.people == 3 and len(fields) > 3:
                people.mark(_number(fields[3], b"nm"), KEPT)
            elif self.people == 2:
                for column in fields[2:4]:
                    for nconst in column.split(b","):
                        people.mark(_number(nconst, b"nm"), KEPT)
        self.kept.left_out[self.name] = self.kept.left_out.get(self.name, 0) + dropped
        return b"\n".join(out)
