"""The statements the compiler makes for the benchmark pages, and the loaders' batch statements,
as golden files (tests/sql/) a reviewer can read: `scripts/golden-sql` writes them, tests/test_compiled.py keeps them current.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from graphql import parse
from graphql.execution.values import get_variable_values

from graph.batches import BATCHES
from graph.compiled.arguments import Arguments
from graph.compiled.plan import operation_of
from graph.compiled.sql import compile_operation
from graph.schema import create_schema

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "sql"

# The film page with the graph questions a film page shows: similar films (with their reasons)
# and where to watch it in several regions; compiled, still one statement (bench/compiled.py).
FILM_PAGE_SIMILAR = """query FilmPageSimilar($slug: String!, $region: String!) {
  film(slug: $slug) { id title year certification runtimeMinutes synopsis imdbRating posterUrl
    genres { id name }
    directors { id name filmography(role: DIRECTOR, first: 10) { totalCount
      nodes { id title year } } }
    writers { id name }
    offers(region: $region) { kind price currency quality url provider { id name logoUrl } }
    similar(first: 10) { score film { id slug title year posterUrl }
      reasons { __typename ... on SharedPeople { people { id name } }
        ... on SharedGenres { genres { name } } ... on YearDistance { years } } }
    availability(regions: ["US", "GB", "DE"]) { region
      offers { kind price currency provider { name } } } } }"""

# A person's collaborators with the films they share, and the films of several people:
# compiled, one statement (the graph questions that are connections).
COLLABORATORS = """query Collaborators($slug: String!, $people: [ID!]!) {
  person(slug: $slug) { name collaborators(first: 5) { totalCount
    pageInfo { hasNextPage endCursor }
    nodes { sharedFilms person { id name } films(first: 3) { title year } } } }
  commonFilms(people: $people, first: 5) { totalCount nodes { id title year } } }"""

PAGES: dict[str, tuple[str, dict[str, Any]]] = {
    "film_page": (
        (ROOT / "examples" / "film-page.graphql").read_text(),
        {"slug": "refusenik-2007", "region": "US"},
    ),
    "film_page_similar": (FILM_PAGE_SIMILAR, {"slug": "fargo-1996", "region": "US"}),
    "collaborators": (
        COLLABORATORS,
        {"slug": "roger-deakins", "people": ["UGVyc29uOjEzMg==", "UGVyc29uOjEzNQ=="]},
    ),
    "filmography": (
        """query Filmography($slug: String!) { person(slug: $slug) { id name
  filmography(role: DIRECTOR, first: 50) { totalCount nodes { id title year
    genres { name } offers(region: "US") { kind price currency provider { name } } } } } }""",
        {"slug": "laura-bialis"},
    ),
    "top_rated": (
        """query TopRated { films(orderBy: [{field: RATING, direction: DESC}], first: 100) {
  totalCount nodes { id title year imdbRating directors { name } genres { name } } } }""",
        {},
    ),
    "search": (
        """query Search($q: String!) { films(filter: {query: $q}, first: 20) { nodes { id title
    year imdbRating } } search(query: $q, first: 10) { __typename ... on Film { id title }
    ... on Person { id name } } }""",
        {"q": "refusenik"},
    ),
    "filtered_films": (
        """query Filtered($genre: String!) { films(filter: {genresAny: [$genre],
  year: {min: 1990}}, first: 10) { totalCount pageInfo { hasNextPage } nodes { title } } }""",
        {"genre": "documentary"},
    ),
}


def statement(query: str, variables: dict[str, Any]) -> str:
    schema = create_schema()
    document = parse(query)
    operation = operation_of(document, None)
    coerced = get_variable_values(schema._schema, operation.variable_definitions or (), variables)
    assert not isinstance(coerced, list), coerced
    args = Arguments(schema._schema, coerced)
    args.memo["cursor_key"] = b"golden"
    return compile_operation(schema, document, None, args).sql


def pretty(sql: str) -> str:
    """One clause a line, indented by subquery depth: for reading, PostgreSQL ignores it."""
    out: list[str] = []
    depth = 0
    quoted = False
    i = 0
    breaks = (" from ", " where ", " order by ", " limit ", " cross join ")
    while i < len(sql):
        c = sql[i]
        if c == "'":
            quoted = not quoted
        elif not quoted:
            if c == "(":
                depth += 1
                if sql.startswith("select ", i + 1):
                    out.append("(\n" + "  " * depth)
                    i += 1
                    continue
            elif c == ")":
                depth -= 1
            else:
                for word in breaks:
                    if sql.startswith(word, i):
                        out.append("\n" + "  " * depth + word.strip() + " ")
                        i += len(word)
                        break
                else:
                    out.append(c)
                    i += 1
                    continue
                continue
        out.append(c)
        i += 1
    return "".join(out) + "\n"


def golden(name: str) -> str:
    query, variables = PAGES[name]
    header = f"-- {name}: generated by scripts/golden-sql from tests/golden_sql.py; do not edit.\n"
    return header + pretty(statement(query, variables))


def batches() -> str:
    """Every batch statement of the loaders (graph/batches.py), one `-- name:` block each."""
    header = "-- The loaders' batch statements: generated by scripts/golden-sql; do not edit.\n"
    blocks = [f"-- name: {s.name}\n{s.sql};\n" for s in BATCHES.values()]
    return header + "\n" + "\n".join(blocks)


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name in PAGES:
        (GOLDEN / f"{name}.sql").write_text(golden(name))
        print(f"wrote tests/sql/{name}.sql", file=sys.stderr)
    (GOLDEN / "batches.sql").write_text(batches())
    print("wrote tests/sql/batches.sql", file=sys.stderr)


if __name__ == "__main__":
    main()
