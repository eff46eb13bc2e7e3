"""The differential comparison of the two execution paths: one request sent to a server running
`execution="compiled"` and to one running `execution="resolvers"`, and their answers compared
(tests/test_compiled_diff.py, bench/difftest.py).

Answers must be identical: the HTTP status, `data`, every error (message, path, locations,
every extension) and `extensions.cost`. Only `extensions.execution` (which path served the
answer) is left out, and the `requestId` of an INTERNAL error, which is random per request by
design (its presence is still compared). The requests compared are generated ones
(tests/documents.py) and the corpus: every example (examples/*.graphql, the ```graphql
blocks of the README and docs/ with their variables) and every GraphQL document in the test
modules, its variables filled from the same pool of values.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    is_input_type,
    parse,
    type_from_ast,
    validate,
    visit,
)
from graphql.language import ArgumentNode, ObjectFieldNode, VariableNode
from hypothesis import HealthCheck, Phase

from tests.documents import Generated, documents
from tests.markdown import PAGES, ROOT, blocks
from tests.values import Arguments, Chooser, Values

PATHS = ("compiled", "resolvers")
IGNORED_EXTENSIONS = ("execution",)
MAX_DIFFERENCES = 12
# Error codes that say the answer was cut short by load, not what the paths compute.
LOAD_CODES = frozenset({"TIMEOUT", "SERVICE_UNAVAILABLE"})
RETRIES = 3


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


@dataclass
class Outcome:
    """One request and the answers of both paths."""

    request: Generated
    origin: str
    compiled: Answer
    resolvers: Answer

    @property
    def differences(self) -> list[str]:
        return differences(comparable(self.compiled), comparable(self.resolvers))


def comparable(answer: Answer) -> dict[str, Any]:
    """What must be identical between the paths: the status and the body less what only says
    which path answered (and an INTERNAL error's random request id)."""
    body = copy.deepcopy(answer.body)
    extensions = body.get("extensions")
    if isinstance(extensions, dict):
        for key in IGNORED_EXTENSIONS:
            extensions.pop(key, None)
        if not extensions:
            del body["extensions"]
    for error in body.get("errors") or []:
        ext = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(ext, dict) and "requestId" in ext:
            ext["requestId"] = "<random>"
    return {"status": answer.status, "body": body}


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def differences(compiled: Any, resolvers: Any, path: str = "$") -> list[str]:
    """The places where two JSON values differ, at most MAX_DIFFERENCES, deepest first found:
    `path: compiled <value> != resolvers <value>`. Key order and types count (1 != 1.0 and
    True != 1, as JSON tells them apart)."""
    out: list[str] = []
    _walk(compiled, resolvers, path, out)
    return out


def _walk(a: Any, b: Any, path: str, out: list[str]) -> None:
    if len(out) >= MAX_DIFFERENCES:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            if set(a) == set(b):
                out.append(
                    f"{path}: keys in another order: compiled {list(a)}, resolvers {list(b)}"
                )
            else:
                only_a = {k: v for k, v in a.items() if k not in b}
                only_b = {k: v for k, v in b.items() if k not in a}
                out.append(
                    f"{path}: only in compiled {_short(only_a)}, only in resolvers {_short(only_b)}"
                )
        for key in a:
            if key in b:
                _walk(a[key], b[key], f"{path}.{key}", out)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: compiled has {len(a)} items, resolvers {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _walk(x, y, f"{path}[{i}]", out)
        return
    if type(a) is not type(b) or a != b:
        out.append(f"{path}: compiled {_short(a)} != resolvers {_short(b)}")


def served_by(body: dict[str, Any]) -> str | None:
    """Which path served an answer, as `extensions.execution` says (None when it does not):
    the value itself when it is a string, else its `path` member."""
    extensions = body.get("extensions")
    if not isinstance(extensions, dict) or "execution" not in extensions:
        return None
    said = extensions["execution"]
    if isinstance(said, dict):
        said = said.get("path")
    return str(said)


def report(outcome: Outcome, seed: str) -> str:
    """A failure message that reproduces the difference."""
    request = outcome.request
    lines = [
        f"The compiled path and the resolvers disagree ({outcome.origin}; {seed}).",
        "document:",
        request.document,
        f"variables: {json.dumps(request.variables, ensure_ascii=False)}",
        f"operationName: {request.operation_name!r}",
        "differences (compiled != resolvers):",
        *[f"  {d}" for d in outcome.differences],
        f"compiled answer (HTTP {outcome.compiled.status}):",
        _short(outcome.compiled.body, 4000),
        f"resolvers answer (HTTP {outcome.resolvers.status}):",
        _short(outcome.resolvers.body, 4000),
    ]
    return "\n".join(lines)


def _under_load(answer: Answer) -> bool:
    codes = {(e.get("extensions") or {}).get("code") for e in answer.body.get("errors") or []}
    return bool(codes & LOAD_CODES)


class Pair:
    """Clients of the two servers, one per path, that send each request to both."""

    def __init__(self, compiled_url: str, resolvers_url: str) -> None:
        self.clients = {
            "compiled": httpx.Client(base_url=compiled_url, timeout=30),
            "resolvers": httpx.Client(base_url=resolvers_url, timeout=30),
        }
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.retried = 0
        # Requests the resolvers answered in more than one way.
        self.unstable: list[Generated] = []

    def post(self, path: str, request: Generated) -> Answer:
        payload: dict[str, Any] = {"query": request.document, "variables": request.variables}
        if request.operation_name is not None:
            payload["operationName"] = request.operation_name
        response = self.clients[path].post("/graphql", json=payload)
        body = response.json()
        assert isinstance(body, dict), response.text
        return Answer(response.status_code, body)

    def run(self, request: Generated, origin: str) -> Outcome:
        """Both answers. An answer cut short by load (a TIMEOUT or SERVICE_UNAVAILABLE error
        on either side, on a machine that other work slows down) is asked for again, both
        sides, up to RETRIES times; a difference that remains is reported as any other."""
        for _ in range(RETRIES):
            outcome = self.run_once(request, origin)
            if not (_under_load(outcome.compiled) or _under_load(outcome.resolvers)):
                break
            self.retried += 1
        if outcome.differences:
            # The resolvers do not always answer alike: when an error nulls a parent, the
            # errors of its other fields are reported or not as the tasks happen to finish
            # (graphql-core drops what is pending). Any of their answers is the reference.
            # When the compiled server fell back to its resolvers, its answer is as unstable,
            # so it is asked again too, and any pair that agrees will do.
            compiled = [outcome.compiled]
            resolvers = [outcome.resolvers]
            fell_back = served_by(outcome.compiled.body) == "resolvers"
            for _ in range(RETRIES):
                resolvers.append(self.post("resolvers", request))
                if fell_back:
                    compiled.append(self.post("compiled", request))
                for a in compiled:
                    for b in resolvers:
                        if not differences(comparable(a), comparable(b)):
                            self.unstable.append(request)
                            return Outcome(request, origin, a, b)
        return outcome

    def run_once(self, request: Generated, origin: str) -> Outcome:
        # Both at once: while one server waits on the database, the other can work.
        compiled = self.pool.submit(self.post, "compiled", request)
        resolvers = self.post("resolvers", request)
        return Outcome(request, origin, compiled=compiled.result(), resolvers=resolvers)

    def close(self) -> None:
        self.pool.shutdown()
        for client in self.clients.values():
            client.close()


@dataclass
class Tally:
    """What a run compared: counts, mismatches, and which path served the compiled server's
    answers."""

    compared: int = 0
    invalid: int = 0
    errors: int = 0
    # Answers with data in at least one root field.
    answered: int = 0
    mismatches: list[Outcome] = field(default_factory=list)
    served: dict[str, int] = field(default_factory=dict)
    resolvers_served: dict[str, int] = field(default_factory=dict)
    # Error codes in the resolvers' answers: which refusals the run compared.
    codes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.compared += 1
        data = outcome.resolvers.body.get("data")
        if isinstance(data, dict) and any(v is not None for v in data.values()):
            self.answered += 1
        errors = outcome.resolvers.body.get("errors") or []
        if errors:
            self.errors += 1
        for error in errors:
            code = str((error.get("extensions") or {}).get("code"))
            self.codes[code] = self.codes.get(code, 0) + 1
        said = served_by(outcome.compiled.body)
        if said is not None:
            self.served[said] = self.served.get(said, 0) + 1
        said = served_by(outcome.resolvers.body)
        if said is not None:
            self.resolvers_served[said] = self.resolvers_served.get(said, 0) + 1
        if outcome.differences:
            self.mismatches.append(outcome)

    @property
    def compiled_share(self) -> float | None:
        """The share of the compiled server's answers served by the compiled path, among
        those that said which path served them; None when none said."""
        said = sum(self.served.values())
        return self.served.get("compiled", 0) / said if said else None

    def summary(self) -> str:
        share = self.compiled_share
        return (
            f"compared={self.compared} mismatches={len(self.mismatches)} "
            f"invalid_generated={self.invalid} with_data={self.answered} "
            f"with_errors={self.errors} "
            f"error_codes={dict(sorted(self.codes.items()))} "
            f"served_by={self.served or 'not reported'} "
            f"compiled_share={'n/a' if share is None else f'{share:.2f}'}"
        )


def run_generated(
    pair: Pair,
    schema: GraphQLSchema,
    values: Values,
    tally: Tally,
    *,
    count: int,
    seed: int,
    on_mismatch: Callable[[Outcome], None],
    shrink: bool,
) -> None:
    """Compare `count` documents drawn by hypothesis from `seed`. on_mismatch raises to stop
    (then, with `shrink`, hypothesis looks for a smaller document that still differs, and
    reports that one) or records and lets the run go on."""

    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink] if shrink else [Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(request=documents(schema, values))
    def one(request: Generated) -> None:
        outcome = check(pair, schema, values, tally, request, "generated")
        if outcome is not None and outcome.differences:
            on_mismatch(outcome)

    one()


def check(
    pair: Pair,
    schema: GraphQLSchema,
    values: Values,
    tally: Tally,
    request: Generated,
    origin: str,
) -> Outcome | None:
    """Validate a request with graphql-core, send it to both paths, count it, keep its
    cursors; the outcome, or None for a document that does not validate (not sent)."""
    try:
        errors: list[GraphQLError] = validate(schema, parse(request.document))
    except GraphQLError:
        errors = [GraphQLError("syntax")]
    if errors:
        tally.invalid += 1
        return None
    outcome = pair.run(request, origin)
    tally.add(outcome)
    values.harvest(outcome.resolvers.body.get("data"))
    return outcome


# -- the corpus: examples, docs and the documents of the test modules --------------------------

_VARIABLES_COMMENT = re.compile(r"^#\s*Variables:\s*(\{.*\})\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Written:
    """A document written by hand, where it comes from, and its variables when it has them."""

    origin: str
    document: str
    variables: dict[str, Any] | None = None


def examples() -> list[Written]:
    """examples/*.graphql (with the variables a `# Variables: {...}` comment gives), and every
    ```graphql block of the README and docs/ with the ```json variables block after it."""
    found: list[Written] = []
    for path in sorted((ROOT / "examples").glob("*.graphql")):
        text = path.read_text()
        given = _VARIABLES_COMMENT.search(text)
        variables = json.loads(given[1]) if given else None
        found.append(Written(str(path.relative_to(ROOT)), text, variables))
    for page in PAGES:
        page_blocks = blocks(page)
        for i, block in enumerate(page_blocks):
            if block.lang != "graphql":
                continue
            after = page_blocks[i + 1] if i + 1 < len(page_blocks) else None
            variables = None
            if after is not None and after.lang == "json" and after.info == "variables":
                variables = json.loads(after.text)
            found.append(Written(block.where, block.text, variables))
    return found


def documents_in_tests(schema: GraphQLSchema, folder: Path = ROOT / "tests") -> list[Written]:
    """Every string constant of the test modules that is a GraphQL document with an operation
    and validates against the schema (the limits aside: those are the server's to refuse)."""
    found: dict[str, Written] = {}
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value
            if "{" not in text or text in found:
                continue
            try:
                document = parse(text)
            except GraphQLError:
                continue
            if not any(isinstance(d, OperationDefinitionNode) for d in document.definitions):
                continue
            if validate(schema, document):
                continue
            found[text] = Written(f"{path.relative_to(ROOT)}:{node.lineno}", text)
    return list(found.values())


def requests_for(
    schema: GraphQLSchema, written: Written, values: Values, choose: Chooser
) -> list[Generated]:
    """The requests that run a written document: one per operation (named when there are
    several), with its own variables or ones filled from the pool by what they feed."""
    document = parse(written.document)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    out = []
    for operation in operations:
        name = operation.name.value if operation.name else None
        if len(operations) > 1 and name is None:
            continue  # an anonymous operation among others cannot be chosen
        variables = written.variables
        if variables is None:
            variables = fill_variables(schema, document, operation, values, choose)
        out.append(Generated(written.document, variables, name if len(operations) > 1 else None))
    return out


def fill_variables(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    values: Values,
    choose: Chooser,
) -> dict[str, Any]:
    """Values for an operation's variables, chosen by the argument each one feeds."""
    uses = variable_uses(schema, document)
    arguments = Arguments(schema, values, choose)
    variables: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        type_ = type_from_ast(schema, definition.type)
        if type_ is None:
            continue
        if not is_input_type(type_):
            continue
        if definition.default_value is not None and choose.chance(0.3):
            continue
        parent, field_name, argument = uses.get(name, ("", "", name))
        variables[name] = arguments.value(parent, field_name, argument, type_)
        if variables[name] is None and isinstance(type_, GraphQLNonNull):
            del variables[name]
    return variables


def variable_uses(schema: GraphQLSchema, document: DocumentNode) -> dict[str, tuple[str, str, str]]:
    """Where each variable is first used: (parent type, field, argument or input field)."""
    type_info = TypeInfo(schema)
    uses: dict[str, tuple[str, str, str]] = {}
    names: list[str] = []

    class Uses(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            names.append(node.name.value)

        def leave_argument(self, node: ArgumentNode, *_: Any) -> None:
            names.pop()

        def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
            names.append(node.name.value)

        def leave_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
            names.pop()

        def enter_variable(self, node: VariableNode, *_: Any) -> None:
            if not names:
                return  # a variable definition
            parent = type_info.get_parent_type()
            field_def = type_info.get_field_def()
            field_name = ""
            if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) and field_def:
                field_name = next((k for k, v in parent.fields.items() if v is field_def), "")
            uses.setdefault(node.name.value, (parent.name if parent else "", field_name, names[-1]))

    visit(document, TypeInfoVisitor(type_info, Uses()))
    return uses


def corpus(schema: GraphQLSchema) -> list[Written]:
    return [*examples(), *documents_in_tests(schema)]
