"""The plan of one operation: its fields as the response will hold them.

A validated document becomes a tree of `Selected` fields, per the GraphQL spec's CollectFields:
fragments (named and inline) inlined where their type condition holds, `@include`/`@skip`
applied, fields with the same response key merged. Under a field of an interface or union
type, the sub-selections are collected once for every object type the field can return, so
SQL can pick them by the row's type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
)
from graphql.execution.values import VariableValues, get_directive_values


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class NotCompilable(Exception):
    """The operation uses something the compiler does not translate: the resolvers serve it."""


@dataclass(frozen=True)
class Selected:
    """One response key: the field behind it, its first node (for its arguments), and the
    sub-selections for each object type the field may return (empty for a leaf)."""

    key: str
    name: str
    node: FieldNode
    definition: GraphQLField
    children: Mapping[str, tuple[Selected, ...]]


def operation_of(document: Any, operation_name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for op in operations:
        if operation_name is None or (op.name is not None and op.name.value == operation_name):
            return op
    raise NotCompilable("no such operation")


def plan(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: VariableValues,
) -> tuple[Selected, ...]:
    """The root fields of the operation, with everything below them."""
    operation = operation_of(document, operation_name)
    if operation.operation != OperationType.QUERY:
        raise NotCompilable("only queries are compiled")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.query_type
    assert root is not None
    return _Planner(schema, fragments, variables).fields([operation.selection_set], root)


class _Planner:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def fields(
        self, sets: list[SelectionSetNode], parent: GraphQLObjectType
    ) -> tuple[Selected, ...]:
        grouped: dict[str, list[FieldNode]] = {}
        for selection_set in sets:
            self._collect(selection_set, parent, grouped, set())
        out = []
        for key, nodes in grouped.items():
            name = nodes[0].name.value
            if name == "__typename":
                out.append(Selected(key, name, nodes[0], _TYPENAME, {}))
                continue
            if name.startswith("__"):
                raise NotCompilable("introspection")
            definition = parent.fields[name]
            named = get_named_type(definition.type)
            sub = [n.selection_set for n in nodes if n.selection_set is not None]
            children: dict[str, tuple[Selected, ...]] = {}
            if sub:
                if is_abstract_type(named):
                    types = self.schema.get_possible_types(named)
                else:
                    types = [named]
                for t in types:
                    children[t.name] = self.fields(sub, t)
            out.append(Selected(key, name, nodes[0], definition, children))
        return tuple(out)

    def _collect(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLObjectType,
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self._applies(condition.name.value, parent):
                    self._collect(selection.selection_set, parent, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visited:
                    continue
                visited.add(name)
                fragment = self.fragments[name]
                if self._applies(fragment.type_condition.name.value, parent):
                    self._collect(fragment.selection_set, parent, grouped, visited)

    def _applies(self, condition: str, parent: GraphQLObjectType) -> bool:
        if condition == parent.name:
            return True
        conditional = self.schema.get_type(condition)
        return is_abstract_type(conditional) and self.schema.is_sub_type(conditional, parent)

    def _included(self, node: Any) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip is not None and skip["if"]:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return include is None or bool(include["if"])


_TYPENAME = GraphQLField(type_=None)  # type: ignore[arg-type]
