"""Where a value of a JSON document is: its path for people, and the line its text starts on.

Importers check the parsed document and know each value by its path (keys and indexes). Only
a rejected value needs a line, so the text is walked then, from the top along the path,
skipping each value before the wanted one whole with the standard decoder: good files cost
nothing, and the text is read exactly as `json.loads` read it.
"""

from __future__ import annotations

import bisect
import json
import re

JsonPath = tuple[str | int, ...]

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, and nothing else
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BOM = "\ufeff"


def describe(path: JsonPath) -> str:
    """`results.US.flatrate[2]`; a key that is not a plain name is quoted: `results["U S"]`."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        elif _NAME.fullmatch(step):
            text += f".{step}" if text else step
        else:
            text += f"[{json.dumps(step, ensure_ascii=False)}]"
    return text or "the document"


class Lines:
    """The lines on which the values of one JSON text start, found on demand.

    A CRLF is one line end, as is an LF; a byte-order mark is skipped. Of duplicate keys the
    last counts, as it does for `json.loads`. Should a path lead nowhere in this text, the
    line of the deepest value it does reach is the best answer there is.

    Each object or array a path passes through is walked once, and where its members start is
    kept, as are the line ends: a file with a reject per entry costs a walk of the text per
    level of depth, not a walk per reject (20,000 bad providers took minutes)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._members: dict[int, dict[str | int, int]] = {}
        self._line_ends: list[int] | None = None

    def line(self, path: JsonPath) -> int:
        """The 1-based line on which the value at `path` starts."""
        text = self._text
        pos = _skip_space(text, 1 if text.startswith(_BOM) else 0)
        for step in path:
            member = self._members_of(pos).get(step)
            if member is None:
                break
            pos = member
        if self._line_ends is None:
            self._line_ends = [m.start() for m in re.finditer("\n", text)]
        return bisect.bisect_left(self._line_ends, pos) + 1

    def _members_of(self, pos: int) -> dict[str | int, int]:
        members = self._members.get(pos)
        if members is None:
            members = self._members[pos] = _members(self._text, pos)
        return members


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _members(text: str, pos: int) -> dict[str | int, int]:
    """Where the value of each key (or index) of the object (or array) at `pos` starts; empty
    for any other value. Keys are str and indexes int, so neither is taken for the other."""
    is_object = text.startswith("{", pos)
    if not is_object and not text.startswith("[", pos):
        return {}
    found: dict[str | int, int] = {}
    index = 0
    pos = _skip_space(text, pos + 1)
    if text.startswith("}" if is_object else "]", pos):
        return found
    try:
        while True:
            if is_object:
                key, pos = _DECODER.raw_decode(text, pos)
                pos = _skip_space(text, _skip_space(text, pos) + 1)  # past the colon
                found[key] = pos  # a later duplicate replaces it, as in json.loads
            else:
                found[index] = pos
                index += 1
            _, pos = _DECODER.raw_decode(text, pos)
            pos = _skip_space(text, pos)
            if not text.startswith(",", pos):
                return found
            pos = _skip_space(text, pos + 1)
    except json.JSONDecodeError:
        # Not the text json.loads accepted: give what was found so far.
        return found
