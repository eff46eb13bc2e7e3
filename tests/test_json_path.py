"""The line a JSON value starts on, found from its path, on texts as people and tools write
them; and the path as a reject names it."""

from __future__ import annotations

import json

import pytest

from graph.importers.json_path import JsonPath, Lines, describe

WATCH = """{
  "id": 550,
  "results": {
    "GB": {
      "link": "https://www.themoviedb.org/movie/550/watch?locale=GB",
      "rent": [{"provider_id": 2}, {"provider_id": 3}]
    },
    "US": {
      "link": "https://www.themoviedb.org/movie/550/watch?locale=US",
      "flatrate": [
        {
          "provider_id": 8
        },
        {"provider_id": 9},

        {
          "provider_id": "x"
        }
      ]
    }
  }
}
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ((), 1),
        (("id",), 2),
        (("results",), 3),
        (("results", "GB"), 4),
        (("results", "GB", "rent", 1), 6),
        (("results", "US"), 8),
        (("results", "US", "flatrate"), 10),
        (("results", "US", "flatrate", 0), 11),
        (("results", "US", "flatrate", 0, "provider_id"), 12),
        (("results", "US", "flatrate", 1), 14),
        (("results", "US", "flatrate", 2), 16),
        (("results", "US", "flatrate", 2, "provider_id"), 17),
    ],
)
def test_pretty_printed_text(path: JsonPath, line: int) -> None:
    assert Lines(WATCH).line(path) == line


def test_crlf_line_ends_and_a_byte_order_mark() -> None:
    text = "\ufeff" + WATCH.replace("\n", "\r\n")
    assert Lines(text).line(("results", "US", "flatrate", 2)) == 16
    assert Lines(text).line(()) == 1


def test_the_value_not_the_key_and_values_spanning_lines() -> None:
    text = '{"a":\n\n  [1,\n 2],\n"b"\n:\n\t"x"}'
    assert Lines(text).line(("a",)) == 3
    assert Lines(text).line(("a", 1)) == 4
    assert Lines(text).line(("b",)) == 7


def test_siblings_holding_brackets_braces_quotes_and_newlines_in_strings() -> None:
    # Strings that look like structure, escaped quotes and an escaped line end: none of them
    # may be taken for the end of a value or a line.
    text = json.dumps(
        {
            "a": ["]", "}", '"', "\\", "\n", "[{"],
            "b": {"}": "{", 'x"y': [[], {}]},
            "c": 1,
        },
        indent=1,
    )
    assert Lines(text).line(("c",)) == text.splitlines().index(' "c": 1') + 1
    assert Lines(text).line(("b", 'x"y', 1)) == text.splitlines().index("   {}") + 1


def test_keys_written_with_escapes_and_non_ascii() -> None:
    text = '{\n"\\u0055S": 1,\n"Fran\\u00e7ais": 2,\n"Français": 3\n}'
    assert Lines(text).line(("US",)) == 2
    # Two spellings of one key: json.loads keeps the last, and so does the line.
    assert Lines(text).line(("Français",)) == 4


def test_duplicate_keys_name_the_value_json_loads_kept() -> None:
    text = '{"id": 1,\n "id": "x"}'
    assert json.loads(text)["id"] == "x"
    assert Lines(text).line(("id",)) == 2


def test_compact_text_is_all_line_1() -> None:
    text = json.dumps(json.loads(WATCH))
    assert Lines(text).line(("results", "US", "flatrate", 2, "provider_id")) == 1


def test_a_path_that_leads_nowhere_gives_the_deepest_value_reached() -> None:
    assert Lines(WATCH).line(("results", "FR", "rent", 0)) == 3
    assert Lines(WATCH).line(("results", "US", "flatrate", 7)) == 10
    assert Lines(WATCH).line(("id", 0)) == 2  # a number has no members
    assert Lines(WATCH).line(("results", 0)) == 3  # an object has no indexes
    assert Lines('{"a": []}').line(("a", 0)) == 1
    assert Lines('{"a": {}}').line(("a", "b")) == 1


def test_describe_quotes_keys_that_are_not_plain_names() -> None:
    assert describe(("results", "US", "flatrate", 2)) == "results.US.flatrate[2]"
    assert describe(("results", 4)) == "results[4]"
    assert describe(("results", "U.S", "rent")) == 'results["U.S"].rent'
    assert describe(("results", 'a "b"')) == 'results["a \\"b\\""]'
    assert describe(()) == "the document"
