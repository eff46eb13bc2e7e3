"""Reading the README and docs/ the way the doc tests check them: fenced blocks and tables."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```(?!`)(\S*)[ \t]*(.*)$")


@dataclass(frozen=True)
class Block:
    """A fenced block: its language, the words after it (`json response`), its text."""

    page: Path
    line: int
    lang: str
    info: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    found: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{page.relative_to(ROOT)}:{start + 1}: fenced block never closed")
        found.append(Block(page, start + 1, match[1], match[2].strip(), "\n".join(body)))
        i += 1
    return found


def tables(page: Path) -> list[list[list[str]]]:
    """Every pipe table of a page as rows of cells (the header row first, no divider row)."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*page.read_text().splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def tables_headed(*header: str) -> list[tuple[Path, list[str]]]:
    """The rows (with their page) of every docs table whose header starts with these cells."""
    rows: list[tuple[Path, list[str]]] = []
    for page in PAGES:
        for table in tables(page):
            if tuple(table[0][: len(header)]) == header:
                rows += [(page, row) for row in table[1:]]
    return rows


def code_spans(cell: str) -> list[str]:
    """The `code` spans of a table cell, in order."""
    return re.findall(r"`([^`]+)`", cell)


def compact_json(value: object, indent: str = "", width: int = 92) -> str:
    """JSON as the docs show it: a value that fits on one line stays on one line."""
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if len(indent) + len(flat) <= width or not isinstance(value, dict | list) or not value:
        return flat
    inner = indent + "  "
    if isinstance(value, dict):
        items = [
            f"{inner}{json.dumps(k)}: {compact_json(v, inner, width)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    items = [inner + compact_json(v, inner, width) for v in value]
    return "[\n" + ",\n".join(items) + f"\n{indent}]"
