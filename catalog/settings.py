"""One frozen settings object, read from CATALOG_* variables by each entry point."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from catalog.errors import InvalidInputError

_NATS_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def nats_prefix(value: str) -> str:
    """One subject token that can also name a stream: letters, digits, `_` and `-`."""
    if not _NATS_PREFIX.match(value):
        raise InvalidInputError(
            f"CATALOG_NATS_PREFIX must be 1 to 32 letters, digits, '_' or '-', got {value!r}"
        )
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".catalog-data")
    host: str = "127.0.0.1"
    port: int = 8000
    # Unset URLs mean "embedded": the program starts PostgreSQL / NATS itself, and uses tantivy.
    database_url: str | None = field(default=None, repr=False)
    nats_url: str | None = None
    # Names this deployment's subjects ("<prefix>.crawl.batch"), stream and consumer, so several
    # deployments can share one NATS.
    nats_prefix: str = "catalog"
    # NATS authentication and TLS beyond what the URL holds (nats://user:password@host or
    # nats://token@host): a .creds file (JWT and NKey), and the CA bundle for tls://.
    nats_creds: str | None = None
    nats_ca: str | None = None
    opensearch_url: str | None = field(default=None, repr=False)
    opensearch_index: str = "catalog"
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    admin_token: str | None = field(default=None, repr=False)
    workers: int = 2
    # `catalog up`: how many gateway processes share the port (0: one per CPU), and how much
    # lower the indexer's CPU priority is than theirs (0 to 19), so search stays quick during
    # a crawl and the crawl takes what searches leave.
    gateway_processes: int = 0
    indexer_nice: int = 10
    # Each gateway process keeps answers to repeated searches and suggestions, up to this many
    # MiB (0: none). Answers are keyed by the live generations they were computed from, so a
    # finished crawl is seen at once.
    search_cache_mb: int = 64
    # Bind the port with SO_REUSEPORT, so several gateway processes on one host share it.
    reuse_port: bool = False
    batch_size: int = 500
    # A target that does not answer fails its first connect this soon, so it cannot hold a
    # worker for long (and tenant shares keep other tenants going meanwhile).
    connect_timeout: float = 5.0
    statement_timeout: float = 120.0
    ack_wait: float = 60.0
    max_deliver: int = 8
    # Transient failures are retried after retry_delay, doubling up to retry_delay_max.
    retry_delay: float = 1.0
    retry_delay_max: float = 60.0
    # Fail-safe: a crawl that would remove more than this share of the live tables is held,
    # not published, until someone confirms the fall.
    stale_fail_safe: float = 0.75
    # The indexer's index watch: every this many seconds it recreates a missing index, has the
    # databases whose live documents went missing re-crawled, and fails as `stalled` a running
    # crawl that has not moved on for crawl_stall_timeout seconds (the backstop if JetStream's
    # max-deliveries advisory was lost; keep it well above ack_wait * max_deliver).
    index_check_interval: float = 30.0
    crawl_stall_timeout: float = 1800.0
    # How long the change history keeps what each crawl found changed (the watch prunes it).
    change_retention_days: float = 90.0
    # The shortest crawl_interval a database may be given, in seconds (tests lower it).
    min_crawl_interval: int = 300
    # A crawl is full, reading every relation again, when the database's last full crawl
    # finished longer ago than this: incremental crawls keep the row estimates and sizes of the
    # relations they do not read, so this bounds how old those may get.
    full_crawl_days: float = 7.0
    log_level: str = "INFO"
    # SSRF guard: networks (CIDR) targets may (allow; empty = any) or may not (deny) live in.
    target_allow: tuple[str, ...] = ()
    target_deny: tuple[str, ...] = ()
    # Whether targets may be this host (loopback, 0.0.0.0): off for a server, which must not let
    # tenants reach what listens beside it; `catalog up` turns it on, local use being its point.
    target_this_host: bool = False
    # Abuse limits: requests per second per caller (with a burst), crawls queued or running
    # per tenant.
    rate_limit: float = 50.0
    rate_burst: int = 100
    # Failed authentications per client address (each unknown token costs a store query): a
    # burst, then this many per second; past it, unknown tokens from there get a 429.
    auth_failure_rate: float = 1.0
    auth_failure_burst: int = 20
    # Seconds a connection may sit without a complete request (idle, or sending its headers a
    # byte at a time) before the gateway closes it: half-open connections cost a slot each.
    idle_timeout: float = 15.0
    max_crawls_per_tenant: int = 10
    # OIDC bearer tokens (unset issuer: only the catalog's own API tokens are accepted).
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_tenant_claim: str = "tenant"
    oidc_role_claim: str = "role"
    oidc_leeway: float = 60.0
    # The web UI's sign-in through the same issuer (authorization code with PKCE): the client id
    # of a public application registered there, and the scopes it asks for.
    oidc_client_id: str | None = None
    oidc_scope: str = "openid profile email"
    # More abbreviations for search to look words up as (catalog.abbreviations): a file of
    # `short = word` lines, added to the built-in ones.
    abbreviations_file: Path | None = None
    # Prometheus metrics (catalog.metrics) on this host and port; unset or 0: not served.
    # `catalog up` serves them for all its processes on 127.0.0.1:9464 unless told otherwise.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(f"CATALOG_{name}", "").strip()
            return value or None

        def number(name: str, default: float, kind: type[int] | type[float]) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise InvalidInputError(f"CATALOG_{name} must be a number, got {raw!r}") from None
            if value <= 0:
                raise InvalidInputError(f"CATALOG_{name} must be positive, got {raw!r}")
            return value

        def whole(name: str, default: int, low: int, high: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            if not raw.isdigit() or not low <= int(raw) <= high:
                raise InvalidInputError(
                    f"CATALOG_{name} must be a whole number from {low} to {high}, got {raw!r}"
                )
            return int(raw)

        def listed(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in (get(name) or "").split(",") if v.strip())

        base = cls()
        return cls(
            data_dir=Path(get("DATA_DIR") or base.data_dir),
            host=get("HOST") or base.host,
            port=int(number("PORT", base.port, int)),
            database_url=get("DATABASE_URL"),
            nats_url=get("NATS_URL"),
            nats_prefix=nats_prefix(get("NATS_PREFIX") or base.nats_prefix),
            nats_creds=get("NATS_CREDS"),
            nats_ca=get("NATS_CA"),
            opensearch_url=get("OPENSEARCH_URL"),
            opensearch_index=get("OPENSEARCH_INDEX") or base.opensearch_index,
            secret_keys=listed("SECRET_KEYS"),
            admin_token=get("ADMIN_TOKEN"),
            workers=int(number("WORKERS", base.workers, int)),
            gateway_processes=whole("GATEWAY_PROCESSES", base.gateway_processes, 0, 64),
            indexer_nice=whole("INDEXER_NICE", base.indexer_nice, 0, 19),
            search_cache_mb=whole("SEARCH_CACHE_MB", base.search_cache_mb, 0, 65536),
            reuse_port=(get("REUSE_PORT") or "").lower() in ("1", "true", "yes"),
            batch_size=int(number("BATCH_SIZE", base.batch_size, int)),
            connect_timeout=number("CONNECT_TIMEOUT", base.connect_timeout, float),
            statement_timeout=number("STATEMENT_TIMEOUT", base.statement_timeout, float),
            ack_wait=number("ACK_WAIT", base.ack_wait, float),
            max_deliver=int(number("MAX_DELIVER", base.max_deliver, int)),
            retry_delay=number("RETRY_DELAY", base.retry_delay, float),
            retry_delay_max=number("RETRY_DELAY_MAX", base.retry_delay_max, float),
            stale_fail_safe=number("STALE_FAIL_SAFE", base.stale_fail_safe, float),
            index_check_interval=number("INDEX_CHECK_INTERVAL", base.index_check_interval, float),
            crawl_stall_timeout=number("CRAWL_STALL_TIMEOUT", base.crawl_stall_timeout, float),
            change_retention_days=number(
                "CHANGE_RETENTION_DAYS", base.change_retention_days, float
            ),
            min_crawl_interval=int(number("MIN_CRAWL_INTERVAL", base.min_crawl_interval, int)),
            full_crawl_days=number("FULL_CRAWL_DAYS", base.full_crawl_days, float),
            log_level=(get("LOG_LEVEL") or base.log_level).upper(),
            target_allow=listed("TARGET_ALLOW"),
            target_deny=listed("TARGET_DENY"),
            target_this_host=(get("TARGET_THIS_HOST") or "").lower() in ("1", "true", "yes"),
            rate_limit=number("RATE_LIMIT", base.rate_limit, float),
            rate_burst=int(number("RATE_BURST", base.rate_burst, int)),
            auth_failure_rate=number("AUTH_FAILURE_RATE", base.auth_failure_rate, float),
            auth_failure_burst=int(number("AUTH_FAILURE_BURST", base.auth_failure_burst, int)),
            idle_timeout=number("IDLE_TIMEOUT", base.idle_timeout, float),
            max_crawls_per_tenant=int(
                number("MAX_CRAWLS_PER_TENANT", base.max_crawls_per_tenant, int)
            ),
            oidc_issuer=get("OIDC_ISSUER"),
            oidc_audience=get("OIDC_AUDIENCE"),
            oidc_jwks_url=get("OIDC_JWKS_URL"),
            oidc_tenant_claim=get("OIDC_TENANT_CLAIM") or base.oidc_tenant_claim,
            oidc_role_claim=get("OIDC_ROLE_CLAIM") or base.oidc_role_claim,
            oidc_leeway=number("OIDC_LEEWAY", base.oidc_leeway, float),
            oidc_client_id=get("OIDC_CLIENT_ID"),
            abbreviations_file=Path(found) if (found := get("ABBREVIATIONS_FILE")) else None,
            oidc_scope=get("OIDC_SCOPE") or base.oidc_scope,
            metrics_host=get("METRICS_HOST") or base.metrics_host,
            metrics_port=whole("METRICS_PORT", 0, 0, 65535) if get("METRICS_PORT") else None,
        )
