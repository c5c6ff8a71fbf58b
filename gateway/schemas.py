"""Request and response bodies. Their JSON Schemas are what /openapi.json publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from catalog.models import Crawl, Database, Engine, NewDatabase, Target

_HOST_PATTERN = r"^[A-Za-z0-9._:\-\[\]]+$"


class CredentialsIn(BaseModel):
    """The seed's body for POST /credentials."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dbname: str = Field(min_length=1, max_length=255)
    user: str = Field(min_length=1, max_length=255)
    password: SecretStr = Field(max_length=1024)
    host: str = Field(min_length=1, max_length=255, pattern=_HOST_PATTERN)
    port: int = Field(default=5432, ge=1, le=65535)

    def to_new_database(
        self, name: str | None = None, engine: Engine = Engine.POSTGRESQL
    ) -> NewDatabase:
        return NewDatabase(
            name=name or f"{self.dbname}@{self.host}",
            target=Target(engine, self.host, self.port, self.dbname, self.user),
            password=self.password.get_secret_value(),
        )


class DatabaseIn(CredentialsIn):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    engine: Literal["postgresql"] = "postgresql"


class CredentialsOut(BaseModel):
    message: str
    id: str


class CrawlError(BaseModel):
    # auth_failed | unreachable | timeout | permission | database_missing | credential |
    # unavailable | error; fail_safe for a held crawl, whose message says how far tables fell
    error_class: str
    message: str | None


class CrawlOut(BaseModel):
    id: str
    state: Literal["queued", "running", "complete", "failed", "held"]
    generation: int
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    batches_total: int | None
    batches_done: int
    tables: int
    columns: int
    error: CrawlError | None

    @classmethod
    def of(cls, crawl: Crawl) -> CrawlOut:
        duration = None
        if crawl.started_at and crawl.finished_at:
            duration = (crawl.finished_at - crawl.started_at).total_seconds()
        return cls(
            id=crawl.id,
            state=crawl.state.value,
            generation=crawl.generation,
            requested_at=crawl.requested_at,
            started_at=crawl.started_at,
            finished_at=crawl.finished_at,
            duration_seconds=duration,
            batches_total=crawl.batches_total,
            batches_done=crawl.batches_done,
            tables=crawl.tables,
            columns=crawl.columns,
            error=(
                CrawlError(error_class=crawl.error_class, message=crawl.error_message)
                if crawl.error_class
                else None
            ),
        )


class DatabaseOut(BaseModel):
    id: str
    name: str
    engine: str
    host: str
    port: int
    dbname: str
    user: str
    created_at: datetime
    live_generation: int | None
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
            created_at=database.created_at,
            live_generation=database.live_generation,
            crawl=None if crawl is None else CrawlOut.of(crawl),
        )


class DatabaseList(BaseModel):
    items: list[DatabaseOut]
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
    columns: list[ColumnOut]

    model_config = ConfigDict(populate_by_name=True)


class TablePage(BaseModel):
    items: list[TableOut]
    next_cursor: str | None


class SearchHitOut(BaseModel):
    kind: Literal["table", "column"]
    score: float
    database_id: str
    schema_: str = Field(alias="schema")
    table: str
    column: str | None
    table_type: str
    data_type: str | None
    comment: str | None

    model_config = ConfigDict(populate_by_name=True)


class SearchResults(BaseModel):
    query: str
    hits: list[SearchHitOut]


class SeedColumn(BaseModel):
    column_name: str
    data_type: str


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
