"""Change detection for IMDb re-imports: lines of a title that did not change are not staged.

IMDb's files list a title's lines together, and the merges and prunes bring each title they
see in line with its lines (sql/queries/import_imdb.sql). So a title whose lines are what the
last import merged needs nothing, and a daily re-import, where about 1% of titles change,
spent most of its time staging, checking and comparing the other 99% with the graph.

Each import computes, as it reads, a digest of each title's lines (without their line
numbers) and keeps it in table imdb_digest (migration 0020) with the number of graph rows the
lines gave. The next import leaves out the lines of a title whose digest is the stored one,
and counts those rows as unchanged. Digests are per file, except title.principals and
title.crew: both give a title's credits, and the credits are brought in line per title from
both, so their digest is one, of both files' lines (title.crew is read first).

A digest is stored only for a title merged whole: its film is in the graph and every person
its credits name is (a credit of a person still unknown must be staged again next time), and
no line of the file was rejected (a rejected line may be about any title). Nothing is left
out with --prune (the files are then the whole dataset, and every title is compared), and such
an import forgets the digests of the titles it did not stage: it may have removed their rows.
A stored digest is read only while the graph holds what it was stored for (the film, with as
many credits and IMDb alternative titles as the lines gave, or the person): a film or person
deleted since, by hand or by another importer, has its lines staged again.
A file whose titles are not in order (IMDb's are) cannot be read by title: the import notices
and stages it whole.
"""

from __future__ import annotations

import bisect
import hashlib
from array import array
from collections.abc import Iterator
from functools import partial
from itertools import compress, count, islice, pairwise, repeat
from operator import eq, itemgetter, lt, methodcaller, ne, not_

# Rows of table imdb_digest by file.
AKAS = "title.akas"
CREDITS = "credits"
NAMES = "name.basics"


def digest(data: bytes) -> int:
    """64 bits of BLAKE2b, as a signed integer (a bigint column)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def id_number(key: bytes, prefix: bytes) -> int:
    """The number of an IMDb id as IMDb writes it (`tt` or `nm` and at least 7 digits), or
    -1: an id spelt otherwise is always staged."""
    digits = key[2:]
    if key[:2] != prefix or not 7 <= len(digits) <= 12 or not digits.isdigit():
        return -1
    # As written by "%07d": 7 digits, or more without a leading zero.
    return -1 if len(digits) > 7 and digits[0] == 0x30 else int(digits)


# digest(), a step at a time.
_BLAKE2B = partial(hashlib.blake2b, digest_size=8)
_DIGEST = methodcaller("digest")
_SIGNED = partial(int.from_bytes, byteorder="big", signed=True)
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)


def _text(lines: list[bytes]) -> bytes:
    """COPY text of lines: each with its line end."""
    return b"\n".join(lines) + b"\n" if lines else b""


class Digests:
    """Digests by title number, in ascending order (as stored, or as read)."""

    def __init__(self) -> None:
        self.numbers = array("q")
        self.digests = array("q")
        self.rows = array("q")
        self._rest = b""

    def add(self, number: int, value: int, rows: int = 0) -> bool:
        """Append one; False if it is not after the last (the titles are not in order)."""
        if self.numbers and number <= self.numbers[-1]:
            return False
        self.numbers.append(number)
        self.digests.append(value)
        self.rows.append(rows)
        return True

    async def read(self, chunk: bytes) -> None:
        """Add the rows of a COPY (`number<TAB>digest<TAB>rows` lines, in order) as they
        come: at full scale there are millions."""
        data = self._rest + chunk
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        fields = data[:cut].split()
        if len(fields) % 3:
            raise ValueError("digests: not three fields a line")
        numbers = list(map(int, fields[0::3]))
        values = map(int, fields[1::3])
        rows = map(int, fields[2::3])
        if numbers and (
            (self.numbers and numbers[0] <= self.numbers[-1])
            or not all(map(lt, numbers, islice(numbers, 1, None)))
        ):
            for number, value, count_ in zip(numbers, values, rows, strict=True):
                self.add(number, value, count_)  # one at a time: those out of order dropped
            return
        self.numbers.extend(numbers)
        self.digests.extend(values)
        self.rows.extend(rows)

    def find(self, number: int) -> int:
        """The index of number, or -1."""
        i = bisect.bisect_left(self.numbers, number)
        return i if i < len(self.numbers) and self.numbers[i] == number else -1

    def __len__(self) -> int:
        return len(self.numbers)


class Titles:
    """A filter of COPY blocks (`line<TAB>id<TAB>…`, an id's lines together) that leaves out
    the lines of each id whose digest is the stored one, and notes the digest of every id it
    stages (`changed`). With `stored` None it stages every line and only notes each id's own
    digest (`seen`: title.crew's, for title.principals).

    With `before`, the digests of another file read first (title.crew for title.principals),
    a title's digest is of both files' lines; a title only `before` has is decided at the
    end (`rest`). Call `rest` after the last block for the last id's lines."""

    def __init__(
        self, stored: Digests | None, before: Digests | None = None, prefix: bytes = b"tt"
    ) -> None:
        self.stored = stored
        self.before = before
        self.prefix = prefix
        self.seen = Digests()  # with stored None: this file's own digest of each id
        self.changed = Digests()
        self.unchanged_rows = 0
        self.skipped = False  # whether any id was left out
        self.in_order = True
        self._key = b""
        self._last = -1
        self._lines: list[bytes] = []
        self._rests: list[bytes] = []  # _lines without their numbers
        self._at = 0  # the next title of `before` not yet decided

    def staged_text(self, file: str, size: int = 1 << 16) -> Iterator[bytes]:
        """The ids staged, as written, with their digests: COPY text lines `file<TAB>id<TAB>
        digest`, size lines a chunk (a first load has millions: formatted in C, not one
        record a time by asyncpg)."""
        line = file.encode() + b"\t" + self.prefix + b"%07d\t%d\n"
        numbers, digests = self.changed.numbers, self.changed.digests
        for i in range(0, len(numbers), size):
            chunk = zip(numbers[i : i + size], digests[i : i + size], strict=True)
            yield b"".join(map(line.__mod__, chunk))

    def __call__(self, block: bytes) -> bytes:
        out: list[bytes] = []
        lines = block.split(b"\n")
        if b"" in lines:
            lines = list(filter(None, lines))
        # Split and grouped by id in C-level passes: an import reads millions of lines.
        rests = list(map(_SECOND, map(bytes.split, lines, repeat(b"\t"), repeat(1))))
        keys = list(map(_FIRST, map(bytes.partition, rests, repeat(b"\t"))))
        starts = [0, *compress(count(1), map(ne, keys, islice(keys, 1, None))), len(lines)]
        runs = list(pairwise(starts))
        # The ids whole in this block (not the first's nor the last's, which may go on in
        # another) at once, unless the digest is of two files' lines.
        whole = runs[1:-1] if self.stored is not None and self.before is None else []
        for start, end in runs[:1] if whole else runs:
            key = keys[start]
            if key != self._key:
                self._close(out)
                self._key = key
            self._lines += lines[start:end]
            self._rests += rests[start:end]
        if whole:
            self._close(out)
            self._key = b""
            for start, end in [] if self._whole(out, keys, lines, rests, whole) else whole:
                self._key = keys[start]
                self._lines += lines[start:end]
                self._rests += rests[start:end]
                self._close(out)
            start, end = runs[-1]
            self._key = keys[start]
            self._lines += lines[start:end]
            self._rests += rests[start:end]
        return _text(out)

    def _whole(
        self,
        out: list[bytes],
        keys: list[bytes],
        lines: list[bytes],
        rests: list[bytes],
        runs: list[tuple[int, int]],
    ) -> bool:
        """_close() of each run (start, end) of lines, in C-level passes over the runs (a
        daily re-import reads millions of ids, and a Python step per id cost more than the
        rest of reading them). False and nothing done if an id is malformed or not in order
        (_close tells then), or once an id came out of order (the block's first id may just
        have): _close then stages every id and keeps no digest."""
        if not self.in_order:
            return False
        numbers = list(
            map(id_number, map(keys.__getitem__, map(_FIRST, runs)), repeat(self.prefix))
        )
        if numbers[0] <= self._last or not all(map(lt, numbers, islice(numbers, 1, None))):
            return False
        texts = [rests[a] if b - a == 1 else b"\n".join(rests[a:b]) for a, b in runs]
        values = list(map(_SIGNED, map(_DIGEST, map(_BLAKE2B, texts))))
        self._last = numbers[-1]
        changed = self.changed
        stored = self.stored
        # The stored digests of this block's ids, as a dict: those of the ids from its first
        # to its last (the ids and the stored digests are both in order).
        low = bisect.bisect_left(stored.numbers, numbers[0]) if stored else 0
        high = bisect.bisect_right(stored.numbers, numbers[-1]) if stored else 0
        if low == high:  # none stored (as into an empty graph): every id is new
            changed.numbers.extend(numbers)
            changed.digests.extend(values)
            changed.rows.extend(repeat(0, len(numbers)))
            out += lines[runs[0][0] : runs[-1][1]]
            return True
        assert stored is not None
        known = dict(zip(stored.numbers[low:high], stored.digests[low:high], strict=True))
        same = list(map(eq, map(known.get, numbers), values))
        if not any(same):
            changed.numbers.extend(numbers)
            changed.digests.extend(values)
            changed.rows.extend(repeat(0, len(numbers)))
            out += lines[runs[0][0] : runs[-1][1]]
            return True
        rows = dict(zip(stored.numbers[low:high], stored.rows[low:high], strict=True))
        self.unchanged_rows += sum(map(rows.__getitem__, compress(numbers, same)))
        self.skipped = True
        kept = list(map(not_, same))
        changed.numbers.extend(compress(numbers, kept))
        changed.digests.extend(compress(values, kept))
        changed.rows.extend(repeat(0, kept.count(True)))
        for start, end in compress(runs, kept):
            out += lines[start:end]
        return True

    def rest(self) -> bytes:
        out: list[bytes] = []
        self._close(out)
        self._key = b""
        if self.before is not None and self.stored is not None and self.in_order:
            self._before_until(1 << 62)
        return _text(out)

    def _close(self, out: list[bytes]) -> None:
        lines = self._lines
        if not lines:
            return
        rests = self._rests
        self._lines = []
        self._rests = []
        out.extend(lines)
        number = id_number(self._key, self.prefix)
        if number < 0 or not self.in_order:
            return  # staged, and no digest kept
        if number <= self._last:
            self.in_order = False
            return
        self._last = number
        # The lines without their numbers.
        own = digest(rests[0] if len(rests) == 1 else b"\n".join(rests))
        if self.stored is None:
            self.seen.add(number, own)
            return
        value = own
        if self.before is not None:
            self._before_until(number)
            i = self.before.find(number)
            if i >= 0:
                value = digest(b"%d %d" % (self.before.digests[i], own))
        if self._same(number, value):
            del out[len(out) - len(lines) :]
            return
        self.changed.add(number, value)

    def _before_until(self, number: int) -> None:
        """Decide the titles of `before` this file has no line for, up to number."""
        before = self.before
        assert before is not None
        while self._at < len(before) and before.numbers[self._at] < number:
            n = before.numbers[self._at]
            value = digest(b"%d" % before.digests[self._at])
            if not self._same(n, value):
                self.changed.add(n, value)
            self._at += 1
        if self._at < len(before) and before.numbers[self._at] == number:
            self._at += 1

    def _same(self, number: int, value: int) -> bool:
        if self.stored is None:
            return False
        i = self.stored.find(number)
        if i < 0 or self.stored.digests[i] != value:
            return False
        self.unchanged_rows += self.stored.rows[i]
        self.skipped = True
        return True
