"""`filmgraph generate-imdb`: IMDb-format files with the full dataset's proportions, the same
bytes for the same seed, and a later day's files that differ where they should."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import asyncpg

from graph.imdb_files import FILES, HEADERS, lines, plan
from tests.importing import filmgraph_import

SCALE = 0.0005  # 5,500 titles, 7,000 people, 48,000 principals


def generate(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "graph.cli", "generate-imdb", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_files_have_the_full_datasets_shape(scratch_dir: Path) -> None:
    done = generate(scratch_dir / "a", "--scale", str(SCALE), "--seed", "3")
    assert done.returncode == 0, done.stderr
    written = dict(line.split("\t") for line in done.stdout.splitlines())
    assert sorted(Path(p).name for p in written) == sorted(f"{n}.tsv.gz" for n in FILES)
    counts = {n: sum(1 for _ in lines(scratch_dir / "a" / f"{n}.tsv.gz")) for n in FILES}
    for name, expected in plan(SCALE).items():
        assert abs(counts[name] - expected) <= 0.1 * expected, (name, counts[name], expected)
        assert int(written[str(scratch_dir / "a" / f"{name}.tsv.gz")]) == counts[name]

    titles = list(lines(scratch_dir / "a" / "title.basics.tsv.gz"))
    assert all(len(t) == len(HEADERS["title.basics"]) for t in titles)
    types = Counter(t[1] for t in titles)
    films = (types["movie"] + types["tvMovie"]) / len(titles)
    assert 0.03 < films < 0.1, types
    assert types["tvEpisode"] > len(titles) / 2
    # IMDb's \N: runtimes are mostly unknown, start years mostly known.
    assert 0.4 < sum(t[7] == r"\N" for t in titles) / len(titles) < 0.9
    assert sum(t[5] == r"\N" for t in titles) / len(titles) < 0.25
    # No quoting: a quote is part of the value, as in IMDb's own files.
    assert any(t[2].startswith('"') for t in titles)

    principals = list(lines(scratch_dir / "a" / "title.principals.tsv.gz"))
    per_person = Counter(p[2] for p in principals)
    # Popular people hold many credits, most people few.
    assert per_person.most_common(1)[0][1] > 20 * len(principals) / len(per_person)
    assert any(p[5].startswith('["') for p in principals)
    assert {p[3] for p in principals} >= {"actor", "actress", "director", "self", "writer"}


def test_same_seed_same_bytes_and_a_later_day_changes_one_percent(scratch_dir: Path) -> None:
    for name, args in (("a", []), ("b", []), ("c", ["--seed", "2"]), ("d", ["--changed", "0.01"])):
        done = generate(scratch_dir / name, "--scale", "0.0002", *args)
        assert done.returncode == 0, done.stderr
    for f in FILES:
        a = (scratch_dir / "a" / f"{f}.tsv.gz").read_bytes()
        assert a == (scratch_dir / "b" / f"{f}.tsv.gz").read_bytes()
        assert a != (scratch_dir / "c" / f"{f}.tsv.gz").read_bytes()
        same = a == (scratch_dir / "d" / f"{f}.tsv.gz").read_bytes()
        assert same == (f not in ("title.basics", "title.ratings")), f
    for f in ("title.basics", "title.ratings"):
        before = list(lines(scratch_dir / "a" / f"{f}.tsv.gz"))
        after = list(lines(scratch_dir / "d" / f"{f}.tsv.gz"))
        assert [r[0] for r in before] == [r[0] for r in after]
        changed = sum(x != y for x, y in zip(before, after, strict=True)) / len(before)
        assert 0.002 < changed < 0.03, (f, changed)


def test_a_bad_scale_is_refused(scratch_dir: Path) -> None:
    for scale in ("0", "-1", "nan", "x", "11"):
        done = generate(scratch_dir / "x", "--scale", scale)
        assert done.returncode == 2
        assert "--scale" in done.stderr
    assert not (scratch_dir / "x").exists()


async def test_generated_files_import_without_a_reject(empty_dsn: str, scratch_dir: Path) -> None:
    assert generate(scratch_dir / "imdb", "--scale", "0.0002").returncode == 0
    result = filmgraph_import(empty_dsn, "imdb", scratch_dir / "imdb")
    assert result.returncode == 0, result.stderr
    titles = list(lines(scratch_dir / "imdb" / "title.basics.tsv.gz"))
    conn = await asyncpg.connect(empty_dsn)
    try:
        films = await conn.fetchval("select count(*) from film")
        credits = await conn.fetchval("select count(*) from credit")
        titled = await conn.fetchval("select count(*) from film_alternative_title")
    finally:
        await conn.close()
    assert films == sum(t[1] in ("movie", "tvMovie") for t in titles)
    assert credits > 5 * films
    assert titled > 5 * films
