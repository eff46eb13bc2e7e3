"""Shape limits on a document, checked at validation, before any SQL runs.

One pass over the document measures its depth, aliases, directives and root fields. Each
fragment is measured once and its measure reused at every spread, so fragments that spread
each other many times over (a fan-out of 2^30 spreads in a few hundred tokens) cost one visit
each; an undefined or cyclic spread counts as nothing here, and the standard rules report it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)

from graph import errors
from graph.settings import Settings


@dataclass(frozen=True)
class Measure:
    """What a selection set adds up to, fragments expanded."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    # Fields at its own top level (the root fields, for an operation); __typename and the
    # introspection fields are free and not counted.
    fields: int = 0

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.directives + other.directives,
            self.fields + other.fields,
        )

    def with_directives(self, n: int) -> Measure:
        return replace(self, directives=self.directives + n)


class _Measurer:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.done: dict[str, Measure] = {}
        self.entered: set[str] = set()

    def fragment(self, name: str) -> Measure:
        if name in self.done:
            return self.done[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.entered:
            return Measure()  # undefined or cyclic: KnownFragmentNames / NoFragmentCycles
        self.entered.add(name)
        measure = self.selections(definition.selection_set).with_directives(
            len(definition.directives or ())
        )
        self.done[name] = measure
        return measure

    def selections(self, selection_set: SelectionSetNode | None) -> Measure:
        total = Measure()
        for selection in selection_set.selections if selection_set else ():
            directives = len(selection.directives or ())
            if isinstance(selection, FieldNode):
                inner = self.selections(selection.selection_set)
                # Introspection goes as deep as the type system does; graphql-core's
                # MaxIntrospectionDepthRule (one of its specified rules) bounds its lists.
                introspection = selection.name.value.startswith("__")
                depth = 0 if introspection or selection.selection_set is None else inner.depth + 1
                own = Measure(
                    depth,
                    inner.aliases + (1 if selection.alias else 0),
                    inner.directives + directives,
                    0 if introspection else 1,
                )
            elif isinstance(selection, InlineFragmentNode):
                own = self.selections(selection.selection_set).with_directives(directives)
            elif isinstance(selection, FragmentSpreadNode):
                own = self.fragment(selection.name.value).with_directives(directives)
            else:  # pragma: no cover - the three kinds above are all GraphQL has
                continue
            total = total + own
        return total


def measure_operations(document: Any) -> list[tuple[OperationDefinitionNode, Measure]]:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measurer = _Measurer(fragments)
    out = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            measure = measurer.selections(definition.selection_set)
            own = len(definition.directives or ()) + sum(
                len(v.directives or ()) for v in definition.variable_definitions or ()
            )
            out.append((definition, measure.with_directives(own)))
    return out


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The validation rules for `settings`. Build them once per schema: the validation cache
    is keyed by the rule classes, and a class made per request would never hit it."""

    class DocumentLimits(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            try:
                measured = measure_operations(context.document)
            except RecursionError:
                context.report_error(
                    errors.limit_error(
                        "The document is nested too deeply.",
                        errors.QUERY_TOO_DEEP,
                        limit=settings.max_query_depth,
                    )
                )
                return
            for error in _check(measured, settings):
                context.report_error(error)

    return [DocumentLimits]


def _check(
    measured: list[tuple[OperationDefinitionNode, Measure]], settings: Settings
) -> list[GraphQLError]:
    found: list[GraphQLError] = []
    depth = max((m.depth for _, m in measured), default=0)
    if depth > settings.max_query_depth:
        found.append(
            errors.limit_error(
                f"The query's depth is {depth}; at most {settings.max_query_depth} is allowed.",
                errors.QUERY_TOO_DEEP,
                limit=settings.max_query_depth,
            )
        )
    aliases = sum(m.aliases for _, m in measured)
    if aliases > settings.max_aliases:
        found.append(
            errors.limit_error(
                f"The document has {_count(aliases)} aliases; at most {settings.max_aliases} "
                "are allowed.",
                errors.TOO_MANY_ALIASES,
                limit=settings.max_aliases,
            )
        )
    directives = sum(m.directives for _, m in measured)
    if directives > settings.max_directives:
        found.append(
            errors.limit_error(
                f"The document uses {_count(directives)} directives; at most "
                f"{settings.max_directives} are allowed.",
                errors.TOO_MANY_DIRECTIVES,
                limit=settings.max_directives,
            )
        )
    roots = max((m.fields for _, m in measured), default=0)
    if roots > settings.max_root_fields:
        found.append(
            errors.limit_error(
                f"An operation selects {_count(roots)} root fields; at most "
                f"{settings.max_root_fields} are allowed.",
                errors.TOO_MANY_ROOT_FIELDS,
                limit=settings.max_root_fields,
            )
        )
    return found


def _count(n: int) -> str:
    # Fragment fan-out makes numbers with hundreds of digits; say so without printing them.
    return str(n) if n < 10**9 else "more than 10^9"


# Selections one check may visit. Fields of one response key merge, so the walk below goes
# through every merged selection set once; no document within the token limit that is not
# built to defeat this walk comes near.
MAX_SELECTIONS_VISITED = 50_000


def repeated_fields_error(document: DocumentNode, settings: Settings) -> GraphQLError | None:
    """TOO_MANY_FIELDS when a selection set repeats one response key more than
    max_field_repeats times, before graphql-core's rules see the document.

    OverlappingFieldsCanBeMerged compares every pair of fields that share a response key, and
    for each pair every pair below them: 400 copies of `directors { name }` in 7.6 KB cost it
    0.6 s. It compares fields wherever they merge, so the count here is taken the same way:
    over each merged selection set, with inline fragments and fragment spreads flattened (a
    fragment once per set; the rule does not compare a fragment with itself) and the
    sub-selections of same-key fields merged into one set below them."""
    worst, visited = _worst_repeat(document, settings.max_field_repeats)
    limit = worst[2] if worst else settings.max_field_repeats  # the cap that applied
    if visited > MAX_SELECTIONS_VISITED:
        return errors.limit_error(
            "The document expands to too many fields to check.",
            errors.TOO_MANY_FIELDS,
            limit=limit,
        )
    if worst is None:
        return None
    key, count, _ = worst
    return errors.limit_error(
        f"A selection set selects '{key}' {_count(count)} times (counting fragments and merged "
        f"fields); at most {limit} are allowed.",
        errors.TOO_MANY_FIELDS,
        limit=limit,
    )


# Leaf fields (no selection of their own) may repeat this many times more: comparing two
# leaves is cheap, and fragment-heavy clients (a Relay component's fragment each selecting
# `id`) repeat them legitimately. `title` 100 times validates in about 6 ms, where 100 copies
# of `directors { name }` took about 60 ms (bench/validation_cost.py).
LEAF_REPEATS_FACTOR = 5


def _worst_repeat(document: DocumentNode, limit: int) -> tuple[tuple[str, int, int] | None, int]:
    """The first (response key, count, its cap) past the cap, and the selections visited to
    find it. The cap is `limit` for fields with sub-selections, LEAF_REPEATS_FACTOR times it
    for leaves."""
    walk = _MergedSets(document)
    pending: list[tuple[SelectionSetNode, ...]] = [
        (d.selection_set,) for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    done: set[frozenset[int]] = set()
    while pending and walk.visited <= MAX_SELECTIONS_VISITED:
        members = pending.pop()
        key = frozenset(map(id, members))
        if key in done:
            continue  # reached again through a fragment spread elsewhere
        done.add(key)
        for name, fields in walk.fields_by_key(members).items():
            below = tuple(f.selection_set for f in fields if f.selection_set is not None)
            cap = limit if below else limit * LEAF_REPEATS_FACTOR
            if len(fields) > cap:
                return (name, len(fields), cap), walk.visited
            if below:
                pending.append(below)
    return None, walk.visited


class _MergedSets:
    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.visited = 0

    def fields_by_key(self, members: tuple[SelectionSetNode, ...]) -> dict[str, list[FieldNode]]:
        """The fields of selection sets that merge into one, by response key."""
        by_key: dict[str, list[FieldNode]] = {}
        spread: set[str] = set()
        stack = list(members)
        while stack and self.visited <= MAX_SELECTIONS_VISITED:
            for selection in stack.pop().selections:
                self.visited += 1
                if isinstance(selection, FieldNode):
                    name = (selection.alias or selection.name).value
                    by_key.setdefault(name, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    stack.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name not in spread and name in self.fragments:
                        spread.add(name)
                        stack.append(self.fragments[name].selection_set)
        return by_key
