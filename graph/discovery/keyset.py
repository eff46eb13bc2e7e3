"""Keyset pages of the root connections: sort keys, cursors sealed with a keyed MAC over the
row's position and the order and filter it belongs to, and the SQL of one page and of its count.
Paging stays exact while rows are added elsewhere and costs the same on page 1000 as on
page 1; a cursor that was altered, or made for another order or filter, is refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from graph.discovery.filters import (
    FILM_RELEVANCE,
    PERSON_RELEVANCE,
    Params,
    film_conditions,
    person_conditions,
)
from graph.discovery.inputs import (
    FilmFilter,
    FilmOrder,
    FilmOrderField,
    OrderDirection,
    PersonFilter,
    PersonOrder,
    PersonOrderField,
)
from graph.errors import UserInputError
from graph.pagination import DEFAULT_PAGE_SIZE, page_size


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY expression: never null, so that keyset comparisons are plain."""

    name: str
    sql: str
    cast: str


FILM_KEYS = {
    FilmOrderField.TITLE: SortKey("TITLE", "f.title", "text"),
    FilmOrderField.YEAR: SortKey("YEAR", "coalesce(f.year, 0)", "int"),
    FilmOrderField.RATING: SortKey("RATING", "coalesce(f.imdb_rating, -1)", "numeric"),
    FilmOrderField.VOTES: SortKey("VOTES", "coalesce(f.imdb_votes, -1)", "int"),
    FilmOrderField.RUNTIME: SortKey("RUNTIME", "coalesce(f.runtime_minutes, -1)", "int"),
    FilmOrderField.RELEVANCE: SortKey("RELEVANCE", FILM_RELEVANCE, "float8"),
}
PERSON_KEYS = {
    PersonOrderField.NAME: SortKey("NAME", "p.name", "text"),
    PersonOrderField.BIRTH_YEAR: SortKey("BIRTH_YEAR", "coalesce(p.birth_year, 0)", "int"),
    PersonOrderField.RELEVANCE: SortKey("RELEVANCE", PERSON_RELEVANCE, "float8"),
}


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _typed(value: Any, cast: str) -> Any:
    """A cursor value back in the type its placeholder is cast to; ValueError when not."""
    if cast == "text" and isinstance(value, str):
        return value
    if (
        cast == "int"
        and isinstance(value, int)
        and not isinstance(value, bool)
        and -(2**31) <= value < 2**31
    ):
        return value
    if cast == "numeric" and isinstance(value, str):
        return Decimal(value)
    if cast == "float8" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(value)


@dataclass(frozen=True)
class KeysetQuery:
    """One root connection's query: table, filter conditions, order."""

    table: str
    alias: str
    where: list[str]
    keys: list[tuple[SortKey, bool]]  # (key, descending)
    scope: str  # what a cursor must have been made for
    key: bytes  # the server's cursor key (Settings.cursor_secret)
    count_sql: str | None = None  # a cheaper statement for the count than filtering the table
    deferred: bool = False  # choose the page's ids first, then read their rows; see page_sql

    def seal(self, values: list[Any], pk: int) -> str:
        """MAC over the scope and the position, so a cursor cannot be altered or moved."""
        payload = json.dumps([self.scope, values, pk], separators=(",", ":"))
        return hashlib.blake2s(payload.encode(), key=self.key, digest_size=12).hexdigest()

    def encode(self, row: asyncpg.Record) -> str:
        values = [_json_value(row[f"sort_{i}"]) for i in range(len(self.keys))]
        raw = json.dumps([values, row["id"], self.seal(values, row["id"])], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")

    def decode(self, cursor: str, argument: str) -> tuple[list[Any], int]:
        try:
            raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
            values, pk, mac = json.loads(raw)
            if not isinstance(values, list) or len(values) != len(self.keys):
                raise ValueError(values)
            if not isinstance(mac, str):
                raise ValueError(mac)
            typed = [_typed(v, key.cast) for v, (key, _) in zip(values, self.keys, strict=True)]
            if not isinstance(pk, int) or not 0 < pk < 2**63:
                raise ValueError(pk)
        except (ValueError, TypeError, UnicodeError, binascii.Error, ArithmeticError):
            raise UserInputError(f"{argument}: not a valid cursor", argument=argument) from None
        if not hmac.compare_digest(mac, self.seal(values, pk)):
            raise UserInputError(
                f"{argument}: this cursor belongs to another connection, order or filter, "
                "or was altered, or comes from before a server restart or from another "
                "deployment; start from the first page again",
                argument=argument,
            )
        return typed, pk


def order_keys(
    order_by: Sequence[Any] | None,
    keys: dict[Any, SortKey],
    default: Any,
    relevance: Any,
    has_query: bool,
) -> list[tuple[SortKey, bool]]:
    if order_by is not None and not order_by:
        raise UserInputError("orderBy: must not be empty; omit it instead", argument="orderBy")
    if not order_by:
        if has_query:
            return [(keys[relevance], True)]
        return [(keys[default], False)]
    seen = set()
    out = []
    for i, o in enumerate(order_by):
        if o.field == relevance and not has_query:
            raise UserInputError(
                f"orderBy[{i}]: RELEVANCE needs filter.query", argument=f"orderBy[{i}]"
            )
        if o.field in seen:
            raise UserInputError(
                f"orderBy[{i}]: {o.field.name} given twice", argument=f"orderBy[{i}]"
            )
        seen.add(o.field)
        out.append((keys[o.field], o.direction == OrderDirection.DESC))
    return out


def _after(
    keys: list[tuple[SortKey, bool]], alias: str, values: list[Any], pk: int, p: Params
) -> str:
    """The rows strictly after (values, pk) in the order of keys (id last, in the direction
    of the last key)."""
    terms = [(key.sql, desc, p(v, key.cast)) for (key, desc), v in zip(keys, values, strict=True)]
    terms.append((f"{alias}.id", keys[-1][1], p(pk, "bigint")))
    if len({desc for _, desc, _ in terms}) == 1:
        # One direction: a row comparison, which an index on (key, id) answers directly.
        op = "<" if terms[0][1] else ">"
        left = ", ".join(t[0] for t in terms)
        right = ", ".join(t[2] for t in terms)
        return f"({left}) {op} ({right})"
    ors = []
    for i, (expr, desc, ref) in enumerate(terms):
        equal = [f"{e} = {r}" for e, _, r in terms[:i]]
        ors.append("(" + " and ".join([*equal, f"{expr} {'<' if desc else '>'} {ref}"]) + ")")
    return "(" + " or ".join(ors) + ")"


@dataclass(frozen=True)
class PageSql:
    """One keyset page as SQL: the page itself (size + 1 rows, to see if more follow) and the
    count of the whole filtered list."""

    sql: str
    params: list[Any]
    count_sql: str
    count_params: list[Any]
    size: int
    backward: bool
    # A filter's best plan depends on its values (a director of 3 films or of 3,000), so
    # filtered statements are planned for each execution; see fetch().
    custom_plan: bool


def page_sql(
    query: KeysetQuery,
    p: Params,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> PageSql:
    first, last = page_size(first, "first"), page_size(last, "last")
    if first is not None and last is not None:
        raise UserInputError("pass either first or last, not both", argument="last")
    backward = last is not None
    size: int = last if last is not None else (first or DEFAULT_PAGE_SIZE)
    count_params = list(p.values)
    keys = query.keys
    where = list(query.where)
    if after is not None:
        values, pk = query.decode(after, "after")
        where.append(_after(keys, query.alias, values, pk, p))
    if before is not None:
        values, pk = query.decode(before, "before")
        flipped = [(k, not d) for k, d in keys]
        where.append(_after(flipped, query.alias, values, pk, p))
    walk = [(k, d != backward) for k, d in keys]  # backward: walk the order in reverse
    id_desc = walk[-1][1]
    a = query.alias

    def order_by(sort: str, pk: str) -> str:
        return ", ".join(
            [f"{sort}{i} {'desc' if d else 'asc'}" for i, (_, d) in enumerate(walk)]
            + [f"{pk} {'desc' if id_desc else 'asc'}"]
        )

    order = order_by("sort_", f"{a}.id")
    select = ", ".join(f"{k.sql} as sort_{i}" for i, (k, _) in enumerate(keys))
    where_sql = f"where {' and '.join(where)}" if where else ""
    limit = p(size + 1, "int")
    if query.deferred:
        # A filter that rejects most rows in the order's walk would read every rejected row
        # from the table. The order indexes carry the filterable columns (migration 0003), so
        # the page's ids are chosen by an index-only walk, and only the page's rows are read.
        outer = order_by("s.sort_", "s.id")
        sql = (
            f"select {a}.*, {', '.join(f's.sort_{i}' for i in range(len(keys)))} "
            f"from (select {a}.id, {select} from {query.table} {a} {where_sql} "
            f"order by {order} limit {limit}) s join {query.table} {a} on {a}.id = s.id "
            f"order by {outer}"
        )
    else:
        sql = (
            f"select {a}.*, {select} from {query.table} {a} {where_sql} "
            f"order by {order} limit {limit}"
        )
    count_where = f"where {' and '.join(query.where)}" if query.where else ""
    count_sql = query.count_sql or f"select count(*) from {query.table} {query.alias} {count_where}"
    return PageSql(
        sql=sql,
        params=list(p.values),
        count_sql=count_sql,
        count_params=count_params,
        size=size,
        backward=backward,
        custom_plan=bool(query.where),
    )


def _scope(table: str, keys: list[tuple[SortKey, bool]], where: list[str], p: Params) -> str:
    order = ",".join(f"{k.name}:{'desc' if d else 'asc'}" for k, d in keys)
    return f"{table}|{order}|{' and '.join(where)}|{p.values!r}"


def film_query(
    flt: FilmFilter | None, order_by: Sequence[FilmOrder] | None, key: bytes
) -> tuple[KeysetQuery, Params]:
    p = Params()
    c = film_conditions(flt, p)
    keys = order_keys(
        order_by, FILM_KEYS, FilmOrderField.TITLE, FilmOrderField.RELEVANCE, c.q is not None
    )
    return _keyset_query("film", "f", c.where, c.q, keys, p, key, c.count_sql())


def person_query(
    flt: PersonFilter | None, order_by: Sequence[PersonOrder] | None, key: bytes
) -> tuple[KeysetQuery, Params]:
    p = Params()
    where, q = person_conditions(flt, p)
    keys = order_keys(
        order_by, PERSON_KEYS, PersonOrderField.NAME, PersonOrderField.RELEVANCE, q is not None
    )
    return _keyset_query("person", "p", where, q, keys, p, key)


def _keyset_query(
    table: str,
    alias: str,
    where: list[str],
    q: str | None,
    keys: list[tuple[SortKey, bool]],
    p: Params,
    key: bytes,
    count_sql: str | None = None,
) -> tuple[KeysetQuery, Params]:
    # The relevance key refers to the search text's placeholder.
    keys = [(SortKey(k.name, k.sql.format(q=q), k.cast), d) for k, d in keys]
    scope = _scope(table, keys, where, p)
    # Text search needs the search vector, which no order index carries.
    deferred = bool(where) and q is None and table == "film"
    return KeysetQuery(table, alias, where, keys, scope, key, count_sql, deferred), p
