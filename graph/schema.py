"""The Query root and the schema with its extensions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import partial
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError, OperationDefinitionNode, is_abstract_type, validate
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext

from graph import external
from graph.collaborators import common_films
from graph.compiled.cache import StatementCache
from graph.compiled.run import CompiledExecution
from graph.context import Info
from graph.cost import CostLimit
from graph.discovery.filters import Reference, film_references, person_references
from graph.discovery.inputs import FilmFilterArg, FilmOrderArg, PersonFilterArg, PersonOrderArg
from graph.discovery.keyset import film_query, person_query
from graph.discovery.pages import keyset_page
from graph.doccache import DocumentCache
from graph.errors import NotFoundError, UserInputError
from graph.ids import from_global_id, pk_of
from graph.limits import limit_rules, repeated_fields_error
from graph.pagination import Connection, connection, window
from graph.paths import PersonPath, person_path
from graph.scalars import SCALARS
from graph.search import SearchResult, search, suggest
from graph.settings import Settings
from graph.textinput import TextArguments
from graph.tracing import Traced
from graph.types import (
    AfterArg,
    BeforeArg,
    Film,
    FirstArg,
    Genre,
    LastArg,
    Node,
    Person,
    Provider,
    build,
)

log = logging.getLogger(__name__)

MAX_NODES = 100
# Compiled statements kept per schema (graph/compiled/cache.py).
STATEMENT_CACHE_BYTES = 64_000_000

IdArg = Annotated[strawberry.ID | None, strawberry.argument(description="Global id.")]
TmdbIdArg = Annotated[int | None, strawberry.argument(description="TMDB id (a positive number).")]
WikidataIdArg = Annotated[
    str | None, strawberry.argument(description="Wikidata item id, e.g. `Q47703`.")
]
SlugArg = Annotated[str | None, strawberry.argument(description="URL-safe name.")]


def _one_of(**given: Any) -> tuple[str, Any]:
    """The single lookup argument given; BAD_USER_INPUT for none or several. (A NUL or a lone
    surrogate in it was refused before the resolver ran: graph.textinput.)"""
    present = [(k, v) for k, v in given.items() if v is not None]
    if not present:
        names = ", ".join(given)
        raise UserInputError(f"pass exactly one of: {names}")
    if len(present) > 1:
        # `argument` names the second one given: the one to leave out.
        names = ", ".join(given)
        extra = present[1][0]
        got = " and ".join(k for k, _ in present)
        raise UserInputError(f"pass exactly one of: {names} (got {got})", argument=extra)
    argument, value = present[0]
    return argument, value


# Lookup arguments and the columns they name (graph/mapping.py's lookups).
LOOKUP_COLUMNS = {"imdbId": "imdb_id", "tmdbId": "tmdb_id", "wikidataId": "wikidata_id"}


async def _lookup(info: Info, entity: str, argument: str, value: Any) -> Any:
    if argument == "id":
        return await info.context.loaders.lookup(entity, "id", pk_of(value, entity))
    if argument == "tmdbId":
        value = external.tmdb_id(value)
    elif argument == "wikidataId":
        value = external.wikidata_id(value)
    elif argument == "imdbId":
        value = external.imdb_id(value, entity)
    by = LOOKUP_COLUMNS.get(argument, argument)
    return await info.context.loaders.lookup(entity, by, value)


async def _node_or_none(info: Info, hit: tuple[str, int] | None) -> Any:
    return None if hit is None else await info.context.loaders.lookup(hit[0], "id", hit[1])


async def _must_exist(info: Info, references: list[Reference]) -> None:
    """NOT_FOUND for the first genre, person or provider a filter names that does not exist:
    a typo in a slug or a stale id would otherwise read as "no such films". Batched through
    the loaders, so one statement per kind."""
    found = await asyncio.gather(
        *(info.context.loaders.lookup(r.entity, r.by, r.value) for r in references)
    )
    for ref, node in zip(references, found, strict=True):
        if node is None:
            key = "slug" if ref.by == "slug" else "id"
            raise NotFoundError(
                f"{ref.argument}: no {ref.entity.lower()} has the {key} {ref.given!r}",
                argument=ref.argument,
            )


async def _root(
    info: Info,
    entity: str,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Any]:
    scope = f"Query.{entity}"
    win = window(scope, first, after, last, before)
    page = await info.context.loaders.root_page(entity, win)
    return connection(scope, page, win, lambda node: node)


@strawberry.type(description="Entry points into the film graph.")
class Query:
    @strawberry.field(description="Any object by its global id; null when none has that id.")
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Global id of any object.")],
    ) -> Node | None:
        entity, pk = from_global_id(id)
        result: Node | None = await info.context.loaders.lookup(entity, "id", pk)
        return result

    @strawberry.field(
        description=f"Objects by global ids, in the order given; null for an id that names "
        f"nothing. At most {MAX_NODES} ids."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="Global ids, at most 100.")
        ],
    ) -> list[Node | None] | None:
        # Nullable, as every root list: a bad id nulls this field, not the whole page.
        if len(ids) > MAX_NODES:
            raise UserInputError(f"ids: at most {MAX_NODES} ids per request", argument="ids")
        decoded = [from_global_id(i, "ids") for i in ids]
        # Gathered, not awaited one by one, so the loaders batch them per type.
        return list(
            await asyncio.gather(*(info.context.loaders.lookup(e, "id", pk) for e, pk in decoded))
        )

    @strawberry.field(
        description="A film by exactly one of: global id, slug, IMDb id, TMDB id or Wikidata id."
    )
    async def film(
        self,
        info: Info,
        id: IdArg = None,
        slug: SlugArg = None,
        imdb_id: Annotated[
            str | None, strawberry.argument(description="IMDb title id, e.g. `tt0068646`.")
        ] = None,
        tmdb_id: TmdbIdArg = None,
        wikidata_id: WikidataIdArg = None,
    ) -> Film | None:
        arg, value = _one_of(
            id=id, slug=slug, imdbId=imdb_id, tmdbId=tmdb_id, wikidataId=wikidata_id
        )
        result: Film | None = await _lookup(info, "Film", arg, value)
        return result

    @strawberry.field(
        description="A person by exactly one of: global id, slug, IMDb id, TMDB id or Wikidata id."
    )
    async def person(
        self,
        info: Info,
        id: IdArg = None,
        slug: SlugArg = None,
        imdb_id: Annotated[
            str | None, strawberry.argument(description="IMDb name id, e.g. `nm0000233`.")
        ] = None,
        tmdb_id: TmdbIdArg = None,
        wikidata_id: WikidataIdArg = None,
    ) -> Person | None:
        arg, value = _one_of(
            id=id, slug=slug, imdbId=imdb_id, tmdbId=tmdb_id, wikidataId=wikidata_id
        )
        result: Person | None = await _lookup(info, "Person", arg, value)
        return result

    @strawberry.field(
        description=f"Films and people by external ids of any kind, mixed, in the order given: "
        f"{external.FORMAT_HELP}. Null for an id nothing in the graph holds; at most "
        f"{external.MAX_IDS} ids, resolved in one statement."
    )
    async def resolve_ids(
        self,
        info: Info,
        ids: Annotated[
            list[str],
            strawberry.argument(description="External ids, at most 100, e.g. `tt0068646`."),
        ],
    ) -> list[Node | None] | None:
        found = await external.resolve(info.context.loaders.pool, ids)
        return list(
            await asyncio.gather(
                *(_node_or_none(info, hit) for hit in found)  # batched per type
            )
        )

    @strawberry.field(description="A genre by exactly one of: global id or slug.")
    async def genre(self, info: Info, id: IdArg = None, slug: SlugArg = None) -> Genre | None:
        arg, value = _one_of(id=id, slug=slug)
        result: Genre | None = await _lookup(info, "Genre", arg, value)
        return result

    @strawberry.field(description="A provider by exactly one of: global id or slug.")
    async def provider(self, info: Info, id: IdArg = None, slug: SlugArg = None) -> Provider | None:
        arg, value = _one_of(id=id, slug=slug)
        result: Provider | None = await _lookup(info, "Provider", arg, value)
        return result

    @strawberry.field(
        description="Films matching `filter`, in `orderBy` order. Cursors are keyset cursors: "
        "paging stays exact while other films are added."
    )
    async def films(
        self,
        info: Info,
        filter: FilmFilterArg = None,
        order_by: FilmOrderArg = None,
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> Connection[Film] | None:
        query, params = film_query(filter, order_by, info.context.cursor_key)
        await _must_exist(info, film_references(filter))
        return await keyset_page(
            info.context.loaders.pool,
            query,
            params,
            partial(build, "Film"),
            first,
            after,
            last,
            before,
        )

    @strawberry.field(
        description="People matching `filter`, in `orderBy` order, with keyset cursors."
    )
    async def people(
        self,
        info: Info,
        filter: PersonFilterArg = None,
        order_by: PersonOrderArg = None,
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> Connection[Person] | None:
        query, params = person_query(filter, order_by, info.context.cursor_key)
        await _must_exist(info, person_references(filter))
        return await keyset_page(
            info.context.loaders.pool,
            query,
            params,
            partial(build, "Person"),
            first,
            after,
            last,
            before,
        )

    search: list[SearchResult] | None = strawberry.field(
        resolver=search,
        description="Films, people, genres and providers matching `query`, best first. Case, "
        "accents and small typos are forgiven; a film's title weighs more than its original "
        "title, which weighs more than its synopsis.",
    )
    suggest: list[SearchResult] | None = strawberry.field(
        resolver=suggest,
        description="Autocomplete: films (most voted first) and people whose title or name "
        "starts with `prefix`, ignoring case and accents.",
    )

    path: PersonPath | None = strawberry.field(
        resolver=person_path,
        description="A shortest chain of people from `from` to `to`, each hop two people "
        "credited on one film; null when there is none of at most `maxHops` films. "
        "docs/queries.md#paths says how the search is bounded.",
    )
    common_films: Connection[Film] | None = strawberry.field(
        resolver=common_films,
        description="The films every one of `people` is credited on, newest first.",
    )

    @strawberry.field(description="Every genre, by name.")
    async def genres(
        self,
        info: Info,
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> Connection[Genre] | None:
        return await _root(info, "Genre", first, after, last, before)

    @strawberry.field(description="Every provider, by name.")
    async def providers(
        self,
        info: Info,
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> Connection[Provider] | None:
        return await _root(info, "Provider", first, after, last, before)


class Schema(strawberry.Schema):
    document_cache: DocumentCache
    statement_cache: StatementCache
    # The base of JSON-LD `@id`s (Settings.public_url).
    public_url: str

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs every error at ERROR with the whole document, so any client could
        # flood the log with megabyte documents. The HTTP view logs what the operator needs
        # (graph.errors.classify: the unexpected ones, with traceback and request id).
        for error in errors:
            log.debug("graphql error message=%.200s", error.message)


class CachedParse(SchemaExtension):
    """The parsed document from the cache, or the one Strawberry parses, kept for next time."""

    def __init__(self, cache: DocumentCache) -> None:
        self.cache = cache

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        entry = self.cache.get(context.query) if context.query else None
        if entry is not None:
            context.graphql_document = entry.document
            self.cache.parse_hits += 1
        else:
            self.cache.parse_misses += 1
        yield
        if entry is None and context.query and context.graphql_document is not None:
            self.cache.put(context.query, context.graphql_document)


# Whether the request being served (each request of a batch runs in a task of its own) named
# its operation; the HTTP view sets it.
OPERATION_NAME_GIVEN: ContextVar[bool] = ContextVar("operation_name_given", default=True)


class OperationNameRequired(CannotGetOperationTypeError):
    """Several operations and no operationName: a request error in GraphQL (GetOperation),
    which Strawberry, running the first operation, does not make. Its view answers 400."""

    def __init__(self) -> None:
        super().__init__(None)

    def as_http_error_reason(self) -> str:
        return "The document has several operations; name the one to run in `operationName`"


class OperationChoice(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is None or OPERATION_NAME_GIVEN.get():
            return
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) > 1:
            raise OperationNameRequired


# Validation stops at this many errors, adding one that says so: ten unknown directives gave
# ten errors, each quoting its place in the document. The first few say what to fix.
MAX_VALIDATION_ERRORS = 4


class CheckedValidation(SchemaExtension):
    """Validation, cached with the parsed document, behind a check of the cost of validating:
    graphql-core's OverlappingFieldsCanBeMerged is quadratic in fields repeated in one
    selection set, so such a document is refused before the rules run (a rule of our own
    would run beside them, not before). Strawberry skips its own validation once
    pre_execution_errors is set."""

    def __init__(self, settings: Settings, cache: DocumentCache) -> None:
        self.settings = settings
        self.cache = cache

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        entry = self.cache.get(context.query) if context.query else None
        if entry is not None and entry.errors is not None:
            self.cache.validation_hits += 1
            context.pre_execution_errors = entry.errors
            yield
            return
        self.cache.validation_misses += 1
        refusal = repeated_fields_error(context.graphql_document, self.settings)
        if refusal is not None:
            errors = [refusal]
        else:
            # The rules Strawberry's own validation adds to those of the schema.
            rules = (
                *context.validation_rules,
                MaybeNullValidationRule,
                OneOfInputValidationRule,
            )
            errors = validate(
                context.schema._schema,
                context.graphql_document,
                rules,
                max_errors=MAX_VALIDATION_ERRORS,
            )
        if context.query:
            self.cache.validated(context.query, errors)
        context.pre_execution_errors = errors
        yield


def abstract_types(schema: strawberry.Schema) -> dict[str, list[str]]:
    """The object types of each interface and union, by name: Apollo Client's `possibleTypes`
    (and urql Graphcache's), which a normalised cache needs to match `... on Node` in a
    `search` result without introspection (off in production). Committed as
    examples/possibleTypes.json; a test keeps it current."""
    gschema = schema._schema
    return {
        name: sorted(t.name for t in gschema.get_possible_types(gtype))
        for name, gtype in sorted(gschema.type_map.items())
        if is_abstract_type(gtype) and not name.startswith("__")
    }


def create_schema(settings: Settings | None = None, *, traced: bool = False) -> Schema:
    settings = settings or Settings()
    # The limit rules are made once per schema: the validation cache is keyed by the rule
    # classes, and rules constructed per request would make a new class each time.
    rules = limit_rules(settings)
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    # One cache per schema, so per parse options and rules; shared by its requests.
    cache = DocumentCache(settings.document_cache_bytes)
    statements = StatementCache(STATEMENT_CACHE_BYTES)
    extensions: list[Callable[[], SchemaExtension]] = [
        # Factories: a fresh extension per request.
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: CachedParse(cache),
        OperationChoice,
        lambda: AddValidationRules(rules),
        lambda: CheckedValidation(settings, cache),
        TextArguments,
        # After validation, per request: the cost depends on the variables.
        lambda: CostLimit(settings.max_cost),
        # After the cost check: one SQL statement for the whole operation when it can.
        lambda: CompiledExecution(settings, statements),
    ]
    if traced:
        extensions.insert(0, Traced)
    config = StrawberryConfig(
        batching_config={"max_operations": settings.max_batch} if settings.batching else None,
        scalar_map=SCALARS,
    )
    schema = Schema(
        query=Query,
        types=[Film, Person, Genre, Provider],
        extensions=extensions,
        config=config,
    )
    schema.document_cache = cache
    schema.statement_cache = statements
    schema.public_url = settings.public_url
    return schema
