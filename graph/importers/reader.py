"""Source files as published: plain or gzip, CRLF or LF, with or without a final newline.

A delimited file becomes PostgreSQL COPY text: each accepted line prefixed with its line number,
so that every later check, made set-based in SQL, can still name `file:line`. Per-line Python
work is kept to a column count; escaping, UTF-8 and NUL checks run on whole blocks and fall back
to line by line only for a block that fails them.
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from isal import igzip, isal_zlib

BLOCK = 1 << 20
# isal's stub has its error as an instance.
_INFLATE_ERROR = cast(type[Exception], isal_zlib.error)
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark, as Windows tools write
NULL = b"\\N"  # IMDb's null, as its files write it
# IMDb's integer columns. pandas reads a column holding a null as floats and writes its numbers
# back so: a startYear of 1994 as "1994.0", an isOriginalTitle of 1 as "1.0".
WHOLE = frozenset(
    {"isAdult", "startYear", "endYear", "runtimeMinutes", "numVotes", "ordering", "birthYear"}
    | {"deathYear", "isOriginalTitle"}
)
_WHOLE_FLOAT = re.compile(rb"([0-9]+)\.0+")
_ESCAPED = re.compile(rb"\\(.)")
# Text in which every quote and backslash is escaped by a backslash, and no backslash is
# anything else: csv's or pandas' QUOTE_NONE with escapechar="\\" (see tsv_copy).
_ESCAPES_ONLY = re.compile(rb'[^\\"]*(?:\\[\\"][^\\"]*)*')
# A null as pandas writes it when told to_csv(na_rep="NaN"), or as "nan" once a column is turned
# to text (astype(str)): a null, in every column but those of names and titles, where "NaN" may
# be a name (pandas keeps one so with keep_default_na=False).
NANS = (b"NaN", b"nan")
NAMED = frozenset({"primaryTitle", "originalTitle", "primaryName", "title"})
# Columns of codes where "nan" is one: the ISO 639-3 code of Min Nan Chinese, in title.akas'
# language. There "NaN" is a null, and "nan" only in a block that writes the nulls of other
# columns so too (a copy turned to text): see _text_nans.
CODES = frozenset({"language"})


class InputError(Exception):
    """A file cannot be read at all: missing, corrupt or truncated compression, wrong header."""


@dataclass(frozen=True)
class Reject:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


RejectSink = Callable[[Reject], None]


class LineFilter(Protocol):
    """Lines a reader leaves out as it reads (graph/importers/kept.py's for IMDb)."""

    def number(self, lines: list[bytes], first: int, tabs: int) -> list[bytes | None]:
        """The lines numbered as tsv_copy numbers them, b"" for a line with the wrong number
        of tabs, None for one left out."""
        ...

    def plain(self, lines: list[bytes], first: int) -> list[bytes]:
        """Lines each with the right number of tabs, numbered from first as tsv_copy numbers
        them, without those left out."""
        ...

    def drops(self, line: bytes) -> bool:
        """Whether a line read otherwise (repaired, of a block with bad bytes) is left out."""
        ...

    def staged(self, lines: list[bytes]) -> None:
        """Hears the numbered lines of each block given."""
        ...


class Source:
    """A file opened for reading, gzip or not (by its magic bytes), with its read position."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        try:
            self.raw: BinaryIO = path.open("rb")
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror or exc}") from None
        self.size = path.stat().st_size
        self.stream: BinaryIO = self.raw
        if self.raw.read(2) == b"\x1f\x8b":
            # ISA-L's inflate: a third of zlib's CPU (2.7 s -> 1.0 s for the six files of
            # the bench at scale 0.1), the same gzip format and errors.
            self.stream = igzip.GzipFile(fileobj=self.raw)  # type: ignore[no-untyped-call,assignment]
        self.raw.seek(0)

    @property
    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for gzip)."""
        return self.raw.tell()

    def blocks(self) -> Iterator[bytes]:
        try:
            while block := self.stream.read(BLOCK):
                yield block
        except (EOFError, OSError, zlib.error, _INFLATE_ERROR) as exc:
            raise InputError(f"{self.name}: corrupt or truncated file: {exc}") from None

    def close(self) -> None:
        self.stream.close()
        self.raw.close()


CUT_SHORT = "last line has no line end: the file was cut short"
# Not a bad row: the header line again, inside the file, where two copies were joined (`cat
# a.tsv b.tsv`). Told to the reject sink with this reason, the importer counts it apart from
# the rejects (Run.heard).
REPEATED_HEADER = "the header line again (files joined)"


def _banner(line: bytes) -> bool:
    """Whether a line is the `==> a.tsv <==` that `tail -n +1 a.tsv b.tsv` (or `head`) writes
    before each file's lines when given several: no line of a file has it (no tab)."""
    return line.startswith(b"==> ") and line.endswith(b" <==") and b"\t" not in line


def _lines(source: Source, reject: RejectSink) -> Iterator[tuple[int, list[bytes]]]:
    """(number of the first line, lines without their line ends), a block at a time.

    A last line without its line end is rejected, not read: a download or copy cut short ends
    inside a line, and what is left of it (a vote count of 16 for 1642, a genre "Dr") would
    pass every check. Only a first line (a header) is read without one."""
    for number, lines, _ in _texts(source, reject):
        yield number, lines


def _texts(source: Source, reject: RejectSink) -> Iterator[tuple[int, list[bytes], bytes]]:
    """_lines' blocks, each with its lines joined by line ends (as read, without a copy)."""
    rest = b""
    number = 1
    for block in source.blocks():
        data = rest + block
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1 :]
        # A copy less when there is no CR (IMDb's files).
        text = data[: cut + 1].replace(b"\r\n", b"\n")[:-1] if b"\r" in data else data[:cut]
        lines = text.split(b"\n")
        yield number, lines, text
        number += len(lines)
    if rest.strip():
        if number == 1:
            line = rest.removesuffix(b"\r")
            yield number, [line], line
        else:
            reject(Reject(source.name, number, CUT_SHORT))
            yield number, [], b""


def _escape(line: bytes) -> bytes:
    """One line's bytes as COPY text data (tabs still separate the fields)."""
    return line.replace(b"\\", b"\\\\").replace(b"\r", b"\\r")


def _field(text: str) -> bytes:
    return _escape(text.encode()).replace(b"\t", b"\\t").replace(b"\n", b"\\n")


def _unquote(
    line: bytes,
    columns: int,
    whole: tuple[int, ...] = (),
    nan: tuple[int, ...] = (),
    upper: tuple[int, ...] = (),
) -> bytes | None:
    """A line whose fields are quoted CSV-style, if it then has the right number of fields;
    None otherwise.

    Copies re-saved by Python's csv or pandas quote every field (QUOTE_ALL: the line starts
    with a quote, which no IMDb id does) or only those holding a quote, a tab or a line end
    (QUOTE_MINIMAL, the default: `"[""Amélie""]"`). A line that does not start with a quote is
    taken as minimally quoted only if writing its fields back that way gives the line again;
    otherwise it is IMDb's own unquoted text, where a title may well start with a quote."""
    try:
        text = line.decode()
        fields = next(csv.reader([text], delimiter="\t", quotechar='"', strict=True))
    except (csv.Error, UnicodeDecodeError, StopIteration):
        return None
    if len(fields) != columns:
        return None
    if not line.startswith(b'"') and _quote_minimal(fields) != text:
        return None
    for i in nan:
        if fields[i] in ("NaN", "nan"):
            fields[i] = ""
    for i in upper:
        if fields[i] == "NaN":
            fields[i] = ""
    for i in whole:
        if fields[i].endswith(".0"):
            fields[i] = _whole_number(fields[i].encode()).decode()
    # A quoted empty field ("") is a null too, as pandas writes it with QUOTE_ALL.
    return b"\t".join(_field(f) if f else _escape(NULL) for f in fields)


def _quote_minimal(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow(fields)
    return out.getvalue().removesuffix("\n")


# The name pandas gives a column without one when it reads a file: its index, written again.
UNNAMED = ("", "Unnamed: 0")


def check_header(source: Source, first: bytes, expected: list[str]) -> bool:
    """Whether the file has an index column first: pandas writes the row numbers of a table,
    under an empty name, unless told to_csv(index=False). Another header is refused."""
    _not_utf16(source, first)
    if b"\r" in first.rstrip(b"\r") and _text(first.split(b"\r", 1)[0]):
        # No line feed before the header's end: the whole file came as its first line. (Not
        # said of binary data, a CR among its bytes: its header is refused as it is.)
        raise InputError(
            f"{source.name}: lines end in a carriage return alone (as classic Mac OS saved "
            "text), expected line feeds (LF or CRLF)"
        )
    header = first.removeprefix(BOM).decode("utf-8", "replace").split("\t")
    header = [h.strip('"') for h in header]
    if header == expected:
        return False
    if header[0] in UNNAMED and header[1:] == expected:
        return True
    got = "|".join(header)
    got = got if len(got) <= 200 else got[:200] + "…"
    raise InputError(f"{source.name}:1: header is {got!r}, expected {'|'.join(expected)!r}")


def _text(line: bytes) -> bool:
    """Whether a line could be a header of tab-separated text: UTF-8, no NUL, a tab."""
    return b"\t" in line and _bad_bytes(line) is None


def _not_utf16(source: Source, first: bytes) -> None:
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f'{source.name}: UTF-16 text (as Excel saves "Unicode Text"), expected UTF-8'
        )


def tsv_copy(
    source: Source,
    header: list[str],
    reject: RejectSink,
    counted: Callable[[int], None],
    drop: LineFilter | None = None,
) -> Iterator[bytes]:
    """COPY text blocks (`line<TAB>fields…`) of a tab-separated file with this header.

    Bad lines go to `reject` and are left out; `counted` hears how many lines each block held.
    Empty lines are skipped silently. `drop` leaves out the good lines it does not want, before
    they are numbered.
    """
    columns = len(header)
    tabs = columns - 1
    whole = tuple(i for i, name in enumerate(header) if name in WHOLE)
    nan = tuple(i for i, name in enumerate(header) if i and name not in NAMED)
    codes = tuple(i for i in nan if header[i] in CODES)
    others = tuple(i for i in nan if i not in codes)
    # pandas' floats ("1994.0") are looked for only where they can be: before a tab if an
    # integer column is not last (a rating of 7.0 is not one), before a line end if one is.
    inner = any(i < tabs for i in whole)
    last = tabs in whole
    first = True
    index = False
    # The header line as IMDb writes it, and quoted (QUOTE_ALL, QUOTE_NONNUMERIC): long needles,
    # a block is searched for them about ten times as fast as for a short one.
    again = "\t".join(header).encode()
    again_quoted = "\t".join(f'"{name}"' for name in header).encode()
    for number, lines, text in _texts(source, reject):
        if not lines:
            counted(1)
            continue
        start = 0  # the lines after the header
        if first:
            # `tail -n +1 a.tsv b.tsv` starts with a.tsv's banner, then its header.
            at = 0
            while at < len(lines) - 1 and _banner(lines[at]):
                reject(Reject(source.name, number + at, REPEATED_HEADER))
                lines[at] = b""
                at += 1
            index = check_header(source, lines[at], header)
            lines[at] = b""
            first = False
            start = 1
            text = b"\n".join(lines[1:])
        if index:
            # The index is a row number, never quoted: the line's fields follow its first tab.
            lines = [line.partition(b"\t")[2] for line in lines]
            text = b"\n".join(lines[start:])
        given = lines[start:] if start else lines
        plain = _plain(text, given, tabs, (again, again_quoted), inner, last) if given else None
        if plain is not None:
            # IMDb's own text (nearly every block): what the rest of the loop would give it,
            # at a few passes over the block and no Python work per line left out.
            escaped, suspect = plain
            out: list[bytes] = []
            at = 0
            for i in [*suspect, len(given)]:
                if at < i:
                    part = escaped[at:i]
                    out += (
                        list(map(_NUMBERED.__mod__, zip(count(number + start + at), part)))
                        if drop is None
                        else drop.plain(part, number + start + at)
                    )
                if i < len(given):
                    n = number + start + i
                    fixed = _repair(source, n, given[i], columns, reject, whole, nan)
                    if fixed is not None and not (drop and drop.drops(fixed)):
                        out.append(_NUMBERED % (n, fixed))
                at = i + 1
            yield from _block(out, drop, counted, len(lines))
            continue
        block = b"\n".join(lines)
        # A null written NaN is looked for only in a block without IMDb's nulls (found at once
        # in IMDb's own files, whose lines are full of them), before empty fields become them.
        null = block.find(NULL)
        nans = null < 0
        # IMDb's null with its backslash escaped (`\\N`) is found where its first null is, at
        # once: a search for it through a block of IMDb's own text cost 1-2 ms a MiB.
        escapes = (nans and (b'\\"' in block or b"\\\\" in block)) or (
            null > 0 and block[null - 1] == ord("\\")
        )
        if escapes and _ESCAPES_ONLY.fullmatch(block):
            # Written by csv or pandas with QUOTE_NONE and escapechar="\\" (pandas' to_csv
            # asks for one when told QUOTE_NONE, as a reader of IMDb's quotes is): every
            # quote and backslash escaped: `[\"Maya\"]`, `Stephen \"Dr\" Love`, `One\\Two`, and
            # IMDb's null `\\N` when told na_rep="\\N". IMDb's own text has nulls `\N`, a
            # backslash escaping nothing, so a block of it is never read so.
            lines = [_ESCAPED.sub(rb"\1", line) if b"\\" in line else line for line in lines]
            block = b"\n".join(lines)
            nans = NULL not in block
        # Where only "NaN" is a null: the codes, unless the block writes nulls "nan" elsewhere.
        upper: tuple[int, ...] = ()
        nulls = nan
        if codes and nans and b"nan" in block and not _text_nans(lines, others):
            upper, nulls = codes, others
        # Fields start after a tab or a line end: with both as tabs, one search finds an empty
        # field and one a field that starts with a quote, for the whole block.
        fields = block.replace(b"\n", b"\t")
        if b"\t\t" in fields or fields.startswith(b"\t") or fields.endswith(b"\t"):
            # pandas writes a null as an empty field, where IMDb writes \N.
            lines = [_empty_as_null(line) for line in lines]
            block = b"\n".join(lines)
            fields = block.replace(b"\n", b"\t")
        if (inner and b".0\t" in block) or (last and (b".0\n" in block or block.endswith(b".0"))):
            lines = [_whole_numbers(line, whole, columns) for line in lines]
            block = b"\n".join(lines)
            fields = block.replace(b"\n", b"\t")
        if nans and (
            b"\tNaN\t" in fields or b"\tnan\t" in fields or fields.endswith((b"\tNaN", b"\tnan"))
        ):
            lines = [_nan_as_null(line, nulls, columns, upper) for line in lines]
            block = b"\n".join(lines)
            fields = block.replace(b"\n", b"\t")
        quoted = fields.startswith(b'"') or b'\t"' in fields
        if again in block or (quoted and again_quoted in block):
            _repeated_headers(source, lines, number, again, reject)
            block = b"\n".join(lines)
            fields = block.replace(b"\n", b"\t")
        clean = b"\x00" not in block
        if clean:
            try:
                block.decode()
            except UnicodeDecodeError:
                clean = False
        out = []
        append = out.append
        if clean:
            # One pass in a comprehension (the cost of a line is most of the cost of a file):
            # a line is taken as it is if it has its number of fields and none of them starts
            # with a quote. No IMDb id starts with a quote, and IMDb quotes no field: such a
            # line may have been re-saved with quotes, and is read in a second pass.
            escaped = _escape(block).split(b"\n") if b"\\" in block or b"\r" in block else lines
            suspect = _quoted_lines(block, fields) if quoted else []
            if suspect:
                escaped = list(escaped)
                for i in suspect:
                    escaped[i] = b""
            # A line left out is b"" in its place, then repaired there if it can be: a file's
            # lines stay in order (an IMDb re-import reads each title's lines together, see
            # digests.py). Only those lines are visited again, not the block.
            numbered: list[bytes | None] = (
                [
                    b"%d\t%s" % (n, line) if line.count(b"\t") == tabs else b""
                    for n, line in enumerate(escaped, number)
                ]
                if drop is None
                else drop.number(escaped, number, tabs)
            )
            if b"" in numbered:
                i = numbered.index(b"")
                while i >= 0:
                    if _banner(lines[i]):
                        reject(Reject(source.name, number + i, REPEATED_HEADER))
                    elif lines[i]:
                        fixed = _repair(
                            source, number + i, lines[i], columns, reject, whole, nulls, upper
                        )
                        if fixed is not None and not (drop and drop.drops(fixed)):
                            numbered[i] = b"%d\t%s" % (number + i, fixed)
                    i = _next_empty(numbered, i + 1)
            if drop is None and b"" not in numbered:
                out = cast(list[bytes], numbered)
            else:
                out = list(filter(None, numbered))
        else:
            for i, line in enumerate(lines):
                if not line:
                    continue
                bad = _bad_bytes(line)
                if bad:
                    reject(Reject(source.name, number + i, bad))
                elif _banner(line):
                    reject(Reject(source.name, number + i, REPEATED_HEADER))
                elif line.count(b"\t") == tabs and not _maybe_quoted(line):
                    if not (drop and drop.drops(_escape(line))):
                        append(b"%d\t%s" % (number + i, _escape(line)))
                else:
                    fixed = _repair(source, number + i, line, columns, reject, whole, nulls, upper)
                    if fixed is not None and not (drop and drop.drops(fixed)):
                        append(b"%d\t%s" % (number + i, fixed))
        yield from _block(out, drop, counted, len(lines))
    if first:
        raise InputError(f"{source.name}: empty file, expected a header line")


_NUMBERED = b"%d\t%s"
# What translate() deletes to leave a block's skeleton: its tabs, line ends and NUL bytes.
_NOT_SEPARATORS = bytes(b for b in range(256) if b not in b"\t\n\x00")
# Searched by re rather than `in`: several times as fast for these needles (re looks for the
# rare "." first; `in` is slow on a needle whose bytes are frequent, as tabs are).
_EMPTY = re.compile(b"\t\t")
_QUOTED = re.compile(b'\t"')
_FLOAT_INNER = re.compile(rb"\.0\t")
_FLOAT_LAST = re.compile(rb"\.0\n")


def _block(
    out: list[bytes], drop: LineFilter | None, counted: Callable[[int], None], lines: int
) -> Iterator[bytes]:
    """A block's numbered lines as one COPY text block (none if it kept no line), once drop
    has heard which lines it staged and counted how many lines the block held."""
    if drop is not None:
        drop.staged(out)
    counted(lines)
    if out:
        out.append(b"")
        yield b"\n".join(out)


def _plain(
    text: bytes,
    lines: list[bytes],
    tabs: int,
    headers: tuple[bytes, bytes],
    inner: bool,
    last: bool,
) -> tuple[list[bytes], list[int]] | None:
    """The lines of text as COPY text, if the block is in IMDb's own format: each line with
    its number of tabs, no NUL, valid UTF-8, and none of the variants tsv_copy reads otherwise
    (empty fields, pandas' floats and NaN, escaped quotes, a repeated header); None
    otherwise. Each condition is one pass over the whole block, none per line. With them, the
    indices of the lines that have a field starting with a quote, to be read as tsv_copy reads
    them (_repair): IMDb's own, or re-saved with quotes."""
    again, again_quoted = headers
    if not tabs or text.translate(None, _NOT_SEPARATORS) != (
        (b"\t" * tabs + b"\n") * (len(lines) - 1) + b"\t" * tabs
    ):
        return None
    nans = NULL not in text
    # A backslash escaped (QUOTE_NONE with escapechar="\\": `One\\Two`, IMDb's null as `\\N`)
    # or a quote escaped with no null of IMDb's: a copy whose escapes tsv_copy undoes.
    if b"\\\\" in text or (nans and b'\\"' in text):
        return None
    fields = text.replace(b"\n", b"\t")
    if _EMPTY.search(fields) or fields.startswith((b"\t", b'"')) or fields.endswith(b"\t"):
        return None
    if (inner and _FLOAT_INNER.search(text)) or (
        last and (_FLOAT_LAST.search(text) or text.endswith(b".0"))
    ):
        return None
    # Without IMDb's nulls, any "nan" (quoted or not: pandas' null, or the language code Min
    # Nan, which tsv_copy tells apart) takes tsv_copy's own path.
    if nans and (b"nan" in text or b"NaN" in text):
        return None
    if again in text:
        return None
    suspect = _quoted_lines(text, fields) if _QUOTED.search(fields) else []
    if suspect and again_quoted in text:
        return None
    if not text.isascii():
        try:
            text.decode()
        except UnicodeDecodeError:
            return None
    if b"\\" in text or b"\r" in text:
        return _escape(text).split(b"\n"), suspect
    return lines, suspect


def _repeated_headers(
    source: Source, lines: list[bytes], number: int, header: bytes, reject: RejectSink
) -> None:
    """Empty the lines (of a block numbered from `number`) that are the header (its names
    joined by tabs) again, quoted or not (pandas quotes it with QUOTE_ALL), with a byte-order
    mark or not, and tell reject. A copy joined from two (`cat a.tsv b.tsv`) has the second
    one's header inside."""
    for i, line in enumerate(lines):
        if line.removeprefix(BOM).replace(b'"', b"") == header:
            lines[i] = b""
            reject(Reject(source.name, number + i, REPEATED_HEADER))


def _whole_numbers(line: bytes, whole: tuple[int, ...], columns: int) -> bytes:
    """A line with pandas' floats in integer columns ("1994.0") as IMDb writes them ("1994");
    another line as it is (a quoted one is read by _unquote, which does the same)."""
    if b".0" not in line:
        return line
    fields = line.split(b"\t")
    if len(fields) != columns:
        return line
    for i in whole:
        fields[i] = _whole_number(fields[i])
    return b"\t".join(fields)


def _nan_as_null(
    line: bytes, nan: tuple[int, ...], columns: int, upper: tuple[int, ...] = ()
) -> bytes:
    """A line with `\\N` for pandas' "NaN" or "nan" in the columns `nan` (see NANS), and for
    "NaN" in the columns `upper`; another line as it is (a quoted one is read by _unquote,
    which does the same)."""
    fields = line.split(b"\t")
    if len(fields) != columns:
        return line
    for i in nan:
        if fields[i] in NANS:
            fields[i] = NULL
    for i in upper:
        if fields[i] == b"NaN":
            fields[i] = NULL
    return b"\t".join(fields)


def _text_nans(lines: list[bytes], columns: tuple[int, ...]) -> bool:
    """Whether a block writes a null "nan" (quoted or not) in one of these columns: a copy
    turned to text (astype(str) in pandas before 3) writes every null so, and a language
    "nan" in it cannot be told from a null. Without one, a "nan" of a code column is the code
    (pandas' to_csv writes a null empty, or "NaN" with na_rep="NaN")."""
    for line in lines:
        if b"nan" in line:
            fields = line.split(b"\t")
            if any(i < len(fields) and fields[i] in (b"nan", b'"nan"') for i in columns):
                return True
    return False


def _whole_number(field: bytes) -> bytes:
    match = _WHOLE_FLOAT.fullmatch(field)
    return match[1] if match else field


def _next_empty(items: list[bytes | None], start: int) -> int:
    try:
        return items.index(b"", start)
    except ValueError:
        return -1


def _empty_as_null(line: bytes) -> bytes:
    """A line with `\\N` for each empty field, as IMDb writes a null: pandas writes them empty
    (an empty line stays empty, and is skipped)."""
    if not line:
        return line
    return b"\t".join(f or NULL for f in line.split(b"\t"))


def _quoted_lines(block: bytes, fields: bytes) -> list[int]:
    """The indices of block's lines that have a field starting with a quote (fields is block
    with its line ends as tabs)."""
    found = [0] if fields.startswith(b'"') else []
    line, at = 0, 0
    quote = fields.find(b'\t"')
    while quote >= 0:
        # The quote's field starts the next line if the tab was a line end.
        line += block.count(b"\n", at, quote + 1)
        at = quote + 1
        if not found or found[-1] != line:
            found.append(line)
        quote = fields.find(b'\t"', quote + 2)
    return found


def _maybe_quoted(line: bytes) -> bool:
    return line.startswith(b'"') or b'\t"' in line


def _repair(
    source: Source,
    n: int,
    line: bytes,
    columns: int,
    reject: RejectSink,
    whole: tuple[int, ...] = (),
    nan: tuple[int, ...] = (),
    upper: tuple[int, ...] = (),
) -> bytes | None:
    """A line with quoted fields or the wrong number of tabs: re-read as quoted (CSV-style)
    fields if that gives the right number of them, else rejected."""
    fixed = _unquote(line, columns, whole, nan, upper) if b'"' in line else None
    if fixed is None and line.count(b"\t") == columns - 1:
        return _escape(line)
    if fixed is None:
        got = line.count(b"\t") + 1
        reject(Reject(source.name, n, f"{got} columns, expected {columns}"))
    return fixed


def _bad_bytes(line: bytes) -> str | None:
    if b"\x00" in line:
        return "NUL byte in line"
    try:
        line.decode()
    except UnicodeDecodeError as exc:
        # Most often a copy saved as Latin-1 or Windows-1252 (Excel, an old editor): say
        # what the byte is there.
        byte = line[exc.start : exc.start + 1]
        there = byte.decode("cp1252", errors="ignore") or byte.decode("latin-1")
        return (
            f"invalid UTF-8 at byte {exc.start + 1} "
            f"(0x{byte.hex().upper()}: {there!r} in Latin-1/Windows-1252)"
        )
    return None


def csv_rows(
    source: Source, header: list[str], reject: RejectSink, counted: Callable[[int], None]
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of a comma-separated file with quoting, as MovieLens writes it."""
    numbers: list[int] = [0]
    started = False  # the header read: a bad line is a bad row from then on

    def text() -> Iterator[str]:
        for number, block in _lines(source, reject):
            for n, line in enumerate(block, number):
                if n == 1:
                    _not_utf16(source, line)
                bad = _bad_bytes(line)
                if bad and not started:
                    # Before the header is read, a bad line is no row: the file is refused.
                    raise InputError(f"{source.name}:{n}: {bad}, expected a header line")
                if bad:
                    reject(Reject(source.name, n, bad))
                    continue
                numbers[0] = n
                yield line.decode() + "\n"
            counted(len(block))

    reader = csv.reader(text(), strict=True)
    try:
        got = next(reader, None)
        while got is not None and len(got) == 1 and _banner(got[0].encode()):
            reject(Reject(source.name, numbers[0], REPEATED_HEADER))
            got = next(reader, None)
        if got is None:
            raise InputError(f"{source.name}: empty file, expected a header line")
        if got and got[0].startswith("\ufeff"):
            got[0] = got[0][1:]
        # pandas' index first, as check_header allows it in a tab-separated file.
        index = bool(got) and got[0] in UNNAMED and got[1:] == header
        if got != header and not index:
            raise InputError(f"{source.name}:1: header is {got!r}, expected {header!r}")
        started = True
        for fields in reader:
            if not fields:
                continue
            if len(fields) == 1 and _banner(fields[0].encode()):
                reject(Reject(source.name, numbers[0], REPEATED_HEADER))
                continue
            if [fields[0].removeprefix("\ufeff"), *fields[1:]] == got:
                reject(Reject(source.name, numbers[0], REPEATED_HEADER))
                continue
            if index:
                del fields[0]
            if len(fields) != len(header):
                reject(
                    Reject(
                        source.name, numbers[0], f"{len(fields)} columns, expected {len(header)}"
                    )
                )
                continue
            yield numbers[0], fields
    except csv.Error as exc:
        raise InputError(f"{source.name}:{numbers[0]}: {exc}") from None
