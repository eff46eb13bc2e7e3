"""Every GraphQL example in the README and docs/ gives, against the demo data, the answer shown.

An example is a ```graphql block, then optionally a ```json variables block, then a
```json response block with the whole response body. A shortened answer says so where it is
shortened, in one of two ways this test understands: a string ending in "…" stands for any
string that starts with the text before it, and a list whose last item is "… N more" stands
for the items shown followed by exactly N more.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from graphql import parse, print_ast

from tests.markdown import PAGES, ROOT, Block, blocks, compact_json

_MORE = re.compile(r"^… (\d+) more$")


def examples() -> list[tuple[Block, dict[str, Any] | None, Any]]:
    found: list[tuple[Block, dict[str, Any] | None, Any]] = []
    for page in PAGES:
        page_blocks = blocks(page)
        for i, block in enumerate(page_blocks):
            if block.lang != "graphql":
                continue
            following = page_blocks[i + 1 : i + 3]
            variables = None
            if following and following[0].lang == "json" and following[0].info == "variables":
                variables = json.loads(following[0].text)
                following = following[1:]
            assert following and following[0].lang == "json" and following[0].info == "response", (
                f"{block.where}: a GraphQL example needs a ```json response block after it"
            )
            found.append((block, variables, json.loads(following[0].text)))
    return found


def mismatches(shown: Any, actual: Any, path: str = "$") -> list[str]:
    """Where the shown answer differs from the actual one, honouring the two shortenings."""
    if isinstance(shown, str) and shown.endswith("…"):
        ok = isinstance(actual, str) and actual.startswith(shown[:-1])
        return [] if ok else [f"{path}: shown {shown!r}, got {actual!r}"]
    if isinstance(shown, dict) and isinstance(actual, dict):
        if shown.keys() != actual.keys():
            return [f"{path}: shown keys {sorted(shown)}, got {sorted(actual)}"]
        return [m for k in shown for m in mismatches(shown[k], actual[k], f"{path}.{k}")]
    if isinstance(shown, list) and isinstance(actual, list):
        more = _MORE.match(shown[-1]) if shown and isinstance(shown[-1], str) else None
        if more:
            shown = shown[:-1]
            expected_length = len(shown) + int(more[1])
        else:
            expected_length = len(shown)
        if len(actual) != expected_length:
            return [f"{path}: shown {expected_length} items, got {len(actual)}"]
        return [m for i, s in enumerate(shown) for m in mismatches(s, actual[i], f"{path}[{i}]")]
    if type(shown) is not type(actual) or shown != actual:
        return [f"{path}: shown {shown!r}, got {actual!r}"]
    return []


EXAMPLES = examples()


def test_the_docs_have_examples_and_the_film_page_is_one() -> None:
    """The README's first example is the film page, as examples/film-page.graphql has it."""
    assert len(EXAMPLES) >= 5
    first, variables, _ = EXAMPLES[0]
    assert first.page.name == "README.md"
    film_page = (ROOT / "examples" / "film-page.graphql").read_text()
    assert print_ast(parse(first.text)) == print_ast(parse(film_page))
    assert variables == {"slug": "refusenik-2007", "region": "US"}


@pytest.mark.parametrize(
    ("block", "variables", "shown"),
    EXAMPLES,
    ids=[block.where for block, _, _ in EXAMPLES],
)
async def test_example_gives_the_answer_shown(
    client: httpx.AsyncClient, block: Block, variables: dict[str, Any] | None, shown: Any
) -> None:
    response = await client.post(
        "/graphql", json={"query": block.text, "variables": variables or {}}
    )
    actual = response.json()
    # Which path served it (development says, production does not): not part of the answer.
    assert actual.get("extensions", {}).pop("execution", "compiled") in ("compiled", "resolvers")
    assert mismatches(shown, actual) == [], f"{block.where} answers:\n{compact_json(actual)}"


@pytest.mark.parametrize(
    ("shown", "actual", "problem"),
    [
        ({"a": "Refusenik"}, {"a": "Refusenik"}, None),
        ({"a": "Refu…"}, {"a": "Refusenik"}, None),
        ({"a": "Refo…"}, {"a": "Refusenik"}, "$.a"),
        ({"a": [1, "… 2 more"]}, {"a": [1, 2, 3]}, None),
        ({"a": [1, "… 1 more"]}, {"a": [1, 2, 3]}, "shown 2 items, got 3"),
        ({"a": [1, 2]}, {"a": [1, 2, 3]}, "shown 2 items, got 3"),
        ({"a": 1}, {"a": 1, "b": 2}, "keys"),
        ({"a": 1}, {"a": 1.0}, "$.a"),
        ({"a": None}, {"a": "x"}, "$.a"),
    ],
)
def test_shortened_answers_match_only_what_they_stand_for(
    shown: Any, actual: Any, problem: str | None
) -> None:
    found = mismatches(shown, actual)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found
