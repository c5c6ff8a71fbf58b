"""Domain models. No driver types: adapters translate to and from these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Engine(StrEnum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"  # MySQL 5.7/8.x and MariaDB 10.5+


class CrawlState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    # Every batch is done: the crawl is being published (or held by the fail-safe).
    FINISHING = "finishing"
    COMPLETE = "complete"
    FAILED = "failed"
    # Complete, but it would remove more tables than the fail-safe allows: not published
    # until confirmed. Readers keep the previous generation.
    HELD = "held"


# Queued, running or finishing: a crawl that still has work to do (and counts against the
# tenant's cap, and holds back requests that come after its plan).
ACTIVE_CRAWL_STATES = (CrawlState.QUEUED, CrawlState.RUNNING, CrawlState.FINISHING)


class TableType(StrEnum):
    TABLE = "table"
    VIEW = "view"
    MATERIALIZED_VIEW = "materialized_view"
    PARTITIONED_TABLE = "partitioned_table"
    FOREIGN_TABLE = "foreign_table"


class SslMode(StrEnum):
    """TLS to a target, in the words (and with the meanings) of the engine's own client."""

    # PostgreSQL (libpq)
    DISABLE = "disable"
    ALLOW = "allow"
    PREFER = "prefer"
    REQUIRE = "require"  # encrypted, server not verified
    VERIFY_CA = "verify-ca"  # encrypted, certificate signed by the CA bundle (or system CAs)
    VERIFY_FULL = "verify-full"  # and issued for the host name
    # MySQL and MariaDB (--ssl-mode)
    DISABLED = "disabled"
    PREFERRED = "preferred"
    REQUIRED = "required"  # encrypted, server not verified
    MYSQL_VERIFY_CA = "verify_ca"  # encrypted, certificate signed by the CA bundle
    VERIFY_IDENTITY = "verify_identity"  # and issued for the host name

    @property
    def verifies_ca(self) -> bool:
        return self in _VERIFYING

    @property
    def verifies_name(self) -> bool:
        return self in (SslMode.VERIFY_FULL, SslMode.VERIFY_IDENTITY)


_VERIFYING = frozenset(
    {SslMode.VERIFY_CA, SslMode.VERIFY_FULL, SslMode.MYSQL_VERIFY_CA, SslMode.VERIFY_IDENTITY}
)


@dataclass(frozen=True)
class Target:
    """Where a registered database lives. The password travels beside it, never inside it."""

    engine: Engine
    host: str
    port: int
    dbname: str
    user: str
    sslmode: SslMode = SslMode.PREFER
    # PEM CA bundle for verify-ca / verify-full; None means the system's trusted CAs.
    ca_cert: str | None = field(default=None, repr=False)


DEFAULT_TENANT = "default"  # the operator's tenant, created by the store's migrations


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    """An API token as admins see it: never the token, never its hash."""

    id: str
    name: str
    role: str
    tenant_id: str
    created_at: datetime
    expires_at: datetime | None
    bootstrap: bool


@dataclass(frozen=True)
class AuditEvent:
    """Who did what to which database, and when. Never holds a secret."""

    id: int
    at: datetime
    tenant_id: str
    actor: str
    action: str
    database_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class NewDatabase:
    tenant_id: str
    name: str
    target: Target
    password: str = field(repr=False)
    crawl_interval: int | None = None  # seconds between scheduled crawls; None: none


@dataclass(frozen=True)
class Database:
    id: str
    tenant_id: str
    name: str
    target: Target
    created_at: datetime
    # The generation that readers see: the last crawl that completed. None before the first.
    live_generation: int | None
    # When the catalog found the live generation's documents missing from the search index;
    # None while they are whole. A re-crawl rebuilds them, and clears it.
    index_lost_at: datetime | None = None
    # Scheduled crawls: every crawl_interval seconds (None: only when asked); the next is due
    # at next_crawl_at.
    crawl_interval: int | None = None
    next_crawl_at: datetime | None = None
    # The last full crawl under the live generation: readers see what was written since
    # (catalog.documents.Scope). None before the first crawl.
    live_base: int | None = None


@dataclass(frozen=True)
class Crawl:
    id: str
    database_id: str
    generation: int
    state: CrawlState
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    batches_total: int | None = None
    batches_done: int = 0
    tables: int = 0
    columns: int = 0
    error_class: str | None = None
    error_message: str | None = None
    # Set when an editor confirmed a crawl the fail-safe held; only then may it be published.
    confirmed_at: datetime | None = None
    # While a message of the crawl waits to be tried again: how often it failed since the crawl
    # last moved on, the class of the last failure, and when the next attempt is due.
    retry_attempts: int = 0
    retry_error_class: str | None = None
    retry_at: datetime | None = None
    # A crawl requested while this database's crawl `queued_after` was already planned: it is
    # planned once that one ends, so it sees what changed after the request.
    queued_after: str | None = None
    # When the crawl last moved on (planned, a batch done, a retry noted, finishing).
    progressed_at: datetime | None = None
    # Asked to read every relation again, whatever their fingerprints say.
    full: bool = False
    # Set by the plan: the last full crawl its documents build on (itself, for a full crawl),
    # and the live generation it compared fingerprints with (None: there was none). An
    # incremental crawl publishes only on top of that same live generation.
    base_generation: int | None = None
    planned_on: int | None = None

    @property
    def incremental(self) -> bool:
        return self.base_generation is not None and self.base_generation != self.generation

    @property
    def mode(self) -> str | None:
        """full or incremental, once planned; None before."""
        if self.base_generation is None:
            return None
        return "incremental" if self.incremental else "full"

    @property
    def duration_seconds(self) -> float | None:
        """From its start (its plan stored) to its end, once both happened."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def progress(self, now: datetime) -> CrawlProgress:
        """How far the crawl has come as of `now`: derived from its counters, never stored."""
        if self.started_at is None:  # queued, or failed before its plan was stored
            return CrawlProgress(None, None, None)
        running = self.state is CrawlState.RUNNING
        end = now if running or self.finished_at is None else self.finished_at
        # A clock behind the store's would give a negative age: treat it as just started.
        elapsed = max(0.0, (end - self.started_at).total_seconds())
        rate = self.tables / elapsed if elapsed > 0 else None
        eta = None
        if running and elapsed > 0 and self.batches_total is not None and self.batches_done:
            left = max(0, self.batches_total - self.batches_done)
            eta = elapsed * left / self.batches_done
        return CrawlProgress(elapsed, rate, eta)


@dataclass(frozen=True)
class CrawlProgress:
    """A crawl's pace: over the crawl so far while it runs, over all of it once it ended."""

    elapsed_seconds: float | None  # since it started running (its plan stored), to its end
    tables_per_second: float | None  # tables indexed / elapsed_seconds
    # While running, once a batch is done: the time left if the remaining batches go at the
    # pace of the done ones (batches hold equal numbers of tables, but for the last).
    eta_seconds: float | None


class ChangeKind(StrEnum):
    ADDED = "added"
    DROPPED = "dropped"
    RENAMED = "renamed"  # the same object under another name (PostgreSQL: the same oid)
    ALTERED = "altered"  # its definition changed: columns, keys, indexes, comment, view...


@dataclass(frozen=True)
class SchemaChange:
    """What a completed crawl found changed in one relation since the crawl before it."""

    id: int
    database_id: str
    crawl_id: str
    generation: int
    old_generation: int  # the crawl it was found against
    changed_at: datetime
    kind: ChangeKind
    schema: str
    name: str
    old_schema: str | None = None  # renamed: where it was
    old_name: str | None = None
    # Altered or renamed: what differs, column by column (catalog.schema_diff); None until the
    # crawl's finishing step has compared the two documents, or when one of them was gone.
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class DeadLetter:
    """A message that was terminated rather than retried forever."""

    id: int
    subject: str
    reason: str
    crawl_id: str | None
    stream_sequence: int | None
    deliveries: int
    created_at: datetime


@dataclass(frozen=True)
class Column:
    name: str
    position: int
    data_type: str
    nullable: bool
    default: str | None = None
    comment: str | None = None
    primary_key: bool = False
    generated: str | None = None  # a generated column's expression
    auto_increment: bool = False  # numbered by the server: AUTO_INCREMENT, an identity column
    collation: str | None = None  # when the engine names one (PostgreSQL: only a non-default)


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool
    primary: bool
    definition: str


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    type: TableType
    columns: tuple[Column, ...] = ()
    comment: str | None = None
    row_estimate: int | None = None
    size_bytes: int | None = None
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    partition_of: str | None = None
    definition: str | None = None  # a view's query
    storage_engine: str | None = None  # MySQL's InnoDB, MyISAM…
    partitions: int | None = None  # a partitioned table's partitions (PostgreSQL: its own)
    ref: str = ""  # the crawler's RelationRef for it (catalog.crawler): not shown to readers


@dataclass(frozen=True)
class Batch:
    """A slice of a crawl plan: the target's own references to the relations it covers, and
    the ordinal each one's documents take."""

    crawl_id: str
    number: int
    refs: tuple[str, ...]  # RelationRefs: opaque, chosen by the engine's crawler
    ordinals: tuple[int, ...]
