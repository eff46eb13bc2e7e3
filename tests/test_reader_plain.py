"""tsv_copy's fast path (reader._plain, LineFilter.plain) gives what its line-by-line path
gives: the same COPY text, rejects, counts, lines left out and marks, on IMDb's own text and
on every variant the line-by-line path reads, in blocks small enough to mix them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from graph.importers import reader
from graph.importers.kept import KEPT, OTHER, LineFilter
from graph.importers.reader import Reject, Source, tsv_copy

PRINCIPALS = ["tconst", "ordering", "nconst", "category", "job", "characters"]
NAMES = ["nconst", "primaryName", "birthYear", "deathYear", "primaryProfession", "knownForTitles"]
BASICS = ["tconst", "titleType", "primaryTitle", "originalTitle", "isAdult", "startYear"]
BASICS += ["endYear", "runtimeMinutes", "genres"]

# IMDb's own text: nulls as \N, quotes inside fields and at a title's start, a backslash,
# a CR inside a field, text that is not ASCII.
OWN_PRINCIPALS = [
    'tt0000001\t1\tnm0000001\tself\t\\N\t["Self"]',
    "tt0000001\t2\tnm0000002\tdirector\t\\N\t\\N",
    'tt0000002\t1\tnm0000003\tactor\t\\N\t["Zoë"]',
    "tt0000002\t2\tnm0000004\twriter\tstory \\ idea\t\\N",
    'tt0000003\t1\tnm0000005\tactor\t\\N\t["A\rB"]',
    'tt0000004\t1\tnm0000006\tactor\t"Weird" job\t\\N',
    'tt0000005\t1\tnm0000007\tactor\t\\N\t"Quoted" start',
    "tt0000006\t1\tnm0000008\tcomposer\t\\N\t\\N",
]
# Lines the line-by-line path reads otherwise: each in titles kept and left out.
ODD_PRINCIPALS = [
    "tt0000002\t3\tnm0000009\tactor\t\\N",  # a field short, of a title left out
    "tt0000001\t3\tnm0000010\tactor\t\\N\t\\N\textra",  # a field too many, kept
    "tt0000002\t4\tnm0000011\tactor\t\\N\tnul\x00byte",
    "tt0000006\t2\tnm0000012\tactor\t\\N\t\\N",
    "tt0000002\t5\tnm0000013\tactor\t\\N\tbad \xff utf8",
    "",
    "\t".join(PRINCIPALS),  # files joined
    '"tt0000002"\t"6"\t"nm0000014"\t"actor"\t"\\N"\t"[""Self""]"',  # QUOTE_ALL
    '"tt0000001"\t"4"\t"nm0000015"\t"actor"\t"\\N"\t"x"',
    "tt0000002\t7.0\tnm0000016\tactor\t\\N\t\\N",  # pandas' float
    "tt0000001\t5\tnm0000017\tactor\t\t\\N",  # pandas' empty field
    # QUOTE_NONE with escapechar="\\" and na_rep="\\N": the escapes undone by tsv_copy
    'tt0000001\t6\tnm0000018\tactor\t\\\\N\t[\\"Maya\\"]',
    "tt0000001\t7\tnm0000019\twriter\tOne\\\\Two\t\\\\N",
    "==> b.tsv <==",  # tail -n +1 a.tsv b.tsv
]
OWN_NAMES = [
    "nm0000001\tFred Astaire\t1899\t1987\tactor\ttt0000001",
    "nm0000002\tLauren Bacall\t1924\t2014\tactress\ttt0000002",
    'nm0000003\t"Weird Al" Yankovic\t1959\t\\N\tmusician\t\\N',
    "nm0000004\tBjörk\t1965\t\\N\tmusician\t\\N",
    "nm0000005\tNobody\t\\N\t\\N\t\\N\t\\N",
    "nm9999999999\tToo long an id\t\\N\t\\N\t\\N\t\\N",
]
ODD_NAMES = [
    "nm0000006\tShort",
    "nm0000007\tNaN\tNaN\tNaN\tactor\tNaN",
    "nm0000001\tFred Astaire\t1899.0\t1987.0\tactor\ttt0000001",
]
OWN_BASICS = [
    "tt0000001\tmovie\tA\tA\t0\t1994\t\\N\t90\tDrama",
    "tt0000002\tshort\tB\tB\t0\t1995\t\\N\t9\tComedy",
    'tt0000003\ttvMovie\t"Quoted" title\t"Quoted" title\t0\t2001\t\\N\t\\N\t\\N',
    "tt0000004\ttvEpisode\tD\tD\t0\t\\N\t\\N\t\\N\t\\N",
]
ODD_BASICS = [
    "tt0000005\tmovie\tE\tE\t0\t1994.0\t\\N\t90.0\tDrama",
    "tt0000006\tmovie\tF",
    '"tt0000007"\t"movie"\t"G"\t"G"\t"0"\t"1999"\t"\\N"\t"80"\t"Drama"',
]


def _marks(path: Path, values: dict[int, int]) -> str:
    marks = bytearray(max(values) + 1)
    for n, value in values.items():
        marks[n] = value
    path.write_bytes(bytes(marks))
    return str(path)


def _read(
    tmp_path: Path, header: list[str], lines: list[str], spec: dict[str, Any], *, plain: bool
) -> tuple[list[bytes], list[Reject], list[int], int, bytes, bytes]:
    path = tmp_path / "file.tsv.gz"
    text = "\n".join(["\t".join(header), *lines]) + "\n"
    path.write_bytes(gzip.compress(text.encode("utf-8", "surrogateescape")))
    drop = LineFilter(json.loads(json.dumps(spec)))
    rejects: list[Reject] = []
    counts: list[int] = []
    taken = []
    real = reader._plain

    def spy(*args: Any) -> Any:
        got = real(*args) if plain else None
        taken.append(got is not None)
        return got

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reader, "_plain", spy)
        patch.setattr(reader, "BLOCK", 97)  # a few lines a block
        source = Source(path)
        try:
            blocks = list(tsv_copy(source, header, rejects.append, counts.append, drop))
        finally:
            source.close()
    assert any(taken) == plain
    return (
        blocks,
        rejects,
        counts,
        drop.left_out,
        bytes(drop.titles.marks).rstrip(b"\0"),
        bytes(drop.people.marks).rstrip(b"\0"),
    )


@pytest.mark.parametrize(
    ("header", "lines", "kind"),
    [
        (PRINCIPALS, OWN_PRINCIPALS * 3, "principals"),
        (PRINCIPALS, OWN_PRINCIPALS + ODD_PRINCIPALS + OWN_PRINCIPALS, "principals"),
        (NAMES, OWN_NAMES * 2, "names"),
        (NAMES, OWN_NAMES + ODD_NAMES + OWN_NAMES, "names"),
        (BASICS, OWN_BASICS * 3, "basics"),
        (BASICS, OWN_BASICS + ODD_BASICS + OWN_BASICS, "basics"),
    ],
)
def test_the_fast_path_reads_as_the_line_by_line_path(
    tmp_path: Path, header: list[str], lines: list[str], kind: str
) -> None:
    titles = _marks(tmp_path / "titles", {1: KEPT, 2: OTHER, 4: OTHER, 5: KEPT, 6: OTHER})
    people = _marks(tmp_path / "people", {1: KEPT, 3: KEPT})
    specs: dict[str, dict[str, Any]] = {
        "principals": {"kind": "titles", "titles": titles, "people_column": 3, "people": people},
        "names": {"kind": "names", "people": people},
        "basics": {"kind": "basics", "types": ["movie", "tvMovie"], "titles": titles},
    }
    spec = specs[kind]
    fast = _read(tmp_path, header, lines, spec, plain=True)
    assert fast == _read(tmp_path, header, lines, spec, plain=False)
    blocks, rejects, _, left_out, _, _ = fast
    assert blocks and left_out if kind != "basics" else blocks
    # The odd lines were read by the line-by-line path, which rejected some.
    assert bool(rejects) == any(line in lines for line in ODD_PRINCIPALS + ODD_NAMES + ODD_BASICS)
