"""Where a value of a JSON document is: its path for people, and the line its text starts on.

Importers check the parsed document and know each value by its path (keys and indexes). Only
a rejected value needs a line, so the text is walked then, from the top along the path,
skipping each value before the wanted one whole with the standard decoder: good files cost
nothing, and the text is read exactly as `json.loads` read it.
"""

from __future__ import annotations

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


def line_of(text: str, path: JsonPath) -> int:
    """The 1-based line of `text` (a JSON document) on which the value at `path` starts.

    A CRLF is one line end, as is an LF; a byte-order mark is skipped. Of duplicate keys the
    last counts, as it does for `json.loads`. Should the path lead nowhere in this text, the
    line of the deepest value it does reach is the best answer there is."""
    pos = _skip_space(text, 1 if text.startswith(_BOM) else 0)
    for step in path:
        member = _member(text, pos, step)
        if member is None:
            break
        pos = member
    return text.count("\n", 0, pos) + 1


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _member(text: str, pos: int, step: str | int) -> int | None:
    """Where the value of key (or index) `step` of the object (or array) at `pos` starts."""
    is_object = text.startswith("{", pos) and isinstance(step, str)
    if not is_object and not (text.startswith("[", pos) and isinstance(step, int)):
        return None
    found = None
    index = 0
    pos = _skip_space(text, pos + 1)
    if text.startswith("}" if is_object else "]", pos):
        return None
    try:
        while True:
            if is_object:
                key, pos = _DECODER.raw_decode(text, pos)
                pos = _skip_space(text, _skip_space(text, pos) + 1)  # past the colon
                hit = key == step
            else:
                hit = index == step
                index += 1
            if hit:
                found = pos
                if not is_object:
                    return found
            _, pos = _DECODER.raw_decode(text, pos)
            pos = _skip_space(text, pos)
            if not text.startswith(",", pos):
                return found
            pos = _skip_space(text, pos + 1)
    except json.JSONDecodeError:
        # Not the text json.loads accepted: give what was found so far.
        return found
