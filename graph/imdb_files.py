"""IMDb dataset files for scale tests: `filmgraph generate-imdb DIR --scale S --seed N`.

Writes the six files `filmgraph import imdb` reads, as IMDb publishes them (gzip, tab
separated, `\\N` for null, no quoting: a quote is an ordinary character, as in `"Weird Al"`
titles and the JSON of `characters`), with the full dataset's cardinalities times the scale
factor and its proportions: title types (movies and TV movies under a tenth of the titles,
episodes three quarters), people per title, the share of `\\N` in each column, and credits
and alternative titles skewed towards films and popular people. The same seed and scale give
the same bytes.

`--changed F` writes the files of a later day: a share F of the titles get a new title and
runtime, and a share F of the ratings new votes; everything else is byte for byte the same.
"""

from __future__ import annotations

import gzip
import io
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

# The full dataset, late 2025 (rows without the header).
FULL = {
    "title.basics": 11_000_000,
    "name.basics": 14_000_000,
    "title.principals": 96_000_000,
    "title.crew": 11_000_000,
    "title.ratings": 1_500_000,
    "title.akas": 50_000_000,
}

# titleType: share of titles, principals, alternative titles and the chance of a rating, per
# title of the type (means; principals and akas are calibrated to the totals in FULL below).
TYPES = [
    # type, share, principals, akas, rated
    ("tvEpisode", 0.7650, 8.2, 3.6, 0.09),
    ("short", 0.0900, 6.0, 3.0, 0.15),
    ("movie", 0.0640, 14.0, 16.0, 0.45),
    ("video", 0.0270, 8.0, 3.0, 0.20),
    ("tvSeries", 0.0250, 12.0, 8.0, 0.40),
    ("tvMovie", 0.0130, 12.0, 6.0, 0.35),
    ("tvMiniSeries", 0.0055, 10.0, 5.0, 0.30),
    ("tvSpecial", 0.0045, 9.0, 3.0, 0.20),
    ("videoGame", 0.0040, 8.0, 2.0, 0.20),
    ("tvShort", 0.0009, 5.0, 2.0, 0.10),
    ("tvPilot", 0.0001, 8.0, 2.0, 0.10),
]
GENRES = [
    "Drama", "Comedy", "Documentary", "Talk-Show", "Reality-TV", "Family", "Romance",
    "Animation", "Action", "Crime", "Adventure", "Music", "Game-Show", "Thriller", "Horror",
    "News", "Short", "Mystery", "Fantasy", "Sport", "Biography", "History", "Sci-Fi",
    "Musical", "War", "Western", "Adult", "Film-Noir",
]  # fmt: skip
# title.principals categories, by their share of the lines.
CATEGORIES = [
    ("actor", 0.235), ("actress", 0.182), ("self", 0.12), ("director", 0.10),
    ("writer", 0.094), ("producer", 0.09), ("cinematographer", 0.052), ("editor", 0.045),
    ("composer", 0.045), ("production_designer", 0.015), ("casting_director", 0.012),
    ("archive_footage", 0.006), ("archive_sound", 0.004),
]  # fmt: skip
JOBS = {"writer": ["screenplay", "novel", "story", "written by"], "producer": ["producer"]}
PROFESSIONS = [
    "actor", "actress", "producer", "writer", "director", "miscellaneous", "camera_department",
    "editor", "composer", "soundtrack", "art_department", "sound_department",
]  # fmt: skip
REGIONS = ["US", "GB", "DE", "FR", "ES", "IT", "JP", "BR", "IN", "CA", "MX", "RU", "XWW"]
LANGUAGES = ["en", "de", "fr", "es", "ja", "it", "pt", "ru", "hi", "tr"]
AKA_TYPES = ["imdbDisplay", "original", "alternative", "working", "dvd", "festival", "tv"]
SYLLABLES = [
    "ka", "ri", "mo", "ne", "sta", "lu", "vi", "dor", "an", "el", "ber", "tha", "qui", "zo",
    "mar", "len", "ol", "ser", "go", "pha", "ré", "ño", "üb", "cy", "tra", "ven",
]  # fmt: skip
FILES = list(FULL)


@dataclass(frozen=True)
class Written:
    name: str
    rows: int
    path: Path


def _rng(seed: int, stream: str) -> random.Random:
    """A generator of its own per file, so that each file's bytes depend on the seed only."""
    return random.Random(f"{seed}-{stream}")  # noqa: S311 (reproducible test data, not secrets)


def _words(rng: random.Random, n: int) -> list[str]:
    return [
        "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3)))).capitalize()
        for _ in range(n)
    ]


class _Out:
    """One gzip file being written, with its count of rows."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        raw = gzip.GzipFile(path, "wb", compresslevel=1, mtime=0)
        self.file: TextIO = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        self.file.write("\t".join(header) + "\n")
        self.columns = len(header)
        self.rows = 0
        self.buffer: list[str] = []

    def add(self, fields: list[str]) -> None:
        self.buffer.append("\t".join(fields))
        self.rows += 1
        if len(self.buffer) >= 50_000:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.file.write("\n".join(self.buffer) + "\n")
            self.buffer.clear()

    def close(self, name: str) -> Written:
        self.flush()
        self.file.close()
        return Written(name, self.rows, self.path)


def _weighted(rng: random.Random, items: list[tuple[str, float]]) -> Callable[[], str]:
    names = [n for n, _ in items]
    weights = [w for _, w in items]

    def pick() -> str:
        return rng.choices(names, weights)[0]

    return pick


def _count(rng: random.Random, mean: float) -> int:
    """A count of at least 1 with the given mean, spread from 1 to about twice the mean."""
    return 1 + int(rng.random() * (2 * mean - 1))


def _tconst(i: int) -> str:
    return f"tt{i + 1:07d}"


def _nconst(i: int) -> str:
    return f"nm{i + 1:07d}"


def plan(scale: float) -> dict[str, int]:
    """Rows per file at this scale (the generated files come within a few percent)."""
    return {name: max(1, round(rows * scale)) for name, rows in FULL.items()}


def generate_imdb(
    directory: Path, scale: float, seed: int = 1, changed: float = 0.0
) -> list[Written]:
    """Write the six files into directory; return what was written."""
    directory.mkdir(parents=True, exist_ok=True)
    target = plan(scale)
    titles, people = target["title.basics"], target["name.basics"]
    # Title types in blocks, as IMDb's ids run in blocks of series and their episodes.
    rng = _rng(seed, "types")
    type_of = bytearray(titles)
    shares = [t[1] for t in TYPES]
    for start in range(0, titles, 64):
        kind = rng.choices(range(len(TYPES)), shares)[0]
        for i in range(start, min(start + 64, titles)):
            type_of[i] = kind if rng.random() < 0.8 else rng.choices(range(len(TYPES)), shares)[0]
    counts = [0] * len(TYPES)
    for k in type_of:
        counts[k] += 1
    # Calibrate the per-type means to the full dataset's totals.
    principals_scale = target["title.principals"] / max(
        1, sum(c * t[2] for c, t in zip(counts, TYPES, strict=True))
    )
    akas_scale = target["title.akas"] / max(
        1, sum(c * t[3] for c, t in zip(counts, TYPES, strict=True))
    )
    rated_scale = target["title.ratings"] / max(
        1, sum(c * t[4] for c, t in zip(counts, TYPES, strict=True))
    )
    words = _words(rng, 20_000)
    first = _words(rng, 3_000)
    last = _words(rng, 30_000)

    def person(r: random.Random) -> int:
        # Popular people hold many credits, most people few.
        return min(people - 1, int(people * r.random() ** 2.2))

    def is_changed(r: random.Random) -> bool:
        return changed > 0 and r.random() < changed

    return [
        _title_basics(directory, seed, type_of, words, is_changed),
        _title_ratings(directory, seed, type_of, rated_scale, is_changed),
        _name_basics(directory, seed, people, titles, first, last),
        _title_principals(directory, seed, type_of, principals_scale, person, words),
        _title_crew(directory, seed, type_of, person),
        _title_akas(directory, seed, type_of, akas_scale, words),
    ]


def _title(r: random.Random, words: list[str]) -> str:
    n = 1 + int(r.random() ** 2 * 6)
    text = " ".join(r.choice(words) for _ in range(n))
    if r.random() < 0.004:
        text = f'"{r.choice(words)}" {text}'  # IMDb leaves quotes as they are
    return text


def _title_basics(
    directory: Path,
    seed: int,
    type_of: bytearray,
    words: list[str],
    is_changed: Callable[[random.Random], bool],
) -> Written:
    r = _rng(seed, "title.basics")
    change = _rng(seed, "title.basics-change")
    out = _Out(directory / "title.basics.tsv.gz", HEADERS["title.basics"])
    for i, k in enumerate(type_of):
        kind = TYPES[k][0]
        title = _title(r, words)
        original = title if r.random() < 0.9 else _title(r, words)
        adult = "1" if r.random() < 0.02 else "0"
        year = r"\N" if r.random() < 0.12 else str(1890 + int(r.random() ** 0.4 * 136))
        series = kind in ("tvSeries", "tvMiniSeries")
        end = str(int(year) + r.randint(0, 10)) if series and year != r"\N" else r"\N"
        filmish = kind in ("movie", "tvMovie")
        runtime = (
            str(r.randint(40, 200) if filmish else r.randint(1, 60))
            if r.random() < (0.8 if filmish else 0.3)
            else r"\N"
        )
        genres = r"\N" if r.random() < 0.06 else ",".join(sorted(r.sample(GENRES, r.randint(1, 3))))
        if is_changed(change):
            title = title + " " + change.choice(words)
            runtime = str(change.randint(40, 200))
        out.add([_tconst(i), kind, title, original, adult, year, end, runtime, genres])
    return out.close("title.basics")


def _title_ratings(
    directory: Path,
    seed: int,
    type_of: bytearray,
    rated_scale: float,
    is_changed: Callable[[random.Random], bool],
) -> Written:
    r = _rng(seed, "title.ratings")
    change = _rng(seed, "title.ratings-change")
    out = _Out(directory / "title.ratings.tsv.gz", HEADERS["title.ratings"])
    for i, k in enumerate(type_of):
        if r.random() >= TYPES[k][4] * rated_scale:
            continue
        rating = round(1 + 9 * r.betavariate(5, 2), 1)
        votes = 5 + int(r.paretovariate(1.1) * 5)
        if is_changed(change):
            votes += change.randint(1, 500)
            rating = round(min(10.0, max(1.0, rating + change.choice((-0.1, 0.1)))), 1)
        out.add([_tconst(i), f"{rating:.1f}", str(min(votes, 3_000_000))])
    return out.close("title.ratings")


def _name_basics(
    directory: Path, seed: int, people: int, titles: int, first: list[str], last: list[str]
) -> Written:
    r = _rng(seed, "name.basics")
    out = _Out(directory / "name.basics.tsv.gz", HEADERS["name.basics"])
    for i in range(people):
        name = f"{r.choice(first)} {r.choice(last)}"
        born = r"\N" if r.random() < 0.95 else str(r.randint(1850, 2015))
        died = r"\N"
        if born != r"\N" and r.random() < 0.3:
            died = str(min(2025, int(born) + r.randint(20, 95)))
        professions = (
            r"\N" if r.random() < 0.2 else ",".join(r.sample(PROFESSIONS, r.randint(1, 3)))
        )
        known = (
            r"\N"
            if r.random() < 0.12
            else ",".join(_tconst(r.randrange(titles)) for _ in range(r.randint(1, 4)))
        )
        out.add([_nconst(i), name, born, died, professions, known])
    return out.close("name.basics")


def _characters(r: random.Random, category: str, words: list[str]) -> str:
    if category == "self":
        return '["Self"]' if r.random() < 0.7 else r"\N"
    if category in ("archive_footage", "archive_sound"):
        return r"\N"
    if r.random() < 0.15:
        return r"\N"
    names = [r.choice(words) for _ in range(1 if r.random() < 0.95 else 2)]
    if r.random() < 0.002:
        names[0] = f'{names[0]} \\"{r.choice(words)}\\"'  # an escaped quote in the JSON
    return "[" + ",".join(f'"{n}"' for n in names) + "]"


def _title_principals(
    directory: Path,
    seed: int,
    type_of: bytearray,
    principals_scale: float,
    person: Callable[[random.Random], int],
    words: list[str],
) -> Written:
    r = _rng(seed, "title.principals")
    out = _Out(directory / "title.principals.tsv.gz", HEADERS["title.principals"])
    category = _weighted(r, CATEGORIES)
    for i, k in enumerate(type_of):
        tconst = _tconst(i)
        for ordering in range(1, _count(r, TYPES[k][2] * principals_scale) + 1):
            cat = category()
            actorish = cat in ("actor", "actress", "self")
            job = r.choice(JOBS[cat]) if cat in JOBS and r.random() < 0.6 else r"\N"
            characters = _characters(r, cat, words) if actorish else r"\N"
            out.add([tconst, str(ordering), _nconst(person(r)), cat, job, characters])
    return out.close("title.principals")


def _title_crew(
    directory: Path, seed: int, type_of: bytearray, person: Callable[[random.Random], int]
) -> Written:
    r = _rng(seed, "title.crew")
    out = _Out(directory / "title.crew.tsv.gz", HEADERS["title.crew"])
    for i in range(len(type_of)):
        directors = (
            r"\N"
            if r.random() < 0.35
            else ",".join(_nconst(person(r)) for _ in range(1 if r.random() < 0.9 else 2))
        )
        writers = (
            r"\N"
            if r.random() < 0.45
            else ",".join(_nconst(person(r)) for _ in range(_count(r, 1.8)))
        )
        out.add([_tconst(i), directors, writers])
    return out.close("title.crew")


def _title_akas(
    directory: Path, seed: int, type_of: bytearray, akas_scale: float, words: list[str]
) -> Written:
    r = _rng(seed, "title.akas")
    out = _Out(directory / "title.akas.tsv.gz", HEADERS["title.akas"])
    for i, k in enumerate(type_of):
        tconst = _tconst(i)
        for ordering in range(1, _count(r, TYPES[k][3] * akas_scale) + 1):
            region = r"\N" if r.random() < 0.08 else r.choice(REGIONS)
            language = r"\N" if r.random() < 0.7 else r.choice(LANGUAGES)
            types = r"\N" if r.random() < 0.6 else r.choice(AKA_TYPES)
            attributes = r"\N" if r.random() < 0.98 else "literal title"
            original = "1" if ordering == 1 and r.random() < 0.5 else "0"
            out.add(
                [tconst, str(ordering), _title(r, words), region, language, types,
                 attributes, original]
            )  # fmt: skip
    return out.close("title.akas")


HEADERS = {
    "title.basics": [
        "tconst", "titleType", "primaryTitle", "originalTitle", "isAdult", "startYear",
        "endYear", "runtimeMinutes", "genres",
    ],
    "title.ratings": ["tconst", "averageRating", "numVotes"],
    "name.basics": [
        "nconst", "primaryName", "birthYear", "deathYear", "primaryProfession",
        "knownForTitles",
    ],
    "title.principals": ["tconst", "ordering", "nconst", "category", "job", "characters"],
    "title.crew": ["tconst", "directors", "writers"],
    "title.akas": [
        "titleId", "ordering", "title", "region", "language", "types", "attributes",
        "isOriginalTitle",
    ],
}  # fmt: skip


def lines(path: Path) -> Iterator[list[str]]:
    """The rows of a written file, as fields (for tests and the bench)."""
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
        next(f)
        for line in f:
            yield line.rstrip("\n").split("\t")
