"""HTTP caching of GET /graphql: Cache-Control, a strong ETag and 304 for If-None-Match, a
Cache-Tag naming what an answer was built from, and an in-process cache of the final bytes.
The protocol is in docs/caching.md.

A GET is keyed by the data version (graph/dataversion.py, from memory), its document's hash,
its operation name, its variables and the media type it accepts. A repeated GET is answered
from that key alone: no parsing, no database. The answer of a miss is cached as the bytes
the view wrote, whichever path (resolvers or compiled) produced them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cross_web import HTTPException
from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableNode,
    get_named_type,
    is_abstract_type,
    parse,
    visit,
)
from graphql.language import ArgumentNode, FieldNode, Visitor
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.envelope import GRAPHQL_RESPONSE_JSON, decode_json
from graph.ids import from_global_id
from graph.observe import current
from graph.persisted import document_key
from graph.ratelimit import Limiter, client_key

log = logging.getLogger(__name__)

# Every cacheable answer carries this tag: purging it purges everything.
ALL_TAG = "filmgraph"
# The type tags of what each type of the schema shows (a connection or edge, that of its
# nodes): an answer depends on the rows of every type its document selects, even where the
# answer holds none of them (an empty list, a count, a title without its id).
TYPE_TAGS: dict[str, tuple[str, ...]] = {
    "Film": ("film",),
    "AlternativeTitle": ("film",),
    "Person": ("person",),
    "Credit": ("film", "person"),
    "Genre": ("genre",),
    "Provider": ("provider",),
    "Offer": ("film", "provider"),
}
# The type tags of the answers a change to each table may alter (an import lists those of
# the tables it changed): a credit is shown with its film and its person, an offer with its
# film and its provider.
TABLE_TAGS: dict[str, tuple[str, ...]] = {
    "film": ("film",),
    "film_alternative_title": ("film",),
    "genre": ("genre",),
    "film_genre": ("film", "genre"),
    "person": ("person",),
    "credit": ("film", "person"),
    "provider": ("provider",),
    "offer": ("film", "provider"),
}
# Cache-Tag stays under this many bytes (CDNs cap it: Cloudflare's header at 16 KB, Fastly's
# Surrogate-Key at 16 KB): past it, an answer lists its type tags and regions only, and so
# is purged by its type tags, not by the id of one of its nodes.
MAX_CACHE_TAG_BYTES = 4_096
# A response is not kept when it alone would take more than this share of the budget.
LARGEST_SHARE = 16
ENTRY_OVERHEAD = 400
JSON_TYPES = (b"application/json", GRAPHQL_RESPONSE_JSON.encode())


@dataclass(frozen=True)
class Entry:
    body: bytes
    content_type: bytes
    etag: bytes
    tags: bytes
    # The operation's type and name, for what a hit reports (graph/observe.py): a hit parses
    # nothing, and would otherwise count as anonymous.
    operation: tuple[str, str] = ("", "")

    @property
    def size(self) -> int:
        return len(self.body) + len(self.tags) + ENTRY_OVERHEAD


class ResponseCache:
    """Final answers by key, least recently used dropped past max_bytes. Emptied whenever the
    data version changes: no entry of an older version can be asked for again."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.entries: OrderedDict[str, Entry] = OrderedDict()

    def get(self, key: str) -> Entry | None:
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        if key in self.entries or entry.size > self.max_bytes // LARGEST_SHARE:
            return
        self.entries[key] = entry
        self.size += entry.size
        while self.size > self.max_bytes:
            _, dropped = self.entries.popitem(last=False)
            self.size -= dropped.size

    def clear(self) -> None:
        self.entries.clear()
        self.size = 0


# The memory the memo of GET keys (HttpCache.key) may take, roughly: query strings and keys.
KEY_MEMO_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Key:
    """What a GET's answer depends on, beside the deployment (see HttpCache.fingerprint)."""

    version: int
    text: str
    variables: Any
    etag: bytes


def request_key(scope: Scope, version: int | None, fingerprint: str) -> Key | None:
    """The cache key of a GET, or None when it cannot be cached as sent (version unknown,
    no document, malformed parameters: the view then answers as without caching)."""
    if version is None:
        return None
    params = QueryParams(scope.get("query_string", b""))
    try:
        extensions = _json_param(params.get("extensions"))
        variables = _json_param(params.get("variables"))
    except (HTTPException, ValueError, RecursionError):
        return None
    if not isinstance(extensions, dict | None) or not isinstance(variables, dict | None):
        return None
    document = document_key(params.get("query"), extensions)
    if document is None:
        return None
    accept = Headers(scope=scope).get("accept", "")
    text = "\n".join(
        (
            str(version),
            document,
            params.get("operationName") or "",
            json.dumps(variables, sort_keys=True, separators=(",", ":")),
            "graphql-response+json" if GRAPHQL_RESPONSE_JSON in accept else "json",
        )
    )
    # surrogatepass: a persisted id in JSON may hold a lone surrogate (no UTF-8 of its own).
    seed = f"{fingerprint}\n{text}".encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(seed, digest_size=16).hexdigest()
    return Key(version, text, variables, f'"{digest}"'.encode())


def _json_param(raw: str | None) -> Any:
    return decode_json(raw) if raw else None


def not_modified(scope: Scope, etag: bytes) -> bool:
    """If-None-Match names this ETag (weak comparison, as RFC 9110 asks for it) or is *."""
    value = Headers(scope=scope).get("if-none-match")
    if not value:
        return False
    tags = [t.strip().removeprefix("W/") for t in value.split(",")]
    return "*" in tags or etag.decode() in tags


def cache_tags(
    schema: GraphQLSchema, body: dict[str, Any], document: str | None, variables: Any
) -> str:
    """What an answer was built from: ALL_TAG, the type tags of what its document selects
    and of its nodes, its regions (region arguments, literal, variable or default), and each
    node as type:key, as long as they fit in MAX_CACHE_TAG_BYTES."""
    types: set[str] = set()
    nodes: dict[str, None] = {}
    regions: set[str] = set()
    id_keys = {"id"}
    if document is not None:
        selected, regions, id_keys = _document_tags(
            schema, document, variables if isinstance(variables, dict) else {}
        )
        types.update(selected)
    for global_id in _ids(body.get("data"), id_keys):
        try:
            type_name, pk = from_global_id(global_id)
        except GraphQLError:
            continue
        types.add(type_name.lower())
        nodes[f"{type_name.lower()}:{pk}"] = None
    head = " ".join([ALL_TAG, *sorted(types), *(f"region:{r}" for r in sorted(regions))])
    listed = " ".join([head, *nodes])
    return listed if len(listed) <= MAX_CACHE_TAG_BYTES else head[:MAX_CACHE_TAG_BYTES]


def _ids(value: Any, keys: set[str]) -> Iterator[str]:
    """The strings under the response keys of `id` fields (`id`, or an alias of one)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for name, child in item.items():
                if name in keys and isinstance(child, str):
                    yield child
                elif isinstance(child, dict | list):
                    stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


class _Selected(Visitor):
    """The types a document selects, and its region arguments."""

    def __init__(self, schema: GraphQLSchema, variables: dict[str, Any]) -> None:
        super().__init__()
        self.schema = schema
        self.variables = variables
        self.defaults: dict[str, str] = {}
        self.tags: set[str] = set()
        self.regions: set[str] = set()
        # The response keys of `id` fields: `id`, and each alias of one (`filmId: id`).
        self.id_keys = {"id"}
        self.type_info = TypeInfo(schema)

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        for definition in node.variable_definitions or ():
            if isinstance(definition.default_value, StringValueNode):
                self.defaults[definition.variable.name.value] = definition.default_value.value

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value == "id" and node.alias is not None:
            self.id_keys.add(node.alias.value)
        selected = self.type_info.get_type()
        if selected is None:
            return
        named = get_named_type(selected)
        types = self.schema.get_possible_types(named) if is_abstract_type(named) else [named]
        for found in types:
            name = found.name.removesuffix("Connection").removesuffix("Edge")
            self.tags.update(TYPE_TAGS.get(name, ()))

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        if node.name.value != "region":
            return
        value = node.value
        if isinstance(value, StringValueNode):
            self.regions.add(value.value)
        elif isinstance(value, VariableNode):
            name = value.name.value
            given = self.variables.get(name, self.defaults.get(name))
            if isinstance(given, str):
                self.regions.add(given)


def _document_tags(
    schema: GraphQLSchema, document: str, variables: dict[str, Any]
) -> tuple[set[str], set[str], set[str]]:
    """The type tags a document selects, its regions, and the response keys of its ids."""
    try:
        parsed = parse(document, no_location=True)
    except GraphQLError:
        return set(), set(), {"id"}
    found = _Selected(schema, variables)
    visit(parsed, TypeInfoVisitor(found.type_info, found))
    regions = {r for r in found.regions if r.isascii() and r.isalnum() and len(r) <= 8}
    return found.tags, regions, found.id_keys


class HttpCache:
    """GET /graphql through the cache: `respond` is the view's answer without caching."""

    def __init__(
        self,
        max_age_s: int,
        max_bytes: int,
        version: Callable[[], int | None],
        fingerprint: str,
        limiter: Limiter | None,
        api_keys: frozenset[str],
        schema: GraphQLSchema,
    ) -> None:
        self.schema = schema
        self.max_age = f"public, max-age={max_age_s}".encode()
        self.cache = ResponseCache(max_bytes)
        self.version = version
        self.fingerprint = fingerprint
        self.limiter = limiter
        self.api_keys = api_keys
        # Keys of recent GETs by their query string as sent: a repeated GET (a cache hit's
        # usual case) is keyed without parsing its parameters, decoding its JSON or hashing
        # (47 of some 150 us a hit took). Forgotten all at once past KEY_MEMO_BYTES.
        self._keys: dict[tuple[int, bool, bytes], Key | None] = {}
        self._keys_bytes = 0
        # Cacheable GETs answered from the cache (or 304) and not (for /metrics).
        self.hits = self.misses = 0

    def key(self, scope: Scope) -> Key | None:
        """request_key for this cache's version and fingerprint, remembered by query string."""
        version = self.version()
        if version is None:
            return None
        raw: bytes = scope.get("query_string", b"")
        accept = Headers(scope=scope).get("accept", "")
        memo = (version, GRAPHQL_RESPONSE_JSON in accept, raw)
        try:
            return self._keys[memo]
        except KeyError:
            pass
        key = request_key(scope, version, self.fingerprint)
        size = len(raw) + 2 * (len(key.text) if key is not None else 0)
        if self._keys_bytes + size > KEY_MEMO_BYTES:
            self._keys.clear()
            self._keys_bytes = 0
        self._keys[memo] = key
        self._keys_bytes += size
        return key

    async def serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        respond: Callable[[Scope, Receive, Send], Awaitable[None]],
    ) -> None:
        key = await self.answered(scope, send)
        if key is not True:
            await self._miss(scope, receive, send, respond, key)

    async def answered(
        self, scope: Scope, send: Send, vary: bytes = b"accept"
    ) -> Key | bool | None:
        """Answer a GET from its key alone (304, or the cached bytes): True once answered,
        else its key (None: not cacheable as sent) for the view to answer and cache. `vary`:
        the answer's Vary (graph/app.py's App adds Origin, which the middleware would)."""
        key = self.key(scope)
        if key is None:
            return None
        # Answered here only if the client is within its rate limit; past it, the view
        # refuses it as without caching.
        if not_modified(scope, key.etag) and await self._charged(scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [
                        (b"cache-control", self.max_age),
                        (b"etag", key.etag),
                        (b"vary", vary),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            self.hits += 1
            return True
        entry = self.cache.get(key.text) if self.cache.max_bytes else None
        if entry is not None and await self._charged(scope):
            observed = current()
            if observed is not None:
                observed.operation_type, observed.operation_name = entry.operation
            await self._send_entry(send, entry, vary)
            self.hits += 1
            return True
        return key

    async def _charged(self, scope: Scope) -> bool:
        """An answer from the cache costs one point of the client's rate limit, as any
        operation does before it runs (its cost is not charged: nothing runs). Past the
        limit, the view answers (and refuses) as without caching."""
        if self.limiter is None:
            return True
        headers = Headers(scope=scope)
        address = scope["client"][0] if scope.get("client") else None
        client = client_key(headers.get("x-api-key"), address, self.api_keys)
        return await self.limiter.charge(client, 1) is None

    async def _send_entry(self, send: Send, entry: Entry, vary: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", entry.content_type),
                    (b"content-length", str(len(entry.body)).encode()),
                    (b"cache-control", self.max_age),
                    (b"etag", entry.etag),
                    (b"vary", vary),
                    (b"cache-tag", entry.tags),
                ],
            }
        )
        await send({"type": "http.response.body", "body": entry.body})

    async def _miss(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        respond: Callable[[Scope, Receive, Send], Awaitable[None]],
        key: Key | bool | None,
    ) -> None:
        if not isinstance(key, Key):
            key = None
        else:
            self.misses += 1
        start: Message | None = None
        chunks: list[bytes] = []
        passing = False

        async def capture(message: Message) -> None:
            nonlocal start, passing
            if passing:
                await send(message)
            elif message["type"] == "http.response.start":
                start = message
                if _content_type(message).split(b";")[0].strip() not in JSON_TYPES:
                    passing = True  # the GraphiQL page, a stream: not ours to cache
                    # Still chosen by Accept (a browser gets GraphiQL, a client JSON): a CDN
                    # must not hand the page to a client.
                    headers = [(n, v) for n, v in message["headers"] if n != b"vary"]
                    await send({**message, "headers": [*headers, (b"vary", b"accept")]})
            else:
                chunks.append(message.get("body", b""))

        await respond(scope, receive, capture)
        if passing or start is None:
            return
        body = b"".join(chunks)
        headers = [(n, v) for n, v in start["headers"] if n not in (b"cache-control", b"vary")]
        headers.append((b"vary", b"accept"))
        entry = self._cacheable(scope, start, body, key)
        if entry is None:
            headers.append((b"cache-control", b"no-store"))
        else:
            assert key is not None
            headers += [
                (b"cache-control", self.max_age),
                (b"etag", entry.etag),
                (b"cache-tag", entry.tags),
            ]
            if self.cache.max_bytes:
                self.cache.put(key.text, entry)
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _cacheable(
        self, scope: Scope, start: Message, body: bytes, key: Key | None
    ) -> Entry | None:
        """The entry for this answer, None if it may not be cached: an error (of the request,
        a field, the rate limit, a timeout), or a data version that changed while it ran
        (the answer may hold the older data or the newer)."""
        if key is None or start["status"] != 200 or self.version() != key.version:
            return None
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        if not isinstance(parsed, dict) or parsed.get("errors") or "data" not in parsed:
            return None
        document = scope.get("state", {}).get("document")
        tags = cache_tags(self.schema, parsed, document, key.variables)
        observed = current()
        operation = (observed.operation_type, observed.operation_name) if observed else ("", "")
        return Entry(body, _content_type(start), key.etag, tags.encode(), operation)


def _content_type(start: Message) -> bytes:
    for name, value in start["headers"]:
        if name == b"content-type":
            found: bytes = value
            return found
    return b""


def no_store(send: Send) -> Send:
    """`send` adding Cache-Control: no-store to the answer (POST: never cached)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(n, v) for n, v in message["headers"] if n != b"cache-control"]
            message = {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
        await send(message)

    return sending


def fingerprint(*parts: object) -> str:
    """What besides the key makes answers differ between deployments (the server's version,
    its cursor key, its execution settings): part of every ETag."""
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()[:16]


def log_version_change(cache: ResponseCache) -> Callable[[int | None], None]:
    def changed(version: int | None) -> None:
        log.info("data version changed version=%s cached_dropped=%d", version, len(cache.entries))
        cache.clear()

    return changed


class CacheFront:
    """GET /graphql answered from the cache before admission, the body's reading and the
    view: a cache hit needs no pool connection, no parsing, no Strawberry. The URL limit
    still applies (past it, the app behind answers 414)."""

    def __init__(self, app: ASGIApp, cache: HttpCache, max_url_bytes: int) -> None:
        self.app = app
        self.cache = cache
        self.max_url = max_url_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and await self.hit(scope, send):
            return
        await self.app(scope, receive, send)

    async def hit(self, scope: Scope, send: Send, vary: bytes = b"accept") -> bool:
        """Whether the request, a GET or HEAD within the URL limit, was answered from the
        cache (a 304 or the cached bytes)."""
        return (
            scope["method"] in ("GET", "HEAD")
            and len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
            <= self.max_url
            and await self.cache.answered(scope, send, vary) is True
        )
