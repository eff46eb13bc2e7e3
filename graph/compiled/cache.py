"""Compiled statements, cached by document, operation name and the shape of the variables.

Most variables only fill parameters, so only whether each one is null is part of the key: one
statement serves every film page. A few steer the SQL itself: those in `@include`/`@skip`,
the ids of `node`/`nodes` (their type picks the table) and the arguments of fields built by
graph/discovery/ (`films`, `people`: a filter's fields pick the conditions); for those the
key holds the whole value.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ArgumentNode,
    DirectiveNode,
    FieldNode,
    VariableNode,
    Visitor,
    visit,
)

from graph.compiled.sql import Statement
from graph.cost import COSTED_ARGUMENTS
from graph.doccache import LARGEST_SHARE, estimated_size

# Fields whose argument values steer the SQL, wherever they are.
STEERING_FIELDS = frozenset({"node", "nodes", "films", "people"})


def steering_variables(document: Any) -> frozenset[str]:
    """The variables whose values (not just whether they are null) shape the statement."""
    names: set[str] = set()

    class Steering(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            names.update(_variables(node))

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.name.value in STEERING_FIELDS:
                for arg in node.arguments or ():
                    names.update(_variables(arg))

    visit(document, Steering())
    return frozenset(names)


def costed_variables(document: Any) -> frozenset[str]:
    """The variables in the arguments whose values the cost reads (graph/cost.py)."""
    names: set[str] = set()

    class Costed(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            if node.name.value in COSTED_ARGUMENTS:
                names.update(_variables(node))

    visit(document, Costed())
    return frozenset(names)


def _variables(node: Any) -> set[str]:
    found: set[str] = set()

    class Variables(Visitor):
        def enter_variable(self, variable: VariableNode, *_: Any) -> None:
            found.add(variable.name.value)

    visit(node, Variables())
    return found


def signature(variables: Mapping[str, Any], steering: frozenset[str]) -> tuple[Any, ...]:
    return tuple(
        (
            name,
            json.dumps(value, sort_keys=True, default=str) if name in steering else value is None,
        )
        for name, value in sorted(variables.items())
    )


@dataclass(frozen=True)
class Document:
    """What the compiler keeps of one document: the variables that steer its SQL, those its
    cost reads, and the estimated memory of the parsed document (graph/doccache.py), which
    each of its compiled statements keeps alive."""

    steering: frozenset[str]
    size: int
    costed: frozenset[str] = frozenset()


def document_info(text: str, document: Any) -> Document:
    return Document(
        steering_variables(document), estimated_size(text, document), costed_variables(document)
    )


@dataclass(frozen=True)
class Served:
    """What the next request of an operation served compiled needs again, besides its parsed
    document (in the document cache, bounded by bytes): the operation's name (the request may
    leave it out) and what the compiler keeps of the document."""

    name: str | None
    info: Document


# A key whose operation the compiler does not take (a field it does not translate).
NOT_COMPILABLE = object()


# What an entry costs besides its document, its SQL and its key: the Statement, its sources
# and cursor slots (an upper end of what a benchmark page's statement holds).
ENTRY_BYTES = 4_096
# Documents whose steering variables are kept (a few names each, however long the document).
DOCUMENTS = 1_000
# Costs kept for the fast path, by document, operation and what the cost reads of the
# variables (a tuple of a few small values each).
COSTS = 10_000


class StatementCache:
    """Least recently used first out, within a budget of bytes, as graph/doccache.py keeps
    documents. A statement holds the field nodes it reads its arguments from, and through
    their locations every token of the parsed document: a document of comments is a few
    tokens for the parser's limit and megabytes of them in memory, so an entry counts its
    document's size, and a cache bounded by entries alone would hold gigabytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.documents: OrderedDict[bytes, Document] = OrderedDict()
        self.statements: OrderedDict[Any, tuple[Statement | object, int]] = OrderedDict()
        # (document digest, operation name as given) of operations compiled and served:
        # graph/compiled/fast.py answers their next requests.
        self.served: OrderedDict[tuple[bytes, str | None], Served] = OrderedDict()
        self.fast_answers = 0  # requests the fast path answered
        # (document digest, operation name, graph.cost.cost_signature): the operation's cost.
        self.costs: OrderedDict[tuple[Any, ...], int] = OrderedDict()

    def document(self, digest: bytes, text: str, document: Any) -> Document:
        info = self.documents.get(digest)
        if info is None:
            info = self.documents[digest] = document_info(text, document)
            if len(self.documents) > DOCUMENTS:
                self.documents.popitem(last=False)
        else:
            self.documents.move_to_end(digest)
        return info

    def get(self, key: Any) -> Statement | object | None:
        found = self.statements.get(key)
        if found is None:
            return None
        self.statements.move_to_end(key)
        return found[0]

    def put(self, key: Any, value: Statement | object, info: Document) -> None:
        size = ENTRY_BYTES + len(repr(key))
        if isinstance(value, Statement):
            size += info.size + 2 * len(value.sql)
        if size > self.max_bytes // LARGEST_SHARE:
            return  # compiled again each time, as its document is parsed again each time
        old = self.statements.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self.statements[key] = (value, size)
        self.size += size
        while self.size > self.max_bytes and self.statements:
            _, (_, dropped) = self.statements.popitem(last=False)
            self.size -= dropped

    def learn(self, digest: bytes, operation_name: str | None, served: Served) -> None:
        """An operation parsed, validated and served compiled: the next ones may skip ahead."""
        key = (digest, operation_name)
        self.served[key] = served
        self.served.move_to_end(key)
        if len(self.served) > DOCUMENTS:
            self.served.popitem(last=False)

    def known(self, digest: bytes, operation_name: str | None) -> Served | None:
        return self.served.get((digest, operation_name))

    def cost(self, key: tuple[Any, ...]) -> int | None:
        return self.costs.get(key)

    def learn_cost(self, key: tuple[Any, ...], cost: int) -> None:
        self.costs[key] = cost
        if len(self.costs) > COSTS:
            self.costs.popitem(last=False)
