"""CPU that validating one document costs, before and after the repeated-fields check.

Builds documents that pass every other limit (tokens, depth, aliases, directives, root
fields) and times, in-process and without a database:

- before: graphql-core's specified rules and filmgraph's limit rules, as the server ran them
  before the check (graphql.validate, uncached);
- after: the repeated-fields check (graph.limits.repeated_fields_error), then the same
  validation only when the check lets the document through.

    .venv/bin/python bench/validation_cost.py [--rounds 5]

Each figure is the median of --rounds runs; the two sides alternate within a round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from graphql import DocumentNode, GraphQLError, parse, specified_rules, validate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph.limits import LEAF_REPEATS_FACTOR, limit_rules, repeated_fields_error
from graph.schema import create_schema
from graph.settings import Settings

SETTINGS = Settings()
FILM = '{ film(slug: "refusenik-2007") { %s } }'
# The list fields of Film: each is a key a selection set can repeat (aliases are capped).
LISTS = [
    "directors { %s }",
    "writers { %s }",
    "genres { %s }",
    "cast { person { %s } }",
    "credits { person { %s } }",
    'offers(region: "US") { provider { %s } }',
    'providers(region: "US") { %s }',
    "alternativeTitles { %s }",
]


def at_cap(inner: str, lists: list[str] = LISTS) -> str:
    """Every list field of Film, each repeated as often as the cap allows, while the document
    stays within the token limit."""
    n = SETTINGS.max_field_repeats
    parts: list[str] = []
    for template in lists:
        field = template % (inner if "alternative" not in template else "title")
        candidate = FILM % " ".join([*parts, *[field] * n])
        if _tokens(candidate) > SETTINGS.max_tokens:
            break
        parts.extend([field] * n)
    return FILM % " ".join(parts)


def _tokens(text: str) -> int:
    try:
        parse(text, max_tokens=SETTINGS.max_tokens)
    except GraphQLError:
        return SETTINGS.max_tokens + 1
    return 0


# Leaf fields of Film, for documents at the leaf cap.
FILM_LEAVES = ["id", "title", "year", "slug", "synopsis", "runtimeMinutes"]


def shapes() -> list[tuple[str, str]]:
    n = SETTINGS.max_field_repeats
    leaves = n * LEAF_REPEATS_FACTOR
    fragments = " ".join(f"fragment F{i} on Film {{ directors {{ name }} }}" for i in range(150))
    return [
        ("film page (examples/film-page.graphql)", Path("examples/film-page.graphql").read_text()),
        ("flat: directors { name } x400 (the report)", FILM % ("directors { name } " * 400)),
        ("flat: directors { name } x440", FILM % ("directors { name } " * 440)),
        ("flat: title x1900", FILM % ("title " * 1900)),
        (
            "nested: directors { filmography { nodes { title } } } x195",
            FILM % ("directors { filmography { nodes { title } } } " * 195),
        ),
        (
            "nested: directors { name x40 } x40",
            FILM % (("directors { " + "name " * 40 + "} ") * 40),
        ),
        (
            "arguments: offers(region: US) { kind } x220",
            FILM % ('offers(region: "US") { kind } ' * 220),
        ),
        (
            "fragments: 150 spread once each",
            FILM % " ".join(f"...F{i}" for i in range(150)) + " " + fragments,
        ),
        (
            "fragments: one spread 900 times",
            FILM % ("...A " * 900) + " fragment A on Film { directors { name } }",
        ),
        ("inline fragments: x210", FILM % ("... on Film { directors { name } } " * 210)),
        (
            "many distinct fields, 15 aliases",
            FILM
            % (
                "id slug title originalTitle year releaseDate runtimeMinutes certification "
                "certificationCountry synopsis imdbRating imdbVotes posterUrl "
                + " ".join(f"t{i}: title" for i in range(15))
            ),
        ),
        (f"at the cap: each list of Film x{n}", at_cap("name")),
        (f"at the leaf cap: title x{leaves}", FILM % ("title " * leaves)),
        (
            f"at the leaf cap: every leaf of Film x{leaves} (to the token limit)",
            FILM % " ".join(f"{leaf} " * leaves for leaf in FILM_LEAVES[:4]),
        ),
        (
            f"at the leaf cap: {leaves} fragments of id and title",
            FILM % " ".join(f"...L{i}" for i in range(leaves))
            + " "
            + " ".join(f"fragment L{i} on Film {{ id title }}" for i in range(leaves)),
        ),
        (
            f"at both caps: directors {{ name x5 }} x{n}",
            FILM % (("directors { " + "name " * 5 + "} ") * n),
        ),
        (
            f"at the cap: each person list x{n} with filmography",
            at_cap("name filmography { nodes { title } }", [*LISTS[:2], *LISTS[3:5]]),
        ),
    ]


def timed(run: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    out = run()
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    schema = create_schema(SETTINGS)._schema
    rules = [*specified_rules, *limit_rules(SETTINGS)]

    def before(document: DocumentNode) -> list[GraphQLError]:
        return validate(schema, document, rules)

    def after(document: DocumentNode) -> list[GraphQLError]:
        refusal = repeated_fields_error(document, SETTINGS)
        return [refusal] if refusal else validate(schema, document, rules)

    print(f"{'document':<64} {'bytes':>6} {'before ms':>10} {'after ms':>9}  outcome after")
    for name, text in shapes():
        document = parse(text, max_tokens=SETTINGS.max_tokens)
        times: dict[str, list[float]] = {"before": [], "after": []}
        outcome: dict[str, str] = {}
        for _ in range(args.rounds):
            for side, check in (("before", before), ("after", after)):
                took, found = timed(lambda: check(document))  # noqa: B023
                times[side].append(took)
                codes = {_code(e) for e in found} if isinstance(found, list) else set()
                outcome[side] = ",".join(sorted(codes)) or "valid"
        print(
            f"{name:<64} {len(text):>6} {1000 * statistics.median(times['before']):>10.1f} "
            f"{1000 * statistics.median(times['after']):>9.2f}  {outcome['after']}"
            + (f" (before: {outcome['before']})" if outcome["before"] != "valid" else "")
        )


def _code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if code:
        return str(code)
    return "aborted" if error.message == "Validation aborted." else "invalid"


if __name__ == "__main__":
    main()
