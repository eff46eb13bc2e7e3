"""Persisted documents: automatic persisted queries (Apollo's `extensions.persistedQuery`
protocol) and trusted documents (a registered set, loaded at start, that production can
require). The protocol is in docs/caching.md.

A request names its document by hash, sends it, or both. Resolved here to the document's
text (or refused with a stable code) before anything parses it.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError

from graph import errors
from graph.settings import Settings

SETTING = "FILMGRAPH_TRUSTED_DOCUMENTS"
APOLLO_FORMAT = "apollo-persisted-query-manifest"
# Per stored document besides its text: the key, the entry and the dictionary's share.
ENTRY_OVERHEAD = 200


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class TrustedDocuments:
    """The registered documents: by the id clients call them with, and the sha256 of every
    text (a document sent whole is trusted when its text is registered, under any id)."""

    by_id: Mapping[str, str]
    hashes: frozenset[str]

    @classmethod
    def of(cls, by_id: Mapping[str, str]) -> TrustedDocuments:
        return cls(dict(by_id), frozenset(sha256(text) for text in by_id.values()))


NO_TRUSTED_DOCUMENTS = TrustedDocuments({}, frozenset())


def trusted_documents(settings: Settings) -> TrustedDocuments:
    """The documents of settings.trusted_documents (none without the setting)."""
    if settings.trusted_documents is None:
        return NO_TRUSTED_DOCUMENTS
    return load_trusted(settings.trusted_documents)


def load_trusted(path: Path) -> TrustedDocuments:
    """The manifest at `path`: GraphQL Code Generator's {hash: document} (client preset,
    persisted-documents.json) or Apollo's persisted query manifest. A file that is neither
    stops the start with one line naming the setting."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, ValueError) as exc:
        raise SystemExit(f"{SETTING}: cannot read {str(path)!r}: {_reason(exc)}") from None
    try:
        return TrustedDocuments.of(_manifest(data))
    except ValueError as exc:
        raise SystemExit(f"{SETTING}: {str(path)!r} is not a manifest: {exc}") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc).splitlines()[0]


def _manifest(data: Any) -> dict[str, str]:
    if isinstance(data, dict) and data.get("format") == APOLLO_FORMAT:
        if data.get("version") not in (None, 1):
            raise ValueError(f"unsupported {APOLLO_FORMAT} version {data.get('version')!r}")
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ValueError("`operations` must be a list")
        out: dict[str, str] = {}
        for i, op in enumerate(operations):
            if not isinstance(op, dict):
                raise ValueError(f"operations[{i}] must be an object")
            op_id, body = op.get("id"), op.get("body")
            if not isinstance(op_id, str) or not op_id or not isinstance(body, str) or not body:
                raise ValueError(f"operations[{i}] needs a string `id` and `body`")
            out[op_id] = body
        return out
    if isinstance(data, dict) and "format" not in data:
        for key, value in data.items():
            if not key or not isinstance(value, str) or not value:
                raise ValueError(f"entry {key[:80]!r} must map a hash to a document (a string)")
        return dict(data)
    raise ValueError(f'expected {{"hash": "document", ...}} or a "format": "{APOLLO_FORMAT}"')


class APQStore:
    """Documents registered by automatic persisted queries: the least recently used go once
    their texts add up past max_bytes. Per process: another process (or worker) that has not
    seen a document answers PersistedQueryNotFound, and the client sends it again."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.entries: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        text = self.entries.get(key)
        if text is not None:
            self.entries.move_to_end(key)
        return text

    def put(self, key: str, text: str) -> None:
        size = len(text) + ENTRY_OVERHEAD
        if key in self.entries or size > self.max_bytes:
            return
        self.entries[key] = text
        self.size += size
        while self.size > self.max_bytes:
            _, dropped = self.entries.popitem(last=False)
            self.size -= len(dropped) + ENTRY_OVERHEAD


def requested_hash(extensions: Mapping[str, Any] | None) -> str | None:
    """The sha256Hash of a request's `extensions.persistedQuery`, None without one; 400 for a
    malformed one (BAD_REQUEST)."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise HTTPException(400, "Malformed request: `extensions.persistedQuery` must be an object")
    if persisted.get("version") != 1:
        raise HTTPException(400, "Malformed request: `extensions.persistedQuery.version` must be 1")
    found = persisted.get("sha256Hash")
    if not isinstance(found, str) or not found:
        raise HTTPException(
            400, "Malformed request: `extensions.persistedQuery.sha256Hash` must be a string"
        )
    return found


class Documents:
    """What a request's document is: sent, registered (APQ) or trusted, or refused."""

    def __init__(self, trusted: TrustedDocuments, trusted_only: bool, apq_bytes: int) -> None:
        self.trusted = trusted
        self.trusted_only = trusted_only
        self.apq = APQStore(apq_bytes)

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
        """The document to run; raises a GraphQLError (a request error, nothing executed) for
        an unknown hash, a mismatched one or, when trusted documents are required, any other
        document. None when the request has neither (Strawberry then says so)."""
        wanted = requested_hash(extensions)
        if query is None:
            if wanted is None:
                return None
            text = self.trusted.by_id.get(wanted)
            if text is None and not self.trusted_only:
                text = self.apq.get(wanted)
            if text is None:
                raise GraphQLError(
                    "PersistedQueryNotFound",
                    extensions={"code": errors.PERSISTED_QUERY_NOT_FOUND},
                )
            return text
        if wanted is not None and wanted in self.trusted.by_id:
            if self.trusted.by_id[wanted] != query:
                raise _mismatch()
            return query
        digest = sha256(query)
        if wanted is not None and wanted != digest:
            raise _mismatch()
        if self.trusted_only and digest not in self.trusted.hashes:
            raise GraphQLError(
                "Only trusted documents are accepted: call a registered document by its hash.",
                extensions={"code": errors.DOCUMENT_NOT_TRUSTED},
            )
        if wanted is not None:
            self.apq.put(wanted, query)
        return query


def _mismatch() -> GraphQLError:
    return GraphQLError(
        "provided sha does not match query",
        extensions={"code": errors.PERSISTED_QUERY_HASH_MISMATCH},
    )


def document_key(query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
    """The hash that names a GET's document in cache keys and ETags, without resolving it:
    the persisted hash (when a document is also sent, only if it is that document's), else
    the sha256 of the document. None for a request that cannot be cached as sent."""
    try:
        wanted = requested_hash(extensions)
    except HTTPException:
        return None
    if query is None:
        return wanted
    digest = sha256(query)
    return digest if wanted in (None, digest) else None
