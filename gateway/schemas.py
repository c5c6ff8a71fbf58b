"""Request and response bodies. Their JSON Schemas are what /openapi.json publishes."""

from __future__ import annotations

import dataclasses
import re
import ssl
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from catalog.browse import MAX_REFERENCED_BY
from catalog.crawlers import TargetSettingsError, check_target, default_port, default_sslmode
from catalog.models import (
    ACTIVE_CRAWL_STATES,
    Crawl,
    Database,
    Engine,
    NewDatabase,
    SslMode,
    Target,
)
from catalog.search import MAX_SEARCH_DEPTH
from gateway.params import CONTROL_CHARACTERS

# The longest crawl_interval: 30 days (the shortest is a setting, 5 minutes by default).
MAX_CRAWL_INTERVAL = 30 * 24 * 3600

_HOST_PATTERN = r"^[A-Za-z0-9._:\-\[\]]+$"
# No control characters (gateway.params.CONTROL_CHARACTERS): CR/LF/NUL would go verbatim into a
# startup packet or a log line, and NUL breaks the store. A PEM bundle keeps its line breaks and
# tabs.
_CONTROL_IN_PEM = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("control characters (CR, LF, NUL, ...) are not allowed")
    return value


def _secret_without_control_characters(value: SecretStr) -> SecretStr:
    _no_control_characters(value.get_secret_value())
    return value


def _pem_without_control_characters(value: str) -> str:
    if _CONTROL_IN_PEM.search(value):
        raise ValueError("control characters other than line breaks and tabs are not allowed")
    return value


def _kept_whole(value: object) -> object:
    # The models strip whitespace from the strings they read; a password is taken as given.
    return SecretStr(value) if isinstance(value, str) else value


# Every string a request may carry is one of these.
Text = Annotated[str, AfterValidator(_no_control_characters)]
Secret = Annotated[
    SecretStr, BeforeValidator(_kept_whole), AfterValidator(_secret_without_control_characters)
]


def _usable_ca_bundle(value: str) -> str:
    try:
        ssl.create_default_context(cadata=value)
    except (ssl.SSLError, ValueError, TypeError):  # TypeError: cadata with non-ASCII text
        raise ValueError("not a PEM certificate bundle") from None
    return value


CaBundle = Annotated[
    str,
    Field(max_length=65536),
    AfterValidator(_pem_without_control_characters),
    AfterValidator(_usable_ca_bundle),
]


class CredentialsIn(BaseModel):
    """The seed's body for POST /credentials (PostgreSQL, as it always was)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dbname: Text = Field(min_length=1, max_length=255)
    user: Text = Field(min_length=1, max_length=255)
    password: Secret = Field(max_length=1024)
    host: Text = Field(min_length=1, max_length=255, pattern=_HOST_PATTERN)
    port: int = Field(default=5432, ge=1, le=65535)

    def to_new_database(self, tenant_id: str) -> NewDatabase:
        target = Target(Engine.POSTGRESQL, self.host, self.port, self.dbname, self.user)
        return _new_database(tenant_id, None, target, self.password)


def _new_database(
    tenant_id: str, name: str | None, target: Target, password: Secret
) -> NewDatabase:
    return NewDatabase(
        tenant_id=tenant_id,
        name=name or f"{target.dbname or '*'}@{target.host}",
        target=target,
        password=password.get_secret_value(),
    )


class DatabaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    engine: Engine = Field(
        default=Engine.POSTGRESQL,
        description="postgresql, or mysql (MySQL 5.7/8.x and MariaDB 10.5+)",
    )
    host: Text = Field(min_length=1, max_length=255, pattern=_HOST_PATTERN)
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Default: 5432 for postgresql, 3306 for mysql"
    )
    dbname: Text = Field(
        default="",
        max_length=255,
        description="The database to crawl. For mysql, the schema to crawl (in MySQL a database"
        " is a schema); empty crawls every schema the user can see but the system ones",
    )
    user: Text = Field(min_length=1, max_length=255)
    password: Secret = Field(max_length=1024)
    sslmode: SslMode | None = Field(
        default=None,
        description="TLS to the database, in the words of the engine's own client. postgresql:"
        " prefer (default), disable, allow, require (encrypted, unverified), verify-ca,"
        " verify-full. mysql: preferred (default), disabled, required (encrypted,"
        " unverified), verify_ca, verify_identity",
    )
    ca_cert: CaBundle | None = Field(
        default=None,
        description="PEM CA bundle for the verifying modes (default: the system's CAs)",
    )
    crawl_interval: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CRAWL_INTERVAL,
        description="Crawl it again every this many seconds (from 300, 5 minutes, to"
        " 2592000, 30 days); null: only when asked",
    )

    @model_validator(mode="after")
    def _fits_the_engine(self) -> DatabaseIn:
        try:
            check_target(self.target())
        except TargetSettingsError as exc:
            raise ValueError(str(exc)) from None
        return self

    def target(self) -> Target:
        return Target(
            self.engine,
            self.host,
            self.port or default_port(self.engine),
            self.dbname,
            self.user,
            self.sslmode or default_sslmode(self.engine),
            self.ca_cert,
        )

    def to_new(self, tenant_id: str) -> NewDatabase:
        new = _new_database(tenant_id, self.name, self.target(), self.password)
        return dataclasses.replace(new, crawl_interval=self.crawl_interval)


class CrawlRequestIn(BaseModel):
    """How to crawl; the body is optional."""

    model_config = ConfigDict(extra="forbid")

    full: bool = Field(
        default=False,
        description="Read every relation again, whatever their fingerprints say (a crawl is"
        " otherwise incremental once its database has been crawled twice)",
    )


class DatabasePatch(BaseModel):
    """Any of a database's settings; the password is replaced, never shown."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    dbname: Text | None = Field(default=None, min_length=1, max_length=255)
    user: Text | None = Field(default=None, min_length=1, max_length=255)
    password: Secret | None = Field(default=None, max_length=1024)
    host: Text | None = Field(default=None, min_length=1, max_length=255, pattern=_HOST_PATTERN)
    port: int | None = Field(default=None, ge=1, le=65535)
    engine: Engine | None = None
    sslmode: SslMode | None = None
    ca_cert: CaBundle | None = None
    crawl_interval: int | None = Field(
        default=None, ge=1, le=MAX_CRAWL_INTERVAL, description="Seconds; null stops the schedule"
    )


class CredentialsOut(BaseModel):
    message: str
    id: str


class CrawlError(BaseModel):
    # auth_failed | unreachable | timeout | permission | database_missing | credential |
    # unavailable | worker_lost | stalled | index_lost | replanned | error; fail_safe for a held
    # crawl, whose message says how far tables fell
    error_class: str
    message: str | None


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class CrawlRetry(BaseModel):
    error_class: str = Field(description="What the last attempt ran into: unreachable, timeout…")
    attempts: int = Field(description="Attempts that failed since the crawl last moved on")
    next_attempt_at: datetime | None = Field(description="When the next attempt is due")

    @classmethod
    def of(cls, crawl: Crawl) -> CrawlRetry | None:
        if crawl.retry_error_class is None or crawl.state not in ACTIVE_CRAWL_STATES:
            return None
        return cls(
            error_class=crawl.retry_error_class,
            attempts=crawl.retry_attempts,
            next_attempt_at=crawl.retry_at,
        )


class CrawlOut(BaseModel):
    id: str
    state: Literal["queued", "running", "finishing", "complete", "failed", "held"] = Field(
        description="finishing: every batch is done, and the crawl is being published (or"
        " held by the fail-safe)"
    )
    generation: int
    queued_after: str | None = Field(
        description="While queued behind a crawl that was planned before this one was asked"
        " for: that crawl's id. This one is planned when it ends, so it sees every change made"
        " before the request"
    )
    requested_at: datetime
    started_at: datetime | None = Field(
        description="When the crawl started running: its relations listed and its plan stored"
    )
    finished_at: datetime | None
    duration_seconds: float | None = Field(description="finished_at - started_at, once ended")
    batches_total: int | None = Field(description="Batches in the plan; null until it starts")
    batches_done: int = Field(description="Batches indexed so far")
    mode: Literal["full", "incremental"] | None = Field(
        description="Once planned: incremental, reading only the relations whose definitions"
        " changed since the live crawl (and keeping the rest); or full, reading every relation"
        " (a first crawl, one asked with full: true, one whose live crawl has no fingerprints"
        " to compare with, one that would read most relations anyway, one rebuilding lost"
        " documents, or one due because the last full crawl is older than"
        " CATALOG_FULL_CRAWL_DAYS). Null while queued"
    )
    tables: int = Field(
        description="Tables (and views) indexed so far; an incremental crawl counts those it"
        " keeps from the start"
    )
    columns: int = Field(description="Columns indexed so far, counted as tables are")
    elapsed_seconds: float | None = Field(
        description="Seconds since the crawl started running, up to now while it runs and up"
        " to finished_at once it ended; null while queued"
    )
    tables_per_second: float | None = Field(
        description="tables / elapsed_seconds: the pace so far while it runs, the whole"
        " crawl's once it ended"
    )
    eta_seconds: float | None = Field(
        description="While running, once a batch is done: an estimate of the seconds left, if"
        " the remaining batches go at the pace of the done ones; null otherwise"
    )
    error: CrawlError | None
    retrying: CrawlRetry | None = Field(
        description="While queued or running: a step of the crawl failed and will be tried"
        " again; null otherwise"
    )

    @classmethod
    def of(cls, crawl: Crawl, now: datetime | None = None) -> CrawlOut:
        progress = crawl.progress(now or datetime.now(UTC))
        return cls(
            id=crawl.id,
            state=crawl.state.value,
            generation=crawl.generation,
            queued_after=crawl.queued_after,
            requested_at=crawl.requested_at,
            started_at=crawl.started_at,
            finished_at=crawl.finished_at,
            duration_seconds=crawl.duration_seconds,
            batches_total=crawl.batches_total,
            batches_done=crawl.batches_done,
            mode=crawl.mode,
            tables=crawl.tables,
            columns=crawl.columns,
            elapsed_seconds=_rounded(progress.elapsed_seconds, 3),
            tables_per_second=_rounded(progress.tables_per_second, 2),
            eta_seconds=_rounded(progress.eta_seconds, 1),
            error=(
                CrawlError(error_class=crawl.error_class, message=crawl.error_message)
                if crawl.error_class
                else None
            ),
            retrying=CrawlRetry.of(crawl),
        )


class DatabaseOut(BaseModel):
    id: str
    name: str
    engine: str
    host: str
    port: int
    dbname: str
    user: str
    sslmode: str
    ca_cert_configured: bool
    created_at: datetime
    live_generation: int | None
    index_lost_at: datetime | None = Field(
        description="When the catalog found this database's live documents missing from the"
        " search index (it was deleted or replaced); its searches and listings answer 503 until"
        " the re-crawl it requested completes. Null while they are whole"
    )
    crawl_interval: int | None = Field(description="Seconds between scheduled crawls")
    next_crawl_at: datetime | None = Field(description="When the next scheduled crawl is due")
    crawl: CrawlOut | None

    @classmethod
    def of(cls, database: Database, crawl: Crawl | None) -> DatabaseOut:
        t = database.target
        return cls(
            id=database.id,
            name=database.name,
            engine=t.engine.value,
            host=t.host,
            port=t.port,
            dbname=t.dbname,
            user=t.user,
            sslmode=t.sslmode.value,
            ca_cert_configured=t.ca_cert is not None,
            created_at=database.created_at,
            live_generation=database.live_generation,
            index_lost_at=database.index_lost_at,
            crawl_interval=database.crawl_interval,
            next_crawl_at=database.next_crawl_at,
            crawl=None if crawl is None else CrawlOut.of(crawl),
        )


class DatabaseList(BaseModel):
    items: list[DatabaseOut]
    next_cursor: str | None


class SchemaChangeOut(BaseModel):
    id: int
    crawl_id: str = Field(description="The crawl that found it")
    generation: int
    changed_at: datetime = Field(description="When that crawl completed")
    kind: Literal["added", "dropped", "renamed", "altered"] = Field(
        description="altered: columns, keys, indexes, comments, a view's definition or"
        " partitioning changed. renamed: the same object under a new name (PostgreSQL; MySQL"
        " names a renamed table as dropped and added)"
    )
    schema_: str = Field(alias="schema")
    name: str
    old_schema: str | None = Field(description="renamed: the schema it was in")
    old_name: str | None = Field(description="renamed: the name it had")
    detail: dict[str, Any] | None = Field(
        description="altered or renamed: what differs. `columns`: `added`, `dropped` (names)"
        " and `changed` (each with the attributes that differ, as [was, is]: data_type,"
        " nullable, default, generated, collation, comment, auto_increment); `primary_key`"
        " [was, is]; `foreign_keys` and `indexes`: `added`, `dropped`, `changed` (names);"
        " `type`, `comment`, `definition`, `partition_of` [was, is]. Null until the crawl's"
        " finishing step compared both versions"
    )

    model_config = ConfigDict(populate_by_name=True)


class SchemaChangeList(BaseModel):
    items: list[SchemaChangeOut]
    next_cursor: str | None


class DeadLetterOut(BaseModel):
    id: int
    subject: str
    reason: str
    crawl_id: str | None
    stream_sequence: int | None
    deliveries: int
    created_at: datetime


class DeadLetterList(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None


class ColumnOut(BaseModel):
    name: str
    position: int
    data_type: str
    nullable: bool
    default: str | None
    comment: str | None
    primary_key: bool
    generated: str | None = Field(
        default=None, description="A generated column's expression; null for other columns"
    )
    auto_increment: bool = Field(
        default=False,
        description="Numbered by the server: MySQL's AUTO_INCREMENT, PostgreSQL's identity",
    )
    collation: str | None = Field(
        default=None,
        description="MySQL: every text column's collation; PostgreSQL: only a non-default one",
    )


class ForeignKeyOut(BaseModel):
    name: str
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]


class IndexOut(BaseModel):
    name: str
    columns: list[str]
    unique: bool
    primary: bool
    definition: str


class TableOut(BaseModel):
    schema_: str = Field(alias="schema")
    name: str
    type: str
    comment: str | None
    row_estimate: int | None
    size_bytes: int | None
    primary_key: list[str]
    foreign_keys: list[ForeignKeyOut]
    indexes: list[IndexOut]
    partition_of: str | None
    definition: str | None = Field(default=None, description="A view's query")
    storage_engine: str | None = Field(default=None, description="MySQL: InnoDB, MyISAM…")
    partitions: int | None = Field(
        default=None,
        description="A partitioned table: how many partitions it has (PostgreSQL: its own,"
        " not their sub-partitions); null otherwise, and for tables crawled before it was kept",
    )
    columns: list[ColumnOut]

    model_config = ConfigDict(populate_by_name=True)


class ReferenceOut(BaseModel):
    """A foreign key of another table (or of the table itself) that points at this table."""

    schema_: str = Field(alias="schema", description="The referencing table's schema")
    table: str = Field(description="The referencing table's name")
    name: str = Field(description="The foreign key's name")
    columns: list[str] = Field(description="The referencing table's columns")
    ref_columns: list[str] = Field(description="This table's columns they point at")

    model_config = ConfigDict(populate_by_name=True)


class TableDetailOut(TableOut):
    database_id: str
    referenced_by: list[ReferenceOut] = Field(
        description="The foreign keys of the live generation's tables that point at this one,"
        " its own included, by schema, table and name; the first"
        f" {MAX_REFERENCED_BY} at most"
    )


class TablePage(BaseModel):
    items: list[TableOut]
    next_cursor: str | None


_HIGHLIGHT = (
    "The name, HTML-escaped, with <em>…</em> around the parts the query matched"
    " (a whole part, or the typed prefix or substring of one)"
)


class MatchedColumnOut(BaseModel):
    name: str
    data_type: str
    highlight: str = Field(description=_HIGHLIGHT)


class SearchHitOut(BaseModel):
    kind: Literal["table", "column"]
    score: float = Field(description="Higher is better; hits are ordered by it")
    database_id: str
    schema_: str = Field(alias="schema")
    table: str
    column: str | None
    table_type: str = Field(
        description="table, view, materialized_view, partitioned_table, foreign_table; or"
        " partition, which only a search with type=partition finds (others fold partitions"
        " and their columns into the partitioned table)"
    )
    data_type: str | None
    comment: str | None
    partitions: int | None = Field(
        description="A partitioned table's hit: how many partitions it has; null otherwise"
    )
    highlight: str | None = Field(
        description=_HIGHLIGHT + "; null when only the table's column names matched"
    )
    matched_columns: list[MatchedColumnOut] = Field(
        description="Table hits: the columns whose names matched the query, highlighted"
    )
    match: (
        Literal["exact", "inflection", "abbreviation", "part", "prefix", "substring", "typo"] | None
    ) = Field(
        description="Why it matched: exact (the whole name is the query, case and separators"
        " aside; for a column, also its table's name and its own together), inflection (the"
        " same but for a plural or singular), abbreviation (the same but for an abbreviation"
        " or its expansion), or else the weakest of its words' matches: part (a part of the"
        " name is the word), prefix, substring, typo"
    )

    model_config = ConfigDict(populate_by_name=True)


class FacetCountOut(BaseModel):
    value: str
    count: int


class SearchFacets(BaseModel):
    """Hits per value over the whole filtered result (not only this page), most first."""

    database_id: list[FacetCountOut]
    schema_: list[FacetCountOut] = Field(alias="schema")
    kind: list[FacetCountOut]
    table_type: list[FacetCountOut]
    data_type: list[FacetCountOut] = Field(
        description="Column hits by data type, as the database names it; tables have none"
    )

    model_config = ConfigDict(populate_by_name=True)


class SearchResults(BaseModel):
    query: str
    hits: list[SearchHitOut]
    facets: SearchFacets | None = Field(description="With facets=true; null otherwise")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page, and once"
        f" {MAX_SEARCH_DEPTH:,} hits have been served (refine the query to see others)"
    )


class SuggestionOut(BaseModel):
    name: str = Field(description="A table or column name as written")
    count: int = Field(description="How many live tables and columns carry this name")


class Suggestions(BaseModel):
    query: str
    suggestions: list[SuggestionOut]


class SeedColumn(BaseModel):
    column_name: str
    data_type: str


class SeedNotFound(BaseModel):
    """The sketch's answer when no table matches: {"detail": "Table not found"}."""

    detail: str


class SeedSchema(BaseModel):
    """The seed's shape: tables grouped by schema, each a list of its columns."""

    database_name: str
    tables: dict[str, dict[str, list[SeedColumn]]]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Health(BaseModel):
    status: str
    checks: dict[str, str] | None = None


class AccessCheckOut(BaseModel):
    name: str
    ok: bool
    detail: str


class ConnectionTest(BaseModel):
    """What the crawler can do with the stored credentials; nothing secret."""

    ok: bool
    server_version: str | None
    checks: list[AccessCheckOut]
    error: CrawlError | None


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class TenantOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class TenantList(BaseModel):
    items: list[TenantOut]
    next_cursor: str | None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text = Field(min_length=1, max_length=100)
    role: Literal["reader", "editor", "admin"] = "reader"
    tenant_id: str | None = Field(
        default=None, description="Another tenant's: only the operator's admins may"
    )
    expires_at: datetime | None = Field(
        default=None, description="When the token stops working (default: never); in the future"
    )


class TokenOut(BaseModel):
    """The token itself is shown once, here; the catalog keeps only its hash."""

    token: str
    id: str
    name: str
    role: str
    tenant_id: str
    expires_at: datetime | None


class TokenInfoOut(BaseModel):
    """A token as admins list it: never the token itself."""

    id: str
    name: str
    role: str
    tenant_id: str
    created_at: datetime
    expires_at: datetime | None
    bootstrap: bool = Field(description="The admin token CATALOG_ADMIN_TOKEN or its file set")


class TokenList(BaseModel):
    items: list[TokenInfoOut]
    next_cursor: str | None


class CallerOut(BaseModel):
    subject: str = Field(description="token:<id> for an API token, sub@issuer for an OIDC token")
    tenant_id: str
    role: Literal["reader", "editor", "admin"]


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    database_id: str | None
    detail: dict[str, Any]


class AuditList(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None
