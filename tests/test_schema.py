"""The exported schema is current, and reads well in GraphiQL."""

from __future__ import annotations

import json
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
    is_list_type,
    is_non_null_type,
    parse,
    validate,
)

from graph.schema import abstract_types, create_schema

SCHEMA_FILE = Path(__file__).parent.parent / "schema.graphql"
BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def test_committed_schema_is_current() -> None:
    current = create_schema().as_str() + "\n"
    assert SCHEMA_FILE.read_text() == current, (
        "schema.graphql is stale: run `filmgraph schema > schema.graphql` and commit it"
    )


def test_every_type_field_argument_and_value_is_described() -> None:
    schema = create_schema()._schema
    missing = []
    for name, gtype in schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not gtype.description:
            missing.append(name)
        if isinstance(gtype, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for fname, field in gtype.fields.items():
                if not field.description:
                    missing.append(f"{name}.{fname}")
                for aname, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{fname}({aname})")
        if isinstance(gtype, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, val in gtype.values.items() if not val.description]
    assert missing == []


def test_example_documents_validate() -> None:
    """The example queries (the reference film page first) are the public contract."""
    schema = create_schema()._schema
    examples = sorted((SCHEMA_FILE.parent / "examples").glob("*.graphql"))
    assert examples
    for path in examples:
        assert validate(schema, parse(path.read_text())) == [], path.name


def test_every_root_list_and_connection_is_nullable() -> None:
    """A bad argument on one root list (`nodes(ids: ["x"])`, `films(first: 1000)`) nulls that
    field and leaves the rest of the page (docs/clients.md#nullable-root-lists): no root
    field that returns a list or a connection is non-null."""
    schema = create_schema()._schema
    assert schema.query_type is not None
    non_null = [
        name
        for name, field in schema.query_type.fields.items()
        if is_non_null_type(field.type)
        and (
            is_list_type(field.type.of_type)
            or get_named_type(field.type).name.endswith("Connection")
        )
    ]
    assert non_null == []


def test_committed_possible_types_are_current() -> None:
    """examples/possibleTypes.json: every interface and union with its object types, as
    Apollo Client's and urql's caches take them (docs/clients.md)."""
    committed = json.loads((SCHEMA_FILE.parent / "examples" / "possibleTypes.json").read_text())
    assert committed == abstract_types(create_schema()), (
        "examples/possibleTypes.json is stale: run "
        "`filmgraph schema --possible-types > examples/possibleTypes.json` and commit it"
    )
    assert {"Node", "SearchResult"} <= set(committed)


def test_every_custom_scalar_says_its_wire_format() -> None:
    schema = create_schema()._schema
    custom = [
        t
        for name, t in schema.type_map.items()
        if isinstance(t, GraphQLScalarType) and not name.startswith("__") and name not in BUILT_IN
    ]
    assert {t.name for t in custom} == {"Date", "DateTime", "Decimal", "JSON"}
    for scalar in custom:
        assert scalar.specified_by_url and scalar.specified_by_url.startswith("https://")
        # JSON (jsonLd) is any JSON value, as ECMA-404 says; the others are JSON strings.
        wire = "ECMA-404" if scalar.name == "JSON" else "JSON string"
        assert wire in (scalar.description or ""), scalar.name
