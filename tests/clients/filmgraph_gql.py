"""Python's gql 4 for filmgraph: the glue docs/clients.md shows (a test keeps the two the same)
and tests/test_clients.py runs. Queries are checked against schema.graphql before they are
sent, and results come back with Date, DateTime and Decimal as Python values."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path
from typing import Any

from gql import Client
from gql.transport.httpx import HTTPXAsyncTransport
from gql.utilities import update_schema_scalars
from graphql import GraphQLScalarType, build_schema


def _text(value: Any) -> str:
    return str(value)


SCALARS = [
    GraphQLScalarType("Date", serialize=_text, parse_value=datetime.date.fromisoformat),
    GraphQLScalarType("DateTime", serialize=_text, parse_value=datetime.datetime.fromisoformat),
    GraphQLScalarType("Decimal", serialize=_text, parse_value=decimal.Decimal),
]


def filmgraph_client(url: str, schema_file: Path, **transport: Any) -> Client:
    """A gql Client for the API at `url` (`http://127.0.0.1:8000/graphql`), with the schema
    from `schema_file` (schema.graphql: production answers no introspection)."""
    schema = build_schema(schema_file.read_text())
    update_schema_scalars(schema, SCALARS)
    return Client(
        transport=HTTPXAsyncTransport(url=url, **transport),
        schema=schema,
        parse_results=True,
        serialize_variables=True,
    )
