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
    DirectiveNode,
    FieldNode,
    VariableNode,
    Visitor,
    visit,
)

from graph.compiled.sql import Statement

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
    """What the compiler keeps of one document: the variables that steer its SQL."""

    steering: frozenset[str]


def document_info(document: Any) -> Document:
    return Document(steering_variables(document))


@dataclass(frozen=True)
class Served:
    """What the next request of an operation served compiled needs again, besides its parsed
    document (in the document cache, bounded by bytes): the operation's name (the request may
    leave it out) and what the compiler keeps of the document."""

    name: str | None
    info: Document


# A key whose operation the compiler does not take (a field it does not translate).
NOT_COMPILABLE = object()


class StatementCache:
    """Least recently used first out, bounded by entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.documents: OrderedDict[bytes, Document] = OrderedDict()
        self.statements: OrderedDict[Any, Statement | object] = OrderedDict()
        # (document digest, operation name as given) of operations compiled and served:
        # graph/compiled/fast.py answers their next requests.
        self.served: OrderedDict[tuple[bytes, str | None], Served] = OrderedDict()
        self.fast_answers = 0  # requests the fast path answered

    def document(self, digest: bytes, document: Any) -> Document:
        info = self.documents.get(digest)
        if info is None:
            info = self.documents[digest] = document_info(document)
            if len(self.documents) > self.size:
                self.documents.popitem(last=False)
        else:
            self.documents.move_to_end(digest)
        return info

    def get(self, key: Any) -> Statement | object | None:
        found = self.statements.get(key)
        if found is not None:
            self.statements.move_to_end(key)
        return found

    def put(self, key: Any, value: Statement | object) -> None:
        self.statements[key] = value
        if len(self.statements) > self.size:
            self.statements.popitem(last=False)

    def learn(self, digest: bytes, operation_name: str | None, served: Served) -> None:
        """An operation parsed, validated and served compiled: the next ones may skip ahead."""
        key = (digest, operation_name)
        self.served[key] = served
        self.served.move_to_end(key)
        if len(self.served) > self.size:
            self.served.popitem(last=False)

    def known(self, digest: bytes, operation_name: str | None) -> Served | None:
        return self.served.get((digest, operation_name))
