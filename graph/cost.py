"""Query cost: how many nodes a document can return, known before any SQL runs.

Counted the way GitHub counts its node limit: a connection's page size (`first` or `last`,
else the default page of 20) multiplies everything selected under it, so

    films(first: 10) { nodes { directors { filmography(first: 5) { nodes { title } } } } }

costs 10 films + 10 x 10 directors + 10 x 10 x 5 films = 610. A list without a page size
(`Film.genres`, `Film.directors`, `Film.offers`, ...) is a short list of one film's facts, and
counts as 10 elements per parent (an estimate: a film has 1-3 directors, but some dozens of
offers across regions); a list with one (`Film.cast(first:)`, `search(first:)`) as that many,
`nodes(ids:)` and `resolveIds(ids:)` as the ids given, a `jsonLd` document (a JSON value)
as 31 (the object and three short lists), `Film.availability(regions:)` as the regions
given, and any other object as 1. So the graph questions are bounded too: `path` is one
object and its `hops` a list of 10 (a path has at most 6), `similar(first:)` and
`Collaborator.films(first:)` count `first`, `collaborators` and `commonFilms` are
connections. Those four are also searches, whose work grows with the graph and not with what
they return, so each call of one adds SEARCH_COST (below) to what its nodes cost: under a
page of 100 films, `similar(first: 1)` is 100 searches, and costs 100 x 101; under a list
without a page size, each search counts as UNPAGED_SEARCH_FANOUT of them. Connection
plumbing (the connection, its edges, `pageInfo`) and introspection are free. Fragments and
inline fragments count wherever they are spread, with the operation's variables as coerced
for execution. Page sizes outside 0-100 count as the nearest bound: the resolver refuses them
anyway, with a more useful error.

Cost depends on the variables, so it is computed per request at execution, not cached with
the validation result; the fast path (graph/compiled/fast.py) keeps it by what it reads of
them (cost_signature).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
)
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from graph import errors
from graph.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from graph.ratelimit import rate_limited

UNPAGED_LIST_SIZE = 10
# A JSON-LD document: the object and three short lists of its facts (people, genres, offers).
JSON_DOCUMENT_COST = 1 + 3 * UNPAGED_LIST_SIZE

# A graph question is a search in the graph (`path`: a bidirectional walk; `similar`,
# `collaborators`, `commonFilms`: every credit of a person's films, or of the people asked
# about), 10-150 ms each at 1M films against well under 1 ms for a node read by key. Each call
# adds this many points to the nodes it returns, so a search under a page of 100 parents costs
# 10,000 (the default limit) by itself: 100 searches in one document are refused, and the
# default rate limit allows about 1,000 a minute per client.
SEARCH_COST = 100
# A list without a page size (`Film.directors`, `writers`, `SharedPeople.people`) counts as 10
# nodes, but has no bound: a film may have dozens of writers (IMDb's anthologies hundreds). A
# search under it is charged as if the list held this many elements, so that
# `film { writers { collaborators { ... } } }` pays for 50 searches, and a document can ask
# that of at most one film.
UNPAGED_SEARCH_FANOUT = 50
# Per field: the nodes it can return, and the searches it can run.
Cost = tuple[int, int]
SEARCHES = frozenset(
    {("Query", "path"), ("Query", "commonFilms"), ("Film", "similar"), ("Person", "collaborators")}
)

# The cost of the operation running in this task (each operation of a batch runs in a task of
# its own), for an answer made without the extension: one ended by the request's time limit.
OPERATION_COST: ContextVar[int | None] = ContextVar("operation_cost", default=None)


class _Costing:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: VariableValues):
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        # Cost is linear in the multiplier above it, so a fragment is costed once per page size
        # it can see, however many times it is spread.
        self.done: dict[tuple[str, int], Cost] = {}

    def selections(self, selection_set: SelectionSetNode | None, parent: Any, page: int) -> Cost:
        nodes = searches = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                more = self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self.schema.get_type(condition.name.value) if condition else parent
                more = self.selections(selection.selection_set, on, page)
            elif isinstance(selection, FragmentSpreadNode):
                more = self.fragment(selection.name.value, page)
            else:
                continue
            nodes += more[0]
            searches += more[1]
        return nodes, searches

    def fragment(self, name: str, page: int) -> Cost:
        key = (name, page)
        if key not in self.done:
            definition = self.fragments[name]
            on = self.schema.get_type(definition.type_condition.name.value)
            self.done[key] = self.selections(definition.selection_set, on, page)
        return self.done[key]

    def field(self, node: FieldNode, parent: Any, page: int) -> Cost:
        """The nodes and the searches the field can bring, per parent."""
        name = node.name.value
        fields = getattr(parent, "fields", None)
        if name.startswith("__") or not fields or name not in fields:
            return 0, 0
        definition = fields[name]
        if not node.selection_set:
            # A JSON value is a whole document (`jsonLd`: a film with its people, genres and
            # offers), counted as that many nodes; any other scalar is free.
            return (JSON_DOCUMENT_COST if get_named_type(definition.type).name == "JSON" else 0), 0
        try:
            args = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            args = {}  # execution reports the bad argument
        named = get_named_type(definition.type)
        if _is_connection(named):
            page = _size(args.get("first") or args.get("last"), DEFAULT_PAGE_SIZE)
        # The searches under a list of unknown length run once per element: counted as
        # UNPAGED_SEARCH_FANOUT elements, not the 10 its nodes are counted as.
        fanout = None
        if not is_list_type(get_nullable_type(definition.type)):
            count = 1
        elif "first" in definition.args:
            given = args.get("first") or args.get("last")
            count = _size(given, UNPAGED_LIST_SIZE)  # all of them: 10
            fanout = count if isinstance(given, int) else UNPAGED_SEARCH_FANOUT
        elif "ids" in definition.args and isinstance(args.get("ids"), list):
            count = len(args["ids"])
        elif "regions" in definition.args and isinstance(args.get("regions"), list):
            count = len(args["regions"])  # Film.availability: one element per region asked
        elif _is_connection(parent):
            count = page  # edges, nodes
        else:
            count = UNPAGED_LIST_SIZE
            fanout = UNPAGED_SEARCH_FANOUT
        own = 0 if _is_plumbing(named) else count
        nodes, searches = self.selections(node.selection_set, named, page)
        here = 1 if (parent.name, name) in SEARCHES else 0
        return own + count * nodes, here + (count if fanout is None else fanout) * searches


def _size(value: Any, default: int) -> int:
    if not isinstance(value, int):
        return default
    return min(max(value, 0), MAX_PAGE_SIZE)


def _is_connection(type_: Any) -> bool:
    fields = getattr(type_, "fields", None) or {}
    return "edges" in fields and "pageInfo" in fields


def _is_plumbing(type_: Any) -> bool:
    fields = getattr(type_, "fields", None) or {}
    return (
        getattr(type_, "name", None) == "PageInfo"
        or _is_connection(type_)
        or ("cursor" in fields and "node" in fields)
    )


def document_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    inputs: dict[str, Any] | None,
) -> int | None:
    """Nodes the chosen operation can return; None when its variables do not coerce (execution
    then reports them) or there is no such operation."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    # One error is enough to know they do not coerce; execution reports them all (up to its
    # own cap of 50). Uncapped, graphql-core quotes the whole input object in the error of each
    # unknown field, so 80,000 made-up keys in 1 MB took minutes of CPU here.
    variables = get_variable_values(
        schema,
        operation.variable_definitions or (),
        inputs or {},
        max_errors=1,
        hide_suggestions=True,
    )
    if not isinstance(variables, VariableValues):
        return None
    return operation_cost(schema, document, operation, variables)


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: VariableValues,
) -> int:
    """Nodes `operation` of `document` can return, with its variables coerced already."""
    root = schema.get_root_type(operation.operation)
    nodes, searches = _Costing(schema, document, variables).selections(
        operation.selection_set, root, 0
    )
    return nodes + SEARCH_COST * searches


# The arguments whose values (beside whether they are null) the cost reads: page sizes, and
# the lists whose length it counts (`nodes(ids:)`, `resolveIds(ids:)`, `availability(regions:)`).
COSTED_ARGUMENTS = frozenset({"first", "last", "ids", "regions"})


def cost_signature(variables: Mapping[str, Any], costed: frozenset[str]) -> tuple[Any, ...]:
    """What the cost of an operation reads of its coerced variables, given the variables that
    appear in COSTED_ARGUMENTS (graph/compiled/cache.py finds them): their page sizes and the
    length of their lists; of the others, only whether each is given and null (a null where
    an argument may not be null leaves the field's arguments out of its cost)."""
    return tuple(
        (name, _costed(value) if name in costed else value is None)
        for name, value in sorted(variables.items())
    )


def _costed(value: Any) -> Any:
    # Never a bool: True == 1 in a key, and a null page size is not a page size of 1.
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, list):
        return ("list", len(value))
    return "given"


class CostLimit(SchemaExtension):
    """Refuse an operation that can return more than max_cost nodes, before it runs; charge
    its cost to the client when rate limiting is on; report the cost of every
    operation that was costed in `extensions.cost`."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost
        self.cost: int | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        try:
            self.cost = document_cost(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables,
            )
        except RecursionError:
            self.cost = self.max_cost + 1  # inline fragments nested past what Python can walk
        OPERATION_COST.set(self.cost)
        refusal = await self._refusal(context.context)
        if refusal is not None:
            # A result set here is returned as is: execution, and so SQL, never starts.
            context.result = GraphQLExecutionResult(data=None, errors=[refusal])
        yield

    async def _refusal(self, request: Any) -> GraphQLError | None:
        """Why this operation may not run, if it may not: past the cost limit (shared by the
        operations of a batch), or past the client's rate limit."""
        spent = getattr(request, "cost_spent", 0)
        if self.cost is not None and spent + self.cost > self.max_cost:
            what = f"With {spent} granted to this batch, the query" if spent else "The query"
            return errors.limit_error(
                f"{what} costs {self.cost} (the nodes it can return, and {SEARCH_COST} per graph "
                f"search); at most {self.max_cost} is allowed. Ask for smaller pages, fewer nested "
                "lists or fewer searches.",
                errors.QUERY_TOO_COSTLY,
                cost=self.cost,
                limit=self.max_cost,
            )
        limiter = getattr(request, "rate_limiter", None)
        if limiter is not None and self.cost:
            wait = await limiter.charge(request.client, self.cost)
            if wait is not None:
                return rate_limited(limiter, wait)
        if self.cost is not None and hasattr(request, "cost_spent"):
            request.cost_spent = spent + self.cost
        return None

    def get_results(self) -> dict[str, Any]:
        return {} if self.cost is None else {"cost": self.cost}
