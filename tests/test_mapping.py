"""graph/mapping.py says how every field of the schema reaches its data."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import GraphQLObjectType, build_schema

from graph import db
from graph.compiled.arguments import EMBEDDED_PARAMETERS, EMBEDDED_SCOPES
from graph.mapping import MODEL, QUERY, RESOLVER_ONLY, ROOT_PAGES, ROWS, Embedded

SDL = (Path(__file__).parent.parent / "schema.graphql").read_text()
# Connection plumbing, the same for every connection: graph/pagination.py.
PLUMBING = re.compile(r".*(Connection|Edge)$|^PageInfo$")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_field_of_the_schema_is_mapped() -> None:
    schema = build_schema(SDL)
    unmapped = []
    types = [
        t
        for name, t in schema.type_map.items()
        if isinstance(t, GraphQLObjectType) and not name.startswith("__")
    ]
    # The types an Embedded's Group makes: their fields are its key and its rows.
    groups = {
        e.group.type: {e.group.key, e.group.rows}
        for e in [*embedded_fields(), *(r.embedded for r in QUERY.values())]
        if e is not None and e.group is not None
    }
    for t in types:
        if PLUMBING.fullmatch(t.name):
            continue
        for field in t.fields:
            if t.name == "Query":
                if field not in QUERY:
                    unmapped.append(f"Query.{field}")
                continue
            entity = MODEL.get(t.name) or ROWS.get(t.name)
            attribute = snake(field)
            resolved = RESOLVER_ONLY.get(t.name, {})
            if "*" in resolved or attribute in resolved or attribute in groups.get(t.name, ()):
                continue
            if entity is None or not (
                attribute in entity.columns
                or attribute in entity.relations
                or attribute in entity.computed
                or attribute in entity.embedded
                or attribute in entity.itself
                or attribute in entity.variants
                or (field == "id" and "db_id" in entity.columns)
            ):
                unmapped.append(f"{t.name}.{field}")
    assert unmapped == []
    assert len(types) > 10


def test_what_the_mapping_names_exists() -> None:
    for name, root in QUERY.items():
        if root.kind == "lookup":
            assert root.entity is not None and MODEL[root.entity].lookups, name
        if root.kind == "page":
            assert root.entity in ROOT_PAGES, name
    for entity in MODEL.values():
        for name, relation in entity.relations.items():
            assert relation.target in MODEL, name
            assert "{parent}" in relation.rows, name
            for argument in relation.arguments:
                assert argument == "first" or argument in relation.predicates, (name, argument)
            for pinned, _ in relation.pinned:
                assert pinned in relation.predicates, (name, pinned)
        for name, computed in entity.computed.items():
            assert "{t}" in computed.expression and "{base}" in computed.expression, name


def embedded_fields() -> list[Embedded]:
    return [e for entity in [*MODEL.values(), *ROWS.values()] for e in entity.embedded.values()]


def test_embedded_statements_exist_and_every_parameter_is_known() -> None:
    """Each Embedded names a statement of sql/queries, a module that exists, and for each $n
    of the statement one parameter the compiler knows how to compute."""
    root = Path(__file__).parent.parent
    questions = [*embedded_fields(), *(r.embedded for r in QUERY.values() if r.embedded)]
    assert len(questions) == 7
    for e in questions:
        sql = db.sql(e.statement)
        assert (root / e.module).is_file(), e.module
        numbers = {int(n) for n in re.findall(r"\$(\d+)", sql)}
        assert numbers == set(range(1, len(e.parameters) + 1)), e.statement
        known = EMBEDDED_PARAMETERS[e.statement]
        for template in e.parameters:
            for name in re.findall(r"\{(\w+)\}", template):
                assert name in ("parent", "row") or name in known, (e.statement, name)
        if e.shape == "page":
            assert e.statement in EMBEDDED_SCOPES, e.statement
        assert e.target in MODEL or e.target in ROWS or e.target == "Node", e.target
    for row in ROWS.values():
        for target in row.itself.values():
            assert target in MODEL
        for members in row.variants.values():
            assert all(t in ROWS and "{t}" in predicate for t, predicate in members)


def test_resolver_only_fields_name_their_module_and_exist() -> None:
    schema = build_schema(SDL)
    root = Path(__file__).parent.parent
    for type_name, fields in RESOLVER_ONLY.items():
        t = schema.type_map[type_name]
        assert isinstance(t, GraphQLObjectType), type_name
        attributes = {snake(f) for f in t.fields}
        for attribute, module in fields.items():
            assert attribute == "*" or attribute in attributes, (type_name, attribute)
            assert (root / module).is_file(), module
    for name, root_field in QUERY.items():
        # Query's keys are the GraphQL names, as the compiler reads them.
        assert (root_field.kind == "resolver") == (snake(name) in RESOLVER_ONLY["Query"]), name
