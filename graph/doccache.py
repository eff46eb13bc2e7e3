"""Parsed documents and their validation errors, kept for the requests that send the same
document again, within a budget of bytes rather than of entries.

What an entry holds grows with the document's tokens, not its length: graphql-core keeps every
token (linked to the next) and a node and a location per token, about 400-620 bytes each. A
token-dense document of 16 KB held about 1 MB, so 1,000 distinct ones took a server from 97 MB
to 1.1 GB under caches bounded by entries (bench/hostile_load.py memory).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from graphql import DocumentNode, GraphQLError

# Upper ends of what was measured (tests/test_limits.py checks them against tracemalloc): per
# token of the parsed document (its token, node and location: 400-620 bytes), per character
# of its text (kept as the key, and again as a string literal's or a comment's value), and
# per validation error.
BYTES_PER_TOKEN = 640
BYTES_PER_CHAR = 3
BYTES_PER_ERROR = 4_096
# A document is not kept when it alone would take more than this share of the budget: one
# huge document must not push out everything the other clients send again and again.
LARGEST_SHARE = 16


@dataclass
class Entry:
    document: DocumentNode
    size: int
    errors: list[GraphQLError] | None = None  # None until validated


def estimated_size(text: str, document: DocumentNode) -> int:
    """An upper estimate of the memory an entry for this document holds."""
    tokens = 0
    token = document.loc.start_token if document.loc else None
    while token is not None:
        tokens += 1
        token = token.next
    return BYTES_PER_CHAR * len(text) + BYTES_PER_TOKEN * tokens


class DocumentCache:
    """Least recently used entries, dropped once their estimated sizes add up past max_bytes.
    Shared by the requests of one schema (so of one set of parse options and rules)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        # Lookups by what they saved (for /metrics): parsing, and validating.
        self.parse_hits = self.parse_misses = 0
        self.validation_hits = self.validation_misses = 0

    def get(self, text: str) -> Entry | None:
        entry = self.entries.get(text)
        if entry is not None:
            self.entries.move_to_end(text)
        return entry

    def put(self, text: str, document: DocumentNode) -> None:
        size = estimated_size(text, document)
        if text in self.entries or size > self.max_bytes // LARGEST_SHARE:
            return
        self.entries[text] = Entry(document, size)
        self.size += size
        self._evict()

    def validated(self, text: str, errors: list[GraphQLError]) -> None:
        entry = self.entries.get(text)
        if entry is None or entry.errors is not None:
            return
        entry.errors = errors
        extra = BYTES_PER_ERROR * len(errors)
        entry.size += extra
        self.size += extra
        self._evict()

    def _evict(self) -> None:
        while self.size > self.max_bytes and self.entries:
            _, dropped = self.entries.popitem(last=False)
            self.size -= dropped.size
