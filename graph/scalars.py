"""The custom scalars, each with its wire format: a description saying what the JSON string
holds and an `@specifiedBy` URL, so that codegen and client caches can map them to a type
(docs/clients.md#scalars). Parsing and serialising are Strawberry's; only the documentation
is ours. The compiled path writes the same text (graph/compiled/sql.py)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal

from strawberry.schema.types.base_scalars import (
    DateDefinition,
    DateTimeDefinition,
    DecimalDefinition,
)
from strawberry.types.scalar import ScalarDefinition

DATE = dataclasses.replace(
    DateDefinition,
    description="A calendar date as a JSON string `YYYY-MM-DD` (RFC 3339 full-date), e.g. "
    '`"2007-06-15"`: no time and no time zone.',
    specified_by_url="https://www.rfc-editor.org/rfc/rfc3339#section-5.6",
)
DATE_TIME = dataclasses.replace(
    DateTimeDefinition,
    description="An instant as a JSON string in RFC 3339 date-time form, always in UTC with "
    'the offset `+00:00`, fractional seconds only when not zero, e.g. `"2024-03-01T12:00:00'
    '+00:00"`.',
    specified_by_url="https://scalars.graphql.org/andimarek/date-time.html",
)
DECIMAL = dataclasses.replace(
    DecimalDefinition,
    description='An exact decimal number as a JSON string, e.g. `"3.99"`, so that no '
    "precision is lost to floating point: an optional `-`, digits and an optional `.` "
    "followed by digits (the to-scientific-string form, as Python's `str(Decimal)` writes "
    "it; never an exponent for a price).",
    specified_by_url="https://speleotrove.com/decimal/daconvs.html#reftostr",
)

SCALARS: dict[object, ScalarDefinition] = {
    datetime.date: DATE,
    datetime.datetime: DATE_TIME,
    decimal.Decimal: DECIMAL,
}
