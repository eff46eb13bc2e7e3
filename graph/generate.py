"""A deterministic synthetic catalogue for scale tests: `filmgraph generate --films N --seed S`.

The shapes follow real catalogues: cast and crew sizes and people's filmographies are
power-law (a few people with hundreds of credits, most with one or two), genres and
providers are skewed, offers cover many regions with the US most common. Rows go in through
binary COPY into an empty graph, so ids are 1..N in generation order and the same seed gives
the same catalogue.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from graph import db

log = logging.getLogger(__name__)

GENRES = [
    "Drama",
    "Comedy",
    "Documentary",
    "Thriller",
    "Action",
    "Romance",
    "Horror",
    "Crime",
    "Adventure",
    "Family",
    "Science Fiction",
    "Animation",
    "Mystery",
    "Fantasy",
    "Music",
    "History",
    "War",
    "Western",
]
PROVIDERS = [
    "Netflix",
    "Amazon Prime Video",
    "Apple TV",
    "Disney Plus",
    "Max",
    "Hulu",
    "Peacock",
    "Paramount Plus",
    "Mubi",
    "Criterion Channel",
    "Kanopy",
    "Tubi",
    "Pluto TV",
    "Google Play Movies",
    "YouTube",
    "Rakuten TV",
    "Canal+",
    "BBC iPlayer",
    "Crunchyroll",
    "Shudder",
]
REGIONS = ["US", "GB", "CA", "DE", "FR", "AU", "ES", "IT", "NL", "BR", "MX", "JP", "IN", "SE"]
CURRENCY = {
    "US": "USD",
    "GB": "GBP",
    "CA": "CAD",
    "AU": "AUD",
    "BR": "BRL",
    "MX": "MXN",
    "JP": "JPY",
    "IN": "INR",
    "SE": "SEK",
}
KINDS = ["SUBSCRIPTION", "RENT", "BUY", "FREE", "ADS"]
# Syllables for made-up words and names: a large vocabulary (as real catalogues have) keeps
# search selective in the way it is on real data; a few accented ones exercise folding.
ONSETS = [
    "",
    "b",
    "br",
    "c",
    "ch",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "pr",
    "r",
    "s",
    "sh",
    "st",
    "t",
    "tr",
    "v",
    "w",
    "z",
]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "é", "ö", "ñ" + "a", "y"]
CODAS = ["", "", "", "n", "r", "s", "l", "m", "nd", "rt", "x", "k"]


@dataclass(frozen=True)
class Vocabulary:
    words: list[str]
    first_names: list[str]
    last_names: list[str]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(
        rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables)
    )


def vocabulary(rng: random.Random) -> Vocabulary:
    return Vocabulary(
        words=[_word(rng, rng.choice((1, 2, 2, 3))) for _ in range(30_000)],
        first_names=[_word(rng, rng.choice((2, 2, 3))).capitalize() for _ in range(4_000)],
        last_names=[_word(rng, rng.choice((2, 3, 3, 4))).capitalize() for _ in range(40_000)],
    )


class GenerateError(RuntimeError):
    """The catalogue cannot be generated here."""


@dataclass(frozen=True)
class Sizes:
    films: int
    people: int


def _zipf_index(rng: random.Random, n: int, skew: float = 1.15) -> int:
    """An index in [0, n) drawn with a heavy head: index 0 is the most common."""
    return min(n - 1, int(n * rng.random() ** (skew * 3)))


def _pick(rng: random.Random, items: list[str], skew: float = 0.5) -> str:
    return items[_zipf_index(rng, len(items), skew)]


def _title(rng: random.Random, vocab: Vocabulary) -> str:
    words = [_pick(rng, vocab.words) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))]
    if rng.random() < 0.4:
        words.insert(0, "The")
    return " ".join(w.capitalize() for w in words)


def films(rng: random.Random, n: int, vocab: Vocabulary) -> Iterator[tuple[object, ...]]:
    for i in range(1, n + 1):
        title = _title(rng, vocab)
        year = 1920 + _zipf_index(rng, 106, 0.25) if rng.random() < 0.97 else None
        year = None if year is None else 2025 - (year - 1920)
        rated = rng.random() < 0.8
        synopsis = " ".join(_pick(rng, vocab.words) for _ in range(rng.randint(8, 30)))
        yield (
            f"film-{i}",
            title,
            title if rng.random() < 0.8 else _title(rng, vocab),
            year,
            rng.randint(3, 240) if rng.random() < 0.95 else None,
            rng.choice(("G", "PG", "PG-13", "R", "NR", "NR", "NR")),
            "US",
            synopsis,
            Decimal(f"{rng.uniform(1, 10):.1f}") if rated else None,
            int(rng.paretovariate(0.9) * 5) if rated else None,
        )


def people(rng: random.Random, n: int, vocab: Vocabulary) -> Iterator[tuple[object, ...]]:
    for i in range(1, n + 1):
        born = rng.randint(1890, 2005) if rng.random() < 0.6 else None
        name = f"{_pick(rng, vocab.first_names)} {_pick(rng, vocab.last_names, 0.3)}"
        yield (f"person-{i}", name, born)


def credits(rng: random.Random, sizes: Sizes) -> Iterator[tuple[object, ...]]:
    """Per film: one or two directors, writers, a power-law cast, some crew."""
    for film in range(1, sizes.films + 1):
        seen: set[tuple[int, str]] = set()
        cast = min(60, int(rng.paretovariate(1.3) * 3))
        plan = [
            ("DIRECTOR", 1 + (rng.random() < 0.1)),
            ("WRITER", rng.randint(0, 2)),
            ("ACTOR", cast),
            ("COMPOSER", rng.random() < 0.5),
            ("PRODUCER", rng.randint(0, 2)),
        ]
        for role, count in plan:
            for order in range(1, int(count) + 1):
                person = 1 + _zipf_index(rng, sizes.people)
                if (person, role) in seen:
                    continue
                seen.add((person, role))
                actor = role == "ACTOR"
                yield (
                    film,
                    person,
                    role,
                    f"Character {order}" if actor else None,
                    order if actor else None,
                )


def film_genres(
    rng: random.Random, n_films: int, genre_ids: list[int]
) -> Iterator[tuple[int, int]]:
    for film in range(1, n_films + 1):
        picked = {
            genre_ids[_zipf_index(rng, len(genre_ids), 0.5)] for _ in range(rng.randint(1, 3))
        }
        for genre in sorted(picked):
            yield (film, genre)


def offers(
    rng: random.Random, n_films: int, provider_ids: list[int]
) -> Iterator[tuple[object, ...]]:
    for film in range(1, n_films + 1):
        seen = set()
        for _ in range(min(12, int(rng.paretovariate(1.5)) - 1 + (rng.random() < 0.6))):
            region = REGIONS[_zipf_index(rng, len(REGIONS), 0.6)]
            kind = KINDS[_zipf_index(rng, len(KINDS), 0.5)]
            provider = provider_ids[_zipf_index(rng, len(provider_ids), 0.6)]
            quality = rng.choice(("SD", "HD", "HD", "UHD"))
            key = (provider, region, kind, quality)
            if key in seen:
                continue
            seen.add(key)
            paid = kind in ("RENT", "BUY")
            yield (
                film,
                provider,
                region,
                kind,
                Decimal(f"{rng.uniform(0.99, 19.99):.2f}") if paid else None,
                CURRENCY.get(region, "EUR") if paid else None,
                quality,
                f"https://example.com/watch/{film}/{region}",
            )


async def generate(conn: asyncpg.Connection, n_films: int, seed: int) -> dict[str, int]:
    """Fill an empty graph with n_films synthetic films and everything around them."""
    if n_films < 1:
        # Checked first: a catalogue of people and no films would leave the graph non-empty.
        raise GenerateError(f"--films must be at least 1, got {n_films}")
    if await conn.fetchval(db.sql("graph_row_count")):
        raise GenerateError("generate fills an empty graph; this one already has data")
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not secrets)
    sizes = Sizes(films=n_films, people=max(10, n_films * 2 // 5))
    vocab = vocabulary(rng)
    counts: dict[str, int] = {}
    async with conn.transaction():
        for table in ("film", "person", "genre", "provider", "credit", "offer"):
            await conn.execute(db.sql("restart_identity"), table)
        await conn.copy_records_to_table(
            "genre",
            records=[(g.lower().replace(" ", "-"), g) for g in GENRES],
            columns=["slug", "name"],
        )
        await conn.copy_records_to_table(
            "provider",
            records=[(p.lower().replace(" ", "-").replace("+", "-plus"), p) for p in PROVIDERS],
            columns=["slug", "name"],
        )
        genre_ids = list(range(1, len(GENRES) + 1))
        provider_ids = list(range(1, len(PROVIDERS) + 1))
        steps = [
            (
                "film",
                [
                    "slug",
                    "title",
                    "original_title",
                    "year",
                    "runtime_minutes",
                    "certification",
                    "certification_country",
                    "synopsis",
                    "imdb_rating",
                    "imdb_votes",
                ],
                films(rng, sizes.films, vocab),
            ),
            ("person", ["slug", "name", "birth_year"], people(rng, sizes.people, vocab)),
            ("film_genre", ["film_id", "genre_id"], film_genres(rng, sizes.films, genre_ids)),
            (
                "credit",
                ["film_id", "person_id", "role", "character_name", "billing_order"],
                credits(rng, sizes),
            ),
            (
                "offer",
                ["film_id", "provider_id", "region", "kind", "price", "currency", "quality", "url"],
                offers(rng, sizes.films, provider_ids),
            ),
        ]
        await conn.execute(db.sql("collaborations_trigger_off"))
        for table, columns, rows in steps:
            start = time.perf_counter()
            batch: list[tuple[object, ...]] = []
            total = 0
            for row in rows:
                batch.append(row)
                if len(batch) == 50_000:
                    await conn.copy_records_to_table(table, records=batch, columns=columns)
                    total += len(batch)
                    batch.clear()
            if batch:
                await conn.copy_records_to_table(table, records=batch, columns=columns)
                total += len(batch)
            counts[table] = total
            log.info(
                "generated table=%s rows=%d seconds=%.1f", table, total, time.perf_counter() - start
            )
        await conn.execute(db.sql("collaborations_trigger_on"))
        start = time.perf_counter()
        await conn.execute(db.sql("collaborations_recount"))
        log.info("counted collaborations seconds=%.1f", time.perf_counter() - start)
    await conn.fetchval(db.sql("compact_film_tally"))
    # Statistics for the planner, and the visibility map that lets counts read indexes only.
    await conn.execute("vacuum analyze")
    return counts
