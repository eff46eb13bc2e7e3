"""Settings: one frozen dataclass, read from the environment once at start-up."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _default_data_dir() -> Path:
    # Root gets a system location: PostgreSQL runs as an unprivileged user, which cannot reach
    # into /root.
    if os.geteuid() == 0:
        return Path("/var/lib/filmgraph")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "filmgraph"


def _int(name: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer setting within its range: by default a count or a duration, so at least 1
    (a pool of no connections, or a head timeout of 0 ms, would start a server that answers
    nothing, or fail at start-up with a traceback)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SystemExit(f"{name} must be at most {maximum}, got {value}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name} must be 1 or 0, got {raw!r}")


def _list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


def _path(name: str) -> Path | None:
    raw = os.environ.get(name)
    return Path(raw) if raw else None


ENVIRONMENTS = ("development", "production")
EXECUTIONS = ("compiled", "resolvers")
LOG_FORMATS = ("text", "json")
TRACING = ("off", "otlp", "console")
RATE_LIMIT_STORES = ("process", "postgres")
# What /bin/sh still interprets inside double quotes: the quote itself, $, `, a line break,
# and a backslash before a backslash (a lone one elsewhere stays as it is).
_SHELL_SPECIAL = re.compile(r'["$`\n]|\\\\')


def served_url(host: str, port: int) -> str:
    """The URL a server listening on host:port answers at: FILMGRAPH_PUBLIC_URL's default."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def public_url_set() -> bool:
    """Whether FILMGRAPH_PUBLIC_URL is given (else the URL follows the host and port)."""
    return bool((os.environ.get("FILMGRAPH_PUBLIC_URL") or "").rstrip("/"))


def _public_url() -> str:
    url = (os.environ.get("FILMGRAPH_PUBLIC_URL") or "").rstrip("/")
    if not url:
        host = os.environ.get("FILMGRAPH_HOST") or DEFAULT_HOST
        return served_url(host, _int("FILMGRAPH_PORT", DEFAULT_PORT, 1, 65_535))
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url):
        raise SystemExit(
            "FILMGRAPH_PUBLIC_URL must be an http(s) URL without query or fragment, e.g. "
            f"https://films.example.org, got {url[:100]!r}"
        )
    return url


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know from outside."""

    database_url: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = Path()
    pool_min_size: int = 1
    pool_max_size: int = 10
    statement_timeout_ms: int = 3_000
    pool_timeout_ms: int = 2_000
    pool_queue: int = 20
    request_timeout_ms: int = 10_000
    # On SIGTERM, how long the requests in flight may take to finish (graph/draining.py).
    drain_timeout_ms: int = 30_000
    # How long a client may take to send a request's head, and then its body.
    header_timeout_ms: int = 10_000
    body_timeout_ms: int = 10_000
    environment: str = "development"
    # Limits, all checked before any SQL runs (README, "Limits").
    max_body_bytes: int = 1_000_000
    max_url_bytes: int = 8_192
    max_tokens: int = 2_000
    max_document_chars: int = 50_000
    # The memory parsed and validated documents may hold for reuse (an estimate, in bytes).
    document_cache_bytes: int = 64_000_000
    max_query_depth: int = 12
    max_aliases: int = 15
    max_root_fields: int = 10
    max_directives: int = 10
    max_field_repeats: int = 20
    max_cost: int = 10_000
    max_variables_depth: int = 32
    # Development conveniences; FILMGRAPH_ENV=production turns each off unless set.
    # Batched requests (a JSON array of operations), costed together.
    batching: bool = False
    max_batch: int = 5
    # Cost points per client per minute; off in development, on in production.
    rate_limit: bool = False
    rate_limit_points: int = 100_000
    # Where the buckets live: "process" (each process its own) or "postgres" (one table that
    # every process and server of the deployment shares; graph/sharedlimit.py), and for the
    # latter the points a process takes from a shared bucket at a time.
    rate_limit_store: str = "process"
    rate_limit_lease_points: int = 1_000
    # API keys that name a client of their own; any other key counts as its address.
    api_keys: frozenset[str] = frozenset()
    # Origins allowed to call the API from a browser (CORS); none by default.
    cors_origins: tuple[str, ...] = ()
    graphiql: bool = True
    introspection: bool = True
    suggestions: bool = True
    cursor_secret: str | None = None
    # serve on DATABASE_URL applies pending migrations on start; production migrates as a step
    # of its own (`filmgraph migrate`), so that replicas starting together do not race to
    # change the schema and the API's role needs no DDL rights. The embedded database is
    # always migrated.
    migrate_on_start: bool = True
    # How operations run: "compiled" runs each operation the compiler can take as one SQL
    # statement and the rest through the resolvers; "resolvers" runs every one through the
    # resolvers (the reference semantics, for comparison and as a fallback).
    execution: str = "compiled"
    # Say in `extensions.execution` which path served a response; off in production.
    explain_execution: bool = True
    # Compiled requests that run the same statement at the same time share one round trip
    # (graph/compiled/coalesce.py).
    coalesce: bool = True
    # Persisted documents (docs/caching.md): a manifest of trusted documents loaded at start,
    # whether only those are accepted, and the memory for automatic persisted queries.
    trusted_documents: Path | None = None
    trusted_only: bool = False
    apq_cache_bytes: int = 8_000_000
    # HTTP caching of GET /graphql: the max-age of a cacheable answer, and the memory of the
    # in-process response cache (0: none).
    cache_max_age_s: int = 0
    response_cache_bytes: int = 32_000_000
    # The API's public URL, without a trailing slash: the base of the JSON-LD `@id`s
    # (`{public_url}/films/{slug}`, the page that serves that document).
    public_url: str = "http://127.0.0.1:8000"
    # Read replicas (graph/replicas.py): their URLs, the most a usable one may lag the
    # primary, and how often each is checked.
    replica_urls: tuple[str, ...] = ()
    replica_max_lag_ms: int = 5_000
    replica_check_ms: int = 1_000
    # Observability (docs/observability.md): /metrics, and the token it asks for; the format of
    # the log (one JSON line per request with "json"); where spans go (OpenTelemetry).
    metrics: bool = True
    metrics_token: str | None = None
    # A port of its own for /metrics (on the same host), off the API's.
    metrics_port: int | None = None
    log_format: str = "text"
    tracing: str = "off"

    @property
    def observed(self) -> bool:
        """Whether requests are measured (their SQL statements counted) at all."""
        return self.metrics or self.log_format == "json" or self.tracing != "off"

    @classmethod
    def from_env(cls) -> Settings:
        environment = os.environ.get("FILMGRAPH_ENV") or "development"
        if environment not in ENVIRONMENTS:
            raise SystemExit(f"FILMGRAPH_ENV must be one of {ENVIRONMENTS}, got {environment!r}")
        development = environment == "development"
        settings = cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            host=os.environ.get("FILMGRAPH_HOST") or DEFAULT_HOST,
            port=_int("FILMGRAPH_PORT", DEFAULT_PORT, 1, 65_535),
            data_dir=Path(os.environ.get("FILMGRAPH_DATA_DIR") or _default_data_dir()),
            pool_min_size=_int("FILMGRAPH_POOL_MIN", 1, 0),
            pool_max_size=_int("FILMGRAPH_POOL_MAX", 10),
            statement_timeout_ms=_int("FILMGRAPH_STATEMENT_TIMEOUT_MS", 3_000),
            pool_timeout_ms=_int("FILMGRAPH_POOL_TIMEOUT_MS", 2_000),
            pool_queue=_int("FILMGRAPH_POOL_QUEUE", 20, 0),
            request_timeout_ms=_int("FILMGRAPH_REQUEST_TIMEOUT_MS", 10_000),
            drain_timeout_ms=_int("FILMGRAPH_DRAIN_TIMEOUT_MS", 30_000),
            header_timeout_ms=_int("FILMGRAPH_HEADER_TIMEOUT_MS", 10_000),
            body_timeout_ms=_int("FILMGRAPH_BODY_TIMEOUT_MS", 10_000),
            environment=environment,
            max_body_bytes=_int("FILMGRAPH_MAX_BODY_BYTES", 1_000_000),
            max_url_bytes=_int("FILMGRAPH_MAX_URL_BYTES", 8_192),
            max_tokens=_int("FILMGRAPH_MAX_TOKENS", 2_000),
            max_document_chars=_int("FILMGRAPH_MAX_DOCUMENT_CHARS", 50_000),
            document_cache_bytes=_int("FILMGRAPH_DOCUMENT_CACHE_BYTES", 64_000_000, 0),
            max_query_depth=_int("FILMGRAPH_MAX_DEPTH", 12),
            max_aliases=_int("FILMGRAPH_MAX_ALIASES", 15),
            max_root_fields=_int("FILMGRAPH_MAX_ROOT_FIELDS", 10),
            max_directives=_int("FILMGRAPH_MAX_DIRECTIVES", 10),
            max_field_repeats=_int("FILMGRAPH_MAX_FIELD_REPEATS", 20),
            max_cost=_int("FILMGRAPH_MAX_COST", 10_000),
            max_variables_depth=_int("FILMGRAPH_MAX_VARIABLES_DEPTH", 32),
            batching=_bool("FILMGRAPH_BATCHING", False),
            max_batch=_int("FILMGRAPH_MAX_BATCH", 5),
            rate_limit=_bool("FILMGRAPH_RATE_LIMIT", not development),
            rate_limit_points=_int("FILMGRAPH_RATE_LIMIT_POINTS", 100_000),
            rate_limit_store=os.environ.get("FILMGRAPH_RATE_LIMIT_STORE") or "process",
            rate_limit_lease_points=_int("FILMGRAPH_RATE_LIMIT_LEASE_POINTS", 1_000),
            api_keys=frozenset(_list("FILMGRAPH_API_KEYS")),
            cors_origins=_list("FILMGRAPH_CORS_ORIGINS"),
            graphiql=_bool("FILMGRAPH_GRAPHIQL", development),
            introspection=_bool("FILMGRAPH_INTROSPECTION", development),
            suggestions=_bool("FILMGRAPH_SUGGESTIONS", development),
            cursor_secret=os.environ.get("FILMGRAPH_CURSOR_SECRET") or None,
            migrate_on_start=_bool("FILMGRAPH_MIGRATE_ON_START", development),
            execution=os.environ.get("FILMGRAPH_EXECUTION") or "compiled",
            explain_execution=_bool("FILMGRAPH_EXPLAIN_EXECUTION", development),
            coalesce=_bool("FILMGRAPH_COALESCE", True),
            trusted_documents=_path("FILMGRAPH_TRUSTED_DOCUMENTS"),
            trusted_only=_bool("FILMGRAPH_TRUSTED_ONLY", False),
            apq_cache_bytes=_int("FILMGRAPH_APQ_CACHE_BYTES", 8_000_000, 0),
            cache_max_age_s=_int("FILMGRAPH_CACHE_MAX_AGE_S", 0, 0),
            response_cache_bytes=_int("FILMGRAPH_RESPONSE_CACHE_BYTES", 32_000_000, 0),
            public_url=_public_url(),
            replica_urls=_list("FILMGRAPH_REPLICA_URLS"),
            replica_max_lag_ms=_int("FILMGRAPH_REPLICA_MAX_LAG_MS", 5_000),
            replica_check_ms=_int("FILMGRAPH_REPLICA_CHECK_MS", 1_000),
            metrics=_bool("FILMGRAPH_METRICS", True),
            metrics_token=os.environ.get("FILMGRAPH_METRICS_TOKEN") or None,
            metrics_port=_int("FILMGRAPH_METRICS_PORT", 0, 1, 65_535) or None,
            log_format=os.environ.get("FILMGRAPH_LOG_FORMAT") or "text",
            tracing=os.environ.get("FILMGRAPH_TRACING") or "off",
        )
        for name, value, allowed in (
            ("FILMGRAPH_LOG_FORMAT", settings.log_format, LOG_FORMATS),
            ("FILMGRAPH_TRACING", settings.tracing, TRACING),
        ):
            if value not in allowed:
                raise SystemExit(f"{name} must be one of {allowed}, got {value!r}")
        if settings.trusted_only and settings.trusted_documents is None:
            raise SystemExit(
                "FILMGRAPH_TRUSTED_ONLY needs FILMGRAPH_TRUSTED_DOCUMENTS (the manifest of the "
                "documents to accept)"
            )
        if settings.execution not in EXECUTIONS:
            raise SystemExit(
                f"FILMGRAPH_EXECUTION must be one of {EXECUTIONS}, got {settings.execution!r}"
            )
        if settings.rate_limit_store not in RATE_LIMIT_STORES:
            raise SystemExit(
                f"FILMGRAPH_RATE_LIMIT_STORE must be one of {RATE_LIMIT_STORES}, got "
                f"{settings.rate_limit_store!r}"
            )
        if settings.database_url is None and _SHELL_SPECIAL.search(str(settings.data_dir)):
            # pg_ctl starts the server through /bin/sh with its paths in double quotes: a path
            # with one of these characters fails there with a misleading "Directory nonexistent".
            raise SystemExit(
                'FILMGRAPH_DATA_DIR must not contain ", $, `, two backslashes in a row or a '
                f"line break (pg_ctl passes it to /bin/sh), got {str(settings.data_dir)!r}; "
                "set FILMGRAPH_DATA_DIR to another folder"
            )
        if settings.metrics_port == settings.port:
            raise SystemExit(
                f"FILMGRAPH_METRICS_PORT ({settings.metrics_port}) must differ from the API's "
                "port (FILMGRAPH_PORT)"
            )
        if settings.pool_min_size > settings.pool_max_size:
            raise SystemExit(
                f"FILMGRAPH_POOL_MIN ({settings.pool_min_size}) must not exceed "
                f"FILMGRAPH_POOL_MAX ({settings.pool_max_size})"
            )
        return settings
